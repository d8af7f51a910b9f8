"""Real exports of other tools through every door, with numbers from an independent reading.

Each case takes one real file from ``tests/data/external`` (written by the tool itself, see its
README) as a vendor's labels, writes a gold that differs from it in known places, and checks
that ``bakeoff evaluate``, ``bakeoff import`` (then the results), the API's label import and
the Python client all give the numbers this test computes itself: the file parsed here with
``json``/``ElementTree`` (not Bakeoff's readers), COCO stats by pycocotools, accuracy and span
F1 by counting, Krippendorff's alpha and Fleiss' kappa by ``krippendorff`` and statsmodels.
What a reader leaves out (the datumaro CVAT file's polylines, points and skeletons next to its
box) must be said in every door's notes; a real file with nothing the task type scores (that
CVAT file under classification) is refused by every door naming the format and the problem.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from xml.etree import ElementTree

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from sqlmodel import Session
from typer.testing import CliRunner

import service.models as m
from adapters.base import TaskType
from metrics.detection import COCO_STAT_NAMES
from metrics.keypoints import KEYPOINT_STAT_NAMES
from service.cli.main import app
from service.client import BakeoffAPIError, BakeoffClient
from service.core.db import get_engine
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.results import bakeoff_results
from tests.adapters import test_labelstudio_keypoints as ls_keypoints
from tests.metrics._coco_reference import run_cocoeval

EXTERNAL = Path(__file__).resolve().parents[1] / "data" / "external"
SAGEMAKER_OD = EXTERNAL / "sagemaker" / "yolov5_sample_output.manifest"
LABELBOX = EXTERNAL / "labelbox" / "export_v2_roof_wear.ndjson"
PRODIGY_NER = EXTERNAL / "prodigy" / "annotated_news_headlines-ORG-PERSON-LOCATION-ner.head40.jsonl"
DOCCANO_CLS = EXTERNAL / "doccano" / "text_classification.jsonl"
VOC = EXTERNAL / "datumaro" / "voc" / "Annotations"
YOLO = EXTERNAL / "datumaro" / "yolo"
CVAT = EXTERNAL / "datumaro" / "cvat" / "train.xml"
CVAT_PROJECT = EXTERNAL / "datumaro" / "cvat_project" / "annotations.xml"
KEYPOINTS = EXTERNAL / "datumaro" / "person_keypoints_val.json"
LS_PAIRWISE = EXTERNAL / "labelstudio_language" / "preference_pairwise.json"
ARGILLA_RANKING = EXTERNAL / "argilla_sdk" / "preference_ranking.json"


@dataclass(frozen=True)
class Case:
    """One real file, the gold it is scored against, and the numbers it must give."""

    task: TaskType
    classes: list[str]
    labels: Path
    write_gold: Callable[[Path], Path]
    expected: Callable[[], dict[str, float]]
    question: str | None = None
    coco: Callable[[], dict[str, float]] | None = None
    ontology: dict[str, Any] | None = None
    notes: Callable[[], list[str]] = list  # what every door must say it left out

    def project_ontology(self) -> dict[str, Any]:
        return self.ontology or {"classes": [{"name": c} for c in self.classes]}


# --- independent readings of the real files --------------------------------------------


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _coco_gold(
    images: list[tuple[str, int, int]],
    boxes: list[tuple[str, str, list[float]]],
    classes: list[str],
) -> dict[str, Any]:
    ids = {name: i + 1 for i, (name, _, _) in enumerate(images)}
    cats = {c: i + 1 for i, c in enumerate(classes)}
    return {
        "images": [{"id": ids[n], "file_name": n, "width": w, "height": h} for n, w, h in images],
        "categories": [{"id": i, "name": c} for c, i in cats.items()],
        "annotations": [
            {
                "id": k + 1,
                "image_id": ids[image],
                "category_id": cats[cat],
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
            }
            for k, (image, cat, box) in enumerate(boxes)
        ],
    }


def _coco_stats(
    gold: dict[str, Any], results: list[tuple[str, str, list[float], float]]
) -> dict[str, float]:
    ids = {im["file_name"]: im["id"] for im in gold["images"]}
    cats = {c["name"]: c["id"] for c in gold["categories"]}
    dt = [
        {"image_id": ids[i], "category_id": cats[c], "bbox": b, "score": s}
        for i, c, b, s in results
    ]
    ev = run_cocoeval(gold, dt, "bbox")
    return dict(zip(COCO_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


def _moved(box: list[float]) -> list[float]:
    """The box's top-left quarter: IoU 1/4 with the box, below every COCO threshold."""
    return [box[0], box[1], box[2] / 2, box[3] / 2]


# SageMaker Ground Truth object detection: 100 images, boxes with confidences.
def _sagemaker() -> tuple[
    list[tuple[str, int, int]], list[tuple[str, str, list[float], float]], list[str]
]:
    images, boxes, classes = [], [], []
    for line in _lines(SAGEMAKER_OD):
        name = PurePosixPath(line["source-ref"]).name
        size = line["category"]["image_size"][0]
        images.append((name, int(size["width"]), int(size["height"])))
        meta = line["category-metadata"]
        for ann, obj in zip(line["category"]["annotations"], meta["objects"], strict=True):
            cls = meta["class-map"][str(ann["class_id"])]
            classes += [cls] if cls not in classes else []
            box = [float(ann["left"]), float(ann["top"]), float(ann["width"]), float(ann["height"])]
            boxes.append((name, cls, box, float(obj["confidence"])))
    return images, boxes, classes


def _sagemaker_gold_obj() -> dict[str, Any]:
    images, boxes, classes = _sagemaker()
    gold = [(i, c, _moved(b) if k % 4 == 0 else b) for k, (i, c, b, _) in enumerate(boxes)]
    return _coco_gold(images, gold, classes)


def _write_json(obj: object, path: Path) -> Path:
    path.write_text(json.dumps(obj))
    return path


# Labelbox export v2: the "wear" radio question of 90 of 102 data rows.
def _labelbox_answers() -> dict[str, str]:
    answers = {}
    for row in _lines(LABELBOX):
        for project in row["projects"].values():
            for label in project["labels"]:
                for c in label["annotations"]["classifications"]:
                    if c["name"] == "wear" and "radio_answer" in c:
                        answers[row["data_row"]["global_key"]] = c["radio_answer"]["name"]
    return answers


WEAR = ["not_wear", "light_wear", "heavy_wear"]


def _labelbox_gold() -> dict[str, str]:
    """Every third answer turned into the next class."""
    answers = _labelbox_answers()
    return {
        k: (WEAR[(WEAR.index(v) + 1) % 3] if i % 3 == 0 else v)
        for i, (k, v) in enumerate(sorted(answers.items()))
    }


def _write_labelbox_gold(folder: Path) -> Path:
    path = folder / "gold.csv"
    path.write_text("item_id,label\n" + "".join(f"{k},{v}\n" for k, v in _labelbox_gold().items()))
    return path


def _labelbox_expected() -> dict[str, float]:
    gold, answers = _labelbox_gold(), _labelbox_answers()
    return {"accuracy_all": float(np.mean([answers[k] == v for k, v in gold.items()]))}


# Prodigy manual NER: accepted answers with character spans; items found by their text.
def _prodigy_spans() -> list[tuple[str, list[tuple[int, int, str]]]]:
    return [
        (row["text"], [(s["start"], s["end"], s["label"]) for s in row.get("spans", [])])
        for row in _lines(PRODIGY_NER)
        if row["answer"] == "accept"
    ]


def _prodigy_gold() -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Every third item loses its last span; every fifth has its first span retyped."""
    gold = []
    for i, (text, spans) in enumerate(_prodigy_spans()):
        spans = list(spans)
        if i % 3 == 0 and spans:
            spans.pop()
        if i % 5 == 0 and spans:
            s, e, t = spans[0]
            spans[0] = (s, e, "PERSON" if t != "PERSON" else "ORG")
        gold.append((text, spans))
    return gold


def _write_prodigy_gold(folder: Path) -> Path:
    path = folder / "gold.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "item_id": f"h{i}",
                    "data": {"text": text},
                    "label": [{"start": s, "end": e, "type": t} for s, e, t in spans],
                }
            )
            + "\n"
            for i, (text, spans) in enumerate(_prodigy_gold())
        )
    )
    return path


def _prodigy_expected() -> dict[str, float]:
    tp = n_gold = n_pred = 0
    for (_, gold), (_, pred) in zip(_prodigy_gold(), _prodigy_spans(), strict=True):
        tp += len(set(gold) & set(pred))
        n_gold += len(gold)
        n_pred += len(pred)
    return {"span_f1": 2 * tp / (n_gold + n_pred)}


# doccano text classification export: three texts, one label each, no ids.
def _write_doccano_gold(folder: Path) -> Path:
    rows = _lines(DOCCANO_CLS)
    path = folder / "gold.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "item_id": f"d{i}",
                    "data": {"text": r["text"]},
                    # the second text's gold differs from the export's answer
                    "label": "negative" if i == 1 else r["label"][0],
                }
            )
            + "\n"
            for i, r in enumerate(rows)
        )
    )
    return path


# Pascal VOC (datumaro's asset): one image, a cat and a person box (parts are not objects).
def _voc() -> tuple[tuple[str, int, int], list[tuple[str, list[float]]]]:
    root = ElementTree.parse(VOC / "2007_000001.xml").getroot()
    size = root.find("size")
    assert size is not None
    image = (
        root.findtext("filename") or "",
        int(size.findtext("width") or 0),
        int(size.findtext("height") or 0),
    )
    boxes = []
    for obj in root.findall("object"):
        b = obj.find("bndbox")
        assert b is not None
        x0, y0, x1, y1 = (float(b.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((obj.findtext("name") or "", [x0, y0, x1 - x0, y1 - y0]))
    return image, boxes


def _voc_gold_obj() -> dict[str, Any]:
    image, boxes = _voc()
    gold = [(image[0], c, _moved(b) if c == "person" else b) for c, b in boxes]
    return _coco_gold([image], gold, ["cat", "person"])


def _voc_coco() -> dict[str, float]:
    image, boxes = _voc()
    return _coco_stats(_voc_gold_obj(), [(image[0], c, b, 1.0) for c, b in boxes])


# YOLO (datumaro's asset): one image, class indices into obj.names, normalised centres.
YOLO_SIZE = (30, 20)


def _yolo() -> tuple[list[str], list[tuple[str, list[float]]]]:
    names = (YOLO / "obj.names").read_text().split()
    w, h = YOLO_SIZE
    boxes = []
    for line in (YOLO / "obj_train_data" / "1.txt").read_text().splitlines():
        k, cx, cy, bw, bh = line.split()
        x, y = float(cx) * w - float(bw) * w / 2, float(cy) * h - float(bh) * h / 2
        boxes.append((names[int(k)], [x, y, float(bw) * w, float(bh) * h]))
    return names, boxes


def _yolo_gold_obj() -> dict[str, Any]:
    names, boxes = _yolo()
    gold = [("1.jpg", c, _moved(b) if i == 0 else b) for i, (c, b) in enumerate(boxes)]
    return _coco_gold([("1.jpg", *YOLO_SIZE)], gold, names)


def _yolo_coco() -> dict[str, float]:
    _, boxes = _yolo()
    return _coco_stats(_yolo_gold_obj(), [("1.jpg", c, b, 1.0) for c, b in boxes])


# Preferences: several raters per pair; a pair's answer is its strict majority, a split vote
# has none and counts as answered and wrong (README, "How labels are scored").
def _agreement(answers: dict[str, list[str]], gold: dict[str, str]) -> dict[str, float]:
    right = 0
    for item, want in gold.items():
        (top, n), *_ = Counter(answers[item]).most_common(1)
        right += n * 2 > len(answers[item]) and top == want
    return {"agreement_all": right / len(gold)}


def _write_preference_gold(gold: dict[str, str], folder: Path) -> Path:
    path = folder / "gold.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "item_id": k,
                    "label": v,
                    "data": {"prompt": f"q {k}", "response_a": "a", "response_b": "b"},
                }
            )
            + "\n"
            for k, v in gold.items()
        )
    )
    return path


# Label Studio Pairwise export (left is A, right is B, a "tie" choice); skipped ones dropped.
def _ls_pairwise() -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for task in json.loads(LS_PAIRWISE.read_text()):
        for ann in task["annotations"]:
            if ann.get("was_cancelled"):
                continue
            for r in ann["result"]:
                value = r["value"]
                answer = (
                    {"left": "A", "right": "B"}[value["selected"]]
                    if r["type"] == "pairwise"
                    else value["choices"][0]
                )
                answers.setdefault(task["meta"]["item_id"], []).append(answer)
    return answers


LS_PAIRWISE_GOLD = {"p1": "A", "p2": "B", "p3": "B", "p4": "B"}


# Argilla RankingQuestion records (SDK's own JSON): rank 1 alone wins, both rank 1 is a tie.
def _argilla_ranking() -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for record in json.loads(ARGILLA_RANKING.read_text()):
        for response in record["responses"]["preference"]:
            first = [v["value"] for v in response["value"] if v["rank"] == 1]
            answer = "tie" if len(first) > 1 else {"response_a": "A", "response_b": "B"}[first[0]]
            answers.setdefault(record["metadata"]["item_id"], []).append(answer)
    return answers


ARGILLA_GOLD = {"pair-000": "A", "pair-001": "B", "pair-002": "A", "pair-003": "B"}


# COCO keypoints (datumaro's asset, a full instances file): the pose of category "a" moved by
# 0.15 px in the gold, so OKS falls under some thresholds; category "b"'s crowd region holds
# keypoints without names (pycocotools ignores crowd gold; its points are not a pose).
KEYPOINT_SIGMAS = [0.1, 0.1, 0.1]


def _keypoint_gold_obj() -> dict[str, Any]:
    gold = json.loads(KEYPOINTS.read_text())
    gold["categories"][1]["keypoints"] = ["b_1", "b_2", "b_3"]
    for c in gold["categories"]:
        c["sigmas"] = KEYPOINT_SIGMAS
    for a in gold["annotations"]:
        if not a["iscrowd"]:
            a["keypoints"] = [v + (0.15 if i % 3 != 2 else 0) for i, v in enumerate(a["keypoints"])]
    return dict(gold)


def _keypoint_coco() -> dict[str, float]:
    dt = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"]}
        | {"score": 1.0}
        for a in json.loads(KEYPOINTS.read_text())["annotations"]
        if not a["iscrowd"]
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = _keypoint_gold_obj()
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dt), "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(KEYPOINT_SIGMAS)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(KEYPOINT_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


# Label Studio KeyPointLabels (label-studio-sdk's converter fixture): one pose, its box the
# parent; gold a few pixels off (tests/adapters/test_labelstudio_keypoints.py reads it by hand).
def _ls_keypoint_gold_obj() -> dict[str, Any]:
    return ls_keypoints._gold(*ls_keypoints._by_hand())


def _ls_keypoint_coco() -> dict[str, float]:
    flat, _ = ls_keypoints._by_hand()
    dt = [{"image_id": 10764, "category_id": 1, "keypoints": flat, "score": 1.0}]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = _ls_keypoint_gold_obj()
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dt), "keypoints")  # COCO's person sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(KEYPOINT_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


# CVAT for images 1.1 (datumaro's asset): a box next to a polyline, points, skeletons and a
# polygon without a class name. Detection scores the box; every other shape is counted in the
# notes of every door. The gold adds two boxes the file does not have.
def _cvat() -> tuple[list[tuple[str, int, int]], list[tuple[str, str, list[float]]], Counter[str]]:
    images, boxes, others = [], [], Counter[str]()
    for image in ElementTree.parse(CVAT).getroot().iter("image"):
        name = image.get("name") or ""
        images.append((name, int(image.get("width") or 0), int(image.get("height") or 0)))
        for shape in image:
            if shape.tag == "box":
                x0, y0, x1, y1 = (float(shape.get(k) or 0) for k in ("xtl", "ytl", "xbr", "ybr"))
                boxes.append((name, shape.get("label") or "", [x0, y0, x1 - x0, y1 - y0]))
            else:
                others[shape.tag] += 1
    return images, boxes, others


def _cvat_gold_obj() -> dict[str, Any]:
    images, boxes, _ = _cvat()
    extra = [
        (images[0][0], "label1", [5.0, 5.0, 2.0, 2.0]),
        (images[1][0], "label2", [1.0, 1.0, 3.0, 3.0]),
    ]
    return _coco_gold(images, [(i, c, b) for i, c, b in boxes] + extra, ["label1", "label2"])


def _cvat_coco() -> dict[str, float]:
    _, boxes, _ = _cvat()
    return _coco_stats(_cvat_gold_obj(), [(i, c, b, 1.0) for i, c, b in boxes])


def _cvat_notes() -> list[str]:
    _, boxes, others = _cvat()
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(others.items()))
    return [
        f"CVAT for images: left out {sum(others.values())} tag(s) and shape(s) that detection "
        f"does not score ({counted}); scored {len(boxes)} <box>"
    ]


# CVAT project export (datumaro's asset): three subsets with the same two image names, a box
# and a polygon each, next to polylines and points. Segmentation scores boxes (as outlines) and
# polygons; items are <subset>/<name>, the images' paths in the export.
def _cvat_project() -> tuple[
    list[tuple[str, int, int]], list[tuple[str, str, list[float]]], Counter[str]
]:
    images, outlines, others = [], [], Counter[str]()
    for image in ElementTree.parse(CVAT_PROJECT).getroot().iter("image"):
        name = f"{image.get('subset')}/{image.get('name')}"
        images.append((name, int(image.get("width") or 0), int(image.get("height") or 0)))
        for shape in image:
            if shape.tag == "box":
                x0, y0, x1, y1 = (float(shape.get(k) or 0) for k in ("xtl", "ytl", "xbr", "ybr"))
                outlines.append((name, shape.get("label") or "", [x0, y0, x1, y0, x1, y1, x0, y1]))
            elif shape.tag == "polygon":
                points = [
                    float(v) for p in (shape.get("points") or "").split(";") for v in p.split(",")
                ]
                outlines.append((name, shape.get("label") or "", points))
            else:
                others[shape.tag] += 1
    return images, outlines, others


def _cvat_project_gold_obj() -> dict[str, Any]:
    """The file's outlines, those of the Train subset moved 3 px right, and one more region."""
    images, outlines, _ = _cvat_project()
    sizes = {n: (w, h) for n, w, h in images}
    regions = [
        (
            i,
            c,
            [v + 3 if k % 2 == 0 else v for k, v in enumerate(o)] if i.startswith("Train/") else o,
        )
        for i, c, o in outlines
    ] + [("Validation/img1.jpg", "label2", [5.0, 5.0, 9.0, 5.0, 9.0, 9.0])]
    gold = _coco_gold(images, [], ["label1", "label2"])
    ids = {im["file_name"]: im["id"] for im in gold["images"]}
    cats = {c["name"]: c["id"] for c in gold["categories"]}
    for k, (image, cat, outline) in enumerate(regions, start=1):
        w, h = sizes[image]
        rle = mask_utils.merge(mask_utils.frPyObjects([outline], h, w))
        gold["annotations"].append(
            {
                "id": k,
                "image_id": ids[image],
                "category_id": cats[cat],
                "segmentation": [outline],
                "area": float(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 0,
            }
        )
    return gold


def _cvat_project_coco() -> dict[str, float]:
    gold = _cvat_project_gold_obj()
    images, outlines, _ = _cvat_project()
    sizes = {n: (w, h) for n, w, h in images}
    ids = {im["file_name"]: im["id"] for im in gold["images"]}
    cats = {c["name"]: c["id"] for c in gold["categories"]}
    dt = [  # pycocotools takes segmentation results as RLE
        {
            "image_id": ids[i],
            "category_id": cats[c],
            "segmentation": mask_utils.merge(mask_utils.frPyObjects([o], sizes[i][1], sizes[i][0])),
            "score": 1.0,
        }
        for i, c, o in outlines
    ]
    ev = run_cocoeval(gold, dt, "segm")
    return dict(zip(COCO_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


def _cvat_project_notes() -> list[str]:
    _, outlines, others = _cvat_project()
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(others.items()))
    return [
        "every item id is '<subset>/<name>'",
        f"CVAT for images: left out {sum(others.values())} tag(s) and shape(s) that "
        f"segmentation does not score ({counted}); scored {len(outlines)} <box> or <polygon>",
    ]


CASES: dict[str, Case] = {
    "sagemaker_object_detection": Case(
        task="detection",
        classes=_sagemaker()[2],
        labels=SAGEMAKER_OD,
        write_gold=lambda d: _write_json(_sagemaker_gold_obj(), d / "gold.json"),
        expected=dict,
        coco=lambda: _coco_stats(_sagemaker_gold_obj(), _sagemaker()[1]),
    ),
    "labelbox_radio": Case(
        task="classification",
        classes=WEAR,
        labels=LABELBOX,
        write_gold=_write_labelbox_gold,
        expected=_labelbox_expected,
        question="wear",
    ),
    "prodigy_ner": Case(
        task="spans",
        classes=["ORG", "PERSON", "LOCATION"],
        labels=PRODIGY_NER,
        write_gold=_write_prodigy_gold,
        expected=_prodigy_expected,
    ),
    "doccano_classification": Case(
        task="classification",
        classes=["positive", "negative"],
        labels=DOCCANO_CLS,
        write_gold=_write_doccano_gold,
        expected=lambda: {"accuracy_all": 2 / 3},
    ),
    "voc_boxes": Case(
        task="detection",
        classes=["cat", "person"],
        labels=VOC,
        write_gold=lambda d: _write_json(_voc_gold_obj(), d / "gold.json"),
        # one of two boxes found, one false: precision = recall = F1 = 1/2 on the one image
        expected=lambda: {"per_image_f1_all": 0.5},
        coco=_voc_coco,
    ),
    "labelstudio_pairwise": Case(
        task="preference",
        classes=["A", "B", "tie"],
        labels=LS_PAIRWISE,
        write_gold=lambda d: _write_preference_gold(LS_PAIRWISE_GOLD, d),
        expected=lambda: _agreement(_ls_pairwise(), LS_PAIRWISE_GOLD),
    ),
    "argilla_ranking": Case(
        task="preference",
        classes=["A", "B", "tie"],
        labels=ARGILLA_RANKING,
        write_gold=lambda d: _write_preference_gold(ARGILLA_GOLD, d),
        expected=lambda: _agreement(_argilla_ranking(), ARGILLA_GOLD),
    ),
    "coco_keypoints_export": Case(
        task="keypoints",
        classes=["a", "b"],
        labels=KEYPOINTS,
        write_gold=lambda d: _write_json(_keypoint_gold_obj(), d / "gold.json"),
        expected=dict,
        coco=_keypoint_coco,
        ontology={
            "classes": [{"name": "a"}, {"name": "b"}],
            "keypoints": {"a": ["a_1", "a_2", "a_3"], "b": ["b_1", "b_2", "b_3"]},
            "keypoint_sigmas": {"a": KEYPOINT_SIGMAS, "b": KEYPOINT_SIGMAS},
        },
    ),
    "labelstudio_keypoints": Case(
        task="keypoints",
        classes=["person"],
        labels=ls_keypoints.EXPORT,
        write_gold=lambda d: _write_json(_ls_keypoint_gold_obj(), d / "gold.json"),
        expected=dict,
        coco=_ls_keypoint_coco,
        ontology={
            "classes": [{"name": "person"}],
            "keypoints": {"person": list(ls_keypoints.NAMES)},
        },
    ),
    "cvat_mixed_shapes": Case(
        task="detection",
        classes=["label1", "label2"],
        labels=CVAT,
        write_gold=lambda d: _write_json(_cvat_gold_obj(), d / "gold.json"),
        expected=dict,
        coco=_cvat_coco,
        notes=_cvat_notes,
    ),
    "cvat_project_segmentation": Case(
        task="segmentation",
        classes=["label1", "label2"],
        labels=CVAT_PROJECT,
        write_gold=lambda d: _write_json(_cvat_project_gold_obj(), d / "gold.json"),
        expected=dict,
        coco=_cvat_project_coco,
        notes=_cvat_project_notes,
    ),
    "yolo_boxes": Case(
        task="detection",
        classes=_yolo()[0],
        labels=YOLO,
        write_gold=lambda d: _write_json(_yolo_gold_obj(), d / "gold.json"),
        expected=lambda: {"per_image_f1_all": 0.5},
        coco=_yolo_coco,
    ),
}


def test_the_independent_readings_see_the_files_content() -> None:
    """Guard: the cases are not vacuous (many items, gold and labels differ)."""
    images, boxes, classes = _sagemaker()
    assert len(images) == 100 and len(boxes) > 100 and classes
    assert len(_labelbox_answers()) == 90
    assert 0.5 < _labelbox_expected()["accuracy_all"] < 0.8
    assert 0.5 < _prodigy_expected()["span_f1"] < 1.0
    assert 0.0 < _sagemaker_coco_ap() < 1.0
    assert _agreement(_ls_pairwise(), LS_PAIRWISE_GOLD) == {"agreement_all": 0.5}
    assert len(_argilla_ranking()) == 4
    assert 0.0 < _keypoint_coco()["AP"] < 1.0
    assert 0.0 < _ls_keypoint_coco()["AP"] < 1.0
    cvat_images, cvat_boxes, others = _cvat()
    assert len(cvat_images) == 2 and len(cvat_boxes) == 1 and sum(others.values()) == 5
    assert 0.0 < _cvat_coco()["AP"] < 1.0
    project_images, project_outlines, project_others = _cvat_project()
    assert len(project_images) == 6 and len(project_outlines) == 6
    assert sum(project_others.values()) == 6
    assert 0.0 < _cvat_project_coco()["AP"] < 1.0


def _sagemaker_coco_ap() -> float:
    coco = CASES["sagemaker_object_detection"].coco
    assert coco is not None
    return coco()["AP"]


def _check(door: str, case: Case, metrics: dict[str, Any], coco: dict[str, float] | None) -> None:
    for name, want in case.expected().items():
        got = metrics[name]
        got = got["value"] if isinstance(got, dict) else got
        assert got == pytest.approx(want, abs=1e-9), (door, name)
    if case.coco is not None:
        assert coco is not None, door
        want_coco = case.coco()
        assert list(coco) == list(want_coco), door
        for name, value in want_coco.items():
            assert coco[name] == pytest.approx(value, abs=1e-9), (door, name)


def _check_notes(door: str, case: Case, notes: list[str]) -> None:
    """Each note the case expects is said by the door (a prefix such as ``v: `` allowed)."""
    for want in case.notes():
        assert any(want in n for n in notes), (door, want, notes)


def _question(case: Case) -> list[str]:
    return ["--question", case.question] if case.question else []


@pytest.mark.parametrize("name", list(CASES))
def test_bakeoff_evaluate_and_bakeoff_import_give_the_independent_numbers(
    name: str, tmp_path: Path, cli_database: None
) -> None:
    case = CASES[name]
    gold = case.write_gold(tmp_path)
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["evaluate", "--task", case.task, "--gold", str(gold), "--labels", f"v={case.labels}"]
        + _question(case)
        + ["--json"],
    )
    assert out.exit_code == 0, out.output
    evaluated = json.loads(out.stdout)
    system = evaluated["systems"]["v"]
    _check("evaluate", case, system["metrics"], system.get("coco"))
    _check_notes("evaluate --json", case, evaluated["notes"])
    _check_notes("evaluate stderr", case, out.stderr.splitlines())

    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="p",
                task_type=case.task,
                ontology=case.project_ontology(),
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="do")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="v"))
        assert instructions.id is not None and golden.id is not None and vendor.id is not None
        project_id, instructions_id, golden_id, vendor_id = (
            project.id,
            instructions.id,
            golden.id,
            vendor.id,
        )
    imported = runner.invoke(app, ["import", "gold", str(golden_id), str(gold)])
    assert imported.exit_code == 0, imported.output
    with Session(get_engine()) as session:
        version = golden_sets.latest_version(session=session, golden_set_id=golden_id)
        assert version is not None and version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="b",
                project_id=project_id,
                golden_set_version_id=version.id,
                instructions_version_id=instructions_id,
                vendor_ids=[vendor_id],
            ),
        )
        assert bakeoff.id is not None
        bakeoff_id = bakeoff.id
    labels = runner.invoke(
        app,
        ["import", "labels", str(bakeoff_id), str(vendor_id), str(case.labels)] + _question(case),
    )
    assert labels.exit_code == 0, labels.output
    _check_notes("import", case, labels.stderr.splitlines())
    with Session(get_engine()) as session:
        (result,) = bakeoff_results(session=session, bakeoff_id=bakeoff_id).vendors
    assert result.scores is not None
    _check("import", case, result.metrics, result.scores.coco and dict(result.scores.coco))


def _upload(path: Path) -> tuple[str, bytes]:
    """What goes up the API: a file as it is, a folder as a zip of its files."""
    if path.is_file():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                archive.write(f, f.relative_to(path).as_posix())
    return f"{path.name}.zip", buffer.getvalue()


@pytest.mark.parametrize("name", list(CASES))
def test_the_api_and_the_client_give_the_independent_numbers(
    name: str,
    bk: BakeoffClient,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    case = CASES[name]
    gold = case.write_gold(tmp_path)
    created = client.post(
        "/projects",
        json={"name": "p", "task_type": case.task, "ontology": case.project_ontology()},
        headers=auth["lead"],
    )
    assert created.status_code == 201, created.text
    project_id = int(created.json()["id"])
    version = bk.create_golden_set(project_id, "g", gold)
    instructions = bk.add_instructions(project_id, "do")
    by_client, by_api = bk.create_vendor("client"), bk.create_vendor("api")
    bakeoff = bk.create_bakeoff(
        project_id, "b", version.version_id, instructions.id, [by_client.id, by_api.id]
    )
    imported = bk.add_vendor_labels(bakeoff.id, by_client.id, case.labels, question=case.question)
    _check_notes("client", case, imported.notes)
    filename, content = _upload(case.labels)
    params = {"filename": filename} | ({"question": case.question} if case.question else {})
    response = client.post(
        f"/bakeoffs/{bakeoff.id}/vendors/{by_api.id}/labels/import",
        params=params,
        content=content,
        headers=auth["lead"],
    )
    assert response.status_code == 200, response.text
    _check_notes("api", case, response.json()["notes"])
    for vendor in bk.results(bakeoff.id).vendors:
        assert vendor.scores is not None
        coco = vendor.scores.coco
        _check(f"client:{vendor.vendor}", case, vendor.metrics, coco and dict(coco))
    raw = client.get(f"/bakeoffs/{bakeoff.id}/results", headers=auth["lead"])
    assert raw.status_code == 200, raw.text
    for vendor in raw.json()["vendors"]:
        _check(f"api:{vendor['vendor']}", case, vendor["metrics"], vendor["scores"].get("coco"))


# --- a real file with nothing the task scores: refused by every door, naming format and problem

# datumaro's CVAT file holds no <tag>: a classification project scores none of its shapes
CVAT_REFUSAL = (
    "CVAT for images: no <tag> with a class name to score as classification; the file holds "
    "1 box, 1 points, 1 polygon, 1 polyline, 2 skeleton"
)


def _cvat_gold(folder: Path) -> Path:
    names = [im.get("name") or "" for im in ElementTree.parse(CVAT).getroot().iter("image")]
    path = folder / "gold.csv"
    path.write_text("item_id,label\n" + "".join(f"{n},label1\n" for n in names))
    return path


def test_the_datumaro_cvat_file_is_refused_by_the_cli_doors(
    tmp_path: Path, cli_database: None
) -> None:
    gold = _cvat_gold(tmp_path)
    runner = CliRunner()
    out = runner.invoke(
        app, ["evaluate", "--task", "classification", "--gold", str(gold), "--labels", f"v={CVAT}"]
    )
    assert out.exit_code != 0
    assert CVAT_REFUSAL in out.output and "train.xml" in out.output
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="p", task_type="classification", ontology={"classes": [{"name": "label1"}]}
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="do")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="v"))
        assert instructions.id is not None and golden.id is not None and vendor.id is not None
        ids = (project.id, instructions.id, golden.id, vendor.id)
    assert runner.invoke(app, ["import", "gold", str(ids[2]), str(gold)]).exit_code == 0
    with Session(get_engine()) as session:
        version = golden_sets.latest_version(session=session, golden_set_id=ids[2])
        assert version is not None and version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="b",
                project_id=ids[0],
                golden_set_version_id=version.id,
                instructions_version_id=ids[1],
                vendor_ids=[ids[3]],
            ),
        )
        assert bakeoff.id is not None
        bakeoff_id = bakeoff.id
    out = runner.invoke(app, ["import", "labels", str(bakeoff_id), str(ids[3]), str(CVAT)])
    assert out.exit_code != 0
    assert CVAT_REFUSAL in out.output and "train.xml" in out.output


def test_the_datumaro_cvat_file_is_refused_by_the_api_and_the_client(
    bk: BakeoffClient, client: TestClient, auth: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    project = bk.create_project("p", "classification", ["label1"])
    version = bk.create_golden_set(project.id, "g", _cvat_gold(tmp_path))
    instructions = bk.add_instructions(project.id, "do")
    vendor = bk.create_vendor("v")
    bakeoff = bk.create_bakeoff(project.id, "b", version.version_id, instructions.id, [vendor.id])
    response = client.post(
        f"/bakeoffs/{bakeoff.id}/vendors/{vendor.id}/labels/import",
        params={"filename": CVAT.name},
        content=CVAT.read_bytes(),
        headers=auth["lead"],
    )
    assert response.status_code == 422, response.text
    assert CVAT_REFUSAL in response.text and "train.xml" in response.text
    with pytest.raises(BakeoffAPIError, match=CVAT_REFUSAL):
        bk.add_vendor_labels(bakeoff.id, vendor.id, CVAT)
    assert bk.results(bakeoff.id).vendors[0].n_labels == 0


def test_the_client_reads_gold_by_content_and_a_voc_folder_as_gold(
    bk: BakeoffClient, tmp_path: Path
) -> None:
    """The client's gold door tells formats apart as ``bakeoff import gold`` does: a COCO file
    named ``.json`` and a Pascal VOC folder (sent as a zip) are both gold."""
    project = bk.create_project("p", "detection", ["cat", "person"])
    version = bk.create_golden_set(project.id, "voc", VOC)
    instructions = bk.add_instructions(project.id, "do")
    vendor = bk.create_vendor("v")
    bakeoff = bk.create_bakeoff(project.id, "b", version.version_id, instructions.id, [vendor.id])
    bk.add_vendor_labels(bakeoff.id, vendor.id, VOC)
    (result,) = bk.results(bakeoff.id).vendors
    assert result.metrics["per_image_f1_all"] == 1.0
    coco = bk.create_golden_set(
        project.id, "coco", _write_json(_voc_gold_obj(), tmp_path / "gold.json")
    )
    assert coco.version == 1
    with pytest.raises(ValueError, match="reads as yolo, which holds no gold"):
        bk.create_golden_set(project.id, "yolo", YOLO)


# --- bakeoff agreement on a Label Studio export (two annotators per task) ---------------

LS_RATING = EXTERNAL / "labelstudio_language" / "rating_and_choices.json"


def _ls_answers(control: str) -> dict[str, dict[str, float]]:
    """``annotator -> item -> answer`` of one control, read by hand (skipped ones left out):
    a Rating's stars or a numeric Choices' text as a number."""
    out: dict[str, dict[str, float]] = {}
    for task in json.loads(LS_RATING.read_text()):
        for ann in task["annotations"]:
            if ann.get("was_cancelled"):
                continue
            for r in ann["result"]:
                if r["from_name"] == control:
                    v = r["value"]
                    value = v["rating"] if "rating" in v else float(v["choices"][0])
                    out.setdefault(str(ann["completed_by"]), {})[task["meta"]["item_id"]] = value
    return out


def _ls_pairwise_by_annotator() -> dict[str, dict[str, float]]:
    codes = {"A": 0.0, "B": 1.0, "tie": 2.0}
    out: dict[str, dict[str, float]] = {}
    for task in json.loads(LS_PAIRWISE.read_text()):
        for ann in task["annotations"]:
            if ann.get("was_cancelled"):
                continue
            (r,) = ann["result"]
            v = r["value"]
            answer = {"left": "A", "right": "B"}[v["selected"]] if "selected" in v else "tie"
            out.setdefault(str(ann["completed_by"]), {})[task["meta"]["item_id"]] = codes[answer]
    return out


def _reliability(answers: dict[str, dict[str, float]]) -> tuple[list[str], np.ndarray]:
    items = sorted({i for a in answers.values() for i in a})
    data = np.array(
        [[a.get(i, np.nan) for i in items] for _, a in sorted(answers.items())], dtype=float
    )
    return items, data


@pytest.mark.parametrize(
    ("path", "args", "answers", "level"),
    [
        (LS_RATING, ["--question", "fluency"], lambda: _ls_answers("fluency"), "nominal"),
        (LS_RATING, ["--question", "fluency"], lambda: _ls_answers("fluency"), "ordinal"),
        (
            LS_RATING,
            ["--task", "rating", "--question", "helpfulness"],
            lambda: _ls_answers("helpfulness"),
            "interval",
        ),
        (LS_PAIRWISE, ["--task", "preference"], _ls_pairwise_by_annotator, "nominal"),
    ],
    ids=["choices-nominal", "choices-ordinal", "rating-interval", "pairwise-one-skipped"],
)
def test_bakeoff_agreement_reads_a_label_studio_export_with_two_annotators(
    path: Path,
    args: list[str],
    answers: Callable[[], dict[str, dict[str, float]]],
    level: Literal["nominal", "ordinal", "interval"],
) -> None:
    """Krippendorff's alpha as the ``krippendorff`` package computes it, Fleiss' kappa as
    statsmodels does (where every item has both answers), on answers read here by hand."""
    import krippendorff
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    by_annotator = answers()
    items, data = _reliability(by_annotator)
    out = CliRunner().invoke(
        app, ["agreement", "--labels", str(path), "--level", level, *args, "--json"]
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert got["n_items"] == len(items) and got["n_answers"] == int(np.sum(~np.isnan(data)))
    assert sorted(got["annotators"]) == sorted(by_annotator)
    want_alpha = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert got["krippendorff_alpha"] == pytest.approx(want_alpha, abs=1e-9)
    complete = data[:, ~np.isnan(data).any(axis=0)]
    if complete.shape[1] == data.shape[1]:
        table, _ = aggregate_raters(complete.T.astype(int))
        assert got["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-9)
