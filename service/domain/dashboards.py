"""What the dashboards show beyond one report: every bake-off's leader and weights.

The project page lists a project's bake-offs with the leader of each (not only of the
current one) and the ranking weights each was ranked under. Leaders are read from each
bake-off's report (:func:`service.domain.reporting.bakeoff_report`): the ranking engine's
verdict, never recomputed here. A leader depends only on its own bake-off (labels, gold,
weights, constraints, prices), so it is remembered under that bake-off's own state: labels
landing in the newest bake-off do not make the page rebuild every older report.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session

from reports.inputs import DEFAULT_RANKING_WEIGHTS
from reports.results import Ranking
from service.domain import reporting
from service.domain._common import table_of
from service.domain.bakeoffs import bakeoff_vendor_ids
from service.domain.reporting import ProjectOverview
from service.domain.security import Principal
from service.models import BakeOff, Vendor

__all__ = ["BakeoffRow", "bakeoff_rows", "clear_cache", "leader_text"]

_LEADERS: OrderedDict[Hashable, tuple[str, str]] = OrderedDict()
_LOCK = threading.Lock()
_SIZE = 256


@dataclass(frozen=True)
class BakeoffRow:
    """One row of a project's list of bake-offs on the dashboard.

    Attributes
    ----------
    leader
        The verdict in a few words: the leader's name (with whom it is tied), or why
        there is none ("no labels yet", "none eligible", "cancelled", ...).
    verdict
        The ranking's first summary sentence (``""`` when there is no report).
    weights
        The ranking weights the bake-off uses; ``default_weights`` says whether they are
        :data:`reports.inputs.DEFAULT_RANKING_WEIGHTS`.
    """

    id: int
    name: str
    status: str
    created_at: datetime
    n_vendors: int
    leader: str
    verdict: str
    weights: dict[str, float]
    default_weights: bool


def leader_text(ranking: Ranking) -> str:
    """The ranking's verdict in a few words (the engine's ranks and letter groups)."""
    ranked = [s for s in ranking.systems if s.rank is not None]
    if ranking.verdict == "no_results" or not ranking.systems:
        return "no labels yet"
    if not ranked:
        return "none eligible"
    top = ranked[0]
    if ranking.verdict == "tied" and top.tie_group is not None:
        group = ranking.tie_groups[top.tie_group - 1] if ranking.tie_groups else []
        others = [n for n in group if n != top.name]
        if others:
            return f"{top.name} (tied with {', '.join(others)})"
    return top.name


def _weights(bakeoff: BakeOff | None) -> dict[str, float]:
    stored = dict(bakeoff.ranking_weights or {}) if bakeoff is not None else {}
    return {k: float(stored.get(k, v)) for k, v in DEFAULT_RANKING_WEIGHTS.items()}


def clear_cache() -> None:
    """Forget every remembered leader."""
    with _LOCK:
        _LEADERS.clear()


def _own_state(session: Session, bakeoff: BakeOff, principal: Principal | None) -> Hashable:
    """Everything one bake-off's ranking depends on (not the project's other bake-offs)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    vendor = table_of(Vendor)
    ids = bakeoff_vendor_ids(session, bakeoff.id or 0)
    prices = session.execute(
        sa_select(
            vendor.c.id,
            vendor.c.name,
            vendor.c.price_per_item,
            vendor.c.price_per_label,
            vendor.c.price_per_hour,
            vendor.c.minimum_commitment,
            vendor.c.currency,
        ).where(vendor.c.id.in_(ids))
    ).all()
    return (
        str(engine.url),
        id(engine),
        bakeoff.id,
        bakeoff.data_version,
        str(bakeoff.updated_at),
        bakeoff.golden_set_version_id,
        bakeoff.status,
        repr(sorted((bakeoff.ranking_weights or {}).items())),
        repr(sorted((bakeoff.constraints or {}).items())),
        bakeoff.blinded,
        None if principal is None else principal.role,
        tuple(sorted(tuple(str(x) for x in row) for row in prices)),
    )


def _leader(
    session: Session, bakeoff: BakeOff, principal: Principal | None, n_resamples: int
) -> tuple[str, str]:
    key = (_own_state(session, bakeoff, principal), n_resamples)
    with _LOCK:
        hit = _LEADERS.get(key)
        if hit is not None:
            _LEADERS.move_to_end(key)
            return hit
    try:
        report = reporting.bakeoff_report(
            session=session,
            bakeoff_id=bakeoff.id or 0,
            principal=principal,
            n_resamples=n_resamples,
        )
    except ValueError as exc:  # no gold, no candidates, bad settings: say which
        found = (f"no verdict: {exc}", "")
    else:
        summary = report.ranking.summary
        found = (leader_text(report.ranking), summary[0] if summary else "")
    with _LOCK:
        _LEADERS[key] = found
        while len(_LEADERS) > _SIZE:
            _LEADERS.popitem(last=False)
    return found


def bakeoff_rows(
    *,
    session: Session,
    overview: ProjectOverview,
    principal: Principal | None = None,
    n_resamples: int = 1000,
) -> list[BakeoffRow]:
    """The overview's bake-offs, each with its leader, verdict and ranking weights."""
    rows: list[BakeoffRow] = []
    for b in overview.bakeoffs:
        model = session.get(BakeOff, b.id)
        if b.status == "cancelled" or model is None:
            leader, verdict = "cancelled", ""
        else:
            leader, verdict = _leader(session, model, principal, n_resamples)
        weights = _weights(model)
        rows.append(
            BakeoffRow(
                id=b.id,
                name=b.name,
                status=b.status,
                created_at=b.created_at,
                n_vendors=b.n_vendors,
                leader=leader,
                verdict=verdict,
                weights=weights,
                default_weights=weights == dict(DEFAULT_RANKING_WEIGHTS),
            )
        )
    return rows
