"""Defaults of the ranking that other layers state too, in one place.

Kept free of NumPy, pandas and the metrics: :mod:`service.models` (every process that
touches the database) imports it, and must not pay for the scoring engine to do so.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["DEFAULT_RANKING_WEIGHTS"]

#: The ranking weights of a bake-off that sets none: the one default of the API
#: (``BakeOffCreate.ranking_weights``), the client, the demo and
#: :class:`reports.inputs.RankingWeights`. Documented in README.md ("Ranking weights") and
#: docs/report-schema.md.
DEFAULT_RANKING_WEIGHTS: Final[Mapping[str, float]] = MappingProxyType(
    {"accuracy": 0.6, "speed": 0.2, "cost": 0.2}
)
