"""Every label format through the API, on real public data where there is some.

* Snow et al. (2008) RTE crowd labels (800 items x 10 workers, with gold) as CSV.
* COCO val2014, 100 images (839 boxes) as COCO instances JSON.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RTE = DATA / "snow2008" / "rte.standardized.tsv"
COCO = DATA / "coco_val2014_100" / "instances_val2014_100.json"


def _setup(
    client: TestClient,
    lead: dict[str, str],
    *,
    task_type: str,
    classes: list[str],
    vendor_id: int,
    gold: bytes,
    fmt: str,
) -> dict[str, Any]:
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": task_type,
            "ontology": {"classes": [{"name": c} for c in classes]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import",
        params={"format": fmt, "filename": f"gold.{fmt}"},
        content=gold,
        headers=lead,
    )
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    instructions = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "label"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": project["id"],
            "golden_set_version_id": version["id"],
            "instructions_version_id": instructions["id"],
            "vendor_ids": [vendor_id],
        },
        headers=lead,
    ).json()
    return {"golden_set": gs, "bakeoff": bakeoff, "imported": imported.json(), "version": version}


@pytest.mark.shared_data("snow2008/rte.standardized.tsv")
def test_snow2008_rte_csv_round_trip_and_majority_vote_accuracy(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    rte = pd.read_csv(RTE, sep="\t", dtype=str)
    rte.columns = ["annotation", "worker", "item", "response", "gold"]
    gold = rte.drop_duplicates("item")[["item", "gold"]]
    gold_csv = "item_id,label\n" + "".join(f"{i},{g}\n" for i, g in gold.itertuples(index=False))
    ctx = _setup(
        client,
        auth["lead"],
        task_type="classification",
        classes=["0", "1"],
        vendor_id=key_vendor.id,
        gold=gold_csv.encode(),
        fmt="csv",
    )
    assert ctx["imported"]["stored"] == 800
    answers = "item_id,annotator_id,label\n" + "".join(
        f"{i},{w},{r}\n" for i, w, r in rte[["item", "worker", "response"]].itertuples(index=False)
    )
    url = f"/bakeoffs/{ctx['bakeoff']['id']}/vendors/{key_vendor.id}/labels"
    response = client.post(
        url + "/import", params={"format": "csv"}, content=answers.encode(), headers=auth["vendor"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == len(rte) == 8000
    # majority vote per item, a tied vote scored wrong (the engine's and the flags' default),
    # computed independently with pandas
    counts = rte.groupby(["item", "response"]).size().unstack(fill_value=0)
    voted = counts.idxmax(axis=1)
    unique = counts.eq(counts.max(axis=1), axis=0).sum(axis=1) == 1
    truth = gold.set_index("item")["gold"]
    expected = float(((voted == truth.reindex(voted.index)) & unique).mean())
    assert expected == pytest.approx(685 / 800)  # 65 of RTE's 800 items are tied votes
    results = client.get(f"/bakeoffs/{ctx['bakeoff']['id']}/results", headers=auth["viewer"])
    vendor = results.json()["vendors"][0]
    assert vendor["n_labels"] == 8000 and vendor["n_labelled"] == 800
    assert vendor["main_value"] == pytest.approx(expected, abs=1e-9)
    exported = client.get(url + "/export", params={"format": "csv"}, headers=auth["lead"])
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 8000
    assert {(r["item_id"], r["annotator_id"], r["label"]) for r in rows} == set(
        rte[["item", "worker", "response"]].itertuples(index=False, name=None)
    )
    gold_back = client.get(
        f"/golden-sets/{ctx['golden_set']['id']}/versions/1/export",
        params={"format": "csv"},
        headers=auth["lead"],
    ).text
    assert sorted(gold_back.splitlines()[1:]) == sorted(gold_csv.splitlines()[1:])


def test_csv_error_names_the_row_and_stores_nothing(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    blob = b"item_id,label\nimg-1,cat\nimg-2,dog\nimg-3,kat\n"
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels/import"
    response = client.post(
        url, params={"format": "csv", "filename": "acme.csv"}, content=blob, headers=auth["vendor"]
    )
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert "row 4" in detail["loc"] and "acme.csv: row 4" in detail["msg"]
    assert "kat" in detail["msg"]
    dup = b"item_id,label\nimg-1,cat\nimg-1,dog\n"
    response = client.post(
        url, params={"format": "csv", "filename": "dup.csv"}, content=dup, headers=auth["vendor"]
    )
    assert response.status_code == 422
    assert "dup.csv: row 3: duplicate item_id 'img-1'" in response.json()["detail"][0]["msg"]
    listed = client.get(f"/bakeoffs/{seeded.bakeoff_id}/labels", headers=auth["lead"]).json()
    assert listed["count"] == 0


@pytest.mark.shared_data("coco_val2014_100/instances_val2014_100.json")
def test_coco_val2014_gold_import_export_and_vendor_labels(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    raw = COCO.read_bytes()
    coco = json.loads(raw)
    classes = [c["name"] for c in coco["categories"]]
    ctx = _setup(
        client,
        auth["lead"],
        task_type="detection",
        classes=classes,
        vendor_id=key_vendor.id,
        gold=raw,
        fmt="coco",
    )
    assert ctx["imported"]["stored"] == 100
    items = client.get(
        f"/golden-sets/{ctx['golden_set']['id']}/items",
        params={"key": "COCO_val2014_000000001146"},
        headers=auth["lead"],
    ).json()
    assert items["data"][0]["data"] == {
        "width": 427,
        "height": 640,
        "coco_id": 1146,
        "image": "COCO_val2014_000000001146.jpg",
    }
    exported = client.get(
        f"/golden-sets/{ctx['golden_set']['id']}/versions/1/export",
        params={"format": "coco"},
        headers=auth["lead"],
    )
    assert exported.status_code == 200, exported.text
    back = json.loads(exported.text)
    # crowd regions are kept as gold (ignored when scoring, as pycocotools does)
    assert len(back["annotations"]) == len(coco["annotations"]) == 839
    original = sorted(
        (a["image_id"], round(sum(a["bbox"]), 3), a["iscrowd"]) for a in coco["annotations"]
    )
    assert sum(c for _, _, c in original) == 9
    assert (
        sorted((a["image_id"], round(sum(a["bbox"]), 3), a["iscrowd"]) for a in back["annotations"])
        == original
    )
    # the same file as a vendor's labels scores perfectly
    url = f"/bakeoffs/{ctx['bakeoff']['id']}/vendors/{key_vendor.id}/labels"
    response = client.post(
        url + "/import", params={"format": "coco"}, content=raw, headers=auth["vendor"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 100
    result = client.get(f"/bakeoffs/{ctx['bakeoff']['id']}/results", headers=auth["lead"]).json()[
        "vendors"
    ][0]
    metrics = result["metrics"]
    assert metrics["box_precision"] == 1.0 and metrics["box_recall"] == 1.0
    assert result["main_title"] == "per-image F1 @ IoU 0.5" and result["main_value"] == 1.0
    vendor_export = client.get(url + "/export", params={"format": "coco"}, headers=auth["lead"])
    assert len(json.loads(vendor_export.text)["annotations"]) == 830


def test_wrong_format_for_the_task_type_is_422(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels/import"
    response = client.post(url, params={"format": "coco"}, content=b"{}", headers=auth["lead"])
    assert response.status_code == 422
    assert "holds detection or segmentation" in response.json()["detail"][0]["msg"]


ODM = DATA / "review_odm" / "data" / "database" / "gts"


def _zip(folder: Path, pattern: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(folder.rglob(pattern)):
            archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


@pytest.mark.shared_data("review_odm")
@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_the_same_boxes_from_coco_voc_and_yolo_exports_score_the_same(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any, fmt: str
) -> None:
    """100 VOC images exported by CVAT as COCO, Pascal VOC and YOLO: each export, uploaded as a
    vendor's labels against the COCO gold, is the gold again (YOLO within its printed digits)."""
    raw = (ODM / "coco_format_v1" / "instances_default.json").read_bytes()
    categories = sorted(json.loads(raw)["categories"], key=lambda c: c["id"])
    ctx = _setup(
        client,
        auth["lead"],
        task_type="detection",
        classes=[c["name"] for c in categories],
        vendor_id=key_vendor.id,
        gold=raw,
        fmt="coco",
    )
    body = {
        "coco": raw,
        "voc": _zip(ODM / "pascalvoc_format", "*.xml"),
        "yolo": _zip(ODM / "yolo_format", "*.txt"),
    }[fmt]
    url = f"/bakeoffs/{ctx['bakeoff']['id']}/vendors/{key_vendor.id}/labels/import"
    response = client.post(url, params={"format": fmt}, content=body, headers=auth["vendor"])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 100
    result = client.get(f"/bakeoffs/{ctx['bakeoff']['id']}/results", headers=auth["lead"])
    metrics = result.json()["vendors"][0]["metrics"]
    assert metrics["box_precision"] == 1.0 and metrics["box_recall"] == 1.0


def test_a_voc_zip_with_a_bad_box_is_a_422_naming_the_file(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    ctx = _setup(
        client,
        auth["lead"],
        task_type="detection",
        classes=["cat"],
        vendor_id=key_vendor.id,
        gold=b'{"item_id": "a.jpg", "label": [], "data": {"width": 10, "height": 10}}\n',
        fmt="jsonl",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "Annotations/a.xml",
            "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox><xmin>5"
            "</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax></bndbox></object></annotation>",
        )
    url = f"/bakeoffs/{ctx['bakeoff']['id']}/vendors/{key_vendor.id}/labels/import"
    response = client.post(
        url, params={"format": "voc"}, content=buffer.getvalue(), headers=auth["vendor"]
    )
    assert response.status_code == 422, response.text
    assert "Annotations/a.xml" in response.text and "xmax/ymax" in response.text


def test_label_studio_gold_with_several_annotators_takes_the_ground_truth(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    """The service's gold import honours Label Studio's ``ground_truth`` flag, as the library
    reader does (it used to refuse: 'needs exactly one annotation, found 2')."""

    def choice(label: str, truth: bool) -> dict[str, Any]:
        result = [
            {
                "type": "choices",
                "from_name": "label",
                "to_name": "text",
                "value": {"choices": [label]},
            }
        ]
        return {"completed_by": 1, "ground_truth": truth, "result": result}

    export = [
        {
            "data": {"item_id": "a", "text": "meow"},
            "annotations": [choice("dog", False), choice("cat", True)],
        },
        {"data": {"item_id": "b", "text": "woof"}, "annotations": [choice("dog", False)]},
    ]
    ctx = _setup(
        client,
        auth["lead"],
        task_type="classification",
        classes=["cat", "dog"],
        vendor_id=key_vendor.id,
        gold=json.dumps(export).encode(),
        fmt="labelstudio",
    )
    assert ctx["imported"]["stored"] == 2
    gold = client.get(
        f"/golden-sets/{ctx['golden_set']['id']}/versions/1/labels", headers=auth["lead"]
    ).json()
    assert {g["item_key"]: g["value"] for g in gold["data"]} == {"a": "cat", "b": "dog"}
