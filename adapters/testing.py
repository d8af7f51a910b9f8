"""The shared conformance suite every vendor kind passes, shipped for third-party kinds too.

Subclass :class:`VendorContract` in a test module and supply three fixtures; the tests
come with it (the fsspec ``tests/abstract`` pattern)::

    class TestAcme(VendorContract):
        @pytest.fixture
        def adapter(self, golden: ToyGolden) -> LabelingVendor: ...
        @pytest.fixture
        def finish(self, adapter) -> Callable[[VendorJob], None]: ...  # make the job finish
        @pytest.fixture
        def sent(self) -> Callable[[], list[object]]: ...  # every payload sent so far, as JSON

:func:`assert_no_gold` is the check that no outgoing payload carries a gold label; the
dispatch tests reuse it on whole bake-off runs.

This module imports :mod:`pytest`; import it from tests only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, get_args

import pytest

from adapters.base import (
    Batch,
    Box,
    InstructionExample,
    Instructions,
    JobNotFound,
    LabelingVendor,
    LabelValue,
    Ontology,
    OntologyClass,
    TaskType,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    WorkItem,
)
from adapters.pairs import swap_pair

__all__ = [
    "GOLD_KEYS",
    "SWAP_MARKERS",
    "ToyGolden",
    "VendorContract",
    "assert_no_gold",
    "toy_golden",
]

#: Keys that would carry a gold answer; allowed only empty, or inside the instructions.
GOLD_KEYS = frozenset(
    {
        "gold",
        "gold_label",
        "truth",
        "ground_truth",
        "expected",
        "answer",
        "label",
        "labels",
        "annotations",
        "result",
    }
)


#: Keys that would tell a vendor a preference pair was presented swapped, or sent a second
#: time (and which sending it repeats); never sent.
SWAP_MARKERS = frozenset(
    {
        "swapped",
        "swap",
        "is_swapped",
        "presented_swapped",
        "canonical",
        "original_order",
        "repeat",
        "repeated",
        "is_repeat",
        "repeat_of",
        "duplicate_of",
        "original_item_id",
        "original_id",
    }
)

_PAIRS = (
    ("What is 2 + 2?", "4.", "It is 5."),
    ("Name a colour.", "Blue.", "A colour such as blue, red or green."),
    ("Say hello in French.", "Bonjour.", "Hola."),
)


@dataclass(frozen=True)
class ToyGolden:
    """A tiny golden set: items as vendors see them, and the gold they must never see."""

    task_type: TaskType
    ontology: Ontology
    instructions: Instructions
    items: tuple[WorkItem, ...]
    gold: Mapping[str, LabelValue]

    def batch(self, *, bakeoff_id: str = "bk-1", callback_url: str | None = None) -> Batch:
        """The batch a vendor receives: ids and data only."""
        return Batch(
            bakeoff_id=bakeoff_id,
            task_type=self.task_type,
            ontology=self.ontology,
            instructions=self.instructions,
            items=self.items,
            callback_url=callback_url,
        )

    def gold_json(self) -> dict[str, Any]:
        """The gold as JSON-ready values (for an oracle file)."""
        out: dict[str, Any] = {}
        for item_id, label in self.gold.items():
            if isinstance(label, list):
                out[item_id] = [x if isinstance(x, str) else x.model_dump() for x in label]
            else:
                out[item_id] = label
        return out

    def oracle_json(self) -> dict[str, Any]:
        """The simulator's oracle: the gold, with each preference pair's response A (so a
        pair sent swapped is judged by content)."""
        out = self.gold_json()
        if self.task_type == "preference":
            first = {i.item_id: i.data.get("response_a") for i in self.items}
            out = {k: {"label": v, "response_a": first[k]} for k, v in out.items()}
        return out


def toy_golden(
    task_type: TaskType = "classification", n: int = 12, *, id_prefix: str | None = None
) -> ToyGolden:
    """Build a toy golden set of ``n`` items.

    Classification items carry ``features`` (a one-hot-ish vector a model can read) and
    ``text``; detection items carry ``width``/``height`` and gold boxes at odd, unique
    coordinates so that a leak would be easy to spot. Item ids are
    ``{id_prefix}{i:03d}``, by default ``"cla-000"`` / ``"det-000"`` by task type.
    """
    prefix = f"{task_type[:3]}-" if id_prefix is None else id_prefix
    classes = ("cat", "dog", "bird")
    ontology = Ontology(classes=tuple(OntologyClass(name=c, description=f"a {c}") for c in classes))
    if task_type == "preference":
        ontology = Ontology(classes=tuple(OntologyClass(name=c) for c in ("A", "B", "tie")))
    if task_type == "rating":  # a rubric: the classes are its criteria, on a 1-5 scale
        ontology = Ontology(
            classes=(
                OntologyClass(name="help", description="how helpful the reply is"),
                OntologyClass(name="fact", description="how factually right it is"),
            ),
            rating_scale=(1, 5),
        )
    instructions = Instructions(
        version=3,
        text="Label the animal in the picture.",
        examples=(
            InstructionExample(title="A cat", data={"text": "whiskers"}, label="cat"),
            InstructionExample(
                title="Not a bird", data={"text": "plane"}, label="bird", counter_example=True
            ),
        ),
    )
    items: list[WorkItem] = []
    gold: dict[str, LabelValue] = {}
    for i in range(n):
        item_id = f"{prefix}{i:03d}"
        k = (i * 7) % 3
        if task_type == "preference":
            prompt, first, second = _PAIRS[i % len(_PAIRS)]
            items.append(
                WorkItem(
                    item_id=item_id,
                    data={
                        "prompt": f"{prompt} (#{i})",
                        "response_a": f"{first} [{i}a]",
                        "response_b": f"{second} [{i}b]",
                    },
                )
            )
            gold[item_id] = ("A", "B", "tie")[k]
            continue
        if task_type == "rating":
            items.append(
                WorkItem(
                    item_id=item_id, data={"prompt": f"question {i}", "response": f"reply {i}"}
                )
            )
            gold[item_id] = {"help": 1 + (i * 7) % 5, "fact": 1 + (i * 3) % 5}
        elif task_type == "transcription":
            items.append(WorkItem(item_id=item_id, data={"audio": f"clip/{i}.wav"}))
            tag = chr(97 + i % 26) + chr(97 + i // 26 % 26)  # unique, no digits to normalise
            gold[item_id] = f"zebra {tag} quietly hums the {classes[k]} anthem of {tag}{tag}"
        elif task_type == "detection":
            items.append(
                WorkItem(
                    item_id=item_id, data={"image": f"img/{i}.png", "width": 640, "height": 480}
                )
            )
            gold[item_id] = [
                Box(category=classes[k], bbox=(101.125 + i, 57.375, 40.0 + i, 31.5)),
                Box(category=classes[(k + 1) % 3], bbox=(301.625, 201.875 + i, 22.25, 60.0)),
            ]
        else:
            features = [0.05 * ((i + j) % 3) for j in range(3)]
            features[k] += 1.0
            items.append(
                WorkItem(
                    item_id=item_id, data={"features": features, "text": f"picture number {i}"}
                )
            )
            gold[item_id] = [classes[k]] if task_type == "multilabel" else classes[k]
    return ToyGolden(task_type, ontology, instructions, tuple(items), gold)


def _walk(value: Any, path: str, under_instructions: bool) -> Iterator[tuple[str, Any, bool]]:
    yield path, value, under_instructions
    if isinstance(value, Mapping):
        for key, sub in value.items():
            inside = under_instructions or key in {"instructions", "examples"}
            yield from _walk(sub, f"{path}.{key}", inside)
    elif isinstance(value, list | tuple):
        for i, sub in enumerate(value):
            yield from _walk(sub, f"{path}[{i}]", under_instructions)


def _normalise(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def assert_no_gold(payloads: list[Any], golden: ToyGolden) -> None:
    """Fail if any payload carries gold.

    Every payload is JSON-like. Checks: (1) no key from :data:`GOLD_KEYS` holds a
    non-empty value outside the instructions; (2) every object naming a golden
    ``item_id`` holds only ``item_id`` and ``data``, and its ``data`` is exactly the
    item's data (a preference pair may come with its two responses swapped, and
    nothing else changed); (3) no gold value (a class name list or box list of an item)
    appears anywhere outside the instructions and ontology; (4) no key of
    :data:`SWAP_MARKERS` says a pair was swapped or repeated; (5) an object whose
    ``item_id`` is not a golden id but whose ``data`` is a golden item's (a preference
    pair sent a second time) holds only ``item_id`` and ``data``, and its id contains no
    golden item id (nothing links it to the first sending).
    """
    if not payloads:
        raise AssertionError("no outgoing payloads were recorded; the check would be vacuous")
    data_by_id = {i.item_id: _normalise(i.data) for i in golden.items}
    swapped_by_id = {i.item_id: _normalise(swap_pair(i.data)) for i in golden.items}
    gold_values = [
        _normalise(
            label
            if isinstance(label, str)
            else [x if isinstance(x, str) else x.model_dump() for x in label]
        )
        for label in golden.gold.values()
        if isinstance(label, list)
    ]
    boxes = [v for g in gold_values for v in g if isinstance(v, dict)]
    # ratings (dicts) and transcripts (long unique strings) are caught wherever they appear
    ratings = [_normalise(v) for v in golden.gold.values() if isinstance(v, dict)]
    transcripts = [v for v in golden.gold.values() if isinstance(v, str) and " " in v]
    for n, payload in enumerate(payloads):
        doc = _normalise(payload)
        for path, value, in_instructions in _walk(doc, f"payload[{n}]", False):
            if in_instructions:
                continue
            if isinstance(value, dict):
                for key, sub in value.items():
                    if key.lower() in GOLD_KEYS and sub not in (None, "", [], {}):
                        raise AssertionError(f"{path}.{key} carries a label: {sub!r:.200}")
                    if key.lower() in SWAP_MARKERS:
                        what = f"{path}.{key} tells the vendor"
                        raise AssertionError(f"{what} about a swap or repeat")
                item_id = value.get("item_id")
                if isinstance(item_id, str) and item_id in data_by_id:
                    extra = set(value) - {"item_id", "data"}
                    if extra:
                        raise AssertionError(f"{path}: item {item_id} has extra keys {extra}")
                    if "data" in value and value["data"] not in (
                        data_by_id[item_id],
                        swapped_by_id[item_id],
                    ):
                        raise AssertionError(f"{path}: item {item_id} data was altered")
                elif isinstance(item_id, str) and "data" in value:
                    _check_unlinked(path, value, item_id, data_by_id, swapped_by_id)
                if value in boxes:
                    raise AssertionError(f"{path} is a gold box: {value!r}")
                if value in ratings:
                    raise AssertionError(f"{path} is a gold rating: {value!r}")
            if isinstance(value, str) and any(t in value for t in transcripts):
                raise AssertionError(f"{path} carries a gold transcript: {value!r:.200}")
            if isinstance(value, list) and value and value in gold_values:
                raise AssertionError(f"{path} is a gold label: {value!r:.200}")


def _check_unlinked(
    path: str,
    value: dict[str, Any],
    item_id: str,
    data_by_id: dict[str, Any],
    swapped_by_id: dict[str, Any],
) -> None:
    """An item under an id that is not golden: if its data is a golden item's (a repeat),
    nothing may link it to that item."""
    same = [k for k in data_by_id if value["data"] in (data_by_id[k], swapped_by_id[k])]
    if not same:
        return
    extra = set(value) - {"item_id", "data"}
    if extra:
        raise AssertionError(f"{path}: repeated item {item_id} has extra keys {extra}")
    linked = [k for k in data_by_id if k in item_id]
    if linked:
        raise AssertionError(f"{path}: repeated item id {item_id!r} names item {linked[0]!r}")


class VendorContract:
    """The behaviour every vendor kind shares; subclasses supply fixtures only."""

    task_type: ClassVar[TaskType] = "classification"

    @pytest.fixture
    def golden(self) -> ToyGolden:
        return toy_golden(self.task_type)

    @pytest.fixture
    def batch(self, golden: ToyGolden) -> Batch:
        return golden.batch()

    def _run(
        self, adapter: LabelingVendor, batch: Batch, finish: Callable[[VendorJob], None]
    ) -> tuple[VendorJob, list[VendorAnnotation]]:
        job = adapter.submit(batch)
        finish(job)
        return job, adapter.fetch_results(job)

    def test_satisfies_the_protocol(self, adapter: LabelingVendor) -> None:
        assert isinstance(adapter, LabelingVendor)
        assert adapter.name
        assert adapter.supported_tasks
        assert adapter.supported_tasks <= set(get_args(TaskType))

    def test_submit_returns_a_job_for_every_item(
        self, adapter: LabelingVendor, batch: Batch
    ) -> None:
        job = adapter.submit(batch)
        assert job.vendor == adapter.name
        assert job.external_id
        assert sorted(job.item_ids) == sorted(i.item_id for i in batch.items)
        assert job.submitted_at.tzinfo is not None

    def test_resubmitting_the_same_batch_returns_the_same_job(
        self, adapter: LabelingVendor, batch: Batch
    ) -> None:
        assert adapter.submit(batch).external_id == adapter.submit(batch).external_id

    def test_finished_job_has_valid_labels_for_every_item(
        self, adapter: LabelingVendor, batch: Batch, finish: Callable[[VendorJob], None]
    ) -> None:
        job, results = self._run(adapter, batch, finish)
        status = adapter.poll(job)
        assert status.state == "completed"
        assert status.done == status.total == len(batch.items)
        assert {a.item_id for a in results} == {i.item_id for i in batch.items}
        classes = set(batch.ontology.class_names)
        for a in results:
            if batch.task_type == "transcription":
                assert isinstance(a.label, str), f"{a.item_id}: {a.label!r} is not a transcript"
                continue
            if batch.task_type == "rating":
                assert isinstance(a.label, dict) and set(a.label) <= classes, a.label
                low, high = batch.ontology.rating_scale or (1, 5)
                assert all(low <= r <= high for r in a.label.values()), a.label
                continue
            labels = a.label if isinstance(a.label, list) else [a.label]
            for lab in labels:
                name = lab if isinstance(lab, str) else getattr(lab, "category", None)
                assert name in classes, f"{a.item_id}: {lab!r} is not an ontology class"
            if a.score is not None:
                assert 0.0 <= a.score <= 1.0
            if a.cost is not None:
                assert a.cost >= 0
            if a.completed_at is not None:
                assert a.completed_at.tzinfo is not None

    def test_result_ids_are_unique_and_stable(
        self, adapter: LabelingVendor, batch: Batch, finish: Callable[[VendorJob], None]
    ) -> None:
        job, first = self._run(adapter, batch, finish)
        again = adapter.fetch_results(job)
        keys = [(a.item_id, a.external_id, a.annotator_id) for a in first]
        assert all(a.external_id for a in first)
        assert len(set(keys)) == len(keys)
        assert sorted(keys, key=str) == sorted(
            ((a.item_id, a.external_id, a.annotator_id) for a in again), key=str
        )

    def test_unsupported_task_type_is_rejected(
        self, adapter: LabelingVendor, golden: ToyGolden
    ) -> None:
        missing = sorted(
            {"classification", "multilabel", "detection", "segmentation", "spans"}
            - adapter.supported_tasks
        )
        if not missing:
            pytest.skip(f"not applicable: {adapter.name} supports every task type")
        batch = golden.batch().model_copy(update={"task_type": missing[0]})
        with pytest.raises(VendorRejected):
            adapter.submit(batch)

    def test_unknown_job_is_not_found(self, adapter: LabelingVendor) -> None:
        job = VendorJob(
            vendor=adapter.name,
            external_id=f"no-such-job-{uuid.uuid4().hex}",
            item_ids=("x",),
            submitted_at=datetime.now(UTC),
        )
        with pytest.raises(JobNotFound):
            adapter.poll(job)

    def test_cancel_is_accepted(self, adapter: LabelingVendor, batch: Batch) -> None:
        job = adapter.submit(batch)
        adapter.cancel(job)
        adapter.cancel(job)  # twice is fine

    def test_nothing_sent_carries_gold(
        self,
        adapter: LabelingVendor,
        batch: Batch,
        golden: ToyGolden,
        finish: Callable[[VendorJob], None],
        sent: Callable[[], list[object]],
    ) -> None:
        job, _ = self._run(adapter, batch, finish)
        adapter.poll(job)
        adapter.cancel(job)
        assert_no_gold(sent(), golden)
