"""Simulated preference vendors: the planted position and length biases are found."""

from __future__ import annotations

import random

import pandas as pd

from adapters.simulator.config import SimulatedVendor
from adapters.simulator.noise import simulate_answer
from metrics.scoring import ScoringOptions, score


def _bakeoff(vendor: SimulatedVendor, n: int = 3000) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    rng = random.Random(11)
    gold, labels, meta = {}, {}, {}
    for i in range(n):
        item = f"i{i}"
        truth = rng.choice(["A", "B"])
        data: dict[str, object] = {
            "response_a": "x" * rng.randint(5, 300),
            "response_b": "y" * rng.randint(5, 300),
            "swapped": rng.random() < 0.5,
        }
        answer = simulate_answer(
            vendor,
            item_id=item,
            data=data,
            truth=truth,
            task_type="preference",
            classes=["A", "B", "tie"],
            annotator="a1",
        )
        gold[item], labels[item] = truth, answer.label
        meta[item] = {
            "swapped": data["swapped"],
            "length_a": len(str(data["response_a"])),
            "length_b": len(str(data["response_b"])),
        }
    return pd.Series(gold), pd.Series(labels), pd.DataFrame.from_dict(meta, orient="index")


def test_planted_position_bias_is_found_with_its_size() -> None:
    vendor = SimulatedVendor(name="first", accuracy=1.0, position_bias=0.3)
    gold, labels, meta = _bakeoff(vendor)
    s = score("preference", gold, labels, options=ScoringOptions(n_resamples=20), metadata=meta)
    ci = s.summary["position_bias"].ci
    # a share p moved to the first shown changes the answer when gold was second: p / 2
    assert ci is not None and ci.low <= 0.15 <= ci.high
    assert abs(s.value("length_bias")) < 0.05


def test_planted_length_bias_is_found_with_its_size() -> None:
    vendor = SimulatedVendor(name="long", accuracy=1.0, length_bias=0.4)
    gold, labels, meta = _bakeoff(vendor)
    s = score("preference", gold, labels, options=ScoringOptions(n_resamples=20), metadata=meta)
    ci = s.summary["length_bias"].ci
    assert ci is not None and ci.low <= 0.2 <= ci.high
    assert abs(s.value("position_bias")) < 0.05


def test_an_unbiased_vendor_shows_no_bias() -> None:
    gold, labels, meta = _bakeoff(SimulatedVendor(name="fair", accuracy=0.9))
    s = score("preference", gold, labels, options=ScoringOptions(n_resamples=20), metadata=meta)
    for name in ("position_bias", "length_bias"):
        ci = s.summary[name].ci
        assert ci is not None and ci.low <= 0.0 <= ci.high
