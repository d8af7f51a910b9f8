"""The checks every answer passes before it is stored, shared by bake-offs and deliveries.

:func:`service.domain.vendor_labels.add_vendor_labels` (a bake-off's candidate labels) and
:func:`service.domain.delivery_labels.add_delivery_labels` (a delivery's production labels)
store answers under the same one-answer rule (docs/vendor-labels.md). The steps they share
live here, once:

* :func:`answer_fields`: the fields of any record type (adapter results, API bodies, the CSV
  reader's light rows), with the place to name in errors (:attr:`AnswerFields.where`);
* :func:`normalized_text`: the label checked against the task type and ontology, as the JSON
  text that is stored and compared;
* :func:`check_amounts`: score and cost finite (and, where the door says so, a cost not
  negative);
* :func:`admit_answer`: the one-answer rule in memory (new, duplicate, re-sent, or a 409);
* :func:`check_resent`: a re-sent answer against the stored one (409 when the label differs);
* :func:`answer_conflict`: the 409 ``answer_conflict`` both doors raise, in the same words.

What differs stays with each door: where items come from (a pinned golden-set version or the
delivery's items), times against the task's sending, pair unswapping and instruction versions
(bake-offs only), and the table written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, MutableMapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

from adapters.base import TaskType, VendorAnnotation
from adapters.formats.csv import LabelRow
from service.domain.answer_geometry import same_geometry
from service.domain.errors import Conflict, Invalid
from service.domain.labels import check_finite, normalize_value
from service.models import VendorLabelCreate

__all__ = [
    "AnswerFields",
    "answer_fields",
    "normalized",
    "normalized_text",
    "check_amounts",
    "same_answer",
    "answer_conflict",
    "Admission",
    "admit_answer",
    "check_resent",
]


class AnswerFields(NamedTuple):
    """One record's fields, whatever its type; ``where`` names it in errors."""

    key: str
    value: Any
    annotator: str | None
    score: float | None
    started: datetime | None
    completed: datetime | None
    cost: float | None
    instructions_version: int | None
    external_id: str | None
    where: str


def answer_fields(record: Any, number: int) -> AnswerFields:
    """The fields of record ``number`` (1-based): a ``LabelIn``-like tuple (``item_key``,
    ``value``, ... , ``row``), a CSV :class:`~adapters.formats.csv.LabelRow`, an adapter's
    :class:`~adapters.base.VendorAnnotation` or an API :class:`~service.models.VendorLabelCreate`.
    """
    if isinstance(record, LabelRow):
        return AnswerFields(
            record.item_id,
            record.label,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            _where(record.row, number),
        )
    if isinstance(record, VendorAnnotation):
        return AnswerFields(
            record.item_id,
            record.label,
            record.annotator_id,
            record.score,
            record.started_at,
            record.completed_at,
            record.cost,
            record.instructions_version,
            record.external_id,
            _where(None, number),
        )
    if isinstance(record, VendorLabelCreate):
        return AnswerFields(
            record.item_key,
            record.value,
            record.annotator_id,
            record.score,
            record.started_at,
            record.completed_at,
            record.cost,
            record.instructions_version,
            record.external_id,
            _where(None, number),
        )
    # LabelIn (service.domain.vendor_labels), a light NamedTuple
    return AnswerFields(
        record.item_key,
        record.value,
        record.annotator_id,
        record.score,
        record.started_at,
        record.completed_at,
        record.cost,
        record.instructions_version,
        record.external_id,
        _where(record.row, number),
    )


def _where(row: int | None, number: int) -> str:
    return f"row {row}" if row is not None else f"record {number}"


def normalized_text(
    value: Any, *, source: str, where: str, task_type: TaskType, classes: frozenset[str]
) -> str:
    """The label checked against the task type and ontology, as its stored JSON text.

    Raises
    ------
    Invalid
        The value's shape or class is wrong; the message starts ``<source>: <where>:``.
    """
    return json.dumps(
        normalized(value, source=source, where=where, task_type=task_type, classes=classes)
    )


def normalized(
    value: Any, *, source: str, where: str, task_type: TaskType, classes: frozenset[str]
) -> Any:
    """:func:`normalized_text` before the JSON (for doors that transform it further)."""
    try:
        return normalize_value(
            value, task_type=task_type, classes=classes, where=("body", where, "label")
        )
    except Invalid as exc:
        raise Invalid(f"{source}: {where}: {exc.message}", location=exc.location) from exc


def check_amounts(
    score: float | None,
    cost: float | None,
    *,
    source: str,
    where: str,
    refuse_negative_cost: bool = False,
) -> None:
    """Score and cost are finite numbers; with ``refuse_negative_cost``, a cost is >= 0."""
    if score is not None:
        check_finite(score, ("body", where, "score"))
    if cost is not None:
        check_finite(cost, ("body", where, "cost"))
        if refuse_negative_cost and cost < 0:
            raise Invalid(
                f"{source}: {where}: cost {cost} is negative", location=("body", where, "cost")
            )


def same_answer(a: Any, b: Any, *, task_type: TaskType, tolerance_px: float = 0.0) -> bool:
    """Whether two stored-form label values are the same answer (multilabel: as sets;
    boxes, masks and poses: geometry within what the file format carries, see
    :mod:`service.domain.answer_geometry`)."""
    if task_type == "multilabel" and isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    if task_type in ("detection", "segmentation", "keypoints"):
        return same_geometry(a, b, tolerance_px=tolerance_px)
    return bool(a == b)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def answer_conflict(
    source: str, where: str, item: str, annotator: str | None, *, stored: Any = None
) -> Conflict:
    """409 ``answer_conflict``: another label for an answered (item, annotator)."""
    who = f"annotator {annotator!r}" if annotator else "no annotator"
    against = (
        f"a different label is already stored ({_short(stored)})"
        if stored is not None
        else "it is answered twice in this request with different labels"
    )
    return Conflict(
        f"{source}: {where}: item {item!r}, {who}: {against}; a vendor gives one answer per "
        "item and annotator and a stored answer is never replaced",
        code="answer_conflict",
    )


Admission = Literal["new", "duplicate", "resent", "conflict"]


def admit_answer(
    seen: MutableMapping[Any, str | None],
    key: Hashable,
    text: str,
    *,
    task_type: TaskType,
    tolerance_px: float = 0.0,
) -> Admission:
    """The one-answer rule for one answer.

    ``seen`` maps answered keys to ``None`` (stored: its label is read only if sent again)
    or to the JSON text sent earlier in this call. Returns ``new`` (now in ``seen``: store
    it), ``duplicate`` (the same label sent twice in this call), ``resent`` (a stored answer
    sent again: the caller queues it for :func:`check_resent`) or ``conflict`` (another label
    earlier in this call: the caller raises :func:`answer_conflict`).
    """
    if key in seen:
        before = seen[key]
        if before is None:
            return "resent"
        if before != text and not same_answer(
            json.loads(before), json.loads(text), task_type=task_type, tolerance_px=tolerance_px
        ):
            return "conflict"
        return "duplicate"
    seen[key] = text
    return "new"


def check_resent(
    stored: Iterable[tuple[Any, Any]],
    wanted: dict[Any, tuple[str, str]],
    *,
    task_type: TaskType,
    conflict: Callable[[str, Any, Any], Conflict],
    tolerance_px: float = 0.0,
) -> None:
    """Refuse a re-sent answer whose label differs from the stored one.

    ``stored`` yields ``(key, stored value)``; ``wanted`` maps keys to ``(sent JSON text,
    where)``; ``conflict(where, key, stored value)`` builds the 409.
    """
    for key, value in stored:
        sent = wanted.get(key)
        if sent is not None and not same_answer(
            json.loads(sent[0]), value, task_type=task_type, tolerance_px=tolerance_px
        ):
            raise conflict(sent[1], key, value)
