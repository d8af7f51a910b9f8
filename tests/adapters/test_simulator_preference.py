"""Simulated preference vendors: the planted position and length biases are found."""

from __future__ import annotations

import random
from typing import Literal

import pandas as pd

from adapters.pairs import swap_pair, unswap
from adapters.simulator.config import PreferenceTruth, SimulatedVendor
from adapters.simulator.noise import simulate_answer
from metrics.scoring import ScoringOptions, score


def _bakeoff(vendor: SimulatedVendor, n: int = 3000) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    rng = random.Random(11)
    gold, labels, meta = {}, {}, {}
    for i in range(n):
        item = f"i{i}"
        truth: Literal["A", "B"] = "A" if rng.random() < 0.5 else "B"
        data: dict[str, object] = {
            "response_a": "x" * rng.randint(5, 300),
            "response_b": "y" * rng.randint(5, 300),
        }
        swapped = rng.random() < 0.5
        # as the dispatcher sends it: swapped pairs differ only in the order of the responses
        answer = simulate_answer(
            vendor,
            item_id=item,
            data=swap_pair(data) if swapped else data,
            truth=PreferenceTruth(label=truth, response_a=str(data["response_a"])),
            task_type="preference",
            classes=["A", "B", "tie"],
            annotator="a1",
        )
        gold[item] = truth
        labels[item] = unswap(answer.label) if swapped else answer.label
        meta[item] = {
            "swapped": swapped,
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


def test_a_swapped_pair_is_judged_by_content() -> None:
    """A perfect vendor answers the same pair, shown either way, with the same response."""
    vendor = SimulatedVendor(name="perfect", accuracy=1.0)
    data: dict[str, object] = {"prompt": "q", "response_a": "right", "response_b": "wrong"}
    truth = PreferenceTruth(label="A", response_a="right")
    shown = [
        simulate_answer(
            vendor,
            item_id="x",
            data=d,
            truth=truth,
            task_type="preference",
            classes=["A", "B", "tie"],
            annotator="a1",
        ).label
        for d in (data, swap_pair(data))
    ]
    assert shown == ["A", "B"]  # the first shown is "A": the swapped pair's "right" is second
