"""Seed bake-offs with planted label problems for the QA review tests (API and browser).

Built through the domain layer, like ``tests/service/conftest.py``:

* ``classification``: classes cat/dog/bird/fox, 12 items, three candidates. Planted: candidate C
  mislabels ``img-01``..``img-03`` as fox, gold of ``img-10`` is wrong (everyone says dog), and
  on ``img-11`` the candidates split three ways (cat/fox/dog).
* ``detection``: three scenes with gold boxes and three candidates; candidate B misses a box on
  ``scene-1``, candidate C labels a box with the wrong class on ``scene-2``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image, ImageDraw
from sqlmodel import Session

import service.models as m
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.vendor_labels import add_vendor_labels

__all__ = [
    "ReviewSeed",
    "seed_classification",
    "seed_crowd_classification",
    "seed_detection",
    "seed_many_classification",
    "seed_segmentation",
    "png_data_uri",
]

CLASSES = ("cat", "dog", "bird", "fox")
CLASS_GOLD = {
    "img-01": "cat",
    "img-02": "cat",
    "img-03": "cat",
    "img-04": "dog",
    "img-05": "dog",
    "img-06": "bird",
    "img-07": "bird",
    "img-08": "cat",
    "img-09": "dog",
    "img-10": "cat",  # planted gold error: it is a dog
    "img-11": "cat",  # ambiguous
    "img-12": "bird",
}
_COLOURS = {"cat": (230, 159, 0), "dog": (86, 180, 233), "bird": (0, 158, 115), "fox": (213, 94, 0)}


@dataclass(frozen=True)
class ReviewSeed:
    project_id: int
    golden_set_id: int
    version_id: int
    bakeoff_id: int
    vendor_ids: dict[str, int]  # "A" -> id (alias order)
    item_ids: dict[str, int]


def png_data_uri(colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> str:
    """A small solid image with a darker square, as a ``data:`` URI (no file server needed)."""
    img = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(img)
    draw.rectangle(
        (size[0] // 3, size[1] // 4, size[0] // 3 * 2, size[1] // 4 * 3), fill=(40, 40, 40)
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _setup(
    session: Session,
    *,
    name: str,
    task_type: m.TaskType,
    classes: tuple[str, ...],
    items: list[m.GoldenItemCreate],
    gold: dict[str, object],
    examples: list[dict[str, object]],
    vendor_names: tuple[str, ...],
) -> ReviewSeed:
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name=name, task_type=task_type, ontology={"classes": [{"name": c} for c in classes]}
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session,
        project_id=project.id,
        data=m.InstructionsVersionCreate(text=f"# {name}", examples=examples),
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name=f"{name}-gold", project_id=project.id)
    )
    assert golden.id is not None
    created = golden_sets.add_items(session=session, golden_set_id=golden.id, items=items)
    version = golden_sets.create_version(session=session, golden_set_id=golden.id, note="v1")
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=v) for k, v in gold.items()],
    )
    vendor_ids = {}
    for letter, vname in zip("ABC", vendor_names, strict=True):
        v = vendors.create_vendor(session=session, data=m.VendorCreate(name=vname))
        assert v.id is not None
        vendor_ids[letter] = v.id
    assert instructions.id is not None and version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name=f"{name} bake-off",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=list(vendor_ids.values()),
        ),
    )
    assert bakeoff.id is not None
    return ReviewSeed(
        project_id=project.id,
        golden_set_id=golden.id,
        version_id=version.id,
        bakeoff_id=bakeoff.id,
        vendor_ids=vendor_ids,
        item_ids={i.key: i.id or 0 for i in created},
    )


def _label(session: Session, seed: ReviewSeed, letter: str, values: Mapping[str, object]) -> None:
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids[letter],
        records=[m.VendorLabelCreate(item_key=k, value=v, score=0.9) for k, v in values.items()],
    )


def seed_classification(session: Session, *, prefix: str = "") -> ReviewSeed:
    """The classification bake-off described in the module docstring."""
    items = [
        m.GoldenItemCreate(
            key=k,
            data={"image": png_data_uri(_COLOURS[v]), "width": 96, "height": 64},
            meta={"lighting": "dim" if i % 2 else "bright"},
        )
        for i, (k, v) in enumerate(CLASS_GOLD.items())
    ]
    seed = _setup(
        session,
        name=f"{prefix}animals",
        task_type="classification",
        classes=CLASSES,
        items=items,
        gold=dict(CLASS_GOLD),
        examples=[
            {
                "title": "A cat, not a fox",
                "label": "cat",
                "explanation": "Pointed ears alone are not a fox.",
            },
            {"title": "Fox in the snow", "label": "fox", "counter_example": False},
        ],
        vendor_names=(f"{prefix}Acme Labels", f"{prefix}Blue Crowd", f"{prefix}Cheap Tags"),
    )
    truth = dict(CLASS_GOLD, **{"img-10": "dog"})
    a = dict(truth)
    b = dict(truth)
    c = dict(truth)
    c.update({"img-01": "fox", "img-02": "fox", "img-03": "fox"})
    a["img-11"], b["img-11"], c["img-11"] = "cat", "fox", "dog"
    _label(session, seed, "A", a)
    _label(session, seed, "B", b)
    _label(session, seed, "C", c)
    return seed


def seed_crowd_classification(
    session: Session, *, n_annotators: int = 10, prefix: str = ""
) -> ReviewSeed:
    """The classification items with candidate A a crowd of ``n_annotators`` (``w01``...), so an
    item has ``n_annotators + 2`` candidate rows; on ``img-11`` worker ``w10`` says fox and
    candidate C says dog (gold: cat), everything else agrees with gold."""
    items = [
        m.GoldenItemCreate(
            key=k, data={"image": png_data_uri(_COLOURS[v]), "width": 96, "height": 64}
        )
        for k, v in CLASS_GOLD.items()
    ]
    seed = _setup(
        session,
        name=f"{prefix}crowd",
        task_type="classification",
        classes=CLASSES,
        items=items,
        gold=dict(CLASS_GOLD),
        examples=[],
        vendor_names=(f"{prefix}Crowd Co", f"{prefix}Blue Crowd", f"{prefix}Cheap Tags"),
    )
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids["A"],
        records=[
            m.VendorLabelCreate(
                item_key=k,
                value="fox" if (k, w) == ("img-11", n_annotators) else v,
                annotator_id=f"w{w:02d}",
                score=0.9,
            )
            for k, v in CLASS_GOLD.items()
            for w in range(1, n_annotators + 1)
        ],
    )
    _label(session, seed, "B", CLASS_GOLD)
    _label(session, seed, "C", dict(CLASS_GOLD, **{"img-11": "dog"}))
    return seed


def _box(category: str, x: float, y: float, w: float, h: float) -> dict[str, object]:
    return {"category": category, "bbox": [x, y, w, h]}


def seed_detection(session: Session, *, prefix: str = "", empty_scene: bool = False) -> ReviewSeed:
    """The detection bake-off described in the module docstring; with ``empty_scene``, also
    ``scene-4`` (one vehicle) on which candidate A drew nothing."""
    gold: dict[str, object] = {
        "scene-1": [_box("vehicle", 10, 10, 60, 30), _box("sign", 120, 12, 16, 16)],
        "scene-2": [_box("pedestrian", 60, 30, 14, 36)],
        "scene-3": [_box("vehicle", 80, 40, 50, 24)],
    }
    if empty_scene:
        gold["scene-4"] = [_box("vehicle", 20, 20, 40, 30)]
    items = [
        m.GoldenItemCreate(
            key=k,
            data={"image": png_data_uri((170, 175, 180), (160, 96)), "width": 160, "height": 96},
        )
        for k in gold
    ]
    seed = _setup(
        session,
        name=f"{prefix}streets",
        task_type="detection",
        classes=("vehicle", "pedestrian", "sign"),
        items=items,
        gold=gold,
        examples=[{"title": "Draw the whole vehicle", "label": [_box("vehicle", 0, 0, 10, 10)]}],
        vendor_names=(f"{prefix}Box Co", f"{prefix}Frame Inc", f"{prefix}Rect Ltd"),
    )
    a = dict(gold, **({"scene-4": []} if empty_scene else {}))
    b = dict(gold, **{"scene-1": [_box("vehicle", 11, 10, 60, 30)]})
    c = dict(gold, **{"scene-2": [_box("vehicle", 61, 30, 14, 36)]})
    _label(session, seed, "A", a)
    _label(session, seed, "B", b)
    _label(session, seed, "C", c)
    return seed


def seed_many_classification(session: Session, *, n: int = 60, prefix: str = "") -> ReviewSeed:
    """``n`` small images (classes cycle cat/dog/bird/fox); candidates A and B agree with gold,
    candidate C says the next class on every item: a queue of at least ``n`` flags."""
    gold = {f"pic-{i:03d}": CLASSES[i % len(CLASSES)] for i in range(n)}
    items = [
        m.GoldenItemCreate(
            key=k,
            data={"image": png_data_uri(_COLOURS[v], (28, 28)), "width": 28, "height": 28},
            meta={"lighting": "dim" if i % 2 else "bright"},
        )
        for i, (k, v) in enumerate(gold.items())
    ]
    seed = _setup(
        session,
        name=f"{prefix}many",
        task_type="classification",
        classes=CLASSES,
        items=items,
        gold=dict(gold),
        examples=[],
        vendor_names=(f"{prefix}Acme Labels", f"{prefix}Blue Crowd", f"{prefix}Cheap Tags"),
    )
    shifted = {k: CLASSES[(CLASSES.index(v) + 1) % len(CLASSES)] for k, v in gold.items()}
    _label(session, seed, "A", gold)
    _label(session, seed, "B", gold)
    _label(session, seed, "C", shifted)
    return seed


def _mask(category: str, x: float, y: float, w: float, h: float) -> dict[str, object]:
    return {"category": category, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}


def seed_segmentation(session: Session, *, prefix: str = "") -> ReviewSeed:
    """One 64x48 item without an image, two gold polygons (cell, nucleus); candidate B misses
    the nucleus, candidate C calls it a cell."""
    masks = [_mask("cell", 5, 5, 20, 20), _mask("nucleus", 40, 10, 10, 10)]
    gold: dict[str, object] = {"m1": masks}
    seed = _setup(
        session,
        name=f"{prefix}cells",
        task_type="segmentation",
        classes=("cell", "nucleus"),
        items=[m.GoldenItemCreate(key="m1", data={"width": 64, "height": 48})],
        gold=dict(gold),
        examples=[],
        vendor_names=(f"{prefix}Seg A", f"{prefix}Seg B", f"{prefix}Seg C"),
    )
    _label(session, seed, "A", gold)
    _label(session, seed, "B", {"m1": masks[:1]})
    _label(session, seed, "C", {"m1": [masks[0], _mask("cell", 40, 10, 10, 10)]})
    return seed
