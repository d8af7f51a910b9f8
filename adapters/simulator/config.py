"""Configuration of simulated vendors, and the oracle file with the true labels.

The simulator needs the truth to simulate noise around it, but the protocol never
carries gold. So the truth reaches it *out of band*: an oracle JSON file named in the
simulator's own config, read only by the simulator process at start-up.

Example config (``sim.json``)::

    {
      "oracle": "truth.json",
      "time_scale": 0.001,
      "vendors": [
        {"name": "careful", "seed": 1, "accuracy": 0.97,
         "latency": {"distribution": "lognormal", "mean_s": 120, "sigma": 0.5},
         "prices": {"per_item": 0.12}, "webhook_secret": "s3cret"},
        {"name": "cheap", "seed": 2, "accuracy": 0.75,
         "per_class": {"3": {"accuracy": 0.5, "confuse_with": {"8": 3, "5": 1}}},
         "faults": {"error_rate": 0.1, "duplicate_callback_rate": 0.1}}
      ]
    }

and the oracle (``truth.json``) maps item ids to labels in the vendor-neutral shape
of :data:`adapters.base.LabelValue`::

    {"img-1": "cat", "img-2": [{"category": "car", "bbox": [10, 20, 30, 40]}]}

A preference item may name its first response (:class:`PreferenceTruth`), so the simulator
judges by content, as a real annotator does, when the dispatcher sends the pair swapped::

    {"pair-1": {"label": "A", "response_a": "Paris."}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from adapters.base import LabelValue

__all__ = [
    "AnnotatorPool",
    "BoxBias",
    "ClassNoise",
    "Faults",
    "LatencySpec",
    "OracleTruth",
    "PreferenceTruth",
    "PriceList",
    "SimulatedVendor",
    "SimulatorConfig",
    "load_config",
    "load_oracle",
]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClassNoise(_Config):
    """How one true class is answered: right with ``accuracy``, else one of ``confuse_with``.

    ``confuse_with`` maps wrong classes to relative weights; empty means any other class,
    uniformly.
    """

    accuracy: float = Field(ge=0.0, le=1.0)
    confuse_with: dict[str, float] = Field(default_factory=dict)


class BoxBias(_Config):
    """A systematic distortion of boxes (and polygon masks).

    ``width_scale=1.1`` draws boxes 10% too wide around the same centre; ``dx=0.15``
    shifts them right by 15% of the true width (e.g. "drawn with the tail included");
    ``jitter`` is the standard deviation of random edge noise, as a fraction of the size.
    """

    width_scale: float = Field(default=1.0, gt=0)
    height_scale: float = Field(default=1.0, gt=0)
    dx: float = 0.0
    dy: float = 0.0
    jitter: float = Field(default=0.0, ge=0)


class AnnotatorPool(_Config):
    """``count`` annotators whose accuracy differs from the vendor's by N(0, ``skill_spread``).

    Each item is labeled by ``per_item`` of them, drawn at random.
    """

    count: int = Field(default=1, ge=1)
    per_item: int = Field(default=1, ge=1)
    skill_spread: float = Field(default=0.0, ge=0)


class LatencySpec(_Config):
    """Time one annotator takes on one item, in simulated seconds."""

    distribution: Literal["constant", "uniform", "exponential", "lognormal"] = "lognormal"
    mean_s: float = Field(default=30.0, ge=0)
    sigma: float = Field(default=0.5, ge=0, description="lognormal sigma / uniform half-width")


class PriceList(_Config):
    """What the vendor charges: per item, per label (class, box, span), per annotator hour."""

    currency: str = "USD"
    per_item: float = Field(default=0.0, ge=0)
    per_label: float = Field(default=0.0, ge=0)
    per_hour: float = Field(default=0.0, ge=0)


class Faults(_Config):
    """Fault injection; rates are probabilities per request or per callback."""

    error_rate: float = Field(default=0.0, ge=0, le=1, description="answer HTTP 503")
    timeout_rate: float = Field(default=0.0, ge=0, le=1, description="hang for hang_s")
    hang_s: float = Field(default=15.0, ge=0)
    duplicate_callback_rate: float = Field(default=0.0, ge=0, le=1)
    out_of_order: bool = Field(default=False, description="deliver results in random order")
    callback_error_rate: float = Field(
        default=0.0, ge=0, le=1, description="drop a callback delivery (as if the POST was lost)"
    )


class SimulatedVendor(_Config):
    """One simulated vendor, served at ``/vendors/{name}`` by the simulator."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    seed: int = 0
    accuracy: float = Field(default=0.9, ge=0, le=1)
    per_class: dict[str, ClassNoise] = Field(default_factory=dict)
    box_bias: BoxBias = BoxBias()
    class_box_bias: dict[str, BoxBias] = Field(default_factory=dict)
    miss_rate: float = Field(default=0.0, ge=0, le=1, description="objects/spans left out")
    keypoint_jitter: float = Field(
        default=0.05,
        ge=0,
        description="keypoints: SD of each point's offset, as a share of the pose's size",
    )
    false_positive_rate: float = Field(
        default=0.0, ge=0, description="expected spurious boxes/spans/labels per item"
    )
    span_shift: int = Field(default=0, ge=0, description="max chars a span boundary moves")
    position_bias: float = Field(
        default=0.0, ge=0, le=1, description="preference: share of answers for the first shown"
    )
    length_bias: float = Field(
        default=0.0, ge=0, le=1, description="preference: share of answers for the longer reply"
    )
    inconsistency: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="preference: share of pairs seen again (recognised by content, whatever "
        "their id and order) answered differently from the first time",
    )
    rating_bias: float = Field(
        default=0.0,
        ge=-10,
        le=10,
        description="rating: planted leniency (> 0) or severity (< 0), mean shift in scale "
        "points (whole steps plus one more step with the fractional part's probability)",
    )
    rating_noise: float = Field(
        default=0.0, ge=0, le=1, description="rating: chance of a random +-1 step (mean 0)"
    )
    rating_scale: tuple[int, int] = Field(
        default=(1, 5), description="rating: scale to clip to when the item data has none"
    )
    transcript_wer: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="transcription: planted word error rate; per reference word one error "
        "with this chance: half substitutions, a quarter deletions, a quarter insertions",
    )
    annotators: AnnotatorPool = AnnotatorPool()
    latency: LatencySpec = LatencySpec()
    prices: PriceList = PriceList()
    faults: Faults = Faults()
    webhook_secret: SecretStr | None = None
    api_key: SecretStr | None = Field(default=None, description="Bearer token it requires")


class SimulatorConfig(_Config):
    """The whole simulator: its vendors, the oracle, and how fast simulated time runs."""

    vendors: list[SimulatedVendor] = Field(min_length=1)
    oracle: Path | None = Field(default=None, description="truth file, relative to the config")
    time_scale: float = Field(
        default=1.0, ge=0, description="real seconds per simulated second (0.001: 1000x faster)"
    )
    callback_batch_size: int = Field(default=50, ge=1)


class PreferenceTruth(_Config):
    """The truth of a preference item: the better response (``A``/``B``/``tie``) in the
    item's own frame, and the text of its response A (to recognise a swapped pair)."""

    label: Literal["A", "B", "tie"]
    response_a: str


OracleTruth = PreferenceTruth | LabelValue
_ORACLE = TypeAdapter(dict[str, OracleTruth])


def load_config(path: Path) -> SimulatorConfig:
    """Read a simulator config; the oracle path is resolved relative to it.

    Raises
    ------
    ValueError
        Naming the file and the offending field, if it is not a valid config.
    """
    try:
        config = SimulatorConfig.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"{path}: {loc}: {err['msg']}") from exc
    names = [v.name for v in config.vendors]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: vendors: names must be unique, got {names}")
    if config.oracle is not None and not config.oracle.is_absolute():
        config = config.model_copy(update={"oracle": path.parent / config.oracle})
    return config


def load_oracle(path: Path) -> dict[str, OracleTruth]:
    """Read the oracle: a JSON object mapping item ids to true labels.

    Raises
    ------
    ValueError
        Naming the file and the item whose label is malformed.
    """
    try:
        raw = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    try:
        return _ORACLE.validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"{path}: {loc}: {err['msg']}") from exc
