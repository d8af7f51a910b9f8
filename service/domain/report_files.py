"""The report for label *files* (``bakeoff evaluate --html``), from the engine's scores.

``bakeoff evaluate`` scores the files once with :mod:`metrics.scoring`
(:func:`service.evaluation.score_inputs`); the table, ``--json`` and this report all
read those :class:`~metrics.scoring.Scored` objects, so they show the same numbers.
Files carry no dispatch times or costs, so the ranking is on the main metric alone;
the coverage floor of the scoring options applies ("not enough results" below it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from metrics.scoring import Scored, ScoringOptions
from reports.inputs import Constraints, RankingConfig, RankingWeights
from reports.report import build_report
from reports.results import Report
from reports.scores import system_evaluation

__all__ = ["report_from_scored"]


def report_from_scored(
    scored: Mapping[str, Scored], *, title: str, options: ScoringOptions
) -> Report:
    """Rank already scored systems and build the whole report.

    Parameters
    ----------
    scored
        System name -> its scores (same gold).
    title
        The report's title.
    options
        The scoring options: the coverage floor, bootstrap resamples (at least 100 for
        the ranking) and seed.

    Raises
    ------
    ValueError
        No systems.
    """
    if not scored:
        raise ValueError("no systems: give at least one --labels NAME=PATH")
    systems = [system_evaluation(name, s) for name, s in scored.items()]
    return build_report(
        systems,
        title=title,
        config=RankingConfig(
            weights=RankingWeights(1.0, 0.0, 0.0),
            constraints=Constraints(min_coverage=options.min_coverage),
            n_resamples=max(options.n_resamples, 100),
        ),
        rng=np.random.default_rng(options.seed),
    )
