"""Pairs presented swapped: the only trace of a swap a vendor ever sees is the order.

To measure position bias, the dispatcher sends a share of preference items with the two
responses exchanged (``response_a`` ↔ ``response_b``, and any other ``<name>_a`` /
``<name>_b`` pair of the item's data). It records the swap on its own side; the vendor's
payload carries no flag. The vendor answers in the frame it was shown (``A`` = the first
response shown), and :func:`unswap` turns that answer back into the item's canonical frame.

Examples
--------
>>> swap_pair({"prompt": "p", "response_a": "x", "response_b": "y"})
{'prompt': 'p', 'response_a': 'y', 'response_b': 'x'}
>>> unswap("A"), unswap("tie")
('B', 'tie')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["swap_pair", "unswap"]

_L = TypeVar("_L")


def swap_pair(data: Mapping[str, Any]) -> dict[str, Any]:
    """The item's data with every ``<name>_a``/``<name>_b`` pair exchanged (a new dict)."""
    out = dict(data)
    for key in data:
        if key.endswith("_a") and f"{key[:-2]}_b" in data:
            other = f"{key[:-2]}_b"
            out[key], out[other] = data[other], data[key]
    return out


def unswap(label: _L) -> _L:
    """An answer given on a swapped presentation, in the item's canonical frame."""
    if label == "A":
        return "B"  # type: ignore[return-value]
    if label == "B":
        return "A"  # type: ignore[return-value]
    return label
