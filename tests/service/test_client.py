"""The Python client against the real app (requests go through the ASGI app in process)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from adapters.formats import FormatError
from service.client import BakeoffAPIError, BakeoffClient

COCO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coco_val2014_100"


def test_dataframe_round_trip_and_results_frame(bk: BakeoffClient) -> None:
    project = bk.create_project("animals", "classification", ["cat", "dog", "bird"])
    gold = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "label": ["cat", "dog", "bird", "cat"],
            "metadata": [{"lighting": "dim"}, {}, {"lighting": "dim"}, {}],
            "data": [{"image": f"{k}.jpg"} for k in "abcd"],
        }
    )
    version = bk.create_golden_set(project.id, "gold", gold, note="expert")
    assert version.version == 1 and version.item_count == 4
    back = bk.gold(version.golden_set_id, 1)
    assert back["label"].tolist() == gold["label"].tolist()
    assert back["metadata"].tolist()[0] == {"lighting": "dim"}
    instructions = bk.add_instructions(project.id, "# Label the animal")
    acme = bk.create_vendor("Acme", price_per_item=0.10)
    bolt = bk.create_vendor("Bolt", price_per_item=0.02)
    bakeoff = bk.create_bakeoff(
        project.id,
        "Q1",
        version.version_id,
        instructions.id,
        [acme.id, bolt.id],
        production_volume=10000,
    )
    labels = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "label": ["cat", "dog", "bird", "dog"],
            "annotator_id": ["w1", "w1", "w2", "w2"],
        }
    )
    stored = bk.add_vendor_labels(bakeoff.id, acme.id, labels, idempotency_key="acme-1")
    again = bk.add_vendor_labels(bakeoff.id, acme.id, labels, idempotency_key="acme-1")
    assert stored.stored == 4 and again.replayed and again.stored == 4
    bk.add_vendor_labels(bakeoff.id, bolt.id, labels.iloc[:2])
    frame = bk.get_results(bakeoff.id)
    assert list(frame.index) == ["Acme", "Bolt"]
    assert frame.loc["Acme", "accuracy"] == pytest.approx(0.75)
    assert frame.loc["Bolt", "coverage"] == pytest.approx(0.5)
    assert frame.loc["Acme", "total_cost"] == pytest.approx(0.40)
    exported = bk.vendor_labels(bakeoff.id, acme.id)
    assert sorted(zip(exported["item_id"], exported["label"], strict=True)) == sorted(
        zip(labels["item_id"], labels["label"], strict=True)
    )


def test_errors_carry_the_located_message(bk: BakeoffClient) -> None:
    project = bk.create_project("p", "classification", ["x", "y"])
    with pytest.raises(BakeoffAPIError) as info:
        bk.create_golden_set(project.id, "g", pd.DataFrame({"item_id": ["1"], "label": ["z"]}))
    assert info.value.status_code == 422
    assert "unknown class 'z'" in str(info.value)
    with pytest.raises(BakeoffAPIError) as conflict:
        bk.create_project("p", "classification", ["x"])
    assert conflict.value.status_code == 409


@pytest.mark.shared_data(COCO.name)
def test_golden_set_from_a_coco_file(bk: BakeoffClient, tmp_path: Path) -> None:
    path = COCO / "instances_val2014_100.json"
    classes = [c["name"] for c in json.loads(path.read_text())["categories"]]
    project = bk.create_project("coco", "detection", classes)
    version = bk.create_golden_set(project.id, "val100", path, format="coco")
    assert version.item_count == 100
    frame: Any = bk.gold(version.golden_set_id, 1)
    # 830 boxes and the 9 crowd regions, kept as gold (ignored when scoring, as pycocotools)
    assert sum(len(v) for v in frame["label"]) == 839
    assert sum(1 for v in frame["label"] for b in v if b.get("iscrowd")) == 9


def test_create_golden_set_names_the_set_and_the_version_apart(bk: BakeoffClient) -> None:
    project = bk.create_project("ids", "classification", ["cat", "dog"])
    bk.create_golden_set(project.id, "first", pd.DataFrame({"item_id": ["a"], "label": ["cat"]}))
    made = bk.create_golden_set(
        project.id, "second", pd.DataFrame({"item_id": ["a", "b"], "label": ["cat", "dog"]})
    )
    fetched = bk._request("GET", f"/golden-sets/{made.golden_set_id}").json()
    assert fetched["name"] == "second"
    version = bk._request("GET", f"/golden-sets/{made.golden_set_id}/versions/1").json()
    assert (made.version, made.version_id, made.item_count, made.stored) == (
        1,
        version["id"],
        2,
        2,
    )
    with pytest.warns(DeprecationWarning, match="version_id"):
        assert made.id == made.version_id  # kept for old callers, with a warning
    again = bk.import_gold(
        made.golden_set_id, pd.DataFrame({"item_id": ["c"], "label": ["dog"]}), merge=True
    )
    assert (again.golden_set_id, again.version, again.item_count) == (made.golden_set_id, 2, 3)


def test_gold_csv_with_metadata_columns(bk: BakeoffClient, tmp_path: Path) -> None:
    project = bk.create_project("slices", "classification", ["cat", "dog"])
    path = tmp_path / "gold.csv"
    path.write_text(
        "item_id,label,lighting,metadata\n"
        'a,cat,dim,"{""camera"": ""A""}"\n'
        "b,dog,,\n"
        'c,cat,bright,"{""camera"": ""B"", ""night"": true}"\n',
        encoding="utf-8",
    )
    made = bk.create_golden_set(project.id, "gold", path)
    assert made.item_count == 3
    back = bk.gold(made.golden_set_id, 1).set_index("item_id")
    assert back.loc["a", "metadata"] == {"lighting": "dim", "camera": "A"}
    assert back.loc["b", "metadata"] == {}
    assert back.loc["c", "metadata"] == {"lighting": "bright", "camera": "B", "night": True}


def test_gold_dataframe_extra_columns_are_metadata(bk: BakeoffClient) -> None:
    project = bk.create_project("flat", "classification", ["cat", "dog"])
    gold = pd.DataFrame(
        {
            "item_id": ["a", "b"],
            "label": ["cat", "dog"],
            "lighting": ["dim", None],
            "metadata": [{"camera": "A"}, {}],
        }
    )
    made = bk.create_golden_set(project.id, "gold", gold)
    back = bk.gold(made.golden_set_id, 1).set_index("item_id")
    assert back.loc["a", "metadata"] == {"camera": "A", "lighting": "dim"}
    assert back.loc["b", "metadata"] == {}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('item_id,label,metadata\na,cat,"[1, 2]"\n', "metadata must be a JSON object"),
        ("item_id,label,metadata\na,cat,{not json\n", "metadata must be a JSON object"),
        (
            'item_id,label,camera,metadata\na,cat,A,"{""camera"": ""B""}"\n',
            "metadata key 'camera' is both a column and in the metadata JSON",
        ),
        ("item_id,annotator_id,label\na,w1,cat\n", "annotator_id is a column of annotators"),
        ("item_id,label,lighting\na,cat\n", "row 2: expected 3 fields"),
    ],
    ids=["not-an-object", "not-json", "key-twice", "annotations", "short-row"],
)
def test_gold_csv_metadata_errors_name_the_row(
    bk: BakeoffClient,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    tmp_path: Path,
    body: str,
    problem: str,
) -> None:
    """The API refuses the file naming the row; the client reads it first and refuses it
    with the same words before it creates anything (no empty golden set is left)."""
    project = bk.create_project("bad", "classification", ["cat", "dog"])
    path = tmp_path / "gold.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FormatError, match=re.escape(problem)):
        bk.create_golden_set(project.id, "gold", path)
    assert _golden_sets(client, auth, project.id) == []
    golden = client.post(
        "/golden-sets", json={"name": "g", "project_id": project.id}, headers=auth["lead"]
    )
    response = client.post(
        f"/golden-sets/{golden.json()['id']}/import",
        params={"format": "csv", "filename": path.name},
        content=path.read_bytes(),
        headers=auth["lead"],
    )
    assert response.status_code == 422
    assert problem in response.text


def _golden_sets(client: TestClient, auth: dict[str, dict[str, str]], project_id: int) -> list[str]:
    listed = client.get("/golden-sets", params={"project_id": project_id}, headers=auth["lead"])
    assert listed.status_code == 200, listed.text
    return [g["name"] for g in listed.json()["data"]]


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (lambda d: _folder(d, "labels/a.txt", "0 0.5 0.5 0.2 0.2\n"), "which holds no gold"),
        (lambda d: _file(d / "gold.jsonl", '{"item_id": "a"}\n'), "gold.jsonl"),
        (lambda d: _file(d / "gold.csv", "item_id,label\na,cat,extra\n"), "row 2"),
        (lambda d: d / "missing.csv", "no such file"),
    ],
    ids=["yolo-folder", "jsonl-without-label", "csv-short-row", "missing"],
)
def test_a_refused_gold_file_leaves_no_golden_set(
    bk: BakeoffClient,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    tmp_path: Path,
    write: Callable[[Path], Path],
    problem: str,
) -> None:
    project = bk.create_project("p", "classification", ["cat", "dog"])
    with pytest.raises(FormatError, match=problem):
        bk.create_golden_set(project.id, "gold", write(tmp_path))
    with pytest.raises(ValueError, match="needs columns 'item_id' and 'label'"):
        bk.create_golden_set(project.id, "frame", pd.DataFrame({"item_id": ["a"]}))
    assert _golden_sets(client, auth, project.id) == []
    made = bk.create_golden_set(
        project.id, "gold", _file(tmp_path / "ok.csv", "item_id,label\na,cat\n")
    )
    assert made.item_count == 1 and _golden_sets(client, auth, project.id) == ["gold"]


def _file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _folder(root: Path, name: str, text: str) -> Path:
    (root / "yolo" / name).parent.mkdir(parents=True)
    _file(root / "yolo" / name, text)
    return root / "yolo"


ODM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "review_odm"


@pytest.mark.shared_data("review_odm")
def test_a_voc_folder_goes_up_as_a_zip_and_scores_like_the_coco_gold(bk: BakeoffClient) -> None:
    """The client reads what every other door reads: a VOC folder, detected by content."""
    gts = ODM / "data" / "database" / "gts"
    coco = gts / "coco_format_v1" / "instances_default.json"
    classes = [
        c["name"] for c in sorted(json.loads(coco.read_text())["categories"], key=lambda c: c["id"])
    ]
    project = bk.create_project("voc", "detection", classes)
    version = bk.create_golden_set(project.id, "voc100", coco, format="coco")
    ins = bk.add_instructions(project.id, "Box every object")
    vendor = bk.create_vendor("Voc Labs")
    bakeoff = bk.create_bakeoff(project.id, "voc", version.version_id, ins.id, [vendor.id])
    stored = bk.add_vendor_labels(bakeoff.id, vendor.id, gts / "pascalvoc_format")
    assert stored.stored == 100


@pytest.mark.parametrize("fmt", ["prodigy", "sagemaker"])
def test_an_export_in_a_tools_format_goes_back_up_as_the_same_labels(
    bk: BakeoffClient, tmp_path: Path, fmt: Any
) -> None:
    """Prodigy / SageMaker exports through the client are detected on upload and stored once."""
    project = bk.create_project("news", "multilabel", ["sports", "politics", "weather"])
    gold = pd.DataFrame(
        {
            "item_id": ["a", "b"],
            "label": [["sports"], ["politics", "weather"]],
            "data": [{"text": "Cup final tonight"}, {"text": "Storm delays vote"}],
        }
    )
    version = bk.create_golden_set(project.id, "gold", gold)
    instructions = bk.add_instructions(project.id, "# Tag the topics")
    acme = bk.create_vendor("Acme", price_per_item=0.10)
    bakeoff = bk.create_bakeoff(project.id, "Q1", version.version_id, instructions.id, [acme.id])
    labels = pd.DataFrame(
        {
            "item_id": ["a", "a", "b"],
            "label": [["sports"], ["sports", "weather"], []],
            "annotator_id": ["w1", "w2", "w1"],
        }
    )
    assert bk.add_vendor_labels(bakeoff.id, acme.id, labels).stored == 3
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(bk.export_vendor_labels(bakeoff.id, acme.id, format=fmt))
    again = bk.add_vendor_labels(bakeoff.id, acme.id, path)
    assert again.stored == 0 and again.duplicates == 3
