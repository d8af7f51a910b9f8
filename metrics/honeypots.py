"""Honeypot scheduling: which gold items to hide in a production batch, and where.

Gold items are drawn in **rotation**: the items form cycles, each a random order of the
whole gold set, so no item recurs before every other gold item has been used. Within
that rule an item also waits at least ``min_gap`` other honeypots after its last use
(this matters only where one cycle ends and the next begins). The history of earlier
batches is passed in, so the rotation carries across batches and the function stays
pure: the same history, gold set and generator give the same schedule.

The number of honeypots for ``n`` production items at rate ``r`` (the honeypot share of
the mixed batch) is ``round(r n / (1 - r))``; their positions in the mixed batch are a
uniform random subset, so nothing about the order marks them.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> plan = schedule_honeypots(["g1", "g2", "g3"], 98, rate=0.02, rng=rng)
>>> plan.batch_size, len(plan.gold_ids), sorted(plan.gold_ids) == sorted(set(plan.gold_ids))
(100, 2, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from metrics.intervals import resolve_rng

__all__ = ["HoneypotSchedule", "honeypot_count", "schedule_honeypots"]


@dataclass(frozen=True)
class HoneypotSchedule:
    """Where the gold items go in one mixed batch.

    Attributes
    ----------
    gold_ids
        The gold items in the order they are placed (one per honeypot).
    positions
        Shape ``(k,)``, increasing: each honeypot's 0-based position in the mixed batch;
        production items fill the other positions in their own order.
    batch_size
        Production items plus honeypots.
    """

    gold_ids: tuple[Hashable, ...]
    positions: npt.NDArray[np.int64]
    batch_size: int

    @property
    def production_positions(self) -> npt.NDArray[np.int64]:
        """Shape ``(n,)``: where the production items go, in order."""
        mask = np.ones(self.batch_size, dtype=bool)
        mask[self.positions] = False
        return np.flatnonzero(mask).astype(np.int64)


def honeypot_count(n_production: int, *, rate: float) -> int:
    """Honeypots to mix with ``n_production`` items so they make ``rate`` of the batch.

    Examples
    --------
    >>> honeypot_count(980, rate=0.02), honeypot_count(10, rate=0.0)
    (20, 0)
    """
    if isinstance(n_production, bool) or not isinstance(n_production, int) or n_production < 0:
        raise ValueError(f"n_production must be a whole number >= 0; got {n_production!r}")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1): the honeypot share of a batch; got {rate!r}")
    return int(round(rate * n_production / (1.0 - rate)))


def _cycle_state(
    gold: Sequence[Hashable], history: Sequence[Hashable]
) -> tuple[set[Hashable], dict[Hashable, int]]:
    """Items already used in the current cycle, and each item's last use (history index)."""
    members = set(gold)
    used: set[Hashable] = set()
    last: dict[Hashable, int] = {}
    for i, item in enumerate(history):
        if item not in members:
            continue  # retired from the gold set: no longer part of the rotation
        last[item] = i
        used.add(item)
        if len(used) == len(members):
            used = set()
    return used, last


def schedule_honeypots(
    gold_ids: Sequence[Hashable],
    n_production: int,
    *,
    rate: float,
    history: Sequence[Hashable] = (),
    min_gap: int = 0,
    rng: np.random.Generator | None = None,
) -> HoneypotSchedule:
    """Choose the gold items for one batch (in rotation) and their positions.

    Parameters
    ----------
    gold_ids
        The gold items available as honeypots (unique).
    n_production
        Production items in the batch.
    rate
        Honeypot share of the mixed batch, in ``[0, 1)``.
    history
        Gold ids used as honeypots before, oldest first (all earlier batches); ids no
        longer in ``gold_ids`` are skipped.
    min_gap
        Fewest other honeypots between two uses of the same item, ``0 <= min_gap <
        len(gold_ids)``.
    rng
        Generator for the order and the positions (see :mod:`metrics.intervals`).

    Returns
    -------
    HoneypotSchedule

    Raises
    ------
    ValueError
        When gold ids repeat, the rate needs honeypots but there is no gold, or
        ``min_gap`` is not below the gold set's size.

    Examples
    --------
    >>> first = schedule_honeypots(["a", "b", "c"], 4, rate=0.5, rng=np.random.default_rng(1))
    >>> second = schedule_honeypots(
    ...     ["a", "b", "c"], 4, rate=0.5, history=first.gold_ids, rng=np.random.default_rng(2)
    ... )
    >>> sorted(first.gold_ids[:3]) == ["a", "b", "c"], len(first.gold_ids + second.gold_ids)
    (True, 8)
    """
    k = honeypot_count(n_production, rate=rate)
    gold = list(gold_ids)
    if len(set(gold)) != len(gold):
        raise ValueError("gold_ids must be unique")
    if k > 0 and not gold:
        raise ValueError(f"rate={rate} needs {k} honeypots but the gold set is empty")
    if isinstance(min_gap, bool) or not isinstance(min_gap, int) or min_gap < 0:
        raise ValueError(f"min_gap must be a whole number >= 0; got {min_gap!r}")
    if gold and min_gap >= len(gold):
        raise ValueError(
            f"min_gap={min_gap} must be below the {len(gold)} gold items, or the rotation "
            "would have no item to draw"
        )
    gen = resolve_rng(rng)
    used, last = _cycle_state(gold, history)
    last = {g: i - len(history) for g, i in last.items()}  # relative to this batch
    clock = 0
    remaining = [g for g in gold if g not in used]
    chosen: list[Hashable] = []
    never = -len(gold) - min_gap - 1
    for _ in range(k):
        if not remaining:
            remaining = list(gold)  # a new cycle
        # uniform among the eligible remaining items: draw, redraw while too recent (an
        # eligible item exists because min_gap < len(gold); see the module docstring)
        for _ in range(64):
            j = int(gen.integers(len(remaining)))
            if clock - last.get(remaining[j], never) > min_gap:
                break
        else:  # many recent items: list the eligible ones (or the least recent if none)
            gaps = [clock - last.get(g, never) for g in remaining]
            ok = [i for i, gap in enumerate(gaps) if gap > min_gap]
            j = ok[int(gen.integers(len(ok)))] if ok else int(np.argmax(gaps))
        pick = remaining[j]
        remaining[j] = remaining[-1]
        remaining.pop()
        chosen.append(pick)
        last[pick] = clock
        clock += 1
    batch = n_production + k
    positions = np.sort(gen.choice(batch, size=k, replace=False)).astype(np.int64)
    return HoneypotSchedule(gold_ids=tuple(chosen), positions=positions, batch_size=batch)
