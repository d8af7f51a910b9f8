"""The demo's candidates: three simulated vendors and a model.

* ``swiftlabel``: cheap and noisy; confuses look-alike digits, misses small objects, and
  on reply pairs often just picks the reply shown first (position bias).
* ``boxwise``: accurate classes, but draws every vehicle with its shadow ("tail") included,
  a systematic box bias the report's box-bias plot makes visible; on reply pairs it favours
  the longer reply (length bias).
* ``precisionworks``: slow and accurate, with a team of annotators of varying skill; its
  raters are lenient, rating replies 0.6 of a scale step above the expert on average
  (:data:`PLANTED_LENIENCY`).
* ``digit-model``: a logistic regression trained on the digits outside the golden set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import joblib
from pydantic import SecretStr
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from adapters.simulator import (
    AnnotatorPool,
    BoxBias,
    ClassNoise,
    Faults,
    LatencySpec,
    PriceList,
    SimulatedVendor,
    SimulatorConfig,
)
from service.demo.data import digits_training_set

__all__ = [
    "PLANTED_LENIENCY",
    "WEBHOOK_SECRET",
    "Quarter",
    "simulator_config",
    "vendor_requests",
    "train_digit_model",
]

WEBHOOK_SECRET = "demo-webhook-secret-not-for-production"
#: precisionworks' leniency on the reply ratings, in scale points (no gold rating is at
#: the top of the scale, so none is clipped and the report should find this size)
PLANTED_LENIENCY = 0.6
_HOUR = 3600.0

# Simulated hours pass in milliseconds: one simulated hour is 36 ms of real time.
_TIME_SCALE = 1e-5


Quarter = Literal["Q3", "Q4"]


def simulator_config() -> SimulatorConfig:
    """The simulated vendors as they are now (Q4) and as they were last quarter (Q3).

    Last quarter swiftlabel was better (its team has since changed): the report's trend
    section should flag the drop.
    """
    current = _current_vendors()
    previous = [
        vendor.model_copy(
            update={"name": f"{vendor.name}-q3", "seed": vendor.seed + 1}
            | _Q3_CHANGES.get(vendor.name, {})
        )
        for vendor in current
    ]
    return SimulatorConfig(
        time_scale=_TIME_SCALE, callback_batch_size=25, vendors=[*current, *previous]
    )


_Q3_CHANGES: dict[str, dict[str, object]] = {
    "swiftlabel": {"accuracy": 0.95, "per_class": {}},
}


def _current_vendors() -> list[SimulatedVendor]:
    secret = SecretStr(WEBHOOK_SECRET)
    return [
        SimulatedVendor(
            name="swiftlabel",
            seed=101,
            accuracy=0.86,
            per_class={
                "3": ClassNoise(accuracy=0.62, confuse_with={"8": 3.0, "5": 1.0}),
                "9": ClassNoise(accuracy=0.7, confuse_with={"4": 2.0, "7": 1.0}),
                "pedestrian": ClassNoise(accuracy=0.8, confuse_with={"sign": 1.0}),
            },
            box_bias=BoxBias(jitter=0.07),
            miss_rate=0.12,
            false_positive_rate=0.25,
            latency=LatencySpec(distribution="lognormal", mean_s=0.4 * _HOUR, sigma=0.6),
            prices=PriceList(per_item=0.018),
            faults=Faults(error_rate=0.05, duplicate_callback_rate=0.05, out_of_order=True),
            position_bias=0.3,
            rating_noise=0.3,
            webhook_secret=secret,
        ),
        SimulatedVendor(
            name="boxwise",
            seed=202,
            accuracy=0.95,
            class_box_bias={
                "vehicle": BoxBias(width_scale=1.18, dx=0.09, jitter=0.02),
            },
            box_bias=BoxBias(jitter=0.025),
            miss_rate=0.03,
            false_positive_rate=0.05,
            latency=LatencySpec(distribution="lognormal", mean_s=3 * _HOUR, sigma=0.4),
            prices=PriceList(per_item=0.05, per_label=0.01),
            length_bias=0.35,
            webhook_secret=secret,
        ),
        SimulatedVendor(
            name="precisionworks",
            seed=303,
            accuracy=0.985,
            box_bias=BoxBias(jitter=0.015),
            miss_rate=0.01,
            annotators=AnnotatorPool(count=5, per_item=1, skill_spread=0.02),
            latency=LatencySpec(distribution="lognormal", mean_s=16 * _HOUR, sigma=0.5),
            prices=PriceList(per_item=0.14),
            rating_bias=PLANTED_LENIENCY,
            webhook_secret=secret,
        ),
    ]


def vendor_requests(
    simulator_url: str, model_path: Path, *, quarter: Quarter = "Q4"
) -> list[dict[str, object]]:
    """``POST /vendors`` bodies: the simulator profiles (with their pricing) and the model.

    ``quarter`` picks the simulator profile each vendor answers with (its Q3 self or now).
    """
    suffix = "-q3" if quarter == "Q3" else ""

    def profile(name: str) -> dict[str, object]:
        return {**common, "profile": f"{name}{suffix}"}

    common: dict[str, object] = {
        "url": simulator_url,
        "webhook_secret": WEBHOOK_SECRET,
        "timeout_s": 5.0,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.5,
        "max_retries": 8,
    }
    return [
        {
            "name": "swiftlabel",
            "adapter_kind": "simulator",
            "adapter_settings": profile("swiftlabel"),
            "price_per_item": 0.018,
        },
        {
            "name": "boxwise",
            "adapter_kind": "simulator",
            "adapter_settings": profile("boxwise"),
            "price_per_item": 0.05,
            "price_per_label": 0.01,
        },
        {
            "name": "precisionworks",
            "adapter_kind": "simulator",
            "adapter_settings": profile("precisionworks"),
            "price_per_item": 0.14,
            "minimum_commitment": 2000.0,
        },
        {
            "name": "digit-model",
            "adapter_kind": "model",
            # registered by the operator (the demo's BAKEOFF_MODEL_DIR), named here
            "adapter_settings": {"model": model_path.name},
            "price_per_item": 0.0004,
        },
    ]


def train_digit_model(path: Path, *, n_golden: int, seed: int) -> Path:
    """Fit the model candidate on digits outside the golden set and save it with joblib."""
    features, labels = digits_training_set(n_items=n_golden, seed=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.05))
    model.fit(features, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path
