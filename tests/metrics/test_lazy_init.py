"""``metrics`` and ``reports`` re-export lazily: same objects, no eager Numba or plotly."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import metrics
import reports
from metrics.scoring import SCORERS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", [metrics, reports], ids=["metrics", "reports"])
def test_every_public_name_has_a_source_and_resolves_to_it(package: Any) -> None:
    sources = package._SOURCES
    assert set(sources) == set(package.__all__)
    assert len(package.__all__) == len(set(package.__all__))
    for name, module in sources.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name


def test_scorers_load_their_module_on_use() -> None:
    assert list(SCORERS) == [
        "classification",
        "multilabel",
        "spans",
        "detection",
        "segmentation",
        "keypoints",
        "preference",
        "rating",
        "transcription",
    ]
    for task, scorer in SCORERS.items():
        assert scorer is importlib.import_module(f"metrics.scoring.{task}").score
    with pytest.raises(KeyError):
        SCORERS["no-such-task"]  # type: ignore[index]


def test_submodules_and_unknown_names() -> None:
    assert metrics.detection is importlib.import_module("metrics.detection")
    with pytest.raises(AttributeError, match="no_such_metric"):
        _ = metrics.no_such_metric
    from metrics import accuracy  # from-import goes through __getattr__ too

    assert accuracy is importlib.import_module("metrics.classification").accuracy


@pytest.mark.parametrize(
    "module",
    [
        "metrics.agreement",
        "metrics.classification",
        "metrics.statistics",
        "metrics.scoring",
        "metrics.scoring.classification",
        "reports.results",
        "reports.scores",
    ],
)
def test_classification_scoring_loads_without_numba_or_plotly(module: str) -> None:
    probe = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert not loaded & {"numba", "pycocotools", "cleanlab", "sklearn", "plotly", "torch"}
    # scipy.stats alone costs ~0.5 s to import; the McNemar test uses scipy.special
    assert "scipy.stats" not in json.loads(done.stdout)
