"""``bakeoff evaluate`` reads every format ``bakeoff import`` reads (issue 12), with the same
numbers: the same 100 VOC images exported by CVAT as COCO, Pascal VOC and YOLO score alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli.main import app

REPO = Path(__file__).resolve().parents[2]
GTS = REPO.parent / "shared" / "data" / "review_odm" / "data" / "database" / "gts"
COCO_GOLD = GTS / "coco_format_v1" / "instances_default.json"
DOCCANO = REPO / "tests" / "data" / "external" / "doccano"


def _evaluate(*args: str) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, dict[str, object]] = json.loads(result.stdout)["systems"]
    return out


def _values(system: dict[str, object]) -> dict[str, object]:
    metrics = system["metrics"]
    assert isinstance(metrics, dict)
    return {k: v["value"] if isinstance(v, dict) else v for k, v in metrics.items()}


@pytest.mark.skipif(not GTS.exists(), reason=f"public VOC subset not found at {GTS}")
def test_coco_voc_and_yolo_exports_of_the_same_boxes_score_the_same() -> None:
    systems = _evaluate(
        "--task", "detection", "--gold", str(COCO_GOLD),
        "--labels", f"coco={COCO_GOLD}",
        "--labels", f"voc={GTS / 'pascalvoc_format'}",
        "--labels", f"yolo={GTS / 'yolo_format'}",
    )  # fmt: skip
    coco, voc, yolo = (_values(systems[n]) for n in ("coco", "voc", "yolo"))
    assert coco["per_image_f1_all"] == voc["per_image_f1_all"] == yolo["per_image_f1_all"] == 1.0
    assert coco == voc
    assert yolo["box_f1"] == 1.0


def test_doccano_spans_are_scored_against_jsonl_gold(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (DOCCANO / "sequence_labeling.jsonl").open()]
    gold = tmp_path / "gold.jsonl"
    # gold: the same spans, except that item 1's one span is not in gold
    records = []
    for i, row in enumerate(rows):
        spans = [{"start": a, "end": b, "type": t} for a, b, t in row["label"]]
        records.append(
            {
                "item_id": f"s{i}",
                "label": [] if i == 1 else spans,
                "data": {"text": row["text"]},
            }
        )
    gold.write_text("\n".join(json.dumps(r) for r in records))
    systems = _evaluate(
        "--task", "spans", "--gold", str(gold),
        "--labels", f"doccano={DOCCANO / 'sequence_labeling.jsonl'}",
    )  # fmt: skip
    values = _values(systems["doccano"])
    assert values["coverage"] == 1.0
    # item 1: one extra span against empty gold (F1 0); the other items exactly right
    n = len(rows)
    assert values["per_item_span_f1_all"] == pytest.approx((n - 1) / n)


def test_a_file_no_format_fits_is_one_line_naming_what_was_tried(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\na,cat\n")
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": 1}')
    result = CliRunner().invoke(
        app, ["evaluate", "--task", "classification", "--gold", str(gold), "--labels", f"x={odd}"]
    )
    assert result.exit_code == 1
    assert "\n" not in result.stderr.strip()
