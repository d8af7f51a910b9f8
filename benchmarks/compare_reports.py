"""Compare two report JSON files (``bakeoff report ID --json``) value by value.

Used to check that a speed-up changes no number: write the report of the same bake-off
with the same seed before and after the change, then

    .venv/bin/python benchmarks/compare_reports.py before.json after.json

Every value must be equal except ``generated_at``; floats may differ by at most ``--rel``
(relative, default 1e-12: summation order) and are counted apart from the exact ones.
Exits 1 when a value differs beyond that (each difference printed with its path), 0
otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["compare"]

_IGNORED = {"generated_at"}


def compare(a: Any, b: Any, *, rel: float, path: str = "$") -> tuple[list[str], int, int]:
    """Differences between ``a`` and ``b``; floats equal exactly and within ``rel``."""
    problems: list[str] = []
    exact = close = 0
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in _IGNORED:
                continue
            if key not in a or key not in b:
                problems.append(f"{path}.{key}: only in {'after' if key in b else 'before'}")
                continue
            p, e, c = compare(a[key], b[key], rel=rel, path=f"{path}.{key}")
            problems += p
            exact += e
            close += c
        return problems, exact, close
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items before, {len(b)} after"], 0, 0
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            p, e, c = compare(x, y, rel=rel, path=f"{path}[{i}]")
            problems += p
            exact += e
            close += c
        return problems, exact, close
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        if a == b or (math.isnan(a) and math.isnan(float(b))):
            return [], 1, 0
        if math.isclose(a, float(b), rel_tol=rel, abs_tol=0.0):
            return [], 0, 1
        return [f"{path}: {a!r} before, {b!r} after"], 0, 0
    if a == b:
        return [], 1, 0
    return [f"{path}: {a!r} before, {b!r} after"], 0, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rel", type=float, default=1e-12, help="relative float tolerance")
    args = parser.parse_args()
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    problems, exact, close = compare(before, after, rel=args.rel)
    for line in problems[:50]:
        print(line)
    print(
        f"{exact} values equal, {close} floats within {args.rel:g} (summation order), "
        f"{len(problems)} different"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
