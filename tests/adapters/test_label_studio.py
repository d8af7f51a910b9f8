"""The label_studio kind against a REAL Label Studio server, plus transport unit tests.

The live tests start one Label Studio (installed by ``.ci/ensure-labelstudio`` into
``.venv-labelstudio``) on a free localhost port with its data in a temporary directory,
create two annotator accounts, and play the workforce: the annotators post their
answers through Label Studio's API, as its web UI does. They skip with the reason only
where Label Studio is not installed or does not start.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from adapters.base import (
    Batch,
    Box,
    Instructions,
    JobNotFound,
    LabelingVendor,
    Mask,
    Ontology,
    OntologyClass,
    Span,
    TaskType,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    VendorResponseInvalid,
    VendorUnavailable,
    WorkItem,
)
from adapters.formats.labelstudio import label_to_results
from adapters.label_studio import LabelStudioAdapter, LabelStudioSettings, instructions_html
from adapters.testing import ToyGolden, VendorContract, assert_no_gold, toy_golden
from tests.needs import require

REPO = Path(__file__).resolve().parents[2]
LS_BIN = Path(
    os.environ.get("BAKEOFF_LABEL_STUDIO_BIN", REPO / ".venv-labelstudio/bin/label-studio")
)
TEMPLATE_DB = LS_BIN.parent.parent / "template" / "label_studio.sqlite3"
STARTUP_TIMEOUT_S = float(os.environ.get("BAKEOFF_LABEL_STUDIO_STARTUP_S", "240"))


# ---------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class LabelStudio:
    """A running Label Studio: its URL, the admin's legacy token, and two annotators."""

    url: str
    token: str
    annotators: tuple[int, int]

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=60
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, n: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    """Start Label Studio once per test session (per xdist worker); stop it afterwards."""
    require("label-studio", None if LS_BIN.exists() else f"it is not installed at {LS_BIN}")
    # Label Studio's SQLite commits each write: keep its data in memory where we can.
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        data_dir = Path(tempfile.mkdtemp(prefix="bakeoff-ls-", dir=shm))
    else:
        data_dir = tmp_path_factory.mktemp("label-studio")
    if TEMPLATE_DB.exists():  # migrated once by .ci/ensure-labelstudio: start in seconds
        shutil.copyfile(TEMPLATE_DB, data_dir / TEMPLATE_DB.name)
    log_path = data_dir / "server.log"
    port = _free_port()
    token = secrets.token_hex(20)
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "SECRET_KEY": secrets.token_hex(32),
        "DJANGO_DB": "sqlite",
    }
    command = [
        str(LS_BIN),
        "start",
        "--no-browser",
        "--data-dir",
        str(data_dir),
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--username",
        "admin@bakeoff.test",
        "--password",
        secrets.token_hex(12),
        "--user-token",
        token,
        "--enable-legacy-api-token",
    ]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data_dir
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                require(
                    "label-studio",
                    f"it exited with code {proc.returncode} while starting: {_tail(log_path)}",
                )
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                require(
                    "label-studio",
                    f"it did not answer on {url} within {STARTUP_TIMEOUT_S:.0f} s "
                    f"(set BAKEOFF_LABEL_STUDIO_STARTUP_S): {_tail(log_path)}",
                )
            time.sleep(0.5)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {token}"}, timeout=60
        ) as admin:
            ids = []
            for name in ("ann-one", "ann-two"):
                r = admin.post(
                    "/api/users/",
                    json={"email": f"{name}@bakeoff.test", "username": name, "first_name": name},
                )
                assert r.status_code == 201, r.text
                ids.append(int(r.json()["id"]))
        yield LabelStudio(url=url, token=token, annotators=(ids[0], ids[1]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------- the workforce

LEAD_TIMES = {0: 4.25, 1: 9.5}


def _answer(golden: ToyGolden, item: WorkItem, who: int) -> Any:
    """Annotator 0 gives the gold answer; annotator 1 a fixed, often wrong one."""
    gold = golden.gold[item.item_id]
    if who == 0:
        return gold
    classes = golden.ontology.class_names
    if golden.task_type == "classification":
        return classes[0]
    if golden.task_type == "multilabel":
        return classes[:2]
    if golden.task_type == "detection":
        return [Box(category=classes[1], bbox=(10.0, 20.0, 30.0, 40.0))]
    if golden.task_type == "spans":
        return [Span(start=0, end=3, type=classes[0])]
    # a brush stroke: Label Studio's bit-packed RLE on the wire, COCO RLE in Bakeoff
    binary = np.zeros((48, 64), dtype=np.uint8)
    binary[10:30, 5:25] = 1
    counts = coco_mask.encode(np.asfortranarray(binary))["counts"]
    assert isinstance(counts, bytes)
    return [Mask(category=classes[0], segmentation={"size": [48, 64], "counts": counts.decode()})]


def annotate(ls: LabelStudio, golden: ToyGolden, job: VendorJob) -> dict[tuple[str, str], Any]:
    """Both annotators label every task of the job's project that they have not labeled.

    Returns ``{(item_id, annotator id): label}`` of what was posted.
    """
    by_id = {i.item_id: i for i in golden.items}
    posted: dict[tuple[str, str], Any] = {}
    with ls.client() as c:
        tasks = c.get(f"/api/projects/{job.external_id}/tasks/", params={"page_size": 1000})
        assert tasks.status_code == 200, tasks.text
        for task in tasks.json():
            item = by_id[task["meta"]["item_id"]]
            done = {a["completed_by"] for a in task.get("annotations", [])}
            for who, user in enumerate(ls.annotators):
                if user in done:
                    continue
                label = _answer(golden, item, who)
                to_name = "text" if "image" not in item.data else "image"
                size = None
                if golden.task_type in ("detection", "segmentation"):
                    size = (float(item.data["width"]), float(item.data["height"]))
                results = label_to_results(
                    label,
                    task_type=golden.task_type,
                    to_name=to_name,
                    image_size=size,
                    text=item.data.get("text"),
                )
                body = {"result": results, "lead_time": LEAD_TIMES[who], "completed_by": user}
                r = c.post(f"/api/tasks/{task['id']}/annotations/", json=body)
                assert r.status_code == 201, r.text
                posted[(item.item_id, str(user))] = label
    return posted


def _golden(task_type: TaskType, n: int = 5) -> ToyGolden:
    """Toy golden sets for every task type (spans and segmentation built here)."""
    if task_type not in ("spans", "segmentation"):
        return toy_golden(task_type, n, id_prefix=f"{task_type[:3]}-{uuid.uuid4().hex[:6]}-")
    base = toy_golden("classification", n)
    items: list[WorkItem] = []
    gold: dict[str, Any] = {}
    for k in range(n):
        item_id = f"{task_type[:3]}-{uuid.uuid4().hex[:6]}-{k}"
        if task_type == "spans":
            text = f"Ann met Bob in Paris on day {k}"
            items.append(WorkItem(item_id=item_id, data={"text": text}))
            gold[item_id] = [Span(start=8, end=11, type="cat"), Span(start=15, end=20, type="dog")]
        else:
            items.append(
                WorkItem(item_id=item_id, data={"image": f"s/{k}.png", "width": 64, "height": 48})
            )
            gold[item_id] = [
                Mask(category="bird", segmentation=[[4.0, 4.0, 40.0 + k, 4.0, 40.0 + k, 30.0]])
            ]
    return ToyGolden(task_type, base.ontology, base.instructions, tuple(items), gold)


def _adapter(ls: LabelStudio, **values: Any) -> tuple[LabelStudioAdapter, list[Any]]:
    """An adapter whose client records every JSON body it sends."""
    bodies: list[Any] = []

    def record(request: httpx.Request) -> None:
        request.read()
        if request.content:
            bodies.append(json.loads(request.content))

    client = httpx.Client(timeout=60, event_hooks={"request": [record]})
    settings: dict[str, Any] = {"url": ls.url, "api_token": ls.token, "annotators_per_task": 2}
    settings.update(values)
    return LabelStudioAdapter("ls-team", client=client, **settings), bodies


# ---------------------------------------------------------------------------- contract


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
class TestLabelStudioContract(VendorContract):
    @pytest.fixture
    def golden(self) -> ToyGolden:
        return toy_golden(self.task_type, 4)  # fewer items: each answer is a real API call

    @pytest.fixture
    def batch(self, golden: ToyGolden) -> Batch:
        return golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}")

    @pytest.fixture
    def recorded(self, label_studio: LabelStudio) -> tuple[LabelStudioAdapter, list[Any]]:
        return _adapter(label_studio)

    @pytest.fixture
    def adapter(self, recorded: tuple[LabelStudioAdapter, list[Any]]) -> LabelingVendor:
        return recorded[0]

    @pytest.fixture
    def finish(self, label_studio: LabelStudio, golden: ToyGolden) -> Callable[[VendorJob], None]:
        def finish(job: VendorJob) -> None:
            annotate(label_studio, golden, job)

        return finish

    @pytest.fixture
    def sent(self, recorded: tuple[LabelStudioAdapter, list[Any]]) -> Callable[[], list[object]]:
        return lambda: list(recorded[1])


class TestLabelStudioContractDetection(TestLabelStudioContract):
    task_type = "detection"


# ---------------------------------------------------------------------------- live behaviour


@pytest.mark.parametrize(
    "task_type", ["classification", "multilabel", "detection", "segmentation", "spans"]
)
@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_each_annotators_labels_and_lead_times_come_back(
    label_studio: LabelStudio, task_type: TaskType
) -> None:
    golden = _golden(task_type)
    adapter, _ = _adapter(label_studio)
    job = adapter.submit(golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}"))
    assert adapter.poll(job).state == "pending"
    posted = annotate(label_studio, golden, job)
    status = adapter.poll(job)
    assert (status.state, status.done, status.total) == ("completed", 5, 5)

    results = adapter.fetch_results(job)
    assert len(results) == 2 * len(golden.items) == len(posted)
    got = {(a.item_id, a.annotator_id): a for a in results}
    assert set(got) == set(posted)
    assert len({a.external_id for a in results}) == len(results)
    for (item_id, who), label in posted.items():
        ann = got[(item_id, who)]
        _assert_same_label(ann, label)
        assert ann.instructions_version == golden.instructions.version
        assert ann.completed_at is not None and ann.started_at is not None
        lead = LEAD_TIMES[label_studio.annotators.index(int(who))]
        assert (ann.completed_at - ann.started_at).total_seconds() == pytest.approx(lead, abs=1e-3)


def _assert_same_label(ann: VendorAnnotation, label: Any) -> None:
    if isinstance(label, list) and label and isinstance(label[0], Box):
        assert isinstance(ann.label, list) and len(ann.label) == len(label)
        for x, y in zip(label, ann.label, strict=True):
            assert isinstance(y, Box) and y.category == x.category
            assert y.bbox == pytest.approx(x.bbox, abs=1e-6)
    elif isinstance(label, list) and label and isinstance(label[0], Mask):
        assert isinstance(ann.label, list) and len(ann.label) == len(label)
        for x, y in zip(label, ann.label, strict=True):
            assert isinstance(y, Mask) and y.category == x.category
            if isinstance(x.segmentation, dict):
                assert y.segmentation == x.segmentation
            else:
                assert isinstance(y.segmentation, list)
                assert y.segmentation[0] == pytest.approx(x.segmentation[0], abs=1e-6)
    else:
        assert ann.label == label


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_project_has_config_instructions_and_tasks_without_gold(label_studio: LabelStudio) -> None:
    golden = _golden("detection")
    adapter, bodies = _adapter(label_studio)
    job = adapter.submit(golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}"))
    with label_studio.client() as c:
        project = c.get(f"/api/projects/{job.external_id}/").json()
        tasks = c.get(f"/api/projects/{job.external_id}/tasks/").json()
    assert len(project["title"]) <= 50
    assert project["show_instruction"] is True
    assert "Label the animal in the picture." in project["expert_instruction"]
    assert "Instructions version 3" in project["expert_instruction"]
    assert project["parsed_label_config"]["label"]["type"] == "RectangleLabels"
    assert project["parsed_label_config"]["label"]["labels"] == ["cat", "dog", "bird"]
    assert project["maximum_annotations"] == 2
    by_id = {i.item_id: i.data for i in golden.items}
    assert sorted(t["meta"]["item_id"] for t in tasks) == sorted(by_id)
    for t in tasks:
        assert t["data"] == by_id[t["meta"]["item_id"]]
        assert t["annotations"] == [] and t["predictions"] == []
    assert_no_gold(bodies, golden)


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_resubmission_finds_the_project_and_restores_lost_tasks_once(
    label_studio: LabelStudio,
) -> None:
    golden = _golden("classification", n=6)
    adapter, _ = _adapter(label_studio, import_chunk=4)
    batch = golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}")
    job = adapter.submit(batch)
    with label_studio.client() as c:
        tasks = c.get(f"/api/projects/{job.external_id}/tasks/").json()
        assert len(tasks) == 6
        lost = tasks[0]
        assert c.delete(f"/api/tasks/{lost['id']}/").status_code == 204
        again = adapter.submit(batch)
        assert again.external_id == job.external_id
        after = c.get(f"/api/projects/{job.external_id}/tasks/").json()
    assert sorted(t["meta"]["item_id"] for t in after) == sorted(i.item_id for i in golden.items)


def _post_choice(ls: LabelStudio, task_id: int, label: str, who: int, lead: float = 2.0) -> None:
    body = {
        "result": [
            {
                "type": "choices",
                "from_name": "label",
                "to_name": "text",
                "value": {"choices": [label]},
            }
        ],
        "lead_time": lead,
        "completed_by": ls.annotators[who],
    }
    with ls.client() as c:
        r = c.post(f"/api/tasks/{task_id}/annotations/", json=body)
    assert r.status_code == 201, r.text


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_answers_are_held_back_until_every_annotator_has_answered(
    label_studio: LabelStudio,
) -> None:
    golden = _golden("classification", n=2)
    adapter, _ = _adapter(label_studio, annotators_per_task=2)
    job = adapter.submit(golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}"))
    with label_studio.client() as c:
        tasks = {
            t["meta"]["item_id"]: t["id"]
            for t in c.get(f"/api/projects/{job.external_id}/tasks/").json()
        }
    first = golden.items[0].item_id
    _post_choice(label_studio, tasks[first], "dog", 0)
    assert adapter.fetch_results(job) == []
    status = adapter.poll(job)
    assert (status.state, status.done, status.total) == ("running", 0, 2)
    _post_choice(label_studio, tasks[first], "cat", 1, lead=7.0)
    got = {(a.item_id, a.annotator_id): a.label for a in adapter.fetch_results(job)}
    ann = [str(u) for u in label_studio.annotators]
    assert got == {(first, ann[0]): "dog", (first, ann[1]): "cat"}
    assert adapter.poll(job).done == 1


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_batches_of_one_run_share_one_project(label_studio: LabelStudio) -> None:
    golden = _golden("classification", n=6)
    adapter, _ = _adapter(label_studio, annotators_per_task=1)
    bakeoff_id = f"bk-{uuid.uuid4().hex[:8]}"
    whole = golden.batch(bakeoff_id=bakeoff_id)
    first = adapter.submit(whole.model_copy(update={"items": whole.items[:4]}))
    second = adapter.submit(whole.model_copy(update={"items": whole.items[4:]}))
    assert first.external_id == second.external_id
    with label_studio.client() as c:
        tasks = c.get(f"/api/projects/{first.external_id}/tasks/").json()
    assert len(tasks) == 6
    for task in tasks:
        if task["meta"]["item_id"] in second.item_ids:
            _post_choice(label_studio, task["id"], "bird", 0)
    assert adapter.poll(second).state == "completed"
    status = adapter.poll(first)
    assert (status.state, status.done, status.total) == ("pending", 0, 4)
    assert {a.item_id for a in adapter.fetch_results(second)} == set(second.item_ids)
    assert adapter.fetch_results(first) == []


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_poll_states_and_cancel_keep_the_work(label_studio: LabelStudio) -> None:
    golden = _golden("classification", n=3)
    adapter, _ = _adapter(label_studio, annotators_per_task=1)
    job = adapter.submit(golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}"))
    assert adapter.poll(job).state == "pending"
    with label_studio.client() as c:
        task = c.get(f"/api/projects/{job.external_id}/tasks/").json()[0]
        body = {
            "result": [
                {
                    "type": "choices",
                    "from_name": "label",
                    "to_name": "text",
                    "value": {"choices": ["dog"]},
                }
            ],
            "lead_time": 2.0,
            "completed_by": label_studio.annotators[0],
        }
        assert c.post(f"/api/tasks/{task['id']}/annotations/", json=body).status_code == 201
    status = adapter.poll(job)
    assert (status.state, status.done, status.total) == ("running", 1, 3)
    adapter.cancel(job)
    adapter.cancel(job)
    assert adapter.poll(job).state == "cancelled"
    (ann,) = adapter.fetch_results(job)
    assert ann.label == "dog" and ann.annotator_id == str(label_studio.annotators[0])


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_unknown_project_and_bad_token(label_studio: LabelStudio) -> None:
    adapter, _ = _adapter(label_studio)
    job = toy_job("987654")
    with pytest.raises(JobNotFound):
        adapter.poll(job)
    adapter.cancel(job)  # unknown counts as cancelled
    bad, _ = _adapter(label_studio, api_token="not-a-token")
    with pytest.raises(VendorRejected, match="refused the API token"):
        bad.submit(_golden("classification", n=1).batch())


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_personal_access_token_is_exchanged_for_access_tokens(label_studio: LabelStudio) -> None:
    with label_studio.client() as c:
        r = c.post("/api/token/")
    assert r.status_code == 201, r.text
    adapter, _ = _adapter(label_studio, api_token=r.json()["token"], token_kind="personal")
    golden = _golden("classification", n=2)
    job = adapter.submit(golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}"))
    annotate(label_studio, golden, job)
    assert adapter.poll(job).state == "completed"
    assert len(adapter.fetch_results(job)) == 4


# ---------------------------------------------------------------------------- transport (mocked)


def toy_job(external_id: str = "7") -> VendorJob:
    return VendorJob(
        vendor="ls-team", external_id=external_id, item_ids=("a",), submitted_at=datetime.now(UTC)
    )


def _mocked(
    handler: Callable[[httpx.Request], httpx.Response], **values: Any
) -> LabelStudioAdapter:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    settings: dict[str, Any] = {"url": "http://ls.test/", "api_token": "tok"}
    settings.update(values)
    return LabelStudioAdapter("ls-team", client=client, **settings)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, VendorUnavailable),
        (503, VendorUnavailable),
        (429, VendorUnavailable),
        (401, VendorRejected),
        (403, VendorRejected),
        (400, VendorRejected),
        (404, JobNotFound),
    ],
    ids=["500", "503", "429", "401", "403", "400", "404"],
)
def test_http_errors_map_to_the_adapter_error_tree(status: int, error: type[Exception]) -> None:
    adapter = _mocked(lambda _r: httpx.Response(status, json={"detail": "nope"}))
    with pytest.raises(error):
        adapter.poll(toy_job())


def test_transport_errors_are_retryable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(VendorUnavailable, match="cannot reach Label Studio"):
        _mocked(down).poll(toy_job())


INTERNAL = "INTERNAL-ANSWER-MARKER"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, json={"detail": INTERNAL}),
        httpx.Response(401, json={"validation_errors": {"token": [INTERNAL]}}),
        httpx.Response(403, text=INTERNAL),
        httpx.Response(200, json={"id": INTERNAL}),
        httpx.Response(200, text=f"<html>{INTERNAL}</html>"),
    ],
    ids=["400", "401", "403-text", "bad-value", "not-json"],
)
def test_errors_never_carry_the_answer(answer: httpx.Response) -> None:
    """Errors become task errors others read, and ``url`` may name any host."""
    with pytest.raises((VendorRejected, VendorResponseInvalid)) as info:
        _mocked(lambda _r: answer).poll(toy_job())
    assert INTERNAL not in str(info.value)


def test_transport_errors_do_not_repeat_their_text() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"10.0.0.7:5432 {INTERNAL}", request=request)

    with pytest.raises(VendorUnavailable, match="ConnectError") as info:
        _mocked(down).poll(toy_job())
    assert INTERNAL not in str(info.value)


def test_malformed_answers_are_response_invalid() -> None:
    adapter = _mocked(lambda _r: httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(VendorResponseInvalid):
        adapter.poll(toy_job())


def test_projects_not_made_by_bakeoff_are_refused_when_fetching() -> None:
    adapter = _mocked(lambda _r: httpx.Response(200, json={"id": 7, "description": "mine"}))
    with pytest.raises(VendorResponseInvalid, match="not created by Bakeoff"):
        adapter.fetch_results(toy_job())


_PROJECT = {
    "id": 7,
    "maximum_annotations": 1,
    "description": "x\nbakeoff-task-type: classification\nbakeoff-instructions-version: 4",
}
_EXPORT = [
    {
        "id": 70,
        "data": {"text": "t"},
        "meta": {"item_id": "a"},
        "annotations": [
            {
                "id": 700,
                "completed_by": 3,
                "lead_time": 1.5,
                "created_at": "2024-05-01T10:00:00Z",
                "result": [{"type": "choices", "value": {"choices": ["cat"]}}],
            }
        ],
    },
    {"id": 71, "data": {"text": "u"}, "meta": {"item_id": "b"}, "annotations": []},
]


def _serve(request: httpx.Request) -> httpx.Response:
    """A Label Studio answering project and export requests for project 7."""
    if request.url.path == "/api/projects/7/":
        return httpx.Response(200, json=_PROJECT)
    if request.url.path == "/api/projects/7/export":
        assert request.url.params["download_all_tasks"] == "true"
        return httpx.Response(200, json=_EXPORT)
    return httpx.Response(404, json={"detail": "no"})


def test_poll_and_fetch_read_the_project_export() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _serve(request)

    adapter = _mocked(handler)
    status = adapter.poll(toy_job())  # the job holds item "a" only
    assert (status.state, status.done, status.total) == ("completed", 1, 1)
    assert seen[0].headers["Authorization"] == "Token tok"
    assert str(seen[0].url) == "http://ls.test/api/projects/7/"
    (ann,) = adapter.fetch_results(toy_job())
    assert (ann.item_id, ann.label, ann.annotator_id, ann.external_id) == ("a", "cat", "3", "700")
    assert ann.instructions_version == 4
    assert ann.started_at == datetime(2024, 5, 1, 9, 59, 58, 500000, tzinfo=UTC)
    both = toy_job().model_copy(update={"item_ids": ("a", "b")})
    status = adapter.poll(both)
    assert (status.state, status.done, status.total) == ("running", 1, 2)


def test_a_broken_export_is_a_response_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/export"):
            return httpx.Response(200, content=b'[{"data": {"text": "t"}, "meta": {"item_id": "a"}')
        return _serve(request)

    with pytest.raises(VendorResponseInvalid, match="project 7 export"):
        _mocked(handler).fetch_results(toy_job())


def test_personal_token_is_refreshed_once_on_expiry() -> None:
    calls: list[str] = []
    accesses = iter(["a1", "a2"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/token/refresh":
            assert json.loads(request.content) == {"refresh": "pat"}
            calls.append("refresh")
            return httpx.Response(200, json={"access": next(accesses)})
        calls.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer a1" and len(calls) > 3:
            return httpx.Response(401, json={"detail": "expired"})
        return _serve(request)

    adapter = _mocked(handler, api_token="pat", token_kind="personal")
    adapter.poll(toy_job())  # refresh, project, export
    adapter.poll(toy_job())  # project -> 401, refresh, project, export
    assert calls == [
        "refresh",
        "Bearer a1",
        "Bearer a1",
        "Bearer a1",
        "refresh",
        "Bearer a2",
        "Bearer a2",
    ]


def test_non_numeric_job_ids_are_not_found_without_a_request() -> None:
    def never(_r: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with pytest.raises(JobNotFound):
        _mocked(never).poll(toy_job("job-x"))


def test_unsupported_task_types_and_empty_batches_are_rejected() -> None:
    def never(_r: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    adapter = _mocked(never, task_types=frozenset({"classification"}))
    with pytest.raises(VendorRejected, match="does not accept 'detection'"):
        adapter.submit(toy_golden("detection", 2).batch())
    with pytest.raises(VendorRejected, match="empty batch"):
        adapter.submit(toy_golden("classification", 2).batch().model_copy(update={"items": ()}))


def test_settings_come_from_the_vendor_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAKEOFF_VENDOR_LS_TEAM_URL", "http://from-env:8080")
    monkeypatch.setenv("BAKEOFF_VENDOR_LS_TEAM_API_TOKEN", "secret")
    monkeypatch.setenv("BAKEOFF_VENDOR_LS_TEAM_ANNOTATORS_PER_TASK", "3")
    settings = LabelStudioSettings.for_vendor("ls-team")
    assert settings.url == "http://from-env:8080"
    assert settings.api_token.get_secret_value() == "secret"
    assert settings.annotators_per_task == 3
    assert "secret" not in repr(settings)


def test_the_env_token_never_goes_to_a_url_set_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAKEOFF_VENDOR_LS_TEAM_URL", "http://from-env:8080")
    monkeypatch.setenv("BAKEOFF_VENDOR_LS_TEAM_API_TOKEN", "ENV-TOKEN")
    same = LabelStudioSettings.for_vendor("ls-team", url="http://from-env:8080/")
    assert same.api_token.get_secret_value() == "ENV-TOKEN"
    with pytest.raises(ValueError, match="api_token") as info:
        LabelStudioSettings.for_vendor("ls-team", url="http://attacker.example")
    assert "ENV-TOKEN" not in str(info.value)
    given = LabelStudioSettings.for_vendor("ls-team", url="http://other:8080", api_token="own")
    assert given.api_token.get_secret_value() == "own"


def test_instructions_html_escapes_and_lists_examples() -> None:
    golden = toy_golden()
    text = instructions_html(
        Instructions(
            version=5, text="Rule <one>.\n\nRule two.", examples=golden.instructions.examples
        )
    )
    assert text.startswith("<p>Rule &lt;one&gt;.</p>\n<p>Rule two.</p>")
    assert "<b>Counter-example: Not a bird</b>" in text
    assert text.endswith("<p><small>Instructions version 5</small></p>")


def test_registry_builds_the_label_studio_kind() -> None:
    from adapters.registry import get_adapter

    adapter = get_adapter("label_studio", vendor="ls-team", url="http://x", api_token="t")
    assert isinstance(adapter, LabelStudioAdapter)
    assert adapter.supported_tasks == frozenset(
        {
            "classification",
            "multilabel",
            "detection",
            "segmentation",
            "spans",
            "preference",
            "rating",
            "transcription",
        }
    )


def test_ontology_classes_become_the_config_labels() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"count": 0, "results": []})
        body = json.loads(request.content)
        bodies.append(body)
        if request.url.path == "/api/projects/":
            return httpx.Response(201, json={"id": 11, **body})
        return httpx.Response(201, json={"task_count": len(body)})

    onto = Ontology(classes=(OntologyClass(name="PER"), OntologyClass(name="LOC")))
    batch = Batch(
        bakeoff_id="bk-9",
        task_type="spans",
        ontology=onto,
        instructions=Instructions(version=1, text="Mark names."),
        items=(WorkItem(item_id="s1", data={"text": "Ann in Rome"}),),
    )
    job = _mocked(handler).submit(batch)
    assert job.external_id == "11"
    config = bodies[0]["label_config"]
    assert '<Labels name="label" toName="text">' in config and '<Label value="LOC"/>' in config
    assert bodies[1] == [{"data": {"text": "Ann in Rome"}, "meta": {"item_id": "s1"}}]


# ---------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_a_bakeoff_runs_a_label_studio_candidate_end_to_end(
    label_studio: LabelStudio, tmp_path: Path
) -> None:
    """The API and a worker (real processes, SQLite) run a bake-off whose one candidate
    labels in Label Studio; two annotators answer there; every answer is stored once."""
    from sqlmodel import Session, select

    import service.models as m
    from service.core.db import create_db_engine
    from service.core.migrations import upgrade_head
    from service.domain.api_keys import create_api_key

    golden = _golden("classification", n=4)
    db_url = f"sqlite:///{tmp_path / 'bakeoff.db'}"
    upgrade_head(db_url)
    engine = create_db_engine(db_url)
    with Session(engine) as session:
        key = create_api_key(session=session, data=m.ApiKeyCreate(name="e2e", role="admin")).key
    port = _free_port()
    api = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BAKEOFF_ENVIRONMENT": "test",
        "BAKEOFF_DATABASE_URL": db_url,
        "BAKEOFF_AUTO_MIGRATE": "false",
        "BAKEOFF_QUEUE_PATH": str(tmp_path / "queue.db"),
        "BAKEOFF_PUBLIC_URL": api,
        "BAKEOFF_DISPATCH_POLL_INTERVAL_S": "0.5",
        "BAKEOFF_DISPATCH_SLICE_S": "3",
    }
    env.pop("BAKEOFF_REDIS_URL", None)
    procs = []
    for name, args in (
        ("api", ["-m", "uvicorn", "--factory", "service.main:create_app", "--port", str(port)]),
        ("worker", ["-m", "service.dispatch", "--workers", "2"]),
    ):
        log = (tmp_path / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, *args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
    try:
        client = httpx.Client(base_url=api, headers={"X-API-Key": key}, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, _tail(tmp_path / "api.log")
            time.sleep(0.3)

        def post(url: str, body: Any) -> Any:
            answer = client.post(url, json=body)
            assert answer.status_code < 300, (url, answer.text)
            return answer.json()

        project = post(
            "/projects",
            {
                "name": "ls-e2e",
                "task_type": "classification",
                "ontology": golden.ontology.model_dump(mode="json"),
            },
        )
        post(f"/projects/{project['id']}/instructions", {"text": golden.instructions.text})
        gs = post("/golden-sets", {"name": "ls-e2e-gold", "project_id": project["id"]})
        post(
            f"/golden-sets/{gs['id']}/items",
            [{"key": i.item_id, "data": i.data} for i in golden.items],
        )
        version = post(f"/golden-sets/{gs['id']}/versions", {"note": "v1"})
        post(
            f"/golden-sets/{gs['id']}/versions/{version['version']}/labels",
            {"labels": [{"item_key": k, "value": v} for k, v in golden.gold_json().items()]},
        )
        vendor = post(
            "/vendors",
            {
                "name": "LS Team",
                "adapter_kind": "label_studio",
                "adapter_settings": {
                    "url": label_studio.url,
                    "api_token": label_studio.token,
                    "annotators_per_task": 2,
                },
                "price_per_hour": 36.0,
            },
        )
        instructions = client.get(f"/projects/{project['id']}/instructions").json()["data"][0]
        bakeoff = post(
            "/bakeoffs",
            {
                "name": "ls run",
                "project_id": project["id"],
                "golden_set_version_id": version["id"],
                "instructions_version_id": instructions["id"],
                "vendor_ids": [vendor["id"]],
            },
        )
        started = client.post(f"/bakeoffs/{bakeoff['id']}/run")
        assert started.status_code == 202, started.text

        # The workforce: wait for the project and its tasks in Label Studio, then answer.
        marker = f"bakeoff-run: bakeoff-{bakeoff['id']}-"
        deadline = time.monotonic() + 90
        with label_studio.client() as ls:
            while True:
                projects = ls.get("/api/projects/", params={"page_size": 200}).json()["results"]
                mine = [p for p in projects if marker in (p.get("description") or "")]
                if mine and mine[0].get("task_number") == len(golden.items):
                    break
                assert time.monotonic() < deadline, _tail(tmp_path / "worker.log")
                time.sleep(0.5)
        job = VendorJob(
            vendor="ls-team",
            external_id=str(mine[0]["id"]),
            item_ids=tuple(i.item_id for i in golden.items),
            submitted_at=datetime.now(UTC),
        )
        posted = annotate(label_studio, golden, job)

        deadline = time.monotonic() + 90
        while True:
            progress = client.get(f"/bakeoffs/{bakeoff['id']}/progress").json()
            if progress["done"] and progress["status"] != "running":
                break
            assert time.monotonic() < deadline, (progress, _tail(tmp_path / "worker.log"))
            time.sleep(0.5)
        assert progress["status"] == "completed", progress

        with Session(engine) as session:
            keys = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
            labels = session.exec(
                select(m.VendorLabel).where(m.VendorLabel.bakeoff_id == bakeoff["id"])
            ).all()
            tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == bakeoff["id"])).all()
        stored = {(keys[lab.item_id], lab.annotator_id): lab for lab in labels}
        assert len(labels) == len(stored) == len(posted) == 2 * len(golden.items)
        for (item_id, who), label in posted.items():
            lab = stored[(item_id, who)]
            assert lab.value == label
            assert lab.instructions_version is not None
            assert lab.started_at is not None and lab.completed_at is not None
            lead = LEAD_TIMES[label_studio.annotators.index(int(who))]
            assert (lab.completed_at - lab.started_at).total_seconds() == pytest.approx(
                lead, abs=1e-3
            )
        assert {t.status for t in tasks} == {"received"}
        # priced per hour of annotator time: (4.25 s + 9.5 s) per item at 36 per hour
        for t in tasks:
            assert t.cost == pytest.approx(36.0 * (4.25 + 9.5) / 3600, rel=1e-6)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()


def test_exports_are_reused_while_the_project_counters_stand_still() -> None:
    counters = {
        "task_number": 2,
        "total_annotations_number": 1,
        "skipped_annotations_number": 0,
        "num_tasks_with_annotations": 1,
    }
    exports: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/projects/7/":
            return httpx.Response(200, json={**_PROJECT, **counters})
        if request.url.path.endswith("/export"):
            exports.append(1)
        return _serve(request)

    adapter = _mocked(handler)
    adapter.poll(toy_job())
    adapter.fetch_results(toy_job())
    assert len(exports) == 1  # nothing moved: the first export serves both
    counters["total_annotations_number"] = 2
    adapter.poll(toy_job())
    assert len(exports) == 2
    never_cached = _mocked(handler, export_cache_s=0)
    never_cached.poll(toy_job())
    never_cached.poll(toy_job())
    assert len(exports) == 4


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_concurrent_batches_of_one_run_make_one_project(label_studio: LabelStudio) -> None:
    from concurrent.futures import ThreadPoolExecutor

    golden = _golden("classification", n=8)
    adapter, _ = _adapter(label_studio)
    whole = golden.batch(bakeoff_id=f"bk-{uuid.uuid4().hex[:8]}")
    parts = [whole.model_copy(update={"items": whole.items[k : k + 2]}) for k in range(0, 8, 2)]
    with ThreadPoolExecutor(4) as pool:
        jobs = list(pool.map(adapter.submit, parts))
    assert len({j.external_id for j in jobs}) == 1
    with label_studio.client() as c:
        tasks = c.get(f"/api/projects/{jobs[0].external_id}/tasks/").json()
    assert sorted(t["meta"]["item_id"] for t in tasks) == sorted(i.item_id for i in golden.items)
