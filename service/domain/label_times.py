"""Vendor label timestamps: the one check every route that takes vendor labels runs.

A vendor reports when its annotators started and finished each item (``started_at``,
``completed_at``); latency and per-hour cost are computed from them and from the time Bakeoff
sent the item (``Task.sent_at``). Unchecked, a vendor sets its own latency: an answer
"completed" in the year 2000 gave a p50 latency of minus 27 years. So, on callbacks, results
the worker fetches, ``/labels``, ``/labels/import`` and ``/package/results`` alike (all store
through :func:`service.domain.vendor_labels.add_vendor_labels`, which calls
:func:`check_label_times`):

- ``started_at`` is not after ``completed_at``;
- neither is later than the server's clock;
- neither is earlier than the moment the item was sent to the vendor, when it was sent;
  a vendor key posting labels of an item that was never sent (no run, or a run not yet at
  that item) is bound by the bake-off's creation instead.

Clocks differ a little, so "later" and "earlier" allow a skew: :data:`CLOCK_SKEW` (two
minutes), or the ``vendor_clock_skew_s`` setting. Naive timestamps are taken as UTC, as
everywhere in Bakeoff. A task's completion time is never before its ``sent_at``
(:func:`clamp_completion`), so no latency is negative.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.core.config import Settings, get_settings
from service.domain.errors import Invalid

__all__ = ["CLOCK_SKEW", "check_label_times", "clamp_completion"]

CLOCK_SKEW = timedelta(seconds=Settings.model_fields["vendor_clock_skew_s"].default)
"""How far a vendor's clock may be from the server's (either way), by default."""


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_label_times(
    started_at: datetime | None,
    completed_at: datetime | None,
    *,
    sent_at: datetime | None,
    now: datetime,
    where: str,
    source: str = "labels",
    skew: timedelta | None = None,
    created_at: datetime | None = None,
) -> None:
    """Refuse a label whose times the vendor could not have observed.

    Parameters
    ----------
    started_at, completed_at
        The label's times, as the vendor reports them (either may be missing).
    sent_at
        When the item was sent to this vendor (``Task.sent_at``), or ``None`` when it was not
        (a label imported for a bake-off without a run, or one that raced its dispatch).
    now
        The server's clock.
    where
        The record, e.g. ``"record 3"`` or ``"row 7"``; named in the message and location.
    source
        Where the labels come from (a file name), for the message.
    skew
        The allowance on both bounds; by default the ``vendor_clock_skew_s`` setting.
    created_at
        The bake-off's creation: the earliest time when the item was not sent (``None``: no
        such bound, e.g. a lead importing an earlier, offline bake-off's results).

    Raises
    ------
    Invalid
        With location ``("body", where, "started_at" | "completed_at")``.

    Examples
    --------
    >>> sent = datetime(2025, 1, 1, 12, tzinfo=UTC)
    >>> now = datetime(2025, 1, 1, 13, tzinfo=UTC)
    >>> check_label_times(sent, now, sent_at=sent, now=now, where="record 1")  # fine
    >>> try:
    ...     check_label_times(None, datetime(2000, 1, 1), sent_at=sent, now=now, where="row 2")
    ... except Invalid as exc:
    ...     print(exc.location)
    ...     print(exc.message[:63])
    ('body', 'row 2', 'completed_at')
    labels: row 2: completed_at 2000-01-01T00:00:00+00:00 is before
    """
    if skew is None:
        skew = timedelta(seconds=get_settings().vendor_clock_skew_s)
    latest = _utc(now) + skew
    if sent_at is not None:
        earliest: datetime | None = _utc(sent_at)
        event = "the item was sent to the vendor"
    elif created_at is not None:
        earliest, event = _utc(created_at), "the bake-off was created"
    else:
        earliest, event = None, ""
    started = None if started_at is None else _utc(started_at)
    completed = None if completed_at is None else _utc(completed_at)
    for field, value in (("started_at", started), ("completed_at", completed)):
        if value is None:
            continue
        problem = None
        if value > latest:
            problem = f"is later than the server's clock ({_utc(now).isoformat()})"
        elif earliest is not None and value < earliest - skew:
            problem = f"is before {event} ({earliest.isoformat()})"
        if problem is not None:
            raise Invalid(
                f"{source}: {where}: {field} {value.isoformat()} {problem}",
                location=("body", where, field),
            )
    if started is not None and completed is not None and started > completed:
        raise Invalid(
            f"{source}: {where}: started_at {started.isoformat()} is after completed_at "
            f"{completed.isoformat()}",
            location=("body", where, "started_at"),
        )


def clamp_completion(completed_at: datetime, *, sent_at: datetime | None) -> datetime:
    """A task's completion time, never before it was sent.

    Within the skew allowance of :func:`check_label_times` a vendor may report a completion
    slightly before ``sent_at``; the task's latency is then zero, not negative.

    Examples
    --------
    >>> sent = datetime(2025, 1, 1, 12, tzinfo=UTC)
    >>> clamp_completion(sent - timedelta(seconds=30), sent_at=sent) == sent
    True
    """
    done = _utc(completed_at)
    return done if sent_at is None else max(done, _utc(sent_at))
