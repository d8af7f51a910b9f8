"""What the review page shows for a language item: a pair side by side, or transcript diffs.

Preference items show the prompt and both responses side by side with each source's choice
(gold first); transcript items show the gold text and, per candidate, the word-level diff of
its transcript against gold from the engine's alignment (:func:`metrics.transcription.align`,
after the engine's default normalisation), with the item's word error rate. The template only
lays these out; it computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from metrics.transcription import Normalization, align, normalize

__all__ = ["Choice", "LanguageView", "TranscriptDiff", "WordStep", "language_view"]


class Choice(BaseModel):
    """One source's answer to a pair."""

    name: str
    css: str
    choice: str | None
    picked: str | None = None
    agrees: bool | None = None


class WordStep(BaseModel):
    """One step of a transcript's alignment with gold."""

    op: Literal["equal", "sub", "del", "ins"]
    ref: str | None
    hyp: str | None


class TranscriptDiff(BaseModel):
    """A candidate's transcript against gold, word by word."""

    name: str
    css: str
    text: str | None
    steps: list[WordStep]
    wer: float | None
    errors: int


class LanguageView(BaseModel):
    """The language part of one item's review page."""

    kind: Literal["preference", "transcription"]
    prompt: str | None = None
    response_a: str | None = None
    response_b: str | None = None
    choices: list[Choice] = []
    gold_text: str | None = None
    diffs: list[TranscriptDiff] = []


def _picked(choice: str | None) -> str | None:
    return {"A": "response A", "B": "response B", "tie": "a tie"}.get(choice or "")


def _preference(data: Mapping[str, Any], sources: Sequence[Mapping[str, Any]]) -> LanguageView:
    gold = sources[0]["value"] if sources else None
    choices = []
    for k, src in enumerate(sources):
        value = src.get("value")
        choice = value if isinstance(value, str) else None
        choices.append(
            Choice(
                name=str(src["name"]),
                css=str(src["css"]),
                choice=choice,
                picked=_picked(choice),
                agrees=None if k == 0 or choice is None else choice == gold,
            )
        )
    text = {k: data.get(k) for k in ("prompt", "response_a", "response_b")}
    return LanguageView(
        kind="preference",
        prompt=text["prompt"] if isinstance(text["prompt"], str) else None,
        response_a=text["response_a"] if isinstance(text["response_a"], str) else None,
        response_b=text["response_b"] if isinstance(text["response_b"], str) else None,
        choices=choices,
    )


def _transcription(sources: Sequence[Mapping[str, Any]]) -> LanguageView:
    gold = sources[0].get("value") if sources else None
    gold_text = gold if isinstance(gold, str) else None
    reference = normalize(gold_text, Normalization()).split() if gold_text is not None else []
    diffs = []
    for src in sources[1:]:
        value = src.get("value")
        if not isinstance(value, str) or gold_text is None:
            diffs.append(
                TranscriptDiff(
                    name=str(src["name"]),
                    css=str(src["css"]),
                    text=value if isinstance(value, str) else None,
                    steps=[],
                    wer=None,
                    errors=0,
                )
            )
            continue
        steps = align(reference, normalize(value, Normalization()).split())
        errors = sum(step.op != "equal" for step in steps)
        diffs.append(
            TranscriptDiff(
                name=str(src["name"]),
                css=str(src["css"]),
                text=value,
                steps=[WordStep(op=s.op, ref=s.ref, hyp=s.hyp) for s in steps],
                wer=errors / len(reference) if reference else None,
                errors=errors,
            )
        )
    return LanguageView(kind="transcription", gold_text=gold_text, diffs=diffs)


def language_view(
    task_type: str, data: Mapping[str, Any], sources: Sequence[Mapping[str, Any]]
) -> LanguageView | None:
    """The language view of an item (``None`` for other task types).

    Parameters
    ----------
    task_type
        The project's task type.
    data
        The item as vendors saw it (``prompt``, ``response_a``, ``response_b`` for a pair).
    sources
        Gold first, then each candidate: mappings with ``name``, ``css`` and ``value``.
    """
    if task_type == "preference":
        return _preference(data, sources)
    if task_type == "transcription":
        return _transcription(sources)
    return None
