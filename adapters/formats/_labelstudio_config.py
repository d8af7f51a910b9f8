"""Label Studio labeling configs (XML) generated from a task type and ontology."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import quoteattr

from adapters.base import (
    Ontology,
    TaskType,
)
from adapters.formats._labelstudio_language import (
    preference_config,
    rating_config,
    transcription_config,
)
from adapters.formats._labelstudio_regions import BRUSH_NAME, FROM_NAME

__all__ = ["labeling_config", "data_key_for"]


def data_key_for(task_type: TaskType, sample: Mapping[str, Any]) -> str:
    """The ``data`` key the labeling config shows: ``image`` or ``text`` (or the first string)."""
    if task_type == "preference":
        return "prompt"
    if task_type == "rating":
        return "response"
    if task_type == "transcription":
        return "image" if "image" in sample and "audio" not in sample else "audio"
    preferred = ("text",) if task_type == "spans" else ("image", "text")
    for key in preferred:
        if key in sample:
            return key
    if task_type in ("detection", "segmentation"):
        return "image"
    for key, value in sample.items():
        if isinstance(value, str) and key != "item_id":
            return key
    return "text" if task_type == "spans" else "image"


def labeling_config(
    task_type: TaskType,
    ontology: Ontology,
    *,
    data_key: str | None = None,
    header: str | None = None,
) -> str:
    """Generate a Label Studio labeling config (XML) for a task type and ontology.

    ============== =======================================================
    classification ``<Choices choice="single" required="true">``
    multilabel     ``<Choices choice="multiple">``
    detection      ``<RectangleLabels>`` on an ``<Image>``
    segmentation   ``<PolygonLabels>`` and ``<BrushLabels>`` on an ``<Image>``
    spans          ``<Labels>`` on a ``<Text>``
    preference     the prompt, ``<Pairwise>`` over the two responses side by
                   side, and a "tie" ``<Choices>`` (the classes are A/B/tie)
    rating         prompt and response, one ``<Rating>`` per criterion (the
                   classes) on the ontology's ``rating_scale`` (``<Choices>`` of
                   its numbers when it does not start at 1)
    transcription  the ``<Audio>`` (or ``<Image>``) and a ``<TextArea>``
    ============== =======================================================

    Parameters
    ----------
    task_type
        The project's task type.
    ontology
        Its classes (names become ``<Choice>``/``<Label>`` values; descriptions hints).
    data_key
        The task ``data`` key to show (default ``image``, or ``text`` for spans).
    header
        Optional line shown above the controls.

    Returns
    -------
    str
        The XML config.

    Examples
    --------
    >>> from adapters.base import Ontology, OntologyClass
    >>> onto = Ontology(classes=(OntologyClass(name="cat"), OntologyClass(name="dog")))
    >>> print(labeling_config("detection", onto))  # doctest: +NORMALIZE_WHITESPACE
    <View>
      <Image name="image" value="$image"/>
      <RectangleLabels name="label" toName="image">
        <Label value="cat"/>
        <Label value="dog"/>
      </RectangleLabels>
    </View>
    """
    if task_type == "preference":
        return preference_config(header=header)
    if task_type == "rating":
        if ontology.rating_scale is None:
            raise ValueError(
                "a Label Studio rating config needs the ontology's rating_scale, e.g. [1, 5]"
            )
        return rating_config(ontology.class_names, ontology.rating_scale, header=header)
    if task_type == "transcription":
        return transcription_config(data_key or "audio", header=header)
    if not ontology.classes:
        raise ValueError("the ontology has no classes")
    key = data_key or ("text" if task_type == "spans" else "image")
    if not key.isidentifier():
        raise ValueError(f"data key {key!r} must be an identifier to be used as ${key}")
    image = task_type in ("detection", "segmentation") or (
        task_type in ("classification", "multilabel") and key != "text"
    )
    obj_tag = "Image" if image else "Text"
    name = "image" if image else "text"
    lines = ["<View>"]
    if header:
        lines.append(f"  <Header value={quoteattr(header)}/>")
    lines.append(f'  <{obj_tag} name="{name}" value="${key}"/>')

    def items(tag: str) -> list[str]:
        out = []
        for cls in ontology.classes:
            hint = f" hint={quoteattr(cls.description)}" if cls.description else ""
            out.append(f"    <{tag} value={quoteattr(cls.name)}{hint}/>")
        return out

    def control(tag: str, child: str, attrs: str = "", ctl_name: str = FROM_NAME) -> None:
        lines.append(f'  <{tag} name="{ctl_name}" toName="{name}"{attrs}>')
        lines.extend(items(child))
        lines.append(f"  </{tag}>")

    if task_type == "classification":
        control("Choices", "Choice", ' choice="single" required="true"')
    elif task_type == "multilabel":
        control("Choices", "Choice", ' choice="multiple"')
    elif task_type == "detection":
        control("RectangleLabels", "Label")
    elif task_type == "segmentation":
        control("PolygonLabels", "Label")
        control("BrushLabels", "Label", ctl_name=BRUSH_NAME)
    else:
        control("Labels", "Label")
    lines.append("</View>")
    return "\n".join(lines)
