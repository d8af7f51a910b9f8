"""Preference pairs sent twice: the opaque id of a pair's second sending.

For self-consistency a share of a preference bake-off's items (``BakeOff.repeat_share``) is
sent to each vendor a second time, in the other order (its own task, ``Task.repeat`` = 1).
The second sending goes out under an id that is an HMAC, keyed with the server's secret, of
(bake-off, vendor, item key): without the secret the vendor cannot link it to the first
sending (sent under the item key), and nothing in the payload marks it as a repeat. When
answers arrive (callback, poll, upload) :func:`repeat_keys` maps the id back to the item;
a change of ``secret_key`` between sending and receiving leaves repeats unrecognised (their
answers are refused as naming unknown items).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select as sa_select
from sqlmodel import Session

from service.core.config import get_settings
from service.domain._common import table_of
from service.models import GoldenItem, Task

__all__ = ["repeat_item_id", "repeat_keys"]

# 128 bits: as unguessable as a random id, and no longer than a vendor's own ids tend to be
_ID_HEX = 32


def repeat_item_id(bakeoff_id: int, vendor_id: int, item_key: str) -> str:
    """The id a vendor sees for the second sending of item ``item_key``.

    Examples
    --------
    >>> a = repeat_item_id(1, 2, "pair-7")
    >>> len(a), a == repeat_item_id(1, 2, "pair-7"), a == repeat_item_id(1, 3, "pair-7")
    (32, True, False)
    """
    secret = get_settings().secret_key.get_secret_value().encode("utf-8")
    # NUL separators: no (bake-off, vendor, key) triple spells another's message
    message = f"repeat\0{bakeoff_id}\0{vendor_id}\0{item_key}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:_ID_HEX]


def repeat_keys(session: Session, bakeoff_id: int, vendor_id: int) -> dict[str, str]:
    """``{opaque id: item key}`` of the items sent to the vendor a second time."""
    task, item = table_of(Task), table_of(GoldenItem)
    keys = session.execute(
        sa_select(item.c.key)
        .join(task, task.c.item_id == item.c.id)
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.repeat == 1)
    ).scalars()
    return {repeat_item_id(bakeoff_id, vendor_id, str(k)): str(k) for k in keys}
