"""The one number formatter of pages and downloads (:mod:`reports.export`, templates)."""

from __future__ import annotations

import math
import numbers

__all__ = ["as_number", "money"]


def as_number(value: object) -> float | None:
    """``value`` as a finite float; ``None`` for none, NaN, infinities, booleans and text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):  # numpy scalars too; pd.NA is not Real
        x = float(value)
        return x if math.isfinite(x) else None
    return None


def money(value: object, currency: str | None, digits: int = 2) -> str:
    """An amount for a page: ``"USD 1,800.00"`` (``"–"`` when there is none).

    Examples
    --------
    >>> money(1799.9999999999998, "USD")
    'USD 1,800.00'
    >>> money(0.0123456, None, 4), money(None, "EUR")
    ('0.0123', '–')
    """
    x = as_number(value)
    if x is None:
        return "–"
    amount = f"{x:,.{digits}f}"
    return f"{currency} {amount}" if currency else amount
