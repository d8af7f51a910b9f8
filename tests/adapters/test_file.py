"""The ``file`` kind: packages in CSV, COCO, Label Studio and JSON Lines, and their returns."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from adapters.base import (
    Box,
    JobNotFound,
    LabelingVendor,
    VendorAnnotation,
    VendorJob,
    VendorResponseInvalid,
)
from adapters.file import FileAdapter, FileFormat
from adapters.formats.jsonl import write_annotations
from adapters.formats.labelstudio import LabelStudioTask, write_tasks
from adapters.registry import get_adapter
from adapters.testing import ToyGolden, VendorContract, toy_golden

CLASSES = ("cat", "dog", "bird")
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def vendor_answer(item_id: str, task: str = "classification") -> str:
    """What the make-believe vendor answers: derived from the id, never from gold."""
    choices = ("A", "B", "tie") if task == "preference" else CLASSES
    return choices[sum(map(ord, item_id)) % 3]


def write_return(adapter: FileAdapter, job: VendorJob, golden: ToyGolden) -> Path:
    """Play the vendor: read the package and write the results file next to it."""
    folder = adapter.package_dir(job)
    manifest = json.loads((folder / "manifest.json").read_text())
    target: Path = folder / str(manifest["results_file"])
    ids = manifest["item_ids"]
    fmt = manifest["format"]
    task = manifest["task_type"]
    if fmt == "csv":
        with target.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["item_id", "label"])
            for i in ids:
                answer = {"multilabel": "cat|dog", "rating": "help=4;fact=2"}.get(task)
                writer.writerow([i, answer or vendor_answer(i, task)])
    elif fmt == "jsonl":
        write_annotations(
            (
                VendorAnnotation(
                    item_id=i,
                    label=[vendor_answer(i)] if task == "multilabel" else vendor_answer(i, task),
                    annotator_id="w1",
                    started_at=T0,
                    completed_at=T0.replace(minute=5),
                    cost=0.2,
                )
                for i in ids
            ),
            target,
        )
    elif fmt == "label_studio":
        data = {i.item_id: i.data for i in golden.items}
        tasks = [
            LabelStudioTask(
                item_id=i,
                data=data[i],
                annotations=(
                    VendorAnnotation(
                        item_id=i,
                        label=vendor_answer(i, task),
                        annotator_id="7",
                        completed_at=T0,
                        external_id="101",
                    ),
                ),
            )
            for i in ids
        ]
        write_tasks(tasks, target, task_type=task)
    else:  # coco instances with one box per image
        package = json.loads((folder / manifest["items_file"]).read_text())
        anns = [
            {
                "id": n,
                "image_id": im["id"],
                "category_id": 1 + n % 3,
                "bbox": [5.0, 6.0, 20.0, 10.0],
                "iscrowd": 0,
            }
            for n, im in enumerate(package["images"], start=1)
        ]
        target.write_text(json.dumps({**package, "annotations": anns}))
    return target


def package_payloads(adapter: FileAdapter) -> list[object]:
    """Everything the adapter wrote for vendors, as JSON-like documents."""
    out: list[object] = []
    for folder in sorted((adapter.directory / adapter.name).iterdir()):
        manifest = json.loads((folder / "manifest.json").read_text())
        out.append(manifest)
        out.append(json.loads((folder / "ontology.json").read_text()))
        items = folder / manifest["items_file"]
        if manifest["format"] == "csv":
            with items.open() as f:
                for row in csv.DictReader(f):
                    assert row.pop("label") == ""  # the column to fill is empty
                    item_id = row.pop("item_id")
                    data = {k: json.loads(v) if v[:1] in "[{" else v for k, v in row.items()}
                    out.append({"item_id": item_id, "data": data})
        elif manifest["format"] == "jsonl":
            out.extend(json.loads(line) for line in items.read_text().splitlines())
        else:
            out.append(json.loads(items.read_text()))
    return out


class _FileContract(VendorContract):
    file_format: ClassVar[FileFormat] = "csv"

    @pytest.fixture
    def adapter(self, tmp_path: Path) -> LabelingVendor:
        return FileAdapter("acme", directory=tmp_path, format=self.file_format)

    @pytest.fixture
    def finish(self, adapter: FileAdapter, golden: ToyGolden) -> Callable[[VendorJob], None]:
        def finish(job: VendorJob) -> None:
            write_return(adapter, job, golden)

        return finish

    @pytest.fixture
    def sent(self, adapter: FileAdapter) -> Callable[[], list[object]]:
        return lambda: package_payloads(adapter)


class TestCsv(_FileContract):
    file_format = "csv"


class TestCsvMultilabel(_FileContract):
    file_format = "csv"
    task_type = "multilabel"


class TestCsvRating(_FileContract):
    file_format = "csv"
    task_type = "rating"


class TestJsonlTranscription(_FileContract):
    file_format = "jsonl"
    task_type = "transcription"


class TestCoco(_FileContract):
    file_format = "coco"
    task_type = "detection"


class TestLabelStudio(_FileContract):
    file_format = "label_studio"


class TestJsonLines(_FileContract):
    file_format = "jsonl"


class TestLabelStudioPreference(_FileContract):
    file_format = "label_studio"
    task_type = "preference"


def test_package_contents(tmp_path: Path) -> None:
    golden = toy_golden(n=4)
    adapter = FileAdapter("acme", directory=tmp_path, format="label_studio")
    job = adapter.submit(golden.batch())
    folder = adapter.package_dir(job)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "instructions.md",
        "items.json",
        "labeling_config.xml",
        "manifest.json",
        "ontology.json",
    ]
    text = (folder / "instructions.md").read_text()
    assert "version 3" in text and "Counter-example" in text and "Not a bird" in text
    assert "<Choices" in (folder / "labeling_config.xml").read_text()
    tasks = json.loads((folder / "items.json").read_text())
    assert tasks[0] == {"data": dict(golden.items[0].data), "meta": {"item_id": "cla-000"}}


def test_returned_file_before_and_after(tmp_path: Path) -> None:
    golden = toy_golden(n=5)
    adapter = FileAdapter("acme", directory=tmp_path, format="csv", price_per_item=0.4)
    job = adapter.submit(golden.batch())
    status = adapter.poll(job)
    assert status.state == "running" and status.done == 0 and "awaiting" in status.detail
    assert adapter.fetch_results(job) == []
    path = write_return(adapter, job, golden)
    uploaded = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    os.utime(path, (uploaded.timestamp(), uploaded.timestamp()))
    results = adapter.fetch_results(job)
    assert [a.label for a in results] == [vendor_answer(i.item_id) for i in golden.items]
    # no timestamps in a CSV: the upload time; no cost in it: the price list
    assert {a.completed_at for a in results} == {uploaded}
    assert {a.cost for a in results} == {0.4}
    assert {a.instructions_version for a in results} == {3}


def test_timestamps_and_cost_from_the_file_win(tmp_path: Path) -> None:
    golden = toy_golden(n=3)
    adapter = FileAdapter("acme", directory=tmp_path, format="jsonl", price_per_item=9.0)
    job = adapter.submit(golden.batch())
    write_return(adapter, job, golden)
    results = adapter.fetch_results(job)
    assert {a.completed_at for a in results} == {T0.replace(minute=5)}
    assert {a.started_at for a in results} == {T0}
    assert {a.cost for a in results} == {0.2}


def test_csv_with_annotators(tmp_path: Path) -> None:
    golden = toy_golden(n=2)
    adapter = FileAdapter("acme", directory=tmp_path, format="csv", price_per_item=1.0)
    job = adapter.submit(golden.batch())
    adapter.package_dir(job).joinpath("results.csv").write_text(
        "item_id,annotator_id,label\ncla-000,w1,cat\ncla-000,w2,dog\ncla-001,w1,bird\n"
    )
    results = adapter.fetch_results(job)
    assert [(a.item_id, a.annotator_id, a.label) for a in results] == [
        ("cla-000", "w1", "cat"),
        ("cla-000", "w2", "dog"),
        ("cla-001", "w1", "bird"),
    ]
    assert [a.cost for a in results] == [0.5, 0.5, 1.0]  # the item price split by answers
    assert len({a.external_id for a in results}) == 3


def test_coco_results_array_is_accepted(tmp_path: Path) -> None:
    golden = toy_golden("detection", n=3)
    adapter = FileAdapter("acme", directory=tmp_path, format="coco")
    job = adapter.submit(golden.batch())
    folder = adapter.package_dir(job)
    results = [
        {"image_id": 2, "category_id": 3, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9},
    ]
    (folder / "results.json").write_text(json.dumps(results))
    answers = adapter.fetch_results(job)
    (answer,) = [a for a in answers if a.label]
    assert answer.item_id == "det-001"
    assert answer.label == [Box(category="bird", bbox=(1.0, 2.0, 3.0, 4.0), score=0.9)]


def test_coco_package_needs_image_sizes(tmp_path: Path) -> None:
    golden = toy_golden("detection", n=1)
    batch = golden.batch()
    items = tuple(i.model_copy(update={"data": {"image": "a.png"}}) for i in batch.items)
    adapter = FileAdapter("acme", directory=tmp_path, format="coco")
    with pytest.raises(Exception, match="width"):
        adapter.submit(batch.model_copy(update={"items": items}))


def test_bad_returned_file_is_vendor_response_invalid(tmp_path: Path) -> None:
    golden = toy_golden(n=2)
    adapter = FileAdapter("acme", directory=tmp_path, format="csv")
    job = adapter.submit(golden.batch())
    results = adapter.package_dir(job) / "results.csv"
    results.write_text("item_id,label\ncla-000,cat\ncla-000,dog\n")
    with pytest.raises(VendorResponseInvalid, match="row 3"):
        adapter.fetch_results(job)
    results.write_text("item_id,label\nsomeone-else,cat\n")
    with pytest.raises(VendorResponseInvalid, match="not sent"):
        adapter.fetch_results(job)


def test_import_results_and_cancel(tmp_path: Path) -> None:
    golden = toy_golden(n=2)
    adapter = FileAdapter("acme", directory=tmp_path / "pkgs", format="csv")
    job = adapter.submit(golden.batch())
    upload = tmp_path / "from-vendor.csv"
    upload.write_text("item_id,label\ncla-000,cat\ncla-001,dog\n")
    adapter.import_results(job, upload)
    assert adapter.poll(job).state == "completed"
    adapter.cancel(job)
    assert (adapter.package_dir(job) / "CANCELLED").exists()
    with pytest.raises(JobNotFound):
        adapter.package_dir("../escape")


def test_registry_builds_the_file_kind(tmp_path: Path) -> None:
    adapter = get_adapter("file", vendor="acme", directory=str(tmp_path), format="jsonl")
    assert isinstance(adapter, FileAdapter)
    with pytest.raises(ValueError, match="not one of"):
        FileAdapter("x", format="xml")  # type: ignore[arg-type]
