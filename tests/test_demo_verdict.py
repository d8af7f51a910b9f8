"""The demo scenes' verdict says boxwise's box-edge bias in words with units (issue 10).

boxwise draws every vehicle with its shadow (+4.8 px on the right edge): the engine's box-bias
table carries each edge's spread, so the report can tell a real bias from noise and name it.
"""

from __future__ import annotations

from pathlib import Path

from metrics.scoring.base import ScoringOptions
from service import evaluation
from service.domain.report_files import report_from_scored
from tests.one_truth_data import demo_cases, write_files


def test_the_demo_verdict_names_boxwise_bias_in_pixels(tmp_path: Path) -> None:
    case = next(c for c in demo_cases() if c.task == "detection")
    gold, files = write_files(case, tmp_path)
    sources = [evaluation.parse_label_source(f"{n}={p}") for n, p in files.items()]
    inputs = evaluation.load_inputs("detection", gold, sources)
    options = ScoringOptions(n_resamples=200, min_coverage=0)
    report = report_from_scored(
        evaluation.score_inputs(inputs, options=options), title="scenes", options=options
    )
    caveats = [s for s in report.ranking.summary if s.startswith("Caveat")]
    assert len(caveats) == 1
    assert "boxwise" in caveats[0] and "vehicle right edge +4.8 px" in caveats[0]
    assert "careful" not in caveats[0]  # careful's +0.5 px is below the 2 px that matters
    significant = [(b.cls, b.edge) for b in report.box_bias if b.significant]
    assert ("vehicle", "right") in significant
