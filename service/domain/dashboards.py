"""What the dashboards show beyond one report: every bake-off's leader and weights.

The project page lists a project's bake-offs with the leader of each (not only of the
current one) and the ranking weights each was ranked under. Leaders are read from each
bake-off's report (:func:`service.domain.reporting.bakeoff_report`): the ranking engine's
verdict, never recomputed here. A leader depends only on its own bake-off's scores and
ranking state (weights, constraints, bootstrap settings, whether the reader sees vendor
names), so labels landing in the newest bake-off do not make the page rank every older one
again. Once found, a leader is stored next to the bake-off's stored scores
(:func:`service.domain.score_store.store_leader`, under a key of that whole state) and
remembered in this process: a new process reads it instead of ranking. The service's
background scoring stores the named (unblinded) leader right after the scores
(:func:`store_leader_of`), so the first project page after an import is a read.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from reports.defaults import DEFAULT_RANKING_WEIGHTS
from reports.results import Ranking
from service.domain import reporting, score_store, scoring
from service.domain.reporting import ProjectOverview
from service.domain.security import Principal
from service.models import BakeOff

__all__ = ["BakeoffRow", "bakeoff_rows", "clear_cache", "leader_text", "store_leader_of"]

_LEADERS: OrderedDict[Hashable, tuple[str, str]] = OrderedDict()
_LOCK = threading.Lock()
_SIZE = 256
_SEED = 0  # the reports' seed (reporting.bakeoff_report's default)
_CODE: str | None = None


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
        :data:`reports.defaults.DEFAULT_RANKING_WEIGHTS`.
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
    """Forget every leader remembered in this process (stored ones stay)."""
    with _LOCK:
        _LEADERS.clear()


def _code_digest() -> str:
    """Digest of the code a leader comes from besides the scores' (the ranking and report
    in :mod:`reports`, the report's inputs, this module's wording): a deploy ranks again."""
    global _CODE
    if _CODE is None:
        import reports  # the package's files, not an import of every module

        digest = hashlib.sha256()
        files = sorted(Path(reports.__file__).parent.rglob("*.py"))
        files += [Path(reporting.__file__), Path(__file__)]
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        _CODE = digest.hexdigest()
    return _CODE


def _state(
    session: Session, bakeoff: BakeOff, principal: Principal | None, n_resamples: int
) -> tuple[str, str] | None:
    """The stored scores' fingerprint and a digest of everything else the bake-off's ranking
    depends on; ``None`` when its settings are invalid (the report says why, every time)."""
    try:
        config = reporting.ranking_config(bakeoff, n_resamples=n_resamples)
    except ValueError:
        return None
    fingerprint = scoring.fingerprint(session, bakeoff, n_resamples=n_resamples, seed=_SEED)
    state = [
        fingerprint,
        repr(config),  # weights, constraints (coverage floor too), bootstrap settings
        reporting.reveals_names(bakeoff, principal),
        _SEED,
        _code_digest(),
    ]
    key = hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()
    return fingerprint, key


def _ranked(
    session: Session, bakeoff: BakeOff, principal: Principal | None, n_resamples: int
) -> tuple[tuple[str, str], bool]:
    """The leader and verdict line of the bake-off's report; whether they may be stored."""
    try:
        report = reporting.bakeoff_report(
            session=session,
            bakeoff_id=bakeoff.id or 0,
            principal=principal,
            n_resamples=n_resamples,
            seed=_SEED,
        )
    except ValueError as exc:  # no gold, no candidates, bad settings: say which
        return (f"no verdict: {exc}", ""), False
    summary = report.ranking.summary
    return (leader_text(report.ranking), summary[0] if summary else ""), True


def _leader(
    session: Session, bakeoff: BakeOff, principal: Principal | None, n_resamples: int
) -> tuple[str, str]:
    bakeoff_id = bakeoff.id or 0
    state = _state(session, bakeoff, principal, n_resamples)
    if state is None:
        return _ranked(session, bakeoff, principal, n_resamples)[0]
    fingerprint, key = state
    memory_key = (score_store.engine_token(score_store.engine_of(session)), bakeoff_id, key)
    with _LOCK:
        hit = _LEADERS.get(memory_key)
        if hit is not None:
            _LEADERS.move_to_end(memory_key)
            return hit
    found = score_store.read_leader(
        session, bakeoff_id=bakeoff_id, fingerprint=fingerprint, key=key
    )
    if found is None:
        found, storable = _ranked(session, bakeoff, principal, n_resamples)
        # stored only next to the very scores it was ranked from: not when they moved on
        # meanwhile (a task timed out, labels landed) or were not kept (see store_leader)
        if storable and _state(session, bakeoff, principal, n_resamples) == state:
            score_store.store_leader(
                session,
                bakeoff_id=bakeoff_id,
                fingerprint=fingerprint,
                key=key,
                leader=found[0],
                verdict=found[1],
            )
    with _LOCK:
        _LEADERS[memory_key] = found
        while len(_LEADERS) > _SIZE:
            _LEADERS.popitem(last=False)
    return found


def store_leader_of(session: Session, bakeoff: BakeOff, *, n_resamples: int = 1000) -> None:
    """Rank ``bakeoff`` and store its leader as the dashboard shows it to readers who see
    vendor names, unless it is stored already. Nothing is done when the scores of its
    current state are not stored (labels landed while they were computed: the next
    scoring comes, and ranking scores nobody kept would only compute them again)."""
    if bakeoff.status == "cancelled":
        return
    state = _state(session, bakeoff, None, n_resamples)
    if state is None or not score_store.is_stored(
        session, bakeoff_id=bakeoff.id or 0, fingerprint=state[0]
    ):
        return
    _leader(session, bakeoff, None, n_resamples)


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
