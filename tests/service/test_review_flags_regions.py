"""Box and mask flags in the service: masks by mask IoU, a vendor's several annotators by
their consensus (:mod:`metrics.fusion`, as the scoring engine), never the first one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pycocotools import mask as coco_mask
from sqlmodel import Session

import service.models as m
from metrics.fusion import fuse_boxes
from metrics.masks import to_rle
from service.domain.review_present import compare_shapes
from service.domain.vendor_labels import add_vendor_labels
from tests.service._review_seed import ReviewSeed, _setup


def _labels(
    session: Session, seed: ReviewSeed, letter: str, rows: list[tuple[str, Any, str | None]]
) -> None:
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids[letter],
        records=[m.VendorLabelCreate(item_key=k, value=v, annotator_id=a) for k, v, a in rows],
    )


def _flags(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    seed: ReviewSeed,
    notes: list[str] | None = None,
) -> Any:
    r = client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=auth["qa"])
    assert r.status_code == 200, r.text
    if notes is not None:
        notes.extend(r.json()["notes"])
    r = client.get(
        f"/review/bakeoffs/{seed.bakeoff_id}/queue",
        params={"reason": "vendor_vs_gold"},
        headers=auth["qa"],
    )
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_masks_with_one_tight_box_are_compared_by_mask_iou(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    # Two L shapes, the top-left and the bottom-right border of one square (2 px thick):
    # the same tight box, overlapping only in two corners.
    upper = [[4.0, 4.0, 24.0, 4.0, 24.0, 6.0, 6.0, 6.0, 6.0, 24.0, 4.0, 24.0]]
    lower = [[22.0, 4.0, 24.0, 4.0, 24.0, 24.0, 4.0, 24.0, 4.0, 22.0, 22.0, 22.0]]
    gold = {"m1": [{"category": "cell", "segmentation": upper}]}
    seed = _setup(
        session,
        name="cells",
        task_type="segmentation",
        classes=("cell",),
        items=[m.GoldenItemCreate(key="m1", data={"width": 32, "height": 32})],
        gold=dict(gold),
        examples=[],
        vendor_names=("Seg A", "Seg B", "Seg C"),
    )
    _labels(session, seed, "A", [("m1", gold["m1"], None)])
    b_mask = {"category": "cell", "segmentation": lower}
    _labels(session, seed, "B", [("m1", [b_mask], None)])
    _labels(session, seed, "C", [("m1", gold["m1"], None)])
    g, b = to_rle(upper, height=32, width=32), to_rle(lower, height=32, width=32)
    iou = float(coco_mask.iou([b], [g], [0])[0, 0])
    box = [float(v) for v in coco_mask.toBbox([g, b]).ravel()]
    assert box[:4] == box[4:]  # the old tight-box comparison saw one perfect match
    assert iou < 0.1  # below the matching floor: a missed mask and an extra one
    data = _flags(client, auth, seed)
    assert [(f["candidate"], f["kind"], f["detail"]) for f in data] == [
        ("Candidate B", "missed", "missed=1 extra=1 wrong_class=0 low_iou=0")
    ]
    # The reviewer's page marks the masks with the same IoU as the flag (not the boxes).
    assert [x.status for x in compare_shapes(gold["m1"], [b_mask], size=(32, 32))] == [
        "extra",
        "missed",
    ]
    assert [x.status for x in compare_shapes(gold["m1"], [b_mask])] == ["matched"]  # no size
    page = client.get(
        f"/ui/review/flags/{data[0]['id']}", headers={**auth["qa"], "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert "Candidate B missed 1 cell and drew 1 cell that gold lacks" in page.text
    assert "boxes match gold" not in page.text


def test_a_vendors_annotators_are_flagged_on_their_consensus(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    car = {"category": "car", "bbox": [0.0, 0.0, 10.0, 10.0]}
    dog = {"category": "dog", "bbox": [50.0, 50.0, 10.0, 10.0]}
    cat = {"category": "dog", "bbox": [100.0, 20.0, 10.0, 10.0]}
    stray = {"category": "car", "bbox": [150.0, 150.0, 10.0, 10.0]}
    gold = {"i1": [car, dog], "i2": [car]}
    seed = _setup(
        session,
        name="street",
        task_type="detection",
        classes=("car", "dog"),
        items=[m.GoldenItemCreate(key=k, data={"width": 200, "height": 200}) for k in gold],
        gold=dict(gold),
        examples=[],
        vendor_names=("Crowd A", "Solo B", "Solo C"),
    )
    answers = {
        # annotator 1 alone: misses the dog on i1, is right on i2
        ("i1", "w1"): [car, stray],  # the stray box has no majority: left out, said in notes
        ("i1", "w2"): [car, dog],
        ("i1", "w3"): [car, dog],
        ("i2", "w1"): [car],
        ("i2", "w2"): [car, cat],
        ("i2", "w3"): [car, cat],
    }
    # w1 is stored first on each item: the old rule ("the first stored") flags i1 only.
    _labels(session, seed, "A", [(k, v, a) for (k, a), v in answers.items()])
    _labels(session, seed, "B", [(k, v, None) for k, v in gold.items()])
    _labels(session, seed, "C", [(k, v, None) for k, v in gold.items()])
    consensus = {k: fuse_boxes([answers[(k, a)] for a in ("w1", "w2", "w3")]).objects for k in gold}
    assert consensus == {"i1": [car, dog], "i2": [car, cat]}
    notes: list[str] = []
    data = _flags(client, auth, seed, notes)
    assert [(f["item_key"], f["candidate"], f["kind"]) for f in data] == [
        ("i2", "Candidate A", "extra")
    ]
    assert any(n.startswith("Candidate A: 1 region(s) drawn by too few") for n in notes), notes
    assert "the consensus of 3 annotators" in data[0]["detail"]
    # The page explains the consensus too, not annotator 1 (who drew i2 as gold did).
    page = client.get(
        f"/ui/review/flags/{data[0]['id']}", headers={**auth["qa"], "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert "Candidate A (the consensus of 3 annotators) drew 1 dog that gold lacks" in page.text
