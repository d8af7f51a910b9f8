"""What the dashboards show beyond one report: every bake-off's leader and weights.

The project page lists a project's bake-offs with the leader of each (not only of the
current one) and the ranking weights each was ranked under. Leaders are read from each
bake-off's report (:func:`service.domain.reporting.bakeoff_report`, cached by data
version): the ranking engine's verdict, never recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from reports.inputs import DEFAULT_RANKING_WEIGHTS
from reports.results import Ranking
from service.domain import reporting
from service.domain.reporting import ProjectOverview
from service.domain.security import Principal
from service.models import BakeOff

__all__ = ["BakeoffRow", "bakeoff_rows", "leader_text"]


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
        verdict = ""
        if b.status == "cancelled":
            leader = "cancelled"
        else:
            try:
                report = reporting.bakeoff_report(
                    session=session, bakeoff_id=b.id, principal=principal, n_resamples=n_resamples
                )
            except ValueError as exc:  # no gold, no candidates, bad settings: say which
                leader = f"no verdict: {exc}"
            else:
                leader = leader_text(report.ranking)
                verdict = report.ranking.summary[0] if report.ranking.summary else ""
        weights = _weights(session.get(BakeOff, b.id))
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
