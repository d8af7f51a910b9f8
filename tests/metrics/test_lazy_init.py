"""``metrics`` re-exports its public API lazily: same names, same objects, no eager Numba."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import metrics

REPO = Path(__file__).resolve().parents[2]


def test_every_public_name_has_a_source_and_resolves_to_it() -> None:
    sources = metrics._SOURCES
    assert set(sources) == set(metrics.__all__)
    assert len(metrics.__all__) == len(set(metrics.__all__))
    for name, module in sources.items():
        assert getattr(metrics, name) is getattr(importlib.import_module(module), name), name


def test_submodules_and_unknown_names() -> None:
    assert metrics.detection is importlib.import_module("metrics.detection")
    with pytest.raises(AttributeError, match="no_such_metric"):
        _ = metrics.no_such_metric
    from metrics import accuracy  # from-import goes through __getattr__ too

    assert accuracy is importlib.import_module("metrics.classification").accuracy


@pytest.mark.parametrize(
    "module", ["metrics.agreement", "metrics.classification", "metrics.statistics"]
)
def test_classification_metrics_load_without_numba_or_cocotools(module: str) -> None:
    probe = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert not loaded & {"numba", "pycocotools", "cleanlab", "sklearn", "plotly", "torch"}
    # scipy.stats alone costs ~0.5 s to import; the McNemar test uses scipy.special
    assert "scipy.stats" not in json.loads(done.stdout)
