"""``bakeoff evaluate`` and ``bakeoff agreement`` on real files, JSON contract and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from typer.testing import CliRunner

from service.cli.main import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "classification"
runner = CliRunner()

REQUIRED = (
    "accuracy",
    "accuracy_all",
    "coverage",
    "balanced_accuracy",
    "cohen_kappa",
    "macro_f1",
    "micro_f1",
)


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _evaluate_examples(*extra: str) -> dict[str, Any]:
    result = _invoke(
        "evaluate",
        "--task",
        "classification",
        "--gold",
        str(EXAMPLES / "gold.csv"),
        "--labels",
        f"knn={EXAMPLES / 'knn.csv'}",
        "--labels",
        f"acme={EXAMPLES / 'acme.csv'}",
        "--labels",
        f"crowd={EXAMPLES / 'crowd.csv'}",
        "--json",
        "--resamples",
        "200",
        *extra,
    )
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_evaluate_json_contract_and_values_match_sklearn() -> None:
    out = _evaluate_examples()
    assert set(out["systems"]) == {"knn", "acme", "crowd"}
    gold = pd.read_csv(EXAMPLES / "gold.csv", index_col="item_id")["label"]
    for name in ("knn", "acme"):
        system = out["systems"][name]
        for key in REQUIRED:
            assert isinstance(system[key], float), key
            low, high = system["ci95"][key]
            assert low <= system[key] + 1e-12 and system[key] - 1e-12 <= high, key
        labels = pd.read_csv(EXAMPLES / f"{name}.csv", index_col="item_id")["label"]
        y_true, y_pred = gold.loc[labels.index], labels
        assert system["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-9)
        assert system["cohen_kappa"] == pytest.approx(
            skm.cohen_kappa_score(y_true, y_pred), abs=1e-9
        )
        assert system["macro_f1"] == pytest.approx(
            skm.f1_score(y_true, y_pred, average="macro"), abs=1e-9
        )
        assert system["balanced_accuracy"] == pytest.approx(
            skm.balanced_accuracy_score(y_true, y_pred), abs=1e-9
        )
        assert system["coverage"] == pytest.approx(len(labels) / len(gold))
        assert system["accuracy_all"] == pytest.approx(
            float((gold.reindex(labels.index) == labels).sum()) / len(gold)
        )
    assert out["systems"]["acme"]["coverage"] < 1.0
    crowd = out["systems"]["crowd"]
    assert crowd["annotators"]["n_annotators"] == 3
    assert {c["system_a"] + "/" + c["system_b"] for c in out["comparisons"]} == {
        "knn/acme",
        "knn/crowd",
        "acme/crowd",
    }


def test_evaluate_is_reproducible_with_a_seed() -> None:
    a = _evaluate_examples("--seed", "3")
    b = _evaluate_examples("--seed", "3")
    assert a == b
    c = _evaluate_examples("--seed", "4")
    assert c["systems"]["knn"]["accuracy"] == a["systems"]["knn"]["accuracy"]
    assert c["systems"]["knn"]["ci95"] != a["systems"]["knn"]["ci95"]


def test_evaluate_prints_a_table_without_json() -> None:
    result = _invoke(
        "evaluate",
        "--gold",
        str(EXAMPLES / "gold.csv"),
        "--labels",
        f"knn={EXAMPLES / 'knn.csv'}",
        "--resamples",
        "50",
    )
    assert result.exit_code == 0, result.output
    assert "knn" in result.stdout and "0.953" in result.stdout


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("gold_text", "labels_text", "expected"),
    [
        pytest.param(
            "item_id,label\na,x\nb,y\n",
            "item_id,label\na,x\na,y\n",
            "vendor.csv: row 3: duplicate item_id 'a' (first seen at row 2)",
            id="duplicate-id",
        ),
        pytest.param(
            "item_id,label\na,x\nb,y\n",
            "item,label\na,x\n",
            "vendor.csv: row 1: unrecognised header item,label",
            id="unknown-column",
        ),
        pytest.param(
            "item_id,label\na,x\nb,y\n",
            "item_id,label\na,x\nzz,y\n",
            "vendor.csv: row 3: item_id 'zz' is not in gold.csv",
            id="item-not-in-gold",
        ),
        pytest.param(
            "item_id,label\na,x\nb,\n",
            "item_id,label\na,x\n",
            "gold.csv: row 3: empty label for item_id 'b'",
            id="empty-gold-label",
        ),
        pytest.param(
            "item_id,annotator_id,label\na,w,x\n",
            "item_id,label\na,x\n",
            "gold.csv: row 1: gold must have one label per item",
            id="gold-with-annotators",
        ),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(
    tmp_path: Path, gold_text: str, labels_text: str, expected: str
) -> None:
    gold = _write(tmp_path, "gold.csv", gold_text)
    labels = _write(tmp_path, "vendor.csv", labels_text)
    result = _invoke("evaluate", "--gold", gold, "--labels", f"v={labels}", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: " + expected)


def test_missing_file_and_bad_spec(tmp_path: Path) -> None:
    gold = _write(tmp_path, "gold.csv", "item_id,label\na,x\n")
    result = _invoke("evaluate", "--gold", gold, "--labels", f"v={tmp_path / 'nope.csv'}")
    assert result.exit_code == 1
    assert "nope.csv: cannot open file" in result.stderr
    result = _invoke("evaluate", "--gold", gold, "--labels", "v=")
    assert result.exit_code == 1
    assert "expected NAME=PATH" in result.stderr
    result = _invoke("evaluate", "--gold", gold, "--labels", f"v={gold}", "--labels", f"v={gold}")
    assert result.exit_code == 1 and "repeated: v" in result.stderr


def test_agreement_json_matches_references() -> None:
    result = _invoke("agreement", "--labels", str(EXAMPLES / "crowd.csv"), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    crowd = pd.read_csv(EXAMPLES / "crowd.csv")
    wide = crowd.pivot(index="item_id", columns="annotator_id", values="label")
    table, _ = aggregate_raters(wide.to_numpy())
    assert out["fleiss_kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)
    ref = krippendorff.alpha(
        reliability_data=wide.to_numpy().T.astype(float), level_of_measurement="nominal"
    )
    assert out["krippendorff_alpha"] == pytest.approx(ref, abs=1e-9)
    assert out["n_items"] == 300 and out["n_annotators"] == 3
    ordinal = json.loads(
        _invoke(
            "agreement", "--labels", str(EXAMPLES / "crowd.csv"), "--level", "ordinal", "--json"
        ).stdout
    )
    ref_ord = krippendorff.alpha(
        reliability_data=wide.to_numpy().T.astype(float), level_of_measurement="ordinal"
    )
    assert ordinal["krippendorff_alpha"] == pytest.approx(ref_ord, abs=1e-9)


def test_agreement_with_gold_and_table() -> None:
    result = _invoke(
        "agreement", "--labels", str(EXAMPLES / "crowd.csv"), "--gold", str(EXAMPLES / "gold.csv")
    )
    assert result.exit_code == 0, result.output
    assert "Fleiss" in result.stdout and "ann" in result.stdout
    out = json.loads(
        _invoke(
            "agreement",
            "--labels",
            str(EXAMPLES / "crowd.csv"),
            "--gold",
            str(EXAMPLES / "gold.csv"),
            "--json",
        ).stdout
    )
    crowd = pd.read_csv(EXAMPLES / "crowd.csv")
    gold = pd.read_csv(EXAMPLES / "gold.csv", index_col="item_id")["label"]
    ann = crowd[crowd["annotator_id"] == "ann"]
    expected = float(np.mean(ann["label"].to_numpy() == gold.loc[ann["item_id"]].to_numpy()))
    assert out["annotators"]["ann"]["accuracy"] == pytest.approx(expected)


def test_agreement_interval_needs_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path, "ans.csv", "item_id,annotator_id,label\na,w1,1\na,w2,high\n")
    result = _invoke("agreement", "--labels", path, "--level", "interval", "--json")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: ans.csv: row 3: label 'high' is not a number; --level interval needs numeric labels"
    )
