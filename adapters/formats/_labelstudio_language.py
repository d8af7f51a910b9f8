"""Label Studio regions of language tasks: Pairwise, Rating, Choices as ratings, TextArea.

============== ==================================================================
preference     ``pairwise`` (``value.selected``: ``left`` → A, ``right`` → B), or a
               ``choices`` region with one of A/B/tie (a tie has no Pairwise form)
rating         ``rating`` (``value.rating``), or ``choices`` with one choice read as
               a rating (``"4"``, or through a ``scale``)
transcription  ``textarea`` (``value.text``, a list of lines)
============== ==================================================================

A project rating several criteria has one control (``from_name``) per criterion: pass
``criterion`` to read one of them; with several and none chosen the error lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.formats._errors import FormatError
from adapters.formats._language import (
    LanguageKind,
    preference_value,
    rating_value,
    transcript_value,
)

__all__ = [
    "PAIRWISE_NAME",
    "TIE_NAME",
    "TRANSCRIPT_NAME",
    "language_label",
    "preference_config",
    "preference_results",
    "rating_config",
    "rating_criteria",
    "rating_results",
    "transcription_config",
    "transcription_results",
]

#: The Pairwise control and the tie checkbox of configs generated for preference projects.
PAIRWISE_NAME = "label"
TIE_NAME = "tie"
#: The TextArea control of configs generated for transcription projects.
TRANSCRIPT_NAME = "transcript"

_REGIONS: dict[LanguageKind, frozenset[str]] = {
    "preference": frozenset({"pairwise", "choices"}),
    "rating": frozenset({"rating", "choices"}),
    "transcription": frozenset({"textarea"}),
}
_SKIPPED = frozenset({"relation"})


def _one_answer(
    regions: list[tuple[str, dict[str, Any], str, str]],
    *,
    kind: LanguageKind,
    criterion: str | None,
    source: str,
    where: str,
) -> tuple[str, dict[str, Any], str]:
    names = sorted({name for _, _, name, _ in regions})
    if criterion is not None:
        regions = [r for r in regions if r[2] == criterion]
        if not regions:
            raise FormatError(
                source, where, f"no {kind} answer from control {criterion!r} (found: {names})"
            )
    elif kind == "rating" and len(names) > 1:
        raise FormatError(
            source,
            where,
            f"ratings from several controls {names}: name the criterion to read",
        )
    if not regions:
        raise FormatError(source, where, f"no {kind} answer in this annotation")
    if len(regions) > 1:
        if kind == "transcription":
            flat: list[Any] = []
            for r in regions:
                text = r[1].get("text")
                flat.extend(text if isinstance(text, list) else [text])
            return "textarea", {"text": flat}, regions[0][3]
        raise FormatError(
            source,
            where,
            f"{len(regions)} {kind} answers ({', '.join(r[0] for r in regions)}); "
            "one annotation gives one",
        )
    rtype, value, _, rw = regions[0]
    return rtype, value, rw


def language_label(
    results: Sequence[Any],
    *,
    kind: LanguageKind,
    source: str = "<label studio>",
    where: str = "result",
    criterion: str | None = None,
    scale: Mapping[str, int] | None = None,
) -> str | int:
    """One annotation's ``result`` list as a preference, a rating or a transcript.

    Raises
    ------
    FormatError
        A region of another kind, no answer, several answers, or a value that does not
        read as the kind (naming the region).
    """
    allowed = _REGIONS[kind]
    found: list[tuple[str, dict[str, Any], str, str]] = []
    for k, obj in enumerate(results):
        rw = f"{where}[{k}]"
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise FormatError(source, rw, "a region must be an object with a 'type'")
        rtype = obj["type"].lower()
        if rtype in _SKIPPED:
            continue
        if rtype not in allowed:
            raise FormatError(
                source,
                f"{rw}.type",
                f"region type {obj['type']!r} does not fit a {kind} task "
                f"(expected {' or '.join(sorted(allowed))})",
            )
        value = obj.get("value")
        if not isinstance(value, dict):
            raise FormatError(source, f"{rw}.value", "missing or not an object")
        found.append((rtype, value, str(obj.get("from_name", "")), rw))
    rtype, value, rw = _one_answer(
        found, kind=kind, criterion=criterion, source=source, where=where
    )
    vw = f"{rw}.value"
    if rtype == "pairwise":
        return preference_value(value.get("selected"), source=source, where=f"{vw}.selected")
    if rtype == "textarea":
        return transcript_value(value.get("text"), source=source, where=f"{vw}.text")
    if rtype == "rating":
        return rating_value(value.get("rating"), source=source, where=f"{vw}.rating", scale=scale)
    choices = value.get("choices")
    if not isinstance(choices, list) or len(choices) != 1:
        raise FormatError(source, f"{vw}.choices", f"expected exactly one choice, got {choices!r}")
    if kind == "preference":
        return preference_value(choices[0], source=source, where=f"{vw}.choices[0]")
    return rating_value(choices[0], source=source, where=f"{vw}.choices[0]", scale=scale)


def rating_criteria(
    results: Sequence[Any],
    *,
    source: str = "<label studio>",
    where: str = "result",
    criterion: str | None = None,
    scale: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """One annotation's ratings as ``{criterion: rating}``: every ``rating`` region, and
    every ``choices`` region read as a number, keyed by its control (``from_name``).

    Raises
    ------
    FormatError
        No rating, two ratings from one control, a region of another kind, or a choice
        that does not read as a number.
    """
    out: dict[str, int] = {}
    for k, obj in enumerate(results):
        rw = f"{where}[{k}]"
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise FormatError(source, rw, "a region must be an object with a 'type'")
        if obj["type"].lower() in _SKIPPED:
            continue
        name = str(obj.get("from_name") or "rating")
        if criterion is not None and name != criterion:
            continue
        rating = language_label([obj], kind="rating", source=source, where=rw, scale=scale)
        if name in out:
            raise FormatError(source, rw, f"two ratings for criterion {name!r}")
        out[name] = int(rating)
    if not out:
        wanted = f" from control {criterion!r}" if criterion is not None else ""
        raise FormatError(source, where, f"no rating{wanted} in this annotation")
    return out


def rating_results(label: Mapping[str, int], *, to_name: str) -> list[dict[str, Any]]:
    """Ratings as Label Studio ``rating`` regions, one per criterion (control)."""
    return [
        {"from_name": name, "to_name": to_name, "type": "rating", "value": {"rating": int(v)}}
        for name, v in label.items()
    ]


def transcription_results(text: str, *, to_name: str) -> list[dict[str, Any]]:
    """A transcript as Label Studio's TextArea region."""
    return [
        {
            "from_name": TRANSCRIPT_NAME,
            "to_name": to_name,
            "type": "textarea",
            "value": {"text": [text]},
        }
    ]


def rating_config(
    criteria: Sequence[str], scale: tuple[int, int], *, header: str | None = None
) -> str:
    """A rubric: the prompt and the response, and one control per criterion: a
    ``<Rating>`` for a 1..n scale, else ``<Choices>`` of the scale's numbers."""
    from xml.sax.saxutils import quoteattr

    low, high = scale
    lines = ["<View>"]
    if header:
        lines.append(f"  <Header value={quoteattr(header)}/>")
    lines += [
        '  <Text name="prompt" value="$prompt"/>',
        '  <Text name="response" value="$response"/>',
    ]
    for name in criteria:
        lines.append(f"  <Header value={quoteattr(name)}/>")
        if low == 1:
            lines.append(
                f'  <Rating name={quoteattr(name)} toName="response" maxRating="{high}" '
                'required="true"/>'
            )
        else:
            lines.append(
                f'  <Choices name={quoteattr(name)} toName="response" choice="single" '
                'showInline="true" required="true">'
            )
            lines += [f'    <Choice value="{v}"/>' for v in range(low, high + 1)]
            lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines)


def transcription_config(media_key: str, *, header: str | None = None) -> str:
    """The media (``<Audio>``, or ``<Image>`` for OCR) and one TextArea for the transcript."""
    from xml.sax.saxutils import quoteattr

    tag = "Image" if media_key == "image" else "Audio"
    lines = ["<View>"]
    if header:
        lines.append(f"  <Header value={quoteattr(header)}/>")
    lines += [
        f'  <{tag} name="{media_key}" value="${media_key}"/>',
        f'  <TextArea name="{TRANSCRIPT_NAME}" toName="{media_key}" rows="3" editable="true" '
        'maxSubmissions="1" required="true"/>',
        "</View>",
    ]
    return "\n".join(lines)


def preference_results(label: str, *, pair: tuple[str, str]) -> list[dict[str, Any]]:
    """A preference as the regions Label Studio writes: Pairwise for A/B, the tie choice.

    ``pair`` names the two Text tags compared (``toName`` of the Pairwise control).
    """
    if label in ("A", "B"):
        return [
            {
                "from_name": PAIRWISE_NAME,
                "to_name": ",".join(pair),
                "type": "pairwise",
                "value": {"selected": "left" if label == "A" else "right"},
            }
        ]
    if label == "tie":
        return [
            {
                "from_name": TIE_NAME,
                "to_name": "prompt",
                "type": "choices",
                "value": {"choices": ["tie"]},
            }
        ]
    raise ValueError(f"a preference is 'A', 'B' or 'tie', got {label!r}")


def preference_config(*, header: str | None = None) -> str:
    """The labeling config of a preference project: the prompt, both responses side by side,
    a Pairwise control over them, and a "tie" choice (Pairwise itself has no tie).

    The task data needs ``prompt``, ``response_a`` and ``response_b``.
    """
    from xml.sax.saxutils import quoteattr

    lines = ["<View>"]
    if header:
        lines.append(f"  <Header value={quoteattr(header)}/>")
    lines += [
        '  <Text name="prompt" value="$prompt"/>',
        '  <View style="display: grid; grid-template-columns: 1fr 1fr; column-gap: 1em">',
        '    <Text name="response_a" value="$response_a"/>',
        '    <Text name="response_b" value="$response_b"/>',
        "  </View>",
        f'  <Pairwise name="{PAIRWISE_NAME}" toName="response_a,response_b"/>',
        f'  <Choices name="{TIE_NAME}" toName="prompt" choice="single">',
        '    <Choice value="tie" hint="Neither response is better"/>',
        "  </Choices>",
        "</View>",
    ]
    return "\n".join(lines)
