"""Defaults of the scoring engine that other layers state too, in one place.

Kept free of NumPy and pandas: the service's table definitions and the bake-off state
read before a report imports its code (:mod:`service.domain.score_prefetch`) use them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_MIN_COVERAGE"]

#: Share of golden items a vendor must label to be ranked, unless the bake-off sets its
#: own ``min_coverage``. Below it the vendor gets "not enough results".
DEFAULT_MIN_COVERAGE: Final[float] = 0.95
