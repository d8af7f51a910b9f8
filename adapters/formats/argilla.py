"""Argilla records (``Record.to_dict``): a JSON array (``records.to_json``) or JSON Lines.

Argilla 2's export writes each record as::

    {"id": "item-1", "fields": {"prompt": "...", "response_a": "...", "response_b": "..."},
     "metadata": {"topic": "maths"},
     "suggestions": {"preference": {"value": "A", "score": 0.7, "agent": "judge-1"}},
     "responses": {"preference": [{"value": "B", "user_id": "0b6a..."}]},
     "vectors": {}, "_server_id": "3f1c..."}

Each response to the chosen *question* is one answer: ``annotator_id`` = its ``user_id``
(a response whose ``status`` is ``discarded`` or ``draft`` is not an answer and is left
out; note that the SDK's own ``Record.to_dict``/``records.to_json``, 2.8.0, writes no
response status, so such responses cannot be told apart there and are read as answers).
Suggestions are model answers: read only with ``include_suggestions`` (annotator
``agent``, with its ``score``). The item id is ``metadata[id_field]`` when present, else
the record ``id`` (Argilla's external id). Values by task:

============== ===============================================================
classification a ``LabelQuestion`` value (a string)
multilabel     a ``MultiLabelQuestion`` value (a list of strings)
preference     a label ``A``/``B``/``tie`` (or left/right/response_a/...), or a
               ``RankingQuestion`` value ``[{"value": "response_a", "rank": 1}, ...]``
               (equal ranks are a tie)
rating         ``RatingQuestion`` values (integers): ``{question: rating}`` per user over
               every question answered with integers, or over the one named
transcription  a ``TextQuestion`` value (text)
============== ===============================================================

With several questions in the file and no ``question`` named, the error lists them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from adapters.base import TaskType, VendorAnnotation
from adapters.formats import _json_safe
from adapters.formats._errors import FormatError
from adapters.formats._json_stream import ArrayReader, Source, open_source
from adapters.formats._language import (
    LanguageKind,
    LanguageRow,
    preference_value,
    rating_value,
    transcript_value,
)

__all__ = ["argilla_annotations", "iter_records", "question_names", "read_rows"]

ArgillaKind = Literal["classification", "multilabel", "preference", "rating", "transcription"]
_NOT_ANSWERS = frozenset({"discarded", "draft"})


def iter_records(source: Source, *, name: str | None = None) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(file name, place, record)`` from a JSON array or JSON Lines of records."""
    stream, default_name, owned = open_source(source)
    src = name or default_name
    try:
        head = stream.read(1 << 12)
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        rest = stream.read()
        blob = head + rest
        if start == b"[":
            import io

            for index, obj in ArrayReader(io.BytesIO(blob), src):
                yield src, f"[record {index}]", obj
            return
        for number, raw in enumerate(blob.split(b"\n"), start=1):
            if not raw.strip():
                continue
            yield src, f"line {number}", _json_safe.loads(raw, source=src, where=f"line {number}")
    finally:
        if owned:
            stream.close()


def _record(obj: Any, src: str, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("fields"), dict):
        raise FormatError(src, where, "an Argilla record is an object with 'fields'")
    for key in ("responses", "suggestions", "metadata"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            raise FormatError(src, f"{where}.{key}", "must be an object keyed by name")
    return obj


def question_names(source: Source, *, name: str | None = None) -> list[str]:
    """The questions answered (responses or suggestions) anywhere in the file, sorted."""
    names: set[str] = set()
    for src, where, obj in iter_records(source, name=name):
        rec = _record(obj, src, where)
        names.update((rec.get("responses") or {}).keys())
        names.update((rec.get("suggestions") or {}).keys())
    return sorted(names)


def _ranking(value: Any, src: str, where: str) -> str:
    if not isinstance(value, list) or len(value) != 2:
        raise FormatError(src, where, "a ranking of a pair has two entries")
    ranks: dict[str, float] = {}
    for k, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("rank"), int | float):
            raise FormatError(src, f"{where}[{k}]", "a ranking entry has a value and a rank")
        side = preference_value(entry.get("value"), source=src, where=f"{where}[{k}].value")
        ranks[side] = float(entry["rank"])
    if set(ranks) != {"A", "B"}:
        raise FormatError(src, where, f"the ranking must rank response A and B, got {value!r}")
    if ranks["A"] == ranks["B"]:
        return "tie"
    return "A" if ranks["A"] < ranks["B"] else "B"


def _value(
    value: Any,
    kind: ArgillaKind,
    src: str,
    where: str,
    scale: Mapping[str, int] | None,
) -> str | int | list[str]:
    if kind == "preference":
        if isinstance(value, list):
            return _ranking(value, src, where)
        return preference_value(value, source=src, where=where)
    if kind == "rating":
        return rating_value(value, source=src, where=where, scale=scale)
    if kind == "transcription":
        return transcript_value(value, source=src, where=where)
    if kind == "multilabel":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise FormatError(src, where, f"{value!r:.80} is not a list of labels")
        return list(dict.fromkeys(value))
    if not isinstance(value, str) or not value:
        raise FormatError(src, where, f"{value!r:.80} is not one label")
    return value


def _iter_answers(
    source: Source,
    *,
    kind: ArgillaKind,
    question: str | None,
    include_suggestions: bool,
    scale: Mapping[str, int] | None,
    id_field: str,
    name: str | None,
) -> Iterator[tuple[str, str | int | list[str], str | None, float | None]]:
    if question is None:
        names = question_names(source, name=name)
        if len(names) != 1:
            src = name or (Path(source).name if isinstance(source, str | os.PathLike) else "")
            raise FormatError(
                src or "<upload>",
                "",
                f"the records answer {len(names)} questions {names}: name the question to read"
                if names
                else "no record has a response or a suggestion",
            )
        question = names[0]
        if not isinstance(source, str | os.PathLike):
            source.seek(0)
    seen: set[str] = set()
    for src, where, obj in iter_records(source, name=name):
        rec = _record(obj, src, where)
        meta = rec.get("metadata") or {}
        ident = meta.get(id_field, rec.get("id"))
        if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
            raise FormatError(src, f"{where}.id", f"no item id (record id or metadata.{id_field})")
        item_id = str(ident)
        if item_id in seen:
            raise FormatError(src, f"{where}.id", f"duplicate item id {item_id!r}")
        seen.add(item_id)
        responses = (rec.get("responses") or {}).get(question) or []
        if not isinstance(responses, list):
            raise FormatError(src, f"{where}.responses.{question}", "must be a list of responses")
        for k, resp in enumerate(responses):
            rw = f"{where}.responses.{question}[{k}]"
            if not isinstance(resp, dict) or "value" not in resp:
                raise FormatError(src, rw, "a response is an object with a value")
            if str(resp.get("status", "submitted")) in _NOT_ANSWERS:
                continue
            user = resp.get("user_id")
            value = _value(resp["value"], kind, src, f"{rw}.value", scale)
            yield item_id, value, None if user is None else str(user), None
        suggestion = (rec.get("suggestions") or {}).get(question)
        if include_suggestions and suggestion is not None:
            sw = f"{where}.suggestions.{question}"
            if not isinstance(suggestion, dict) or "value" not in suggestion:
                raise FormatError(src, sw, "a suggestion is an object with a value")
            score = suggestion.get("score")
            agent = suggestion.get("agent")
            yield (
                item_id,
                _value(suggestion["value"], kind, src, f"{sw}.value", scale),
                None if agent is None else str(agent),
                float(score) if isinstance(score, int | float) else None,
            )


def _rating_questions(source: Source, name: str | None) -> list[str]:
    """The questions answered with integers (rating questions), in the order first seen."""
    found: dict[str, bool] = {}
    for src, where, obj in iter_records(source, name=name):
        rec = _record(obj, src, where)
        for q, responses in (rec.get("responses") or {}).items():
            for resp in responses if isinstance(responses, list) else []:
                value = resp.get("value") if isinstance(resp, dict) else None
                if isinstance(value, int) and not isinstance(value, bool):
                    found.setdefault(q, True)
    if not isinstance(source, str | os.PathLike):
        source.seek(0)
    return list(found)


def _iter_ratings(
    source: Source,
    *,
    question: str | None,
    include_suggestions: bool,
    scale: Mapping[str, int] | None,
    id_field: str,
    name: str | None,
) -> Iterator[tuple[str, dict[str, int], str | None]]:
    """Per record and user: ``{question: rating}`` over the rating questions (or the one
    named); suggestions per agent with ``include_suggestions``."""
    questions = [question] if question is not None else _rating_questions(source, name)
    if not questions:
        src = name or (Path(source).name if isinstance(source, str | os.PathLike) else "<upload>")
        raise FormatError(src, "", "no record answers a rating question (integer responses)")
    seen: set[str] = set()
    for src, where, obj in iter_records(source, name=name):
        rec = _record(obj, src, where)
        meta = rec.get("metadata") or {}
        ident = meta.get(id_field, rec.get("id"))
        if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
            raise FormatError(src, f"{where}.id", f"no item id (record id or metadata.{id_field})")
        item_id = str(ident)
        if item_id in seen:
            raise FormatError(src, f"{where}.id", f"duplicate item id {item_id!r}")
        seen.add(item_id)
        by_user: dict[str | None, dict[str, int]] = {}
        for q in questions:
            responses = (rec.get("responses") or {}).get(q) or []
            for k, resp in enumerate(responses if isinstance(responses, list) else []):
                rw = f"{where}.responses.{q}[{k}]"
                if not isinstance(resp, dict) or "value" not in resp:
                    raise FormatError(src, rw, "a response is an object with a value")
                if str(resp.get("status", "submitted")) in _NOT_ANSWERS:
                    continue
                user = None if resp.get("user_id") is None else str(resp["user_id"])
                value = rating_value(resp["value"], source=src, where=f"{rw}.value", scale=scale)
                by_user.setdefault(user, {})[q] = value
            suggestion = (rec.get("suggestions") or {}).get(q)
            if include_suggestions and isinstance(suggestion, dict) and "value" in suggestion:
                agent = suggestion.get("agent")
                value = rating_value(
                    suggestion["value"],
                    source=src,
                    where=f"{where}.suggestions.{q}.value",
                    scale=scale,
                )
                by_user.setdefault(None if agent is None else str(agent), {})[q] = value
        for user, ratings in by_user.items():
            yield item_id, ratings, user


def read_rows(
    source: Source,
    *,
    kind: LanguageKind,
    question: str | None = None,
    include_suggestions: bool = False,
    scale: Mapping[str, int] | None = None,
    id_field: str = "item_id",
    name: str | None = None,
) -> list[LanguageRow]:
    """Every answer to ``question`` as a plain label row (preference, rating, transcript).

    Raises
    ------
    FormatError
        A record without fields or id, a duplicate id, a value that does not read as
        ``kind``, or several questions and none named.
    """
    rows = []
    if kind == "rating":
        return [
            LanguageRow(item_id=item_id, label=ratings, annotator_id=who)
            for item_id, ratings, who in _iter_ratings(
                source,
                question=question,
                include_suggestions=include_suggestions,
                scale=scale,
                id_field=id_field,
                name=name,
            )
        ]
    for item_id, value, who, score in _iter_answers(
        source,
        kind=kind,
        question=question,
        include_suggestions=include_suggestions,
        scale=scale,
        id_field=id_field,
        name=name,
    ):
        if isinstance(value, list):  # pragma: no cover - multilabel is not a language kind
            raise TypeError("a language answer is one value")
        rows.append(LanguageRow(item_id=item_id, label=value, annotator_id=who, score=score))
    return rows


def argilla_annotations(
    source: Source,
    *,
    task_type: TaskType,
    question: str | None = None,
    include_suggestions: bool = False,
    id_field: str = "item_id",
) -> list[VendorAnnotation]:
    """Every answer to ``question`` as vendor annotations (classification, multilabel,
    preference, transcription; ratings as ``{question: rating}`` over every rating
    question, or the one named).

    Raises
    ------
    FormatError
        As :func:`read_rows`, and for a task type Argilla records do not carry here.
    """
    if task_type == "rating":
        return [
            VendorAnnotation(item_id=item_id, label=ratings, annotator_id=who)
            for item_id, ratings, who in _iter_ratings(
                source,
                question=question,
                include_suggestions=include_suggestions,
                scale=None,
                id_field=id_field,
                name=None,
            )
        ]
    if task_type not in ("classification", "multilabel", "preference", "transcription"):
        name = Path(source).name if isinstance(source, str | os.PathLike) else "<upload>"
        raise FormatError(
            name,
            "",
            f"Argilla records are read for classification, multilabel, preference, rating "
            f"and transcription, not {task_type}",
        )
    kind: ArgillaKind = task_type
    return [
        VendorAnnotation(item_id=item_id, label=str(value), annotator_id=who, score=score)
        if not isinstance(value, list)
        else VendorAnnotation(item_id=item_id, label=value, annotator_id=who, score=score)
        for item_id, value, who, score in _iter_answers(
            source,
            kind=kind,
            question=question,
            include_suggestions=include_suggestions,
            scale=None,
            id_field=id_field,
            name=None,
        )
    ]
