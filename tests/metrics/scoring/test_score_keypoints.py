"""Keypoints through the one engine and ``bakeoff evaluate``: COCO stats equal pycocotools."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from typer.testing import CliRunner

from metrics.keypoints import COCO_PERSON_SIGMAS, KEYPOINT_STAT_NAMES
from metrics.scoring import ScoringOptions, score
from service.cli.main import app

DATUMARO = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "external"
    / "datumaro"
    / "person_keypoints_val.json"
)


def _pycocotools(gt: dict[str, Any], dt: list[dict[str, Any]], sigmas: Any) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def _case(seed: int, n_images: int, n_k: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for image_id in range(1, n_images + 1):
        images.append({"id": image_id, "width": 640, "height": 480})
        for _ in range(int(rng.integers(0, 4))):
            cx, cy = rng.uniform(50, 590), rng.uniform(50, 430)
            size = float(rng.choice([20.0, 60.0, 150.0]))
            xy = np.column_stack(
                (cx + rng.normal(0, size / 3, n_k), cy + rng.normal(0, size / 3, n_k))
            )
            v = rng.choice([0, 1, 2], size=n_k, p=[0.2, 0.2, 0.6])
            kp = np.column_stack((np.where(v > 0, xy[:, 0], 0), np.where(v > 0, xy[:, 1], 0), v))
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": kp.round(2).ravel().tolist(),
                    "num_keypoints": int((v > 0).sum()),
                    "bbox": [cx - size / 2, cy - size / 2, size, size],
                    "area": size * size * 0.6,
                    "iscrowd": int(rng.uniform() < 0.05),
                }
            )
            for _ in range(int(rng.integers(0, 3))):
                noisy = xy + rng.normal(0, size * rng.uniform(0.02, 0.3), xy.shape)
                dets.append(
                    {
                        "image_id": image_id,
                        "category_id": 1,
                        "keypoints": np.column_stack((noisy, np.ones(n_k)))
                        .round(2)
                        .ravel()
                        .tolist(),
                        "score": round(float(rng.uniform()), 3),
                    }
                )
    names = [f"k{i}" for i in range(n_k)]
    gt = {
        "images": images,
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
        "annotations": anns,
    }
    return gt, dets


def _engine_inputs(
    gt: dict[str, Any], dt: list[dict[str, Any]]
) -> tuple[pd.Series[Any], pd.Series[Any]]:
    gold: dict[str, list[dict[str, Any]]] = {str(im["id"]): [] for im in gt["images"]}
    for a in gt["annotations"]:
        gold[str(a["image_id"])].append(
            {
                "category": "person",
                "keypoints": a["keypoints"],
                "bbox": a["bbox"],
                "area": a["area"],
                "iscrowd": bool(a["iscrowd"]),
                "num_keypoints": a["num_keypoints"],
            }
        )
    labels: dict[str, list[dict[str, Any]]] = {k: [] for k in gold}
    for d in dt:
        labels[str(d["image_id"])].append(
            {"category": "person", "keypoints": d["keypoints"], "score": d["score"]}
        )
    return pd.Series(gold, dtype=object), pd.Series(labels, dtype=object)


@pytest.mark.parametrize(
    ("seed", "n_k"), [(1, 17), (2, 17), (7, 17), (3, 5)], ids=["s1", "s2", "s7", "k5"]
)
def test_engine_coco_stats_equal_pycocotools(seed: int, n_k: int) -> None:
    gt, dt = _case(seed, 15, n_k)
    sigmas = COCO_PERSON_SIGMAS if n_k == 17 else np.array([0.05, 0.1, 0.2, 0.3, 0.4])
    gold, labels = _engine_inputs(gt, dt)
    opts = ScoringOptions(n_resamples=50, keypoint_sigmas=(("person", tuple(sigmas)),))
    scored = score("keypoints", gold, labels, options=opts)
    assert scored.coco is not None
    ours = np.array([scored.coco[n] for n in KEYPOINT_STAT_NAMES])
    np.testing.assert_allclose(ours, _pycocotools(gt, dt, sigmas), atol=1e-9)
    assert scored.main_title == "per-image keypoint F1 @ OKS 0.5"
    assert 0.0 <= scored.value("per_image_keypoint_f1") <= 1.0
    assert list(scored.extra["per_keypoint"]["keypoint"]) == list(range(n_k))


def test_perfect_poses_score_one_and_a_missing_pose_lowers_recall() -> None:
    gt, _ = _case(5, 8, 17)
    dt = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt["annotations"]
        if not a["iscrowd"] and a["num_keypoints"] > 0
    ]
    gold, labels = _engine_inputs(gt, dt)
    opts = ScoringOptions(n_resamples=50)
    perfect = score("keypoints", gold, labels, options=opts)
    assert perfect.value("per_image_keypoint_f1") == 1.0
    assert perfect.value("pose_recall") == 1.0
    labels.iloc[int(np.argmax(labels.map(len).to_numpy()))] = []
    worse = score("keypoints", gold, labels, options=opts)
    assert worse.value("pose_recall") < 1.0
    assert worse.value("per_image_keypoint_f1") < 1.0


def test_category_without_sigmas_is_refused_by_name() -> None:
    gt, dt = _case(3, 4, 5)
    gold, labels = _engine_inputs(gt, dt)
    with pytest.raises(ValueError, match="'person' has 5 keypoints and no sigmas"):
        score("keypoints", gold, labels)


def _cli(gold: Path, results: Path, *extra: str) -> dict[str, Any]:
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "keypoints", "--gold", str(gold), "--labels", f"m={results}"]
        + ["--resamples", "20", "--json", *extra],
    )
    assert out.exit_code == 0, out.output
    data: dict[str, Any] = json.loads(out.output)
    return data


def test_cli_generated_case_equals_pycocotools(tmp_path: Path) -> None:
    gt, dt = _case(11, 20, 17)
    (tmp_path / "gold.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(dt))
    coco = _cli(tmp_path / "gold.json", tmp_path / "res.json")["systems"]["m"]["coco"]
    ours = np.array([coco[n] for n in KEYPOINT_STAT_NAMES])
    np.testing.assert_allclose(ours, _pycocotools(gt, dt, COCO_PERSON_SIGMAS), atol=1e-9)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0], ids=["exact", "sub-pixel", "one-pixel"])
def test_cli_datumaro_fixture_equals_pycocotools(tmp_path: Path, shift: float) -> None:
    gt = json.loads(DATUMARO.read_text())
    dt = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "keypoints": [c + (shift if i % 3 != 2 else 0) for i, c in enumerate(a["keypoints"])],
            "score": 0.9,
        }
        for a in gt["annotations"]
        if a.get("keypoints")
    ]
    (tmp_path / "res.json").write_text(json.dumps(dt))
    coco = _cli(DATUMARO, tmp_path / "res.json", "--oks-sigmas", "0.1,0.1,0.1")["systems"]["m"][
        "coco"
    ]
    ours = np.array([coco[n] for n in KEYPOINT_STAT_NAMES])
    np.testing.assert_allclose(ours, _pycocotools(gt, dt, np.full(3, 0.1)), atol=1e-9)


def test_cli_refuses_results_on_unknown_image(tmp_path: Path) -> None:
    gt, _ = _case(1, 3, 17)
    (tmp_path / "gold.json").write_text(json.dumps(gt))
    bad = [{"image_id": 99, "category_id": 1, "keypoints": [0.0, 0.0, 1.0] * 17, "score": 1.0}]
    (tmp_path / "res.json").write_text(json.dumps(bad))
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "keypoints", "--gold", str(tmp_path / "gold.json")]
        + ["--labels", f"m={tmp_path / 'res.json'}"],
    )
    assert out.exit_code == 1
    assert "res.json: [0].image_id: image 99 is not in the gold" in out.output


def test_html_report_shows_the_engines_per_keypoint_table(tmp_path: Path) -> None:
    """``bakeoff evaluate --html``: the report's per-keypoint table is the engine's."""
    gt, dt = _case(5, 12, 17)
    (tmp_path / "gold.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(dt))
    html = tmp_path / "report.html"
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "keypoints", "--gold", str(tmp_path / "gold.json")]
        + ["--labels", f"m={tmp_path / 'res.json'}", "--resamples", "20", "--html", str(html)],
    )
    assert out.exit_code == 0, out.output
    page = html.read_text(encoding="utf-8")
    assert '<section id="keypoints"><h2>Per keypoint</h2>' in page
    gold, labels = _engine_inputs(gt, dt)
    table = score("keypoints", gold, labels, options=ScoringOptions(n_resamples=20)).extra[
        "per_keypoint"
    ]
    assert len(table) == 17
    for r in table.to_dict("records"):
        row = (
            f'<tr><td class="text">m</td><td class="text">person</td><td>{r["keypoint"]}</td>'
            f"<td>{r['similarity']:,.3f}</td><td>{r['median_error_px']:,.1f}</td></tr>"
        )
        assert row in page


def _points(flat: list[float]) -> list[list[float]]:
    return [list(flat[i : i + 3]) for i in range(0, len(flat), 3)]


def test_cli_reads_json_lines_gold_and_labels_as_import_does(tmp_path: Path) -> None:
    """``bakeoff import`` reads keypoint gold and labels as Bakeoff JSON Lines; ``evaluate``
    reads the same files (images keyed 1..n in file order, as the service keys them) with
    the stats of pycocotools."""
    gt, dt = _case(11, 20, 17)
    gold: dict[int, list[dict[str, Any]]] = {im["id"]: [] for im in gt["images"]}
    for a in gt["annotations"]:
        gold[a["image_id"]].append(
            {"category": "person", "points": _points(a["keypoints"]), "bbox": a["bbox"]}
            | {
                "area": a["area"],
                "iscrowd": bool(a["iscrowd"]),
                "num_keypoints": a["num_keypoints"],
            }
        )
    labels: dict[int, list[dict[str, Any]]] = {k: [] for k in gold}
    for d in dt:
        labels[d["image_id"]].append(
            {"category": "person", "points": _points(d["keypoints"]), "score": d["score"]}
        )
    for name, rows in (("gold.jsonl", gold), ("labels.jsonl", labels)):
        (tmp_path / name).write_text(
            "".join(json.dumps({"item_id": f"im{k}", "label": v}) + "\n" for k, v in rows.items())
        )
    data = _cli(tmp_path / "gold.jsonl", tmp_path / "labels.jsonl")
    coco = data["systems"]["m"]["coco"]
    ours = np.array([coco[n] for n in KEYPOINT_STAT_NAMES])
    np.testing.assert_allclose(ours, _pycocotools(gt, dt, COCO_PERSON_SIGMAS), atol=1e-9)
    # and a COCO keypoint results array names JSON Lines gold's images by their line number
    (tmp_path / "res.json").write_text(json.dumps(dt))
    coco = _cli(tmp_path / "gold.jsonl", tmp_path / "res.json")["systems"]["m"]["coco"]
    ours = np.array([coco[n] for n in KEYPOINT_STAT_NAMES])
    np.testing.assert_allclose(ours, _pycocotools(gt, dt, COCO_PERSON_SIGMAS), atol=1e-9)
