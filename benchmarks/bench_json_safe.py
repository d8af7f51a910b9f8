"""The shared JSON checks (depth limit, finite numbers) against plain ``json.loads``.

A COCO-sized document (``--boxes`` annotations, default 100,000) is parsed by
:func:`adapters.formats._json_safe.decode` (every JSON reader's entry) and by the standard
library's ``json.loads`` in the same process, best of ``--repeat`` runs each. Target: the
checked parse costs at most 3x the plain one (the checks must not make a large, ordinary
export slow to read). Prints both times and the ratio; exits 1 when the target is missed.

This used to be a timed test; under a loaded CI machine it failed for want of a core, so it
is measured here, as every speed target is.

Run: ``.venv/bin/python benchmarks/bench_json_safe.py [--boxes 100000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

from adapters.formats._json_safe import decode

TARGET_RATIO = 3.0


def _document(n: int) -> str:
    return json.dumps(
        {
            "annotations": [
                {"id": i, "image_id": i, "category_id": 1, "bbox": [1.5, 2.5, 30.25, 40.0]}
                for i in range(n)
            ]
        }
    )


def _best(fn: Callable[[str], object], doc: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(doc)
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    doc = _document(args.boxes)
    if decode(doc) != json.loads(doc):
        print("the checked parse does not equal json.loads")
        return 1
    plain = _best(json.loads, doc, args.repeat)
    checked = _best(decode, doc, args.repeat)
    ratio = checked / max(plain, 1e-9)
    print(
        f"{args.boxes:,} boxes ({len(doc) / 1e6:.1f} MB): json.loads {plain:.3f} s CPU, "
        f"checked decode {checked:.3f} s CPU, ratio {ratio:.2f}x (target <= {TARGET_RATIO}x; "
        f"load {os.getloadavg()[0]:.1f})"
    )
    if ratio > TARGET_RATIO:
        print(f"MISS: {ratio:.2f}x > {TARGET_RATIO}x")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
