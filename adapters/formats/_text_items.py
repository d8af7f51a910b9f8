"""Which golden item a line of a text tool's export answers (shared by doccano and Prodigy).

Tools that label text keep fields they were given beside the text, so an item sent with an
``item_id`` field comes back with it: at the top level (doccano, Prodigy) or under ``meta``.
Exports of projects Bakeoff did not create have no such field; then the item is found by its
exact text among the gold items (``items_by_text``), and a text that is not unique there is
refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.formats._errors import FormatError

__all__ = ["item_id_of"]


def item_id_of(
    record: Mapping[str, Any],
    *,
    id_field: str,
    items_by_text: Mapping[str, str | None] | None,
    source: str,
    where: str,
) -> str:
    """The item id of one exported record (see the module docstring for the order)."""
    meta = record.get("meta")
    for holder in (record, meta if isinstance(meta, Mapping) else {}):
        value = holder.get(id_field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    text = record.get("text")
    if items_by_text is not None and isinstance(text, str) and text in items_by_text:
        found = items_by_text[text]
        if found is None:
            raise FormatError(
                source,
                where,
                "its text belongs to several gold items; "
                f"add an {id_field!r} field to tell them apart",
            )
        return found
    raise FormatError(
        source,
        where,
        f"no {id_field!r} field (top level or meta) and its text matches no gold item",
    )
