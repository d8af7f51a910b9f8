"""A typed Python client for the Bakeoff API, with pandas round-trips.

Every call is one HTTP request; label uploads are streamed (JSON Lines built row by row from a
DataFrame, or a file sent as is) and carry an ``Idempotency-Key``, so a retried upload is stored
once.

Examples
--------
>>> import pandas as pd
>>> from service.client import BakeoffClient
>>> bk = BakeoffClient("http://127.0.0.1:8000", api_key="bko_...")  # doctest: +SKIP
>>> project = bk.create_project("animals", "classification", ["cat", "dog"])  # doctest: +SKIP
>>> gold = pd.DataFrame({"item_id": ["a", "b"], "label": ["cat", "dog"]})
>>> golden = bk.create_golden_set(project.id, "gold", gold)  # doctest: +SKIP
>>> ins = bk.add_instructions(project.id, "# Label the animal")  # doctest: +SKIP
>>> acme = bk.create_vendor("Acme", price_per_item=0.05)  # doctest: +SKIP
>>> bo = bk.create_bakeoff(project.id, "Q1", golden.version_id, ins.id, [acme.id])
... # doctest: +SKIP
>>> bk.add_vendor_labels(bo.id, acme.id, pd.DataFrame({"item_id": ["a"], "label": ["cat"]}))
... # doctest: +SKIP
>>> bk.get_results(bo.id)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar, cast

import httpx
import pandas as pd
from pydantic import BaseModel, ConfigDict

from adapters.formats import FormatError
from adapters.formats.registry import GOLD_FORMATS, FormatName, detect_format
from service.models import (
    BakeOffPublic,
    BakeOffResults,
    GoldenSetImportResult,
    GoldenSetVersionPublic,
    ImportResult,
    InstructionsVersionPublic,
    ProjectPublic,
    TaskType,
    VendorPublic,
)

__all__ = ["BakeoffClient", "BakeoffAPIError", "FileFormat", "GoldenSetVersionRef"]

#: Gold file formats (as ``bakeoff import gold`` and the API's gold import read them).
FileFormat = Literal["jsonl", "csv", "coco", "labelstudio", "voc"]
#: What exports write: the four above, and Pascal VOC / YOLO (zips), CVAT 1.1 XML, doccano,
#: Prodigy JSONL and SageMaker Ground Truth output manifests.
ExportFormat = Literal[
    "jsonl", "csv", "coco", "labelstudio", "voc", "yolo", "cvat", "doccano", "prodigy", "sagemaker"
]
_M = TypeVar("_M", bound=BaseModel)
_GOLD_COLUMNS = ("item_id", "label", "data", "metadata")
_LABEL_COLUMNS = (
    "item_id",
    "label",
    "annotator_id",
    "score",
    "started_at",
    "completed_at",
    "cost",
    "instructions_version",
    "external_id",
)


class BakeoffAPIError(RuntimeError):
    """The API answered with an error.

    Attributes
    ----------
    status_code
        The HTTP status.
    detail
        The ``detail`` of the response (a message, or FastAPI's list of located errors).
    """

    def __init__(self, status_code: int, detail: object) -> None:
        self.status_code = status_code
        self.detail = detail
        if isinstance(detail, list):
            text = "; ".join(
                f"{'/'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                if isinstance(d, dict)
                else str(d)
                for d in detail
            )
        else:
            text = str(detail)
        super().__init__(f"HTTP {status_code}: {text}")


class GoldenSetVersionRef(BaseModel):
    """Which golden set and which of its versions a gold import created.

    Attributes
    ----------
    golden_set_id
        The golden set (``GET /golden-sets/{golden_set_id}``).
    version
        The version's number within its golden set: 1, 2, ...
    version_id
        The version's own id: what :meth:`BakeoffClient.create_bakeoff` takes as
        ``golden_set_version_id``.
    item_count, note, parent_id, created_at
        As ``GET /golden-sets/{golden_set_id}/versions/{version}`` returns them.
    stored, duplicates
        Gold labels the import stored, and rows that repeated an earlier one.
    notes
        What the file's reader left out or could not check (e.g. keypoints in a detection
        file), as every import door says it.

    ``id`` still works (as before, it is ``version_id``) but warns: next to
    ``golden_set_id`` it was easy to mistake for the golden set's id.
    """

    model_config = ConfigDict(frozen=True)

    golden_set_id: int
    version: int
    version_id: int
    item_count: int
    note: str
    parent_id: int | None
    created_at: datetime
    stored: int
    duplicates: int
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> int:
        """Deprecated: the version's id; use :attr:`version_id` (or :attr:`golden_set_id`)."""
        warnings.warn(
            "GoldenSetVersionRef.id is the golden-set *version's* id; use .version_id "
            "(or .golden_set_id for the golden set)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.version_id


def _gold_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Gold columns besides item_id/label/data/metadata become flat metadata fields."""
    extra = [c for c in frame.columns if c not in _GOLD_COLUMNS]
    if not extra:
        return frame
    rows = []
    base = frame["metadata"] if "metadata" in frame.columns else [None] * len(frame)
    for meta, values in zip(base, frame[extra].itertuples(index=False, name=None), strict=True):
        merged = dict(meta) if isinstance(meta, Mapping) else {}
        for column, value in zip(extra, values, strict=True):
            v = _jsonable(value)
            if v is None or v == "":
                continue
            if str(column) in merged:
                raise ValueError(
                    f"metadata key {column!r} is both a column and in the metadata column"
                )
            merged[str(column)] = v
        rows.append(merged)
    return frame.drop(columns=extra).assign(metadata=pd.Series(rows, index=frame.index))


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return value


def _jsonl_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[bytes]:
    """Stream a DataFrame as JSON Lines (only the known columns; missing values left out)."""
    present = [c for c in columns if c in frame.columns]
    if "item_id" not in present or "label" not in present:
        raise ValueError(
            f"the DataFrame needs columns 'item_id' and 'label'; it has {list(frame.columns)}"
        )
    for values in frame[present].itertuples(index=False, name=None):
        obj: dict[str, Any] = {}
        for column, value in zip(present, values, strict=True):
            v = _jsonable(value)
            if v is None or (column in ("data", "metadata") and not v):
                continue
            obj[column] = str(v) if column in ("item_id", "annotator_id", "external_id") else v
        yield (json.dumps(obj) + "\n").encode("utf-8")


def _file_format(path: Path, fmt: FileFormat | None) -> FileFormat:
    """The gold file's format: as given, else told from its content by the format layer
    (as ``bakeoff import gold`` and the API tell it), never from its suffix alone."""
    if not path.exists():
        raise FormatError(str(path), "", "no such file or folder")
    if fmt is not None:
        return fmt
    found = detect_format(path)
    if found not in GOLD_FORMATS:
        raise FormatError(
            path.name,
            "",
            f"reads as {found}, which holds no gold; gold comes as {', '.join(GOLD_FORMATS)}",
        )
    return cast(FileFormat, found)


def _check_gold_file(
    path: Path, fmt: FileFormat, project: ProjectPublic, *, question: str | None = None
) -> None:
    """Read a gold file whole, as the server's gold import reads it, before anything is
    created (a refusal raises :class:`FormatError` naming the file and the place)."""
    from service.domain.errors import DomainError
    from service.domain.label_io import read_gold
    from service.models import Project

    body: Path | None = path if fmt == "voc" and path.is_dir() else None
    try:
        with contextlib.ExitStack() as files:
            source = body if body is not None else files.enter_context(path.open("rb"))
            records = read_gold(
                fmt,
                source,
                task_type=project.task_type,
                name=path.name,
                question=question,
                project=Project.model_validate(project.model_dump()),
            )
            for _ in records:
                pass
    except DomainError as exc:
        raise FormatError(path.name, "", exc.message) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(path.name, "", str(exc)) from exc


def _zipped(folder: Path) -> bytes:
    """A folder export (VOC, YOLO) as one zip upload."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            yield chunk


class BakeoffClient:
    """Talk to a Bakeoff server.

    Parameters
    ----------
    base_url
        E.g. ``"http://127.0.0.1:8000"``.
    api_key
        Sent as ``X-API-Key``.
    timeout
        Seconds per request.
    http
        An existing :class:`httpx.Client` to use instead (tests pass one with a mock transport);
        its base URL and headers are used as they are.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._owned = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = headers

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the connection pool (if this client created it)."""
        if self._owned:
            self.http.close()

    def __enter__(self) -> BakeoffClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Iterator[bytes] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes | IO[bytes]]] | None = None,
    ) -> httpx.Response:
        response = self.http.request(
            method,
            path,
            json=json_body,
            params={k: v for k, v in (params or {}).items() if v is not None},
            content=content,
            data=data,
            files=files,
            headers={**self._headers, **(headers or {})},
        )
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise BakeoffAPIError(response.status_code, detail)
        return response

    def _model(self, model: type[_M], method: str, path: str, **kwargs: Any) -> _M:
        return model.model_validate(self._request(method, path, **kwargs).json())

    # ------------------------------------------------------------------ setup

    def create_project(
        self,
        name: str,
        task_type: TaskType,
        classes: Sequence[str],
        *,
        ordinal: bool = False,
        description: str = "",
    ) -> ProjectPublic:
        """Create a project with its task type and classes (``ordinal`` when order matters)."""
        body = {
            "name": name,
            "task_type": task_type,
            "description": description,
            "ontology": {"classes": [{"name": c} for c in classes], "ordinal": ordinal},
        }
        return self._model(ProjectPublic, "POST", "/projects", json_body=body)

    def add_instructions(
        self, project_id: int, text: str, examples: Sequence[Mapping[str, Any]] = ()
    ) -> InstructionsVersionPublic:
        """Add the next instructions version (markdown and examples, counter-examples too)."""
        body = {"text": text, "examples": [dict(e) for e in examples]}
        return self._model(
            InstructionsVersionPublic,
            "POST",
            f"/projects/{project_id}/instructions",
            json_body=body,
        )

    def create_vendor(
        self,
        name: str,
        *,
        adapter_kind: str = "file",
        adapter_settings: Mapping[str, Any] | None = None,
        price_per_item: float = 0.0,
        price_per_label: float = 0.0,
        price_per_hour: float = 0.0,
        minimum_commitment: float = 0.0,
    ) -> VendorPublic:
        """Register a candidate vendor with its pricing."""
        body = {
            "name": name,
            "adapter_kind": adapter_kind,
            "adapter_settings": dict(adapter_settings or {}),
            "price_per_item": price_per_item,
            "price_per_label": price_per_label,
            "price_per_hour": price_per_hour,
            "minimum_commitment": minimum_commitment,
        }
        return self._model(VendorPublic, "POST", "/vendors", json_body=body)

    def create_golden_set(
        self,
        project_id: int,
        name: str,
        gold: pd.DataFrame | str | Path,
        *,
        format: FileFormat | None = None,
        note: str = "",
        idempotency_key: str | None = None,
        question: str | None = None,
    ) -> GoldenSetVersionRef:
        """Create a golden set from a DataFrame or a file; returns its ids and first version.

        ``gold`` is a DataFrame with columns ``item_id``, ``label`` and optionally ``data`` and
        ``metadata`` (dicts) and further columns (each one metadata field, e.g. ``lighting``),
        or a path to a COCO / Label Studio / CSV / JSON Lines file. A CSV file may carry the
        same columns: ``metadata``/``data`` as JSON objects, any other column as one flat
        metadata field (:func:`adapters.formats.csv.iter_gold`).

        The file is read here first, as the server reads it (the project's task type, the
        format told from the content), so a file the format layer refuses is refused before
        any request; then ``POST /golden-sets/import`` creates the golden set and imports the
        file in one transaction, so a refusal only the server can make (an unknown class)
        leaves no golden set behind either. ``question`` names the Label Studio control
        (``from_name``) to read when the project asks several questions.

        Returns
        -------
        GoldenSetVersionRef
            ``golden_set_id``, ``version`` (1) and ``version_id`` (for :meth:`create_bakeoff`).

        Raises
        ------
        FormatError
            The file does not read as gold (nothing is created).
        BakeoffAPIError
            The server refuses the gold (422 naming what and where; nothing is created).
        """
        if isinstance(gold, pd.DataFrame):
            gold = _gold_frame(gold)
        content, fmt = self._upload(gold, format, _GOLD_COLUMNS)
        if not isinstance(gold, pd.DataFrame):
            project = self._model(ProjectPublic, "GET", f"/projects/{project_id}")
            _check_gold_file(Path(gold), fmt, project, question=question)
        # one request, one transaction: a refusal only the server can make (an unknown
        # class) leaves no golden set behind either
        form = {"project_id": str(project_id), "name": name, "format": fmt, "note": note}
        if question is not None:
            form["question"] = question
        with contextlib.ExitStack() as files:
            body: bytes | IO[bytes]
            if isinstance(content, bytes):
                body = content
            elif isinstance(gold, pd.DataFrame) or Path(gold).is_dir():
                body = b"".join(content)  # a zipped folder, already in memory
            else:  # a file streams from disk
                body = files.enter_context(Path(gold).open("rb"))
            result = self._model(
                GoldenSetImportResult,
                "POST",
                "/golden-sets/import",
                data=form,
                files={"file": (_name_of(gold), body)},
                headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
            )
        return self._version_ref(result)

    def import_gold(
        self,
        golden_set_id: int,
        gold: pd.DataFrame | str | Path,
        *,
        format: FileFormat | None = None,
        note: str = "",
        merge: bool = False,
        idempotency_key: str | None = None,
        question: str | None = None,
    ) -> GoldenSetVersionRef:
        """Import items and gold labels as a new version of a golden set; returns the version.

        ``gold`` as in :meth:`create_golden_set`; ``question`` names the Label Studio control
        (``from_name``) to read when the project asks several questions.
        """
        if isinstance(gold, pd.DataFrame):
            gold = _gold_frame(gold)
        content, fmt = self._upload(gold, format, _GOLD_COLUMNS)
        return self._import_gold(
            golden_set_id,
            content,
            fmt,
            _name_of(gold),
            note=note,
            merge=merge,
            idempotency_key=idempotency_key,
            question=question,
        )

    def _import_gold(
        self,
        golden_set_id: int,
        content: Iterator[bytes] | bytes,
        fmt: FileFormat,
        filename: str,
        *,
        note: str = "",
        merge: bool = False,
        idempotency_key: str | None = None,
        question: str | None = None,
    ) -> GoldenSetVersionRef:
        params = {
            "format": fmt,
            "note": note,
            "merge": str(merge).lower(),
            "filename": filename,
        }
        if question is not None:
            params["question"] = question
        result = self._model(
            ImportResult,
            "POST",
            f"/golden-sets/{golden_set_id}/import",
            params=params,
            content=content,
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return self._version_ref(result, golden_set_id)

    def _version_ref(
        self, result: ImportResult, golden_set_id: int | None = None
    ) -> GoldenSetVersionRef:
        """The version a gold import created, with the import's counts and notes."""
        if isinstance(result, GoldenSetImportResult):
            golden_set_id = result.golden_set_id
        version = self._model(
            GoldenSetVersionPublic,
            "GET",
            f"/golden-sets/{golden_set_id}/versions/{result.golden_set_version}",
        )
        return GoldenSetVersionRef(
            golden_set_id=version.golden_set_id,
            version=version.version,
            version_id=version.id,
            item_count=version.item_count,
            note=version.note,
            parent_id=version.parent_id,
            created_at=version.created_at,
            stored=result.stored,
            duplicates=result.duplicates,
            notes=tuple(result.notes),
        )

    def create_bakeoff(
        self,
        project_id: int,
        name: str,
        golden_set_version_id: int,
        instructions_version_id: int,
        vendor_ids: Sequence[int],
        **options: Any,
    ) -> BakeOffPublic:
        """Create a bake-off; ``options``: ranking_weights, constraints, production_volume, ..."""
        body = {
            "name": name,
            "project_id": project_id,
            "golden_set_version_id": golden_set_version_id,
            "instructions_version_id": instructions_version_id,
            "vendor_ids": list(vendor_ids),
            **options,
        }
        return self._model(BakeOffPublic, "POST", "/bakeoffs", json_body=body)

    # ------------------------------------------------------------------ labels

    def _upload(
        self,
        data: pd.DataFrame | str | Path,
        fmt: FileFormat | None,
        columns: Sequence[str],
    ) -> tuple[Iterator[bytes] | bytes, FileFormat]:
        if isinstance(data, pd.DataFrame):  # written out now: a bad frame fails before any call
            return b"".join(_jsonl_rows(data, columns)), "jsonl"
        path = Path(data)
        fmt = _file_format(path, fmt)
        return (iter([_zipped(path)]) if path.is_dir() else _file_chunks(path)), fmt

    def add_vendor_labels(
        self,
        bakeoff_id: int,
        vendor_id: int,
        labels: pd.DataFrame | str | Path,
        *,
        format: FormatName | None = None,
        idempotency_key: str | None = None,
        question: str | None = None,
    ) -> ImportResult:
        """Add a vendor's labels from a DataFrame or a file (one transaction, stored once).

        DataFrame columns: ``item_id``, ``label`` and optionally ``annotator_id``, ``score``,
        ``started_at``, ``completed_at``, ``cost``, ``instructions_version``, ``external_id``.
        A file may be in any format the server reads (detected from its content as the server
        detects it; a VOC or YOLO folder is sent as a zip); ``question`` names the Label
        Studio control (``from_name``), Labelbox question or SageMaker label attribute to read.
        """
        content: Iterator[bytes] | bytes
        fmt: str
        if isinstance(labels, pd.DataFrame):
            content, fmt = _jsonl_rows(labels, _LABEL_COLUMNS), "jsonl"
        else:
            path = Path(labels)
            fmt = format or detect_format(path)
            content = _zipped(path) if path.is_dir() else _file_chunks(path)
        params = {"format": fmt, "filename": _name_of(labels)}
        if question is not None:
            params["question"] = question
        return self._model(
            ImportResult,
            "POST",
            f"/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/import",
            params=params,
            content=content,
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )

    def export_vendor_labels(
        self, bakeoff_id: int, vendor_id: int, *, format: ExportFormat = "jsonl"
    ) -> bytes:
        """A vendor's labels of a bake-off as a file in ``format`` (``voc``/``yolo``: a zip)."""
        return self._request(
            "GET",
            f"/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/export",
            params={"format": format},
        ).content

    def vendor_labels(self, bakeoff_id: int, vendor_id: int) -> pd.DataFrame:
        """A vendor's labels as a DataFrame (columns as in :meth:`add_vendor_labels`)."""
        raw = self.export_vendor_labels(bakeoff_id, vendor_id, format="jsonl")
        rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
        return pd.DataFrame(rows, columns=[c for c in _LABEL_COLUMNS if any(c in r for r in rows)])

    def gold(self, golden_set_id: int, version: int) -> pd.DataFrame:
        """A golden-set version as a DataFrame: ``item_id``, ``label``, ``data``, ``metadata``."""
        raw = self._request(
            "GET",
            f"/golden-sets/{golden_set_id}/versions/{version}/export",
            params={"format": "jsonl"},
        ).content
        rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
        return pd.DataFrame(rows, columns=list(_GOLD_COLUMNS))

    # ------------------------------------------------------------------ results

    def results(self, bakeoff_id: int) -> BakeOffResults:
        """The bake-off's results as the typed model."""
        return self._model(BakeOffResults, "GET", f"/bakeoffs/{bakeoff_id}/results")

    def get_results(self, bakeoff_id: int) -> pd.DataFrame:
        """The bake-off's results, one row per vendor (index ``vendor``).

        Columns: ``vendor_id``, ``main_metric``, ``main_title``, ``ranking_metric`` and
        ``ranking_title`` (the ranked quantity: ``<main_metric>_all``, or for transcription
        ``word_accuracy_all``), ``main_value`` (its value), ``status`` (``not_enough_results`` below
        the coverage floor), ``coverage``, ``n_gold``, ``n_labelled``, ``n_labels``,
        latency and cost, and for every metric ``<name>``, ``<name>_low`` and
        ``<name>_high`` (its 95% interval): the numbers of ``bakeoff evaluate`` and the
        report, read from the same scores.
        """
        results = self.results(bakeoff_id)
        rows = []
        for v in results.vendors:
            row = v.model_dump(exclude={"metrics", "scores", "annotators"})
            row.update(v.metrics)
            if v.scores is not None:
                for name, e in v.scores.metrics.items():
                    row[name] = e.value
                    row[f"{name}_low"] = e.low
                    row[f"{name}_high"] = e.high
                for name, cost in (
                    ("cost_per_item", v.scores.cost_per_item),
                    ("cost_per_correct", v.scores.cost_per_correct),
                ):
                    if cost is not None:
                        row[name], row[f"{name}_low"], row[f"{name}_high"] = (
                            cost.value,
                            cost.low,
                            cost.high,
                        )
            rows.append(row)
        frame = pd.DataFrame(rows)
        return frame.set_index("vendor") if len(frame) else frame

    def get_annotator_results(self, bakeoff_id: int) -> pd.DataFrame:
        """Per vendor and annotator (index ``vendor``, ``annotator``): the engine's
        per-annotator scores, e.g. ``n_items``, ``agreement_with_gold`` and
        ``agreement_with_peers`` (vendors with fewer than two named annotators have no rows).
        """
        rows = [
            {"vendor": v.vendor, "annotator": a, **row}
            for v in self.results(bakeoff_id).vendors
            for a, row in (v.annotators or {}).items()
        ]
        frame = pd.DataFrame(rows, columns=["vendor", "annotator"] if not rows else None)
        return frame.set_index(["vendor", "annotator"])


def _name_of(data: pd.DataFrame | str | Path) -> str:
    """The file name sent with an upload (used in error messages)."""
    return "dataframe.jsonl" if isinstance(data, pd.DataFrame) else Path(data).name
