"""Golden sets for ``bakeoff demo``, built from data that ships with the packages.

* classification: scikit-learn's handwritten digits (8x8 images, 10 classes);
  the items not drawn into the golden set train the model candidate.
* detection: generated street-like scenes with vehicles, pedestrians and signs,
  some of them dim, with exact gold boxes.

Images travel as ``data:`` URIs so the demo needs no file server and works offline.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits

from adapters.base import Box, LabelValue, TaskType, WorkItem

__all__ = [
    "DemoGoldenSet",
    "digits_golden_set",
    "digits_training_set",
    "scenes_golden_set",
    "png_data_uri",
    "DETECTION_CLASSES",
]

DETECTION_CLASSES = ("vehicle", "pedestrian", "sign")
_CLASS_COLOURS = {"vehicle": (200, 60, 50), "pedestrian": (60, 90, 200), "sign": (230, 190, 40)}


@dataclass(frozen=True)
class DemoGoldenSet:
    """Items as vendors see them, plus the expert's labels and slice metadata."""

    name: str
    task_type: TaskType
    classes: tuple[str, ...]
    items: tuple[WorkItem, ...]
    gold: dict[str, LabelValue]
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ratings: the rubric's ordinal scale ``(lowest, highest)``, put in the ontology
    rating_scale: tuple[int, int] | None = None


def png_data_uri(pixels: npt.NDArray[np.uint8]) -> str:
    """Encode a ``(H, W)`` or ``(H, W, 3)`` uint8 array as a ``data:image/png`` URI."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _digit_split(n_items: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    return order[:n_items], order[n_items:]


def digits_golden_set(*, n_items: int = 300, seed: int = 7) -> DemoGoldenSet:
    """A classification golden set of ``n_items`` digits, with an ``ink`` slice."""
    digits = load_digits()
    golden_rows, _ = _digit_split(n_items, seed)
    ink = digits.data[golden_rows].sum(axis=1)
    light_cutoff = float(np.quantile(ink, 0.3))
    items: list[WorkItem] = []
    gold: dict[str, LabelValue] = {}
    metadata: dict[str, dict[str, str]] = {}
    for row, ink_total in zip(golden_rows, ink, strict=True):
        item_id = f"digit-{int(row):04d}"
        pixels = (digits.images[row] * (255.0 / 16.0)).astype(np.uint8)
        enlarged = np.kron(pixels, np.ones((8, 8), dtype=np.uint8))
        items.append(
            WorkItem(
                item_id=item_id,
                data={
                    "image": png_data_uri(255 - enlarged),
                    "features": [float(v) for v in digits.data[row]],
                },
            )
        )
        gold[item_id] = str(int(digits.target[row]))
        metadata[item_id] = {"ink": "light" if ink_total <= light_cutoff else "normal"}
    return DemoGoldenSet(
        name="Handwritten digits",
        task_type="classification",
        classes=tuple(str(d) for d in range(10)),
        items=tuple(items),
        gold=gold,
        metadata=metadata,
    )


def digits_training_set(*, n_items: int = 300, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the digits *not* in the golden set (for the model candidate)."""
    digits = load_digits()
    _, training_rows = _digit_split(n_items, seed)
    return digits.data[training_rows], digits.target[training_rows].astype(str)


def _draw_object(draw: ImageDraw.ImageDraw, category: str, box: tuple[int, int, int, int]) -> None:
    x, y, w, h = box
    colour = _CLASS_COLOURS[category]
    if category == "vehicle":
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
    elif category == "pedestrian":
        draw.ellipse((x, y, x + w - 1, y + h - 1), fill=colour)
    else:
        draw.polygon([(x + w / 2, y), (x + w - 1, y + h - 1), (x, y + h - 1)], fill=colour)


def scenes_golden_set(
    *, n_items: int = 60, width: int = 160, height: int = 120, seed: int = 11
) -> DemoGoldenSet:
    """A detection golden set of generated scenes; a third of them are ``lighting=dim``."""
    rng = np.random.default_rng(seed)
    items: list[WorkItem] = []
    gold: dict[str, LabelValue] = {}
    metadata: dict[str, dict[str, str]] = {}
    for index in range(n_items):
        item_id = f"scene-{index:03d}"
        dim = index % 3 == 0
        image = Image.new("RGB", (width, height), (170, 175, 180))
        draw = ImageDraw.Draw(image)
        boxes: list[Box] = []
        for _ in range(int(rng.integers(1, 5))):
            category = DETECTION_CLASSES[int(rng.integers(len(DETECTION_CLASSES)))]
            w = int(rng.integers(14, 40))
            h = int(rng.integers(14, 40))
            x = int(rng.integers(0, width - w))
            y = int(rng.integers(0, height - h))
            _draw_object(draw, category, (x, y, w, h))
            boxes.append(Box(category=category, bbox=(float(x), float(y), float(w), float(h))))
        pixels = np.asarray(image, dtype=np.float64)
        if dim:
            pixels = pixels * 0.35
        noise = rng.normal(0.0, 3.0, size=pixels.shape)
        rendered = np.clip(pixels + noise, 0, 255).astype(np.uint8)
        items.append(
            WorkItem(
                item_id=item_id,
                data={"image": png_data_uri(rendered), "width": width, "height": height},
            )
        )
        gold[item_id] = boxes
        metadata[item_id] = {"lighting": "dim" if dim else "bright"}
    return DemoGoldenSet(
        name="Street scenes",
        task_type="detection",
        classes=DETECTION_CLASSES,
        items=tuple(items),
        gold=gold,
        metadata=metadata,
    )
