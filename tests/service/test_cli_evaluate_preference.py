"""``bakeoff evaluate --task preference``: the engine's numbers, bad values named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from service.cli.main import app

runner = CliRunner()
_GOLD = ["A", "B", "tie", "A", "B", "A"]
_V1 = ["A", "A", "tie", "A", "B", "tie"]


def _csv(path: Path, values: list[str]) -> Path:
    path.write_text("item_id,label\n" + "".join(f"i{i},{v}\n" for i, v in enumerate(values)))
    return path


def test_evaluate_preference_matches_sklearn(tmp_path: Path) -> None:
    gold = _csv(tmp_path / "gold.csv", _GOLD)
    v1 = _csv(tmp_path / "v1.csv", _V1)
    result = runner.invoke(
        app,
        ["evaluate", "--task", "preference", "--gold", str(gold), "--labels", f"v1={v1}"]
        + ["--json", "--resamples", "50"],
    )
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)["systems"]["v1"]
    assert system["main_metric"] == "agreement"
    metrics = system["metrics"]
    assert metrics["agreement"]["value"] == pytest.approx(4 / 6)
    assert metrics["agreement_without_ties"]["value"] == pytest.approx(3 / 4)
    assert metrics["cohen_kappa"]["value"] == pytest.approx(cohen_kappa_score(_GOLD, _V1), abs=1e-9)


def test_evaluate_preference_names_a_bad_value(tmp_path: Path) -> None:
    gold = _csv(tmp_path / "gold.csv", _GOLD)
    bad = _csv(tmp_path / "bad.csv", ["A", "C"])
    result = runner.invoke(
        app, ["evaluate", "--task", "preference", "--gold", str(gold), "--labels", f"bad={bad}"]
    )
    assert result.exit_code != 0
    assert "'i1': 'C'" in result.output
