"""The ``label_studio`` kind: a bake-off candidate working in a real Label Studio server.

Bakeoff drives Label Studio (the open-source tool) over its REST API:

``submit``
    finds or creates the run's project — one per vendor, bake-off, instructions
    version and ontology, so every dispatch batch of a run lands in one annotation
    queue — with a labeling config generated from the ontology
    (:func:`adapters.formats.labelstudio.labeling_config`) and the pinned instructions
    (``expert_instruction``, shown before labeling); then imports the batch's items that
    the project lacks: the item's ``data`` unchanged and its id in ``meta``; never gold.
    Submitting the same batch again imports nothing twice and returns the same job.
``poll``
    counts the job's items that are complete: that have the project's number of
    annotations per task (``annotators_per_task``).
``fetch_results``
    streams the project's JSON export and returns, for the job's complete items, every
    annotator's answer with its annotator (``completed_by`` user id), submission time
    and lead time (``started_at = completed_at - lead_time``). Answers of incomplete
    items are held back, so a caller that stores each item once still gets them all.
``cancel``
    marks the project cancelled in its description; annotators' work is kept.

Authentication is a legacy API token (``Authorization: Token ...``) or a personal
access token (a JWT refresh token exchanged at ``/api/token/refresh`` for short-lived
``Bearer`` access tokens, renewed on expiry).

Settings come from ``BAKEOFF_VENDOR_<SLUG>_URL``, ``..._API_TOKEN`` and so on (see
:class:`LabelStudioSettings`), overridden by explicit values.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.base import (
    Batch,
    Instructions,
    JobNotFound,
    JobStatus,
    TaskType,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    VendorResponseInvalid,
    VendorUnavailable,
)
from adapters.formats import FormatError
from adapters.formats.labelstudio import (
    LabelStudioTask,
    data_key_for,
    import_payload,
    iter_tasks,
    labeling_config,
)
from adapters.http import env_prefix_for, env_secret_follows

__all__ = [
    "ALL_TASK_TYPES",
    "LabelStudioAdapter",
    "LabelStudioSettings",
    "instructions_html",
    "run_key_for",
]

ALL_TASK_TYPES: frozenset[TaskType] = frozenset(
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
_M = TypeVar("_M", bound=BaseModel)
log = logging.getLogger(__name__)
_RUN_LOCKS: dict[str, threading.Lock] = {}
_RUN_LOCKS_GUARD = threading.Lock()
_TITLE_MAX = 50  # Label Studio's limit on project titles
_MARK_RUN = "bakeoff-run"
_MARK_TYPE = "bakeoff-task-type"
_MARK_VERSION = "bakeoff-instructions-version"
_MARK_CANCELLED = "bakeoff-cancelled"
_MARK_RE = re.compile(r"^(bakeoff-[a-z-]+): (.+)$", re.MULTILINE)


class LabelStudioSettings(BaseSettings):
    """Settings of one Label Studio candidate (env ``BAKEOFF_VENDOR_<SLUG>_<FIELD>``).

    Build with :meth:`for_vendor`, which applies the vendor's prefix; explicit values
    win over the environment.
    """

    model_config = SettingsConfigDict(env_prefix="BAKEOFF_VENDOR_", extra="forbid")

    url: str = Field(description="Root URL of the Label Studio server, e.g. http://ls:8080.")
    api_token: SecretStr = Field(description="Legacy API token or personal access token.")
    token_kind: Literal["legacy", "personal"] = "legacy"
    annotators_per_task: int = Field(
        default=1, ge=1, description="Annotations wanted per task (the project's overlap)."
    )
    title_prefix: str = Field(default="Bakeoff", max_length=20)
    timeout_s: float = Field(default=60.0, gt=0)
    import_chunk: int = Field(default=1000, ge=1, description="Tasks per import request.")
    export_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="Reuse a project export while the project's counters are unchanged, "
        "for at most this long (0: export on every poll).",
    )
    task_types: frozenset[TaskType] = ALL_TASK_TYPES

    @classmethod
    def for_vendor(cls, vendor: str, **values: Any) -> LabelStudioSettings:
        """Read the settings of ``vendor`` from its env prefix, overridden by ``values``.

        The environment's ``api_token`` is used only with the environment's ``url``
        (:func:`adapters.http.env_secret_follows`).
        """
        values = env_secret_follows(vendor, values, endpoint="url", secret="api_token")
        return cls(_env_prefix=env_prefix_for(vendor), **values)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- API shapes


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Project(_Lenient):
    id: int
    title: str = ""
    description: str | None = ""
    task_number: int | None = None
    finished_task_number: int | None = None
    total_annotations_number: int | None = None
    skipped_annotations_number: int | None = None
    num_tasks_with_annotations: int | None = None
    maximum_annotations: int | None = None

    def counters(self) -> tuple[int, ...] | None:
        """What changes whenever tasks or annotations are added or removed (None: unknown)."""
        values = (
            self.task_number,
            self.total_annotations_number,
            self.skipped_annotations_number,
            self.num_tasks_with_annotations,
        )
        return None if any(v is None for v in values) else tuple(v or 0 for v in values)


class _ProjectPage(_Lenient):
    results: list[_Project]
    next: str | None = None


class _ImportResult(_Lenient):
    task_count: int


class _Access(_Lenient):
    access: str


def run_key_for(batch: Batch, vendor: str) -> str:
    """The project key of a run: one project per vendor, bake-off, instructions and ontology.

    Every dispatch batch of one bake-off run lands in the same project (annotators see
    one queue); a new instructions version or ontology gets a new project.
    """
    digest = hashlib.sha256()
    parts = [vendor, batch.bakeoff_id, batch.task_type, str(batch.instructions.version)]
    parts += batch.ontology.class_names
    for part in parts:
        digest.update(part.encode() + b"\0")
    return f"{batch.bakeoff_id}-{digest.hexdigest()[:24]}"


def _marks(description: str | None) -> dict[str, str]:
    return {k: v.strip() for k, v in _MARK_RE.findall(description or "")}


def instructions_html(instructions: Instructions) -> str:
    """Render pinned instructions as the HTML Label Studio shows annotators.

    Paragraphs of the markdown text become ``<p>`` blocks (text escaped, not
    interpreted); each example is listed with its title, whether it is a
    counter-example, its label and explanation; the version closes the text.

    Examples
    --------
    >>> from adapters.base import Instructions
    >>> instructions_html(Instructions(version=2, text="Box every <car>."))
    '<p>Box every &lt;car&gt;.</p>\\n<p><small>Instructions version 2</small></p>'
    """
    parts = [
        "<p>" + html.escape(p.strip()).replace("\n", "<br/>") + "</p>"
        for p in re.split(r"\n\s*\n", instructions.text)
        if p.strip()
    ]
    if instructions.examples:
        items = []
        for ex in instructions.examples:
            kind = "Counter-example" if ex.counter_example else "Example"
            line = f"<b>{kind}: {html.escape(ex.title)}</b>"
            if ex.label is not None:
                line += f" (label: {html.escape(str(ex.label))})"
            if ex.explanation:
                line += f": {html.escape(ex.explanation)}"
            items.append(f"<li>{line}</li>")
        parts.append("<h4>Examples</h4>\n<ul>" + "".join(items) + "</ul>")
    parts.append(f"<p><small>Instructions version {instructions.version}</small></p>")
    return "\n".join(parts)


class _ChunkReader(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


@dataclass(frozen=True)
class _Progress:
    marks: dict[str, str]
    tasks: list[LabelStudioTask]
    required: int

    def complete(self, task: LabelStudioTask) -> bool:
        return len(task.annotations) >= self.required


class LabelStudioAdapter:
    """A candidate labeling in Label Studio; see the module docstring.

    Parameters
    ----------
    vendor
        The vendor's slug; selects the ``BAKEOFF_VENDOR_<SLUG>_`` settings prefix.
    client
        The HTTP client (inject ``httpx.Client(transport=httpx.MockTransport(...))`` in
        tests). By default one is created with the settings' timeout.
    settings
        Ready-made settings; otherwise read from the environment and ``values``.
    **values
        Setting overrides, e.g. ``url="http://localhost:8080", api_token="..."``.

    Examples
    --------
    >>> adapter = LabelStudioAdapter("ls-team", url="http://ls.example", api_token="t0k")
    >>> sorted(adapter.supported_tasks)[:2]
    ['classification', 'detection']
    """

    kind: str = "label_studio"
    #: Settings a remote caller (the service's API) may give: every field of the settings model.
    api_settings: ClassVar[frozenset[str]] = frozenset(LabelStudioSettings.model_fields)

    def __init__(
        self,
        vendor: str = "label_studio",
        *,
        client: httpx.Client | None = None,
        settings: LabelStudioSettings | None = None,
        **values: Any,
    ) -> None:
        self.name = vendor
        self.settings = settings or LabelStudioSettings.for_vendor(vendor, **values)
        self.supported_tasks: frozenset[TaskType] = frozenset(self.settings.task_types)
        self._base = self.settings.url.rstrip("/")
        self._client = client or httpx.Client(timeout=self.settings.timeout_s)
        self._access: str | None = None
        self._cache: dict[int, tuple[tuple[int, ...], float, list[LabelStudioTask]]] = {}
        self._cache_lock = threading.Lock()

    # -- the LabelingVendor protocol ------------------------------------------------

    def submit(self, batch: Batch) -> VendorJob:
        """Find or create the run's project and import the batch's missing items as tasks."""
        if batch.task_type not in self.supported_tasks:
            raise VendorRejected(f"{self.name} does not accept {batch.task_type!r} tasks")
        if not batch.items:
            raise VendorRejected("an empty batch cannot become Label Studio tasks")
        key = run_key_for(batch, self.name)
        # Worker threads submitting batches of one run at once must not create two projects.
        with _RUN_LOCKS_GUARD:
            lock = _RUN_LOCKS.setdefault(key, threading.Lock())
        with lock:
            project = self._find_project(key)
            if project is None:
                project = self._create_project(batch, key)
                present: set[str] = set()
            else:
                present = {t.item_id for t in self._tasks(project.id, batch.task_type)}
            missing = [i for i in batch.items if i.item_id not in present]
            for start in range(0, len(missing), self.settings.import_chunk):
                chunk = missing[start : start + self.settings.import_chunk]
                body = [import_payload(i.item_id, i.data) for i in chunk]
                path = f"/api/projects/{project.id}/import"
                result = self._json("POST", path, _ImportResult, body)
                if result.task_count != len(chunk):
                    raise VendorResponseInvalid(
                        f"{self.name}: Label Studio imported {result.task_count} "
                        f"of {len(chunk)} tasks"
                    )
        return VendorJob(
            vendor=self.name,
            external_id=str(project.id),
            item_ids=tuple(i.item_id for i in batch.items),
            submitted_at=datetime.now(UTC),
        )

    def poll(self, job: VendorJob) -> JobStatus:
        """Progress of the job's items: done once each has all its annotations."""
        progress = self._progress(job)
        done = sum(1 for t in progress.tasks if progress.complete(t))
        total = len(job.item_ids) if job.item_ids else len(progress.tasks)
        answers = sum(len(t.annotations) for t in progress.tasks)
        detail = (
            f"{answers} annotations on {len(progress.tasks)} tasks; "
            f"{progress.required} annotator(s) per task"
        )
        if _MARK_CANCELLED in progress.marks:
            return JobStatus(state="cancelled", done=done, total=total, detail=detail)
        if total and done >= total:
            state: Literal["pending", "running", "completed"] = "completed"
        else:
            state = "running" if answers else "pending"
        return JobStatus(state=state, done=done, total=total, detail=detail)

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]:
        """Every annotator's answer, with lead times, for the job's items that are complete.

        An item is complete once it has the project's number of annotations per task
        (``annotators_per_task``); until then none of its answers is returned, so that a
        caller storing each item once gets every annotator's answer.
        """
        progress = self._progress(job)
        version = progress.marks.get(_MARK_VERSION, "")
        stamp = {"instructions_version": int(version)} if version.isdigit() else {}
        return [
            a.model_copy(update=stamp)
            for t in progress.tasks
            if progress.complete(t)
            for a in t.annotations
        ]

    def cancel(self, job: VendorJob) -> None:
        """Mark the project cancelled (annotations are kept); unknown jobs count as cancelled."""
        try:
            project = self._project(job)
        except JobNotFound:
            return
        if _MARK_CANCELLED in _marks(project.description):
            return
        stamp = datetime.now(UTC).isoformat()
        description = (project.description or "").rstrip() + f"\n{_MARK_CANCELLED}: {stamp}"
        self._json("PATCH", f"/api/projects/{project.id}/", _Project, {"description": description})

    # -- projects -------------------------------------------------------------------

    def _progress(self, job: VendorJob) -> _Progress:
        project = self._project(job)
        marks = _marks(project.description)
        task_type = self._task_type(project, marks)
        wanted = set(job.item_ids)
        tasks = [t for t in self._export(project, task_type) if not wanted or t.item_id in wanted]
        required = project.maximum_annotations or self.settings.annotators_per_task
        return _Progress(marks=marks, tasks=tasks, required=required)

    def _export(self, project: _Project, task_type: TaskType) -> list[LabelStudioTask]:
        """The project's tasks; re-exported only when its counters moved (or the cache aged).

        Dispatch polls often; exporting a large project on every poll would keep Label
        Studio busy while nobody has answered anything new.
        """
        counters = project.counters()
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(project.id)
        if (
            cached is not None
            and counters is not None
            and cached[0] == counters
            and now - cached[1] < self.settings.export_cache_s
        ):
            return cached[2]
        tasks = list(self._tasks(project.id, task_type))
        if counters is not None:
            with self._cache_lock:
                self._cache[project.id] = (counters, now, tasks)
        return tasks

    def _task_type(self, project: _Project, marks: dict[str, str]) -> TaskType:
        task_type = marks.get(_MARK_TYPE)
        for known in ALL_TASK_TYPES:
            if task_type == known:
                return known
        raise VendorResponseInvalid(
            f"{self.name}: project {project.id} was not created by Bakeoff "
            f"(no '{_MARK_TYPE}' in its description)"
        )

    def _project(self, job: VendorJob) -> _Project:
        if not job.external_id.isdigit():
            raise JobNotFound(f"{self.name}: {job.external_id!r} is not a Label Studio project id")
        return self._json("GET", f"/api/projects/{job.external_id}/", _Project, job=True)

    def _find_project(self, key: str) -> _Project | None:
        short = key.rsplit("-", 1)[-1][:12]
        params = {"title": short, "page_size": "100"}
        response = self._send("GET", "/api/projects/", params=params)
        try:
            payload = response.json()
            if isinstance(payload, list):
                projects = [_Project.model_validate(p) for p in payload]
            else:
                projects = _ProjectPage.model_validate(payload).results
        except (ValueError, ValidationError) as exc:
            raise VendorResponseInvalid(
                f"{self.name}: unexpected project list: {_problem(exc)}"
            ) from exc
        for project in projects:
            if _marks(project.description).get(_MARK_RUN) == key:
                return project
        return None

    def _create_project(self, batch: Batch, key: str) -> _Project:
        short = key.rsplit("-", 1)[-1][:12]
        head = f"{self.settings.title_prefix} {batch.bakeoff_id}"
        title = f"{head[: _TITLE_MAX - len(short) - 2]} #{short}"
        sample = batch.items[0].data
        data_key = data_key_for(batch.task_type, sample)
        description = "\n".join(
            [
                f"Bake-off {batch.bakeoff_id}: {batch.task_type}, "
                f"instructions v{batch.instructions.version}.",
                f"{_MARK_RUN}: {key}",
                f"{_MARK_TYPE}: {batch.task_type}",
                f"{_MARK_VERSION}: {batch.instructions.version}",
            ]
        )
        body = {
            "title": title,
            "description": description,
            "label_config": labeling_config(batch.task_type, batch.ontology, data_key=data_key),
            "expert_instruction": instructions_html(batch.instructions),
            "show_instruction": True,
            "show_skip_button": False,
            "maximum_annotations": self.settings.annotators_per_task,
        }
        return self._json("POST", "/api/projects/", _Project, body)

    def _tasks(self, project_id: int, task_type: TaskType) -> Iterator[LabelStudioTask]:
        params = {"exportType": "JSON", "download_all_tasks": "true"}
        with self._stream("GET", f"/api/projects/{project_id}/export", params=params) as response:
            stream = io.BufferedReader(_ChunkReader(response.iter_bytes()))
            try:
                yield from iter_tasks(
                    stream, task_type=task_type, name=f"project {project_id} export"
                )
            except FormatError as exc:
                raise VendorResponseInvalid(f"{self.name}: {exc}") from exc
            except httpx.HTTPError as exc:
                raise VendorUnavailable(_unreachable(self.name, exc, "export interrupted")) from exc

    # -- transport ------------------------------------------------------------------

    def _headers(self, *, renew: bool = False) -> dict[str, str]:
        token = self.settings.api_token.get_secret_value()
        if self.settings.token_kind == "legacy":
            return {"Authorization": f"Token {token}"}
        if self._access is None or renew:
            try:
                response = self._client.post(
                    f"{self._base}/api/token/refresh", json={"refresh": token}
                )
            except httpx.TransportError as exc:
                raise VendorUnavailable(_unreachable(self.name, exc)) from exc
            self._check(response, job=False)
            self._access = self._parse(response, _Access).access
        return {"Authorization": f"Bearer {self._access}"}

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        job: bool = False,
    ) -> httpx.Response:
        for attempt in range(2):
            try:
                response = self._client.request(
                    method,
                    self._base + path,
                    json=body,
                    params=params,
                    headers=self._headers(renew=attempt > 0),
                )
            except httpx.TransportError as exc:
                raise VendorUnavailable(_unreachable(self.name, exc)) from exc
            if (
                response.status_code == 401
                and self.settings.token_kind == "personal"
                and not attempt
            ):
                continue  # the access token expired: renew it once
            break
        self._check(response, job=job)
        return response

    def _stream(
        self, method: str, path: str, *, params: dict[str, str] | None = None
    ) -> _StreamContext:
        return _StreamContext(self, method, path, params)

    def _check(self, response: httpx.Response, *, job: bool) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"{response.request.method} {response.request.url.path}"
        log.info(
            "%s: Label Studio answered %s to %s: %s", self.name, status, where, _detail(response)
        )
        if status >= 500 or status == 429:
            raise VendorUnavailable(f"{self.name}: Label Studio answered {status} to {where}")
        if status == 404 and job:
            raise JobNotFound(f"{self.name}: Label Studio has no such project ({where})")
        if status in (401, 403):
            raise VendorRejected(
                f"{self.name}: Label Studio refused the API token ({status}); "
                "check api_token and token_kind"
            )
        raise VendorRejected(f"{self.name}: Label Studio answered {status} to {where}")

    def _parse(self, response: httpx.Response, model: type[_M]) -> _M:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            where = f"{response.request.method} {response.request.url.path}"
            raise VendorResponseInvalid(
                f"{self.name}: unexpected answer to {where}: {_problem(exc)}"
            ) from exc

    def _json(
        self, method: str, path: str, model: type[_M], body: Any = None, *, job: bool = False
    ) -> _M:
        return self._parse(self._send(method, path, body=body, job=job), model)


class _StreamContext:
    def __init__(
        self,
        adapter: LabelStudioAdapter,
        method: str,
        path: str,
        params: dict[str, str] | None,
    ) -> None:
        self._adapter = adapter
        self._method = method
        self._path = path
        self._params = params
        self._cm: Any = None

    def __enter__(self) -> httpx.Response:
        a = self._adapter
        for attempt in range(2):
            try:
                self._cm = a._client.stream(
                    self._method,
                    a._base + self._path,
                    params=self._params,
                    headers=a._headers(renew=attempt > 0),
                )
                response: httpx.Response = self._cm.__enter__()
            except httpx.TransportError as exc:
                raise VendorUnavailable(_unreachable(a.name, exc)) from exc
            if response.status_code < 400:
                return response
            response.read()
            self._cm.__exit__(None, None, None)
            self._cm = None
            if response.status_code == 401 and a.settings.token_kind == "personal" and not attempt:
                continue  # the access token expired: renew it once
            a._check(response, job=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


def _detail(response: httpx.Response) -> str:
    """What went wrong, for the operator's log only.

    Never put it in an exception: adapter errors become task errors that other users read,
    and ``url`` may name any host, so its answers stay out of them (the status is enough).
    """
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(payload, dict):
        for key in ("validation_errors", "detail"):
            if payload.get(key):
                return str(payload[key])[:300]
    return str(payload)[:300]


def _unreachable(name: str, exc: httpx.HTTPError, what: str = "cannot reach Label Studio") -> str:
    """A transport failure by its kind; its text (hosts, addresses) goes to the log only."""
    log.info("%s: %s: %s", name, what, exc)
    return f"{name}: {what} ({type(exc).__name__})"


def _problem(exc: ValueError) -> str:
    """A parse error by location and message, without the answer's values."""
    if isinstance(exc, ValidationError):
        err = exc.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        if err["type"] == "extra_forbidden":
            return f"{loc}: unexpected field"
        return f"{loc}: {err['msg']}"
    return "not JSON"
