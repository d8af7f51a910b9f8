"""The table definitions import no scientific stack.

Every process that touches the database imports :mod:`service.models`; ``bakeoff report``
does so on a thread that starts reading the bake-off's rows while the report's code is
still being imported (:mod:`service.domain.score_prefetch`). Its defaults come from the
import-light :mod:`reports.defaults` and :mod:`metrics.defaults`, not from the ranking's
or the engine's modules, which cost about 0.45 s more (pandas, SciPy, the engine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from metrics.defaults import DEFAULT_MIN_COVERAGE
from metrics.scoring import ScoringOptions
from reports.defaults import DEFAULT_RANKING_WEIGHTS
from reports.inputs import Constraints, RankingWeights
from service.domain.score_state import min_coverage
from service.models import BakeOff, BakeOffCreate

REPO = Path(__file__).resolve().parents[2]


def test_models_import_no_scientific_stack() -> None:
    probe = "import json, sys; import service.models; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    heavy = {"numpy", "pandas", "scipy", "plotly", "metrics.scoring", "reports.inputs"}
    assert not heavy & loaded


def test_one_default_everywhere() -> None:
    # the engine's coverage floor, the ranking's and a stored bake-off's without one
    assert ScoringOptions().min_coverage == DEFAULT_MIN_COVERAGE
    assert Constraints().coverage_floor == DEFAULT_MIN_COVERAGE
    assert min_coverage(
        BakeOff(name="b", project_id=1, golden_set_version_id=1, instructions_version_id=1)
    ) == (DEFAULT_MIN_COVERAGE)
    weights = BakeOffCreate(
        name="b", project_id=1, golden_set_version_id=1, instructions_version_id=1, vendor_ids=[1]
    ).ranking_weights
    assert weights == dict(DEFAULT_RANKING_WEIGHTS)
    assert RankingWeights() == RankingWeights(**DEFAULT_RANKING_WEIGHTS)
