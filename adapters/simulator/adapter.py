"""The ``simulator`` kind: an :class:`~adapters.http.HttpAdapter` aimed at a simulated vendor.

Also :class:`SimulatorProcess`, which starts ``python -m adapters.simulator`` as a
separate process on a free localhost port (for demos and tests).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import httpx

from adapters.http import HttpAdapter, HttpVendorSettings
from adapters.simulator.config import SimulatorConfig

__all__ = ["SimulatorAdapter", "SimulatorProcess", "free_port"]


class SimulatorAdapter(HttpAdapter):
    """A vendor served by the simulator at ``{url}/vendors/{profile}``.

    Parameters
    ----------
    vendor
        The vendor's slug in Bakeoff.
    url
        Root URL of the simulator process, e.g. ``"http://127.0.0.1:8765"``.
    profile
        The simulated vendor's name in the simulator config (default: ``vendor``).
    **values
        Any other :class:`~adapters.http.HttpVendorSettings` field.
    """

    kind: str = "simulator"
    api_settings: ClassVar[frozenset[str]] = HttpAdapter.api_settings | {"url", "profile"}

    def __init__(
        self,
        vendor: str,
        *,
        url: str = "http://127.0.0.1:8765",
        profile: str | None = None,
        client: httpx.Client | None = None,
        settings: HttpVendorSettings | None = None,
        **values: Any,
    ) -> None:
        values.setdefault("base_url", f"{url.rstrip('/')}/vendors/{profile or vendor}")
        super().__init__(vendor, client=client, settings=settings, **values)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimulatorProcess:
    """Run the simulator as a child process; a context manager.

    Parameters
    ----------
    config
        The simulator config; written to ``workdir/simulator.json``.
    oracle
        The true labels, JSON-ready (item id -> label); written to ``workdir/oracle.json``
        and read only by the child process.
    workdir
        Where the two files go.
    port
        Defaults to a free port.

    Examples
    --------
    >>> with SimulatorProcess(config, oracle, workdir=tmp) as sim:  # doctest: +SKIP
    ...     adapter = SimulatorAdapter("acme", url=sim.url)
    """

    def __init__(
        self,
        config: SimulatorConfig,
        oracle: dict[str, Any],
        *,
        workdir: Path,
        port: int | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        oracle_path = workdir / "oracle.json"
        oracle_path.write_text(json.dumps(oracle))
        self.config_path = workdir / "simulator.json"
        data = config.model_dump(mode="json", exclude={"oracle"})
        for vendor, original in zip(data["vendors"], config.vendors, strict=True):
            for key in ("webhook_secret", "api_key"):
                secret = getattr(original, key)
                vendor[key] = secret.get_secret_value() if secret is not None else None
        data["oracle"] = str(oracle_path.resolve())
        self.config_path.write_text(json.dumps(data, indent=2))
        self._startup_timeout_s = startup_timeout_s
        self._log_path = workdir / "simulator.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SimulatorProcess:
        """Start the child and wait until ``/healthz`` answers."""
        log = self._log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "adapters.simulator",
                "--port",
                str(self.port),
                "--config",
                str(self.config_path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"simulator exited with {self.process.returncode}: "
                    + self._log_path.read_text()[-2000:]
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"simulator did not answer on {self.url} within the start-up timeout")

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
