"""Simulated preference vendors: the planted position and length biases are found."""

from __future__ import annotations

import random
from typing import Literal

import pandas as pd

from adapters.pairs import swap_pair, unswap
from adapters.simulator.config import PreferenceTruth, SimulatedVendor
from adapters.simulator.noise import pair_content, simulate_answer, simulate_repeat
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


def repeated_pairs(vendor: SimulatedVendor, n: int = 1500) -> tuple[pd.Series, pd.DataFrame]:
    """Gold and an answers table: every pair answered, then sent again swapped under another
    id (``swapped``/``repeat`` columns as the service gives them to the engine)."""
    rng = random.Random(5)
    gold, rows = {}, []
    for i in range(n):
        truth: Literal["A", "B", "tie"] = rng.choice(("A", "B", "tie"))
        data: dict[str, object] = {"prompt": f"q{i}", "response_a": f"a{i}", "response_b": f"b{i}"}
        facts = PreferenceTruth(label=truth, response_a=f"a{i}")
        first = simulate_answer(
            vendor,
            item_id=f"i{i}",
            data=data,
            truth=facts,
            task_type="preference",
            classes=["A", "B", "tie"],
            annotator="a1",
        )
        again = simulate_repeat(
            vendor,
            first_id=f"i{i}",
            item_id=f"opaque-{i}",
            data=swap_pair(data),
            truth=facts,
            annotator="a1",
        )
        assert pair_content(swap_pair(data)) == pair_content(data)
        gold[f"i{i}"] = truth
        rows.append((f"i{i}", "a1", first.label, False, 0))
        rows.append((f"i{i}", "a1", unswap(again.label), True, 1))
    answers = pd.DataFrame(rows, columns=["task", "worker", "label", "swapped", "repeat"])
    return pd.Series(gold), answers


def test_a_planted_inconsistency_on_pairs_seen_again_is_found_with_its_size() -> None:
    """Each pair is sent again in the other order under another id: the simulator answers
    it as the first time (same draws, by content), then changes its mind with the planted
    chance; the engine's self-consistency finds 1 - chance inside its interval."""
    vendor = SimulatedVendor(name="fickle", accuracy=1.0, inconsistency=0.2)
    gold, answers = repeated_pairs(vendor)
    s = score("preference", gold, answers, options=ScoringOptions(n_resamples=20))
    ci = s.summary["self_consistency"].ci
    assert ci is not None and ci.low <= 0.8 <= ci.high
    assert s.value("agreement") == 1.0  # the first sendings alone are voted


def test_a_vendor_without_planted_inconsistency_answers_repeats_alike() -> None:
    vendor = SimulatedVendor(name="steady", accuracy=0.8)  # noise, but the same draws again
    data: dict[str, object] = {"prompt": "q", "response_a": "x", "response_b": "y"}
    facts = PreferenceTruth(label="A", response_a="x")
    for i in range(200):
        first = simulate_answer(
            vendor,
            item_id=f"i{i}",
            data=data,
            truth=facts,
            task_type="preference",
            classes=["A", "B", "tie"],
            annotator="a1",
        )
        again = simulate_repeat(
            vendor, first_id=f"i{i}", item_id=f"r{i}", data=data, truth=facts, annotator="a1"
        )
        assert again == first
