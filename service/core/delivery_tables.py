"""The delivery tables as :func:`service.core.bulk_write.append_rows` writes them.

Storage mechanics only (the column order of each row and its ``COPY`` text); the rules stay
in :mod:`service.domain.deliveries` and :mod:`service.domain.delivery_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.core.bulk_write import BulkTable

__all__ = ["DELIVERY_ITEMS", "DELIVERY_LABELS"]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _cell(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    return str(value)


def _text(rows: Sequence[tuple[Any, ...]]) -> str:
    return "".join("\t".join([_cell(v) for v in row]) + "\n" for row in rows)


DELIVERY_ITEMS = BulkTable(
    name="deliveryitem",
    columns=(
        "delivery_id",
        "position",
        "key",
        "source_key",
        "gold_item_id",
        "data",  # JSON text
        "flag_score",
        "flagged",
    ),
    render=_text,
)
"""``deliveryitem`` rows; ``data`` is JSON text."""

DELIVERY_LABELS = BulkTable(
    name="deliverylabel",
    columns=(
        "delivery_id",
        "item_id",
        "annotator_id",  # "" when none (NOT NULL: part of the unique answer key)
        "value",  # JSON text
        "score",
        "started_at",
        "completed_at",
        "cost",
        "external_id",
        "created_at",
    ),
    render=_text,
)
"""``deliverylabel`` rows: ``value`` is JSON text, times come from ``bulk_time``."""
