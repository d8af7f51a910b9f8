"""Read label files into the scoring engine's inputs (for ``bakeoff evaluate``).

Gold and every system's labels, per task type: classification CSV (``item_id,label``,
or ``item_id,annotator_id,label`` for a crowd), multi-label CSV (classes joined by
``|``), span JSON Lines, COCO instances gold with COCO results per system; files in any other
format the one format layer reads go through :mod:`service.label_files_any`. Nothing is
scored here (:mod:`service.evaluation` does that, with :mod:`metrics.scoring`); every
problem with a file raises :class:`adapters.formats.FormatError` naming the file, the
row or object and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from adapters.formats import FormatError
from adapters.formats import csv as csv_format
from adapters.formats.registry import FormatName, detect_format
from metrics.scoring import TaskType

if TYPE_CHECKING:
    from adapters.formats.coco import CocoDataset
    from adapters.formats.coco_keypoints import KeypointDataset

__all__ = [
    "EvalTask",
    "LabelSource",
    "Inputs",
    "parse_label_source",
    "numeric_if_possible",
    "load_gold",
    "load_inputs",
]

EvalTask: TypeAlias = TaskType
PathLike: TypeAlias = str | os.PathLike[str]


class LabelSource(BaseModel):
    """One ``NAME=PATH`` argument: a system's name and its label file."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: str


@dataclass(frozen=True, eq=False)
class Inputs:
    """Gold and every system's labels in the engine's shapes.

    ``systems`` values are a Series indexed by item id or a crowd's answers table;
    ``files`` the label file name of each system (for messages); ``classes`` the
    vocabulary when the gold file declares one (COCO categories).
    """

    task: EvalTask
    gold_name: str
    gold: pd.Series[Any]
    systems: dict[str, pd.Series[Any] | pd.DataFrame]
    files: dict[str, str]
    classes: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    keypoint_sigmas: tuple[tuple[str, tuple[float, ...]], ...] = ()
    metadata: pd.DataFrame | None = None
    coco_image_ids: tuple[tuple[str, int], ...] = ()


# --------------------------------------------------------------------------- loading


def parse_label_source(spec: str) -> LabelSource:
    """Parse ``NAME=PATH`` (or a bare ``PATH``, named after the file's stem).

    Examples
    --------
    >>> parse_label_source("acme=labels/acme.csv").name
    'acme'
    >>> parse_label_source("labels/bolt.csv").name
    'bolt'
    """
    name, sep, path = spec.partition("=")
    if not sep:
        path, name = spec, Path(spec).stem
    name, path = name.strip(), path.strip()
    if not name or not path:
        raise ValueError(f"--labels {spec!r}: expected NAME=PATH, e.g. acme=acme.csv")
    return LabelSource(name=name, path=path)


def numeric_if_possible(series: Iterable[pd.Series[Any]]) -> list[pd.Series[Any]]:
    """Turn string labels into numbers when *every* label in every series is a number.

    Ordered (weighted-kappa) classes then sort as numbers, not as strings.
    """
    items = list(series)
    converted: list[pd.Series[Any]] = []
    for s in items:
        try:
            num = pd.to_numeric(s, errors="raise")
        except (ValueError, TypeError):
            return items
        if not np.isfinite(num.dropna().to_numpy(dtype=float)).all():
            return items  # "inf" / "1e999" are no numbers here: keep the labels as text
        converted.append(num)
    if all((np.mod(c.dropna().to_numpy(dtype=float), 1) == 0).all() for c in converted):
        converted = [c.astype("int64") if c.notna().all() else c for c in converted]
    return converted


def load_gold(path: PathLike) -> pd.Series[Any]:
    name = Path(path).name
    layout = csv_format.detect_layout(path, name=name)
    if layout != "labels":
        raise FormatError(name, "row 1", "gold must have one label per item: columns item_id,label")
    gold = csv_format.read_labels(path, name=name)
    if gold.empty:
        raise FormatError(name, "", "no gold items; add rows item_id,label after the header")
    return gold


def _check_sources(sources: Sequence[LabelSource]) -> None:
    if not sources:
        raise ValueError("give at least one --labels NAME=PATH")
    names = [s.name for s in sources]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"--labels names must be unique; repeated: {', '.join(dup)}")


def _index(ids: list[str]) -> pd.Index:
    return pd.Index(ids, name="task", dtype=object)


def _classification_labels(
    path: PathLike, known: set[str], gold_name: str
) -> pd.Series[Any] | pd.DataFrame:
    """``item_id,label``: a Series; ``item_id,annotator_id,label``: the answers table."""
    name = Path(path).name

    def check(item_id: str, row: int) -> None:
        if item_id not in known:
            raise FormatError(name, f"row {row}", f"item_id {item_id!r} is not in {gold_name}")

    if csv_format.detect_layout(path, name=name) == "labels":
        ids, values = [], []
        for r in csv_format.iter_labels(path, name=name):
            check(r.item_id, r.row)
            ids.append(r.item_id)
            values.append(r.label)
        return pd.Series(values, index=_index(ids), dtype=object)
    rows = []
    for a in csv_format.iter_annotations(path, name=name):
        check(a.item_id, a.row)
        rows.append((a.item_id, a.annotator_id, a.label))
    return pd.DataFrame(rows, columns=["task", "worker", "label"], dtype=object)


def _load_classification(gold_path: PathLike, sources: Sequence[LabelSource]) -> Inputs:
    gold_name = Path(gold_path).name
    gold = load_gold(gold_path)
    known = set(gold.index)
    loaded = {s.name: _classification_labels(s.path, known, gold_name) for s in sources}
    # Labels become numbers when every label in every file is one (ordinal classes sort).
    columns = [v if isinstance(v, pd.Series) else v["label"] for v in loaded.values()]
    series = numeric_if_possible([gold, *columns])
    systems: dict[str, pd.Series[Any] | pd.DataFrame] = {}
    for (name, value), converted in zip(loaded.items(), series[1:], strict=True):
        systems[name] = (
            converted if isinstance(value, pd.Series) else value.assign(label=converted.to_numpy())
        )
    return Inputs(
        task="classification",
        gold_name=gold_name,
        gold=series[0],
        systems=systems,
        files={s.name: Path(s.path).name for s in sources},
    )


def _read_multilabel_checked(
    path: PathLike, *, gold: pd.Series[Any] | None, gold_name: str
) -> pd.Series[Any]:
    name = Path(path).name
    known = None if gold is None else set(gold.index)
    ids: list[str] = []
    values: list[frozenset[str]] = []
    for r in csv_format.iter_multilabels(path, name=name):
        if known is not None and r.item_id not in known:
            raise FormatError(name, f"row {r.row}", f"item_id {r.item_id!r} is not in {gold_name}")
        ids.append(r.item_id)
        values.append(frozenset(r.labels))
    return pd.Series(values, index=_index(ids), dtype=object)


def _load_multilabel(gold_path: PathLike, sources: Sequence[LabelSource]) -> Inputs:
    gold_name = Path(gold_path).name
    gold = _read_multilabel_checked(gold_path, gold=None, gold_name=gold_name)
    if gold.empty:
        raise FormatError(gold_name, "", "no gold items; add rows item_id,label after the header")
    return Inputs(
        task="multilabel",
        gold_name=gold_name,
        gold=gold,
        systems={
            s.name: _read_multilabel_checked(s.path, gold=gold, gold_name=gold_name)
            for s in sources
        },
        files={s.name: Path(s.path).name for s in sources},
    )


def _load_spans(gold_path: PathLike, sources: Sequence[LabelSource]) -> Inputs:
    from adapters.formats.jsonl import iter_annotations, iter_gold

    gold_name = Path(gold_path).name
    gold = {
        rec.item_id: list(rec.label)
        for rec in iter_gold(gold_path, task_type="spans", name=gold_name)
    }
    if not gold:
        raise FormatError(gold_name, "", "no gold items")
    systems: dict[str, pd.Series[Any] | pd.DataFrame] = {}
    for src in sources:
        name = Path(src.path).name
        answers: dict[str, list[Any]] = {}
        for i, ann in enumerate(iter_annotations(src.path, task_type="spans", name=name), 1):
            if ann.item_id not in gold:
                raise FormatError(
                    name, f"record {i}", f"item_id {ann.item_id!r} is not in {gold_name}"
                )
            if ann.item_id in answers:
                raise FormatError(name, f"record {i}", f"second answer for item_id {ann.item_id!r}")
            answers[ann.item_id] = list(ann.label)
        systems[src.name] = pd.Series(answers, dtype=object)
    return Inputs(
        task="spans",
        gold_name=gold_name,
        gold=pd.Series(gold, dtype=object),
        systems=systems,
        files={s.name: Path(s.path).name for s in sources},
    )


def _coco_image_ids(dataset: CocoDataset | None) -> tuple[tuple[str, int], ...]:
    """(item, COCO image id) of a COCO gold file's images, keyed as its reader keys them."""
    if dataset is None:
        return ()
    by_name = all(im.file_name for im in dataset.images)
    return tuple(((im.file_name if by_name else str(im.id)), im.id) for im in dataset.images)


def _load_instances(
    gold_path: PathLike, sources: Sequence[LabelSource], task: Literal["detection", "segmentation"]
) -> Inputs:
    """COCO instances gold and COCO results per system, as objects per image.

    A results file answers for every gold image (an image without results: "nothing
    here"), as COCO evaluation reads it.
    """
    from adapters.formats.coco import read_coco_dataset, read_coco_results

    segm = task == "segmentation"
    gold = read_coco_dataset(gold_path, name=Path(gold_path).name)
    if segm:
        gold.require_masks()
    rles = gold.rles if segm else None
    names = {c.id: c.name for c in gold.categories}
    keys = {im.id: str(im.id) for im in gold.images}
    objects: dict[str, list[dict[str, Any]]] = {k: [] for k in keys.values()}
    for i in range(len(gold.ann_ids)):
        obj: dict[str, Any] = {
            "category": names[int(gold.category_ids[i])],
            "bbox": [float(v) for v in gold.boxes[i]],
            "area": float(gold.areas[i]),
            "iscrowd": bool(gold.iscrowd[i]),
            "id": int(gold.ann_ids[i]),
        }
        if rles is not None:
            obj["segmentation"] = rles[i]
        objects[keys[int(gold.image_ids[i])]].append(obj)
    systems: dict[str, pd.Series[Any] | pd.DataFrame] = {}
    for src in sources:
        results = read_coco_results(src.path, gold, name=Path(src.path).name)
        if segm and results.rles is None:
            raise FormatError(
                results.source, "", "segmentation results need a segmentation on every element"
            )
        found: dict[str, list[dict[str, Any]]] = {k: [] for k in keys.values()}
        for i in range(len(results.image_ids)):
            det: dict[str, Any] = {
                "category": names[int(results.category_ids[i])],
                "bbox": [float(v) for v in results.boxes[i]],
                # COCO.loadRes' area: a mask result's is its box's when the file has boxes
                "area": float(results.areas[i]),
            }
            if results.scores is not None:
                det["score"] = float(results.scores[i])
            if segm and results.rles is not None:
                det["segmentation"] = results.rles[i]
            found[keys[int(results.image_ids[i])]].append(det)
        systems[src.name] = pd.Series(found, dtype=object)
    return Inputs(
        task=task,
        gold_name=gold.source,
        gold=pd.Series(objects, dtype=object),
        systems=systems,
        coco_image_ids=tuple((key, image_id) for image_id, key in keys.items()),
        files={s.name: Path(s.path).name for s in sources},
        classes=tuple(c.name for c in gold.categories),
    )


def _labelstudio_keypoint_gold(
    gold_path: PathLike, label_config: PathLike | None, question: str | None
) -> KeypointDataset:
    """Label Studio keypoint gold, in the keypoint order its labeling config gives."""
    from adapters.base import Keypoints
    from adapters.formats import labelstudio as ls_format
    from adapters.formats.coco_keypoints import KeypointCategory, KeypointDataset

    name = Path(gold_path).name
    if label_config is None:
        raise FormatError(
            name,
            "",
            "Label Studio keypoint gold has no keypoint order: pass --label-config with the "
            "project's labeling config (its <KeyPointLabels> list the keypoints in order)",
        )
    config = Path(label_config)
    skeletons = ls_format.skeletons_from_config(
        config.read_text(encoding="utf-8"), source=config.name, question=question
    )
    poses = {
        r.item_id: tuple(p for p in r.label if isinstance(p, Keypoints))
        for r in ls_format.iter_gold(
            gold_path, task_type="keypoints", name=name, question=question, skeletons=skeletons
        )
        if isinstance(r.label, list)
    }
    return KeypointDataset(
        source=name,
        image_keys={},  # a results array names images by COCO id: not with this gold
        categories=tuple(
            KeypointCategory(id=i, name=c, keypoints=k)
            for i, (c, k) in enumerate(skeletons.items(), 1)
        ),
        poses=poses,
    )


def _jsonl_keypoint_gold(gold_path: PathLike) -> KeypointDataset:
    """Bakeoff JSON Lines keypoint gold (as ``bakeoff import gold`` reads it): images keyed
    ``1..n`` in file order (or by a row's ``data.coco_id``), as the service keys them for a
    results array; a category's keypoints are named ``k1..kK`` (JSON Lines names none)."""
    from adapters.base import Keypoints
    from adapters.formats.coco_keypoints import KeypointCategory, KeypointDataset
    from adapters.formats.registry import read_gold_file

    name = Path(gold_path).name
    read = read_gold_file(gold_path, task_type="keypoints", format="jsonl")
    poses: dict[str, tuple[Keypoints, ...]] = {}
    keys: dict[int, str] = {}
    sizes: dict[str, int] = {}
    for n, record in enumerate(read.records, start=1):
        label = record.label if isinstance(record.label, list) else []
        poses[record.item_id] = tuple(p for p in label if isinstance(p, Keypoints))
        coco_id = (record.data or {}).get("coco_id")
        keys[coco_id if isinstance(coco_id, int) and coco_id not in keys else n] = record.item_id
        for pose in poses[record.item_id]:
            k = sizes.setdefault(pose.category, len(pose.points))
            if k != len(pose.points):
                raise FormatError(
                    name,
                    f"item {record.item_id!r}",
                    f"category {pose.category!r} has poses of {k} and of {len(pose.points)} "
                    "keypoints",
                )
    return KeypointDataset(
        source=name,
        image_keys=keys,
        categories=tuple(
            KeypointCategory(id=i, name=c, keypoints=tuple(f"k{j}" for j in range(1, k + 1)))
            for i, (c, k) in enumerate(sizes.items(), 1)
        ),
        poses=poses,
        notes=read.notes,
    )


def _load_keypoints(
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    question: str | None = None,
    label_config: PathLike | None = None,
) -> Inputs:
    """COCO keypoints gold, or Label Studio gold in ``label_config``'s keypoint order; per
    system COCO keypoint results or a Label Studio export (``KeyPointLabels``, keypoint
    names in the gold's order), as poses per image."""
    from adapters.formats.coco_keypoints import read_keypoint_dataset, read_keypoint_results

    gold_format = _detected(gold_path)
    if gold_format == "labelstudio":
        gold = _labelstudio_keypoint_gold(gold_path, label_config, question)
    elif gold_format == "jsonl":
        gold = _jsonl_keypoint_gold(gold_path)
    else:
        gold = read_keypoint_dataset(gold_path, name=Path(gold_path).name)
    poses = {
        key: [p.model_dump(mode="json", exclude_none=True) for p in value]
        for key, value in gold.poses.items()
    }
    systems: dict[str, pd.Series[Any] | pd.DataFrame] = {}
    notes: list[str] = list(gold.notes)
    for src in sources:
        # Label Studio, a tool's full COCO keypoints export and Bakeoff JSON Lines: read as
        # bakeoff import reads them (several annotators become the crowd's answers table)
        fmt = _POSE_FORMATS.get(_detected(src.path) or "")
        if fmt is not None:
            systems[src.name], read_notes = _registry_poses(src, gold, set(poses), question, fmt)
            notes += [f"{src.name}: {n}" for n in read_notes]
            continue
        answers = read_keypoint_results(src.path, gold, name=Path(src.path).name)
        found: dict[str, list[dict[str, Any]]] = {
            a.item_id: [
                p.model_dump(mode="json", exclude_none=True)
                for p in a.label
                if isinstance(p, BaseModel)
            ]
            for a in answers
        }
        systems[src.name] = pd.Series(found, dtype=object)
    return Inputs(
        task="keypoints",
        gold_name=gold.source,
        gold=pd.Series(poses, dtype=object),
        systems=systems,
        files={s.name: Path(s.path).name for s in sources},
        classes=tuple(c.name for c in gold.categories if c.keypoints),
        notes=tuple(notes),
        keypoint_sigmas=tuple((c.name, c.sigmas) for c in gold.categories if c.sigmas),
    )


def _language_value(task: EvalTask, text: str, *, name: str, where: str) -> Any:
    """A CSV cell as a rating (``4`` / ``help=4;fact=5``) or a transcript (as written)."""
    if task == "transcription":
        return text
    try:
        return csv_format.parse_rating_cell(text)
    except ValueError as exc:
        raise FormatError(name, where, str(exc)) from None


def _is_jsonl(path: PathLike) -> bool:
    return Path(path).suffix.lower() in (".jsonl", ".ndjson", ".json")


def _language_labels(
    task: EvalTask,
    path: PathLike,
    known: set[str],
    gold_name: str,
    question: str | None = None,
) -> pd.Series[Any] | pd.DataFrame:
    """One system's ratings/transcripts (JSONL, CSV, or a Label Studio export or Argilla
    records through the one format layer); several annotators: the table."""
    from adapters.formats.jsonl import iter_annotations

    name = Path(path).name
    rows: list[tuple[str, str, Any, str]] = []
    detected = _detected(path)
    if detected in ("labelstudio", "argilla"):
        from adapters.formats.registry import read_label_file

        fmt: FormatName = "labelstudio" if detected == "labelstudio" else "argilla"
        read = read_label_file(path, task_type=task, format=fmt, question=question)
        for i, ann in enumerate(read.annotations):
            rows.append((ann.item_id, ann.annotator_id or "", ann.label, f"answer {i}"))
    elif _is_jsonl(path):
        for i, ann in enumerate(iter_annotations(path, task_type=task, name=name), 1):
            rows.append((ann.item_id, ann.annotator_id or "", ann.label, f"line {i}"))
    elif csv_format.detect_layout(path, name=name) == "labels":
        for r in csv_format.iter_labels(path, name=name):
            where = f"row {r.row}"
            rows.append(
                (r.item_id, "", _language_value(task, r.label, name=name, where=where), where)
            )
    else:
        for a in csv_format.iter_annotations(path, name=name):
            where = f"row {a.row}"
            value = _language_value(task, a.label, name=name, where=where)
            rows.append((a.item_id, a.annotator_id, value, where))
    for item_id, _, _, where in rows:
        if item_id not in known:
            raise FormatError(name, where, f"item_id {item_id!r} is not in {gold_name}")
    if any(worker for _, worker, _, _ in rows):
        return pd.DataFrame(
            [(i, w, v) for i, w, v, _ in rows], columns=["task", "worker", "label"], dtype=object
        )
    ids = [i for i, _, _, _ in rows]
    if len(set(ids)) != len(ids):
        dupe = next(i for i in ids if ids.count(i) > 1)
        raise FormatError(name, "", f"second answer for item_id {dupe!r} without annotator_id")
    return pd.Series([v for _, _, v, _ in rows], index=_index(ids), dtype=object)


def _load_language(
    task: EvalTask,
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    question: str | None = None,
) -> Inputs:
    """Rating or transcription gold (JSON Lines, CSV or a Label Studio export, as ``bakeoff
    import gold`` reads them) and labels.

    Gold metadata (``scale_min``/``scale_max``, ``speaker``...) reaches the engine.
    """
    from adapters.formats.jsonl import iter_gold

    gold_name = Path(gold_path).name
    values: dict[str, Any] = {}
    metadata: dict[str, dict[str, Any]] = {}
    if _detected(gold_path) == "labelstudio":  # one (or the ground-truth) annotation a task
        from adapters.formats.registry import read_gold_file

        read = read_gold_file(gold_path, task_type=task, format="labelstudio", question=question)
        for rec in read.records:
            values[rec.item_id], metadata[rec.item_id] = rec.label, dict(rec.metadata)
    elif _is_jsonl(gold_path):
        for rec in iter_gold(gold_path, task_type=task, name=gold_name):
            values[rec.item_id], metadata[rec.item_id] = rec.label, dict(rec.metadata)
    else:
        for g in csv_format.iter_gold(gold_path, name=gold_name):
            where = f"row {g.row}"
            values[g.item_id] = _language_value(task, g.label, name=gold_name, where=where)
            metadata[g.item_id] = dict(g.metadata)
    if not values:
        raise FormatError(gold_name, "", "no gold items")
    known = set(values)
    meta = pd.DataFrame.from_dict(metadata, orient="index").reindex(list(values))
    return Inputs(
        task=task,
        gold_name=gold_name,
        gold=pd.Series(values, dtype=object),
        systems={
            s.name: _language_labels(task, s.path, known, gold_name, question) for s in sources
        },
        files={s.name: Path(s.path).name for s in sources},
        metadata=meta if len(meta.columns) else None,
    )


def _detected(path: PathLike) -> str | None:
    try:
        return detect_format(path)
    except (FormatError, OSError):
        return None


_POSE_FORMATS: dict[str, Literal["labelstudio", "coco", "jsonl"]] = {
    "labelstudio": "labelstudio",
    "coco": "coco",
    "jsonl": "jsonl",
}


def _registry_poses(
    src: LabelSource,
    gold: Any,
    items: set[str],
    question: str | None,
    fmt: Literal["labelstudio", "coco", "jsonl"],
) -> tuple[pd.Series[Any] | pd.DataFrame, tuple[str, ...]]:
    """Keypoint labels the format layer reads (a Label Studio export, a COCO keypoints
    instances file, JSON Lines): one answer per image, or the crowd's answers table; with the
    reader's notes."""
    from adapters.formats.registry import GoldContext, read_label_file

    read = read_label_file(
        src.path,
        task_type="keypoints",
        format=fmt,
        gold=GoldContext(keypoints=gold),
        question=question,
    )
    unknown = sorted({a.item_id for a in read.annotations} - items)
    if unknown:
        raise FormatError(Path(src.path).name, "", f"item(s) {unknown[:5]} are not in the gold")
    rows = [
        (
            a.item_id,
            a.annotator_id or f"answer-{k}",
            [
                p.model_dump(mode="json", exclude_none=True)
                for p in a.label
                if isinstance(p, BaseModel)
            ],
        )
        for k, a in enumerate(read.annotations)
    ]
    if len({r[0] for r in rows}) < len(rows):
        crowd = pd.DataFrame(rows, columns=["task", "worker", "label"], dtype=object)
        return crowd, read.notes
    return pd.Series({r[0]: r[2] for r in rows}, dtype=object), read.notes


def load_inputs(
    task: EvalTask,
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    question: str | None = None,
    label_config: PathLike | None = None,
) -> Inputs:
    """Read the gold file and every system's labels for ``task``.

    ``question`` names the control to read in Label Studio files (``from_name``), or the
    Labelbox question / SageMaker label attribute, where a file answers several.
    ``label_config``: a Label Studio labeling config (XML) whose ``<KeyPointLabels>`` give
    the keypoint order of Label Studio keypoint gold.

    Raises
    ------
    FormatError
        On any problem with a file (one line: file, row, what is wrong).
    ValueError
        If two sources share a name or none is given.
    """
    _check_sources(sources)
    if task == "rating" or task == "transcription":
        return _load_language(task, gold_path, sources, question)
    if task == "keypoints":  # COCO or Label Studio keypoints gold; results or LS labels
        return _load_keypoints(gold_path, sources, question=question, label_config=label_config)
    formats = _formats(task, gold_path, sources)
    if formats is not None:
        from service.label_files_any import load_any_inputs

        gold_format, label_formats = formats
        gold_file, gold, systems, notes = load_any_inputs(
            task,
            gold_path,
            [(s.name, s.path) for s in sources],
            gold_format=gold_format,
            label_formats=label_formats,
            question=question,
        )
        classes = tuple(c.name for c in gold_file.coco.categories) if gold_file.coco else None
        return Inputs(
            task=task,
            gold_name=Path(gold_path).name,
            gold=gold,
            systems=systems,
            files={s.name: Path(s.path).name for s in sources},
            classes=classes,
            notes=notes,
            coco_image_ids=_coco_image_ids(gold_file.coco),
        )
    if task == "classification":
        return _load_classification(gold_path, sources)
    if task == "multilabel":
        return _load_multilabel(gold_path, sources)
    if task == "spans":
        return _load_spans(gold_path, sources)
    if task == "preference":  # CSV item_id,label with A/B/tie (the engine checks values)
        return replace(_load_classification(gold_path, sources), task="preference")
    return _load_instances(gold_path, sources, task)


# Each task type's own files, read by the loaders above; any other format goes through the
# one format layer (service.label_files_any).
_NATIVE: dict[str, tuple[str, str]] = {
    "classification": ("csv", "csv"),
    "multilabel": ("csv", "csv"),
    "spans": ("jsonl", "jsonl"),
    "detection": ("coco", "coco_results"),
    "segmentation": ("coco", "coco_results"),
    "keypoints": ("coco", "coco_results"),
    "preference": ("csv", "csv"),
}


def _formats(
    task: EvalTask, gold_path: PathLike, sources: Sequence[LabelSource]
) -> tuple[FormatName, dict[str, FormatName]] | None:
    """The detected formats when any file is not its task type's native one, else ``None``.

    A file no format fits is left to the native loader, whose error names its problem.
    """
    native_gold, native_labels = _NATIVE.get(task, ("", ""))
    try:
        gold_format = detect_format(gold_path)
        label_formats = {s.name: detect_format(s.path) for s in sources}
    except (FormatError, OSError):
        return None
    if gold_format == native_gold and all(f == native_labels for f in label_formats.values()):
        return None
    return gold_format, label_formats
