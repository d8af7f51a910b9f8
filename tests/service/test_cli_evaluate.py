"""``bakeoff evaluate`` and ``bakeoff agreement`` on real files, JSON contract and errors."""

from __future__ import annotations

import json
import re
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
from tests.needs import require, shared_data_problem

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "classification"
runner = CliRunner()

# micro F1 is gone: for single labels it equals accuracy (one name per quantity)
REQUIRED = (
    "accuracy",
    "accuracy_all",
    "coverage",
    "balanced_accuracy",
    "cohen_kappa",
    "macro_f1",
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
        assert system["main_metric"] == "accuracy" and system["ranking_metric"] == "accuracy_all"
        value = {key: system["metrics"][key]["value"] for key in REQUIRED}
        for key in REQUIRED:
            assert isinstance(value[key], float), key
            low, high = system["metrics"][key]["low"], system["metrics"][key]["high"]
            assert low <= value[key] + 1e-12 and value[key] - 1e-12 <= high, key
        labels = pd.read_csv(EXAMPLES / f"{name}.csv", index_col="item_id")["label"]
        y_true, y_pred = gold.loc[labels.index], labels
        assert value["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-9)
        assert value["cohen_kappa"] == pytest.approx(
            skm.cohen_kappa_score(y_true, y_pred), abs=1e-9
        )
        assert value["macro_f1"] == pytest.approx(
            skm.f1_score(y_true, y_pred, average="macro"), abs=1e-9
        )
        assert value["balanced_accuracy"] == pytest.approx(
            skm.balanced_accuracy_score(y_true, y_pred), abs=1e-9
        )
        assert value["coverage"] == pytest.approx(len(labels) / len(gold))
        assert system["coverage"] == pytest.approx(len(labels) / len(gold))
        assert value["accuracy_all"] == pytest.approx(
            float((gold.reindex(labels.index) == labels).sum()) / len(gold)
        )
    assert out["systems"]["acme"]["coverage"] < 1.0
    crowd = out["systems"]["crowd"]
    assert len(crowd["annotators"]) == 3 and crowd["n_ties"] > 0
    assert any("ties" in w for w in crowd["warnings"])
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
    knn_a, knn_c = a["systems"]["knn"]["metrics"], c["systems"]["knn"]["metrics"]
    assert knn_c["accuracy"] == knn_a["accuracy"]  # Wilson: no resampling
    assert knn_c["macro_f1"]["value"] == knn_a["macro_f1"]["value"]
    assert knn_c["macro_f1"] != knn_a["macro_f1"]  # bootstrap interval follows the seed


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


def test_five_systems_piped_keep_every_interval_whole() -> None:
    """Issue 13: not on a terminal, rich cut the table at 80 columns ("0.923–0…")."""
    files = ("knn", "acme", "crowd", "knn", "acme")
    labels = [f"--labels={name}{i}={EXAMPLES / f'{name}.csv'}" for i, name in enumerate(files)]
    args = ["evaluate", "--gold", str(EXAMPLES / "gold.csv"), *labels, "--resamples", "50"]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    scores = json.loads(_invoke(*args, "--json").stdout)["systems"]
    assert "…" not in result.stdout
    for name, system in scores.items():
        assert name in result.stdout
        for metric in ("accuracy", "accuracy_all", "coverage"):
            e = system["metrics"][metric]
            assert f"{e['low']:.3f}–{e['high']:.3f}" in result.stdout, (name, metric)
    # the crowd's annotators in the table, as the examples README says
    assert "crowd2: each annotator alone" in result.stdout
    for who, row in scores["crowd2"]["annotators"].items():
        gold, peers = row["agreement_with_gold"], row["agreement_with_peers"]
        assert re.search(rf"{who}\s+│\s+300 │\s+{gold:.3f} │\s+{peers:.3f}", result.stdout)


def test_five_systems_on_a_narrow_terminal_come_in_groups_that_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: on an 80-column terminal, five systems' intervals were cut ("0.923–0…")."""
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda _self: True))
    monkeypatch.setenv("COLUMNS", "80")
    files = ("knn", "acme", "crowd", "knn", "acme")
    labels = [f"--labels={name}{i}={EXAMPLES / f'{name}.csv'}" for i, name in enumerate(files)]
    args = ["evaluate", "--gold", str(EXAMPLES / "gold.csv"), *labels, "--resamples", "50"]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    shown = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # a terminal gets styles
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 80
    titles = [line for line in shown.splitlines() if "main metric" in line]
    assert len(titles) >= 2  # the systems came in more than one table
    scores = json.loads(_invoke(*args, "--json").stdout)["systems"]
    for name, system in scores.items():
        assert name in shown
        e = system["metrics"]["accuracy_all"]
        assert f"{e['low']:.3f}–{e['high']:.3f}" in shown, name


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


@pytest.mark.parametrize(
    ("labels_text", "unknown"),
    [
        pytest.param("item_id,label\na,cat\nb,dgo\n", "'dgo'", id="misspelled-class"),
        pytest.param("item_id,label\na,0\nb,1\n", "'0', '1'", id="integers-vs-names"),
    ],
)
def test_unknown_classes_are_refused_like_the_service_unless_asked(
    tmp_path: Path, labels_text: str, unknown: str
) -> None:
    gold = _write(tmp_path, "gold.csv", "item_id,label\na,cat\nb,dog\n")
    labels = _write(tmp_path, "vendor.csv", labels_text)
    refused = _invoke("evaluate", "--gold", gold, "--labels", f"v={labels}", "--json")
    assert refused.exit_code == 1 and refused.stdout == ""
    line = refused.stderr.strip()
    assert line.startswith(f"error: vendor.csv: unknown classes {unknown}")
    assert "the gold vocabulary has: cat, dog" in line and "--unknown-as-wrong" in line
    scored = _invoke(
        "evaluate", "--gold", gold, "--labels", f"v={labels}", "--json", "--unknown-as-wrong"
    )
    assert scored.exit_code == 0, scored.output
    system = json.loads(scored.stdout)["systems"]["v"]
    assert system["metrics"]["accuracy"]["value"] < 1.0
    assert any("not in the gold vocabulary" in w for w in system["warnings"])


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


def test_evaluate_shows_the_crowds_fleiss_and_alpha_as_agreement_does(tmp_path: Path) -> None:
    # the examples README: the table shows the crowd's Fleiss' kappa and Krippendorff's alpha
    html = tmp_path / "report.html"
    out = _evaluate_examples("--html", str(html))
    crowd = out["systems"]["crowd"]["crowd_agreement"]
    assert out["systems"]["knn"]["crowd_agreement"] is None  # one answer per item
    assert out["systems"]["acme"]["crowd_agreement"] is None
    answers = pd.read_csv(EXAMPLES / "crowd.csv")
    wide = answers.pivot(index="item_id", columns="annotator_id", values="label")
    table, _ = aggregate_raters(wide.to_numpy())
    assert crowd["fleiss_kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)
    ref = krippendorff.alpha(
        reliability_data=wide.to_numpy().T.astype(float), level_of_measurement="nominal"
    )
    assert crowd["krippendorff_alpha"] == pytest.approx(ref, abs=1e-9)
    assert crowd["fleiss_kappa_note"] is None and crowd["level"] == "nominal"
    assert (crowd["n_items"], crowd["min_answers"], crowd["max_answers"]) == (300, 3, 3)
    # one engine: the very numbers of `bakeoff agreement` on the same file
    agreement = _invoke("agreement", "--labels", str(EXAMPLES / "crowd.csv"), "--json")
    assert agreement.exit_code == 0, agreement.output
    same = json.loads(agreement.stdout)
    assert crowd["fleiss_kappa"] == same["fleiss_kappa"]
    assert crowd["krippendorff_alpha"] == same["krippendorff_alpha"]
    kappa, alpha = f"{crowd['fleiss_kappa']:.3f}", f"{crowd['krippendorff_alpha']:.3f}"
    printed = _invoke(
        "evaluate",
        "--gold",
        str(EXAMPLES / "gold.csv"),
        "--labels",
        f"knn={EXAMPLES / 'knn.csv'}",
        "--labels",
        f"crowd={EXAMPLES / 'crowd.csv'}",
        "--resamples",
        "50",
    )
    assert printed.exit_code == 0, printed.output
    words = " ".join(printed.stdout.split())
    assert (
        f"crowd: its annotators' agreement on 300 items: Fleiss' kappa {kappa}, "
        f"Krippendorff's alpha (nominal) {alpha}"
    ) in words
    assert "knn: its annotators' agreement" not in words
    page = html.read_text(encoding="utf-8")
    row = re.search(r'<table id="crowd-agreement">.*?</table>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(0))
    assert cells == ["crowd", "300", kappa, alpha]


def test_evaluate_says_why_a_crowds_fleiss_kappa_is_absent(tmp_path: Path) -> None:
    gold = _write(tmp_path, "gold.csv", "item_id,label\na,x\nb,y\nc,x\n")
    rows = ["a,w1,x", "a,w2,x", "a,w3,y", "b,w1,y", "b,w2,y", "c,w1,x", "c,w3,y"]
    labels = _write(tmp_path, "crowd.csv", "item_id,annotator_id,label\n" + "\n".join(rows))
    args = ("evaluate", "--gold", gold, "--labels", f"crowd={labels}", "--resamples", "20")
    result = _invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    crowd = json.loads(result.stdout)["systems"]["crowd"]["crowd_agreement"]
    assert crowd["fleiss_kappa"] is None and "2 to 3 answers" in crowd["fleiss_kappa_note"]
    # rows w1, w2, w3; columns a, b, c; x 0, y 1
    data = np.array([[0, 1, 0], [0, 1, np.nan], [1, np.nan, 1]])
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert crowd["krippendorff_alpha"] == pytest.approx(ref, abs=1e-9)
    same = json.loads(_invoke("agreement", "--labels", labels, "--json").stdout)
    assert crowd["krippendorff_alpha"] == same["krippendorff_alpha"]
    words = " ".join(_invoke(*args).stdout.split())
    assert f"Fleiss' kappa - ({' '.join(crowd['fleiss_kappa_note'].split())})" in words


def test_agreement_interval_needs_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path, "ans.csv", "item_id,annotator_id,label\na,w1,1\na,w2,high\n")
    result = _invoke("agreement", "--labels", path, "--level", "interval", "--json")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: ans.csv: row 3: label 'high' is not a number; --level interval needs numeric labels"
    )


# --------------------------------------------------------------------------- multilabel


def test_evaluate_multilabel_matches_sklearn(tmp_path: Path) -> None:
    from sklearn.preprocessing import MultiLabelBinarizer

    gold = _write(
        tmp_path, "gold.csv", "item_id,label\na,cat|indoor\nb,dog\nc,cat\nd,dog|outdoor\n"
    )
    vend = _write(tmp_path, "v.csv", "item_id,label\na,cat\nb,dog\nc,cat|dog\n")
    result = _invoke(
        "evaluate", "--task", "multilabel", "--gold", gold, "--labels", f"v={vend}", "--json"
    )
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)["systems"]["v"]
    s = {k: v["value"] for k, v in system["metrics"].items()}
    g = [{"cat", "indoor"}, {"dog"}, {"cat"}]
    p = [{"cat"}, {"dog"}, {"cat", "dog"}]
    mlb = MultiLabelBinarizer().fit(g + p)
    yt, yp = mlb.transform(g), mlb.transform(p)
    assert s["coverage"] == 0.75
    assert s["hamming_loss"] == pytest.approx(skm.hamming_loss(yt, yp), abs=1e-9)
    assert s["micro_f1"] == pytest.approx(skm.f1_score(yt, yp, average="micro"), abs=1e-9)
    assert s["macro_f1"] == pytest.approx(
        skm.f1_score(yt, yp, average="macro", zero_division=0), abs=1e-9
    )
    assert s["exact_match"] == pytest.approx(skm.accuracy_score(yt, yp), abs=1e-9)
    assert s["jaccard"] == pytest.approx(skm.jaccard_score(yt, yp, average="samples"), abs=1e-9)
    assert all(system["metrics"][k]["low"] is not None for k in ("micro_f1", "jaccard"))
    assert system["main_metric"] == "exact_match"


# --------------------------------------------------------------------------- spans


def test_evaluate_spans_jsonl(tmp_path: Path) -> None:
    gold = _write(
        tmp_path,
        "gold.jsonl",
        '{"item_id": "s1", "label": [{"start": 0, "end": 5, "type": "PER"}, '
        '{"start": 10, "end": 16, "type": "LOC"}]}\n'
        '{"item_id": "s2", "label": [{"start": 3, "end": 7, "type": "ORG"}]}\n'
        '{"item_id": "s3", "label": []}\n',
    )
    vend = _write(
        tmp_path,
        "v.jsonl",
        '{"item_id": "s1", "label": [{"start": 0, "end": 5, "type": "PER"}, '
        '{"start": 11, "end": 16, "type": "LOC"}]}\n'
        '{"item_id": "s3", "label": [{"start": 1, "end": 2, "type": "PER"}]}\n',
    )
    result = _invoke(
        "evaluate", "--task", "spans", "--gold", gold, "--labels", f"v={vend}", "--json"
    )
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)["systems"]["v"]
    s = {k: v["value"] for k, v in system["metrics"].items()}
    # s2 was skipped: its ORG span is not counted; exact: 1 of 3 predictions, 1 of 2 gold
    assert s["coverage"] == pytest.approx(2 / 3)
    assert s["span_precision"] == pytest.approx(1 / 3)
    assert s["span_recall"] == pytest.approx(1 / 2)
    # partial: 2 of 3 predictions overlap a gold span of their type, both gold spans hit
    assert s["partial_f1"] == pytest.approx(2 * 2 / (3 + 2))
    # the main metric: per-item F1 -- s1 1/2, s3 0 (one false span), s2 unanswered
    assert system["main_title"] == "per-item span F1 (exact)"
    assert s["per_item_span_f1"] == pytest.approx(0.25)
    assert s["per_item_span_f1_all"] == pytest.approx(0.5 / 3)
    loc = system["per_class"]["LOC"]
    assert loc["f1"] == 0.0 and loc["partial_f1"] == 1.0
    bad = _write(tmp_path, "bad.jsonl", '{"item_id": "zz", "label": []}\n')
    result = _invoke("evaluate", "--task", "spans", "--gold", gold, "--labels", f"v={bad}")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: bad.jsonl: record 1: item_id 'zz' is not in gold.jsonl"


# --------------------------------------------------------------------------- detection

COCO = REPO.parent / "shared" / "data" / "coco_val2014_100"


def _coco_or_skip() -> Path:
    require("shared-data", shared_data_problem(f"{COCO.name}/instances_val2014_100.json"))
    return COCO


@pytest.mark.slow
def test_evaluate_detection_scored_reproduces_cocoapi() -> None:
    data = _coco_or_skip()
    result = _invoke(
        "evaluate",
        "--task",
        "detection",
        "--gold",
        str(data / "instances_val2014_100.json"),
        "--labels",
        f"fake={data / 'instances_val2014_fakebbox100_results.json'}",
        "--json",
    )
    assert result.exit_code == 0, result.output
    s = json.loads(result.stdout)["systems"]["fake"]
    assert len(s["coco"]) == 12
    # cocoapi's printed bbox results for this subset (val2014_fake_eval_res.txt)
    printed = [0.505, 0.697, 0.573, 0.586, 0.519, 0.501, 0.387, 0.594, 0.595, 0.640, 0.566, 0.564]
    assert [round(v, 3) for v in s["coco"].values()] == printed


def test_evaluate_detection_unscored_and_bad_boxes(tmp_path: Path) -> None:
    gold = {
        "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 50, "height": 50}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 30, 30], "area": 900},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100},
        ],
    }
    labels = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"image_id": 1, "category_id": 2, "bbox": [60, 60, 30, 30]},
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 10, 10]},
    ]
    gold_path = _write(tmp_path, "gold.json", json.dumps(gold))
    labels_path = _write(tmp_path, "vendor.json", json.dumps(labels))
    result = _invoke(
        "evaluate",
        "--task",
        "detection",
        "--gold",
        gold_path,
        "--labels",
        f"v={labels_path}",
        "--json",
    )
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)["systems"]["v"]
    s = {k: v["value"] for k, v in system["metrics"].items()}
    # cat box exact (IoU 1); dog box IoU = 400 / 1400 < 0.5; dog on image 2 is a wrong class
    assert s["box_precision"] == pytest.approx(1 / 3) and s["box_recall"] == pytest.approx(1 / 3)
    assert s["mean_iou"] == pytest.approx(1.0)
    # per image: image 1 F1 = 2*1/(2+2), image 2 F1 = 0; never called "accuracy"
    assert system["main_title"] == "per-image F1 @ IoU 0.5" and "accuracy" not in s
    assert s["per_image_f1"] == pytest.approx(0.25)
    assert system["per_class"]["cat"]["f1"] == pytest.approx(2 / 3)
    assert system["coco"] is not None and len(system["coco"]) == 12

    labels[1]["bbox"] = [60, 60, -3, 30]
    _write(tmp_path, "vendor.json", json.dumps(labels))
    result = _invoke(
        "evaluate", "--task", "detection", "--gold", gold_path, "--labels", f"v={labels_path}"
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: vendor.json: [1].bbox")
    _write(tmp_path, "vendor.json", "[{")
    result = _invoke(
        "evaluate", "--task", "detection", "--gold", gold_path, "--labels", f"v={labels_path}"
    )
    assert result.exit_code == 1 and result.stderr.startswith("error: vendor.json")


def test_evaluate_writes_html_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = _invoke(
        "evaluate",
        "--gold",
        str(EXAMPLES / "gold.csv"),
        "--labels",
        f"knn={EXAMPLES / 'knn.csv'}",
        "--labels",
        f"crowd={EXAMPLES / 'crowd.csv'}",
        "--resamples",
        "50",
        "--json",
        "--html",
        str(out),
    )
    assert result.exit_code == 0, result.output
    knn = json.loads(result.stdout)["systems"]["knn"]
    assert knn["coverage"] == 1.0
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "knn" in page and "crowd" in page
    # the page shows the very numbers of the JSON (one Scored behind both)
    assert f"{knn['metrics']['accuracy_all']['value']:.3f}" in page


def test_agreement_pairwise_kappa_is_weighted_by_shared_items(tmp_path: Path) -> None:
    # a and b share 4 items, c meets each of them on 2: the mean is weighted 4 : 2 : 2
    rows = ["item_id,annotator_id,label"]
    for item, (la, lb) in enumerate([("x", "x"), ("y", "y"), ("x", "x"), ("y", "x")]):
        rows += [f"i{item},a,{la}", f"i{item},b,{lb}"]
    rows += ["j1,a,x", "j1,c,y", "j2,b,y", "j2,c,y", "j3,a,y", "j3,c,y", "j4,b,x", "j4,c,x"]
    path = _write(tmp_path, "crowd.csv", "\n".join(rows) + "\n")
    result = _invoke("agreement", "--labels", path, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    data = pd.read_csv(path)
    wide = data.pivot(index="item_id", columns="annotator_id", values="label")
    kappas, shared = [], []
    for a, b in [("a", "b"), ("a", "c"), ("b", "c")]:
        both = wide[[a, b]].dropna()
        kappas.append(skm.cohen_kappa_score(both[a], both[b]))
        shared.append(len(both))
    assert shared == [4, 2, 2]
    assert out["pairwise_cohen_kappa"] == pytest.approx(np.average(kappas, weights=shared))
    assert out["pairwise_cohen_kappa_mean"] == "weighted by shared items"
    table = _invoke("agreement", "--labels", path)
    assert "weighted by shared items" in table.stdout


def test_an_empty_results_array_is_scored_under_segmentation_too(tmp_path: Path) -> None:
    """A system that found nothing is a valid, poor answer under both box task types."""
    square = [[50.0, 50.0, 70.0, 50.0, 70.0, 70.0, 50.0, 70.0]]
    gold = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "area": 400}
            | {"iscrowd": 0, "segmentation": square}
        ],
    }
    gold_path = _write(tmp_path, "gold.json", json.dumps(gold))
    empty = _write(tmp_path, "empty.json", "[]")
    for task in ("detection", "segmentation"):
        result = _invoke(
            "evaluate", "--task", task, "--gold", str(gold_path), "--labels", f"v={empty}", "--json"
        )
        assert result.exit_code == 0, (task, result.output)
        system = json.loads(result.output)["systems"]["v"]
        assert system["metrics"]["per_image_f1_all"]["value"] == 0.0, task
