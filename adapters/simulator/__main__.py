"""``python -m adapters.simulator --port 8765 --config sim.json``: run the vendor simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the config and its oracle, and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m adapters.simulator",
        description="Simulated labeling vendors speaking the Bakeoff vendor protocol v1.",
    )
    parser.add_argument("--config", type=Path, required=True, help="simulator config JSON")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    import uvicorn

    from adapters.simulator.config import load_config, load_oracle
    from adapters.simulator.server import SimulatorState, create_app

    try:
        config = load_config(args.config)
        oracle = load_oracle(config.oracle) if config.oracle is not None else {}
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"simulator: {exc}\n")
        return 2
    app = create_app(SimulatorState(config=config, oracle=oracle))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
