"""Simulated raters and transcribers: each planted bias or error rate is found by the
engine with the planted size inside its 95% interval, and the verdict names it."""

from __future__ import annotations

import random
import re

import pandas as pd
import pytest

from adapters.simulator.config import SimulatedVendor
from adapters.simulator.noise import simulate_answer
from metrics.scoring import ScoringOptions, score
from metrics.transcription import Normalization
from reports.ranking import rank_systems
from reports.scores import system_evaluation

OPTIONS = ScoringOptions(n_resamples=300, rating_scale=(1, 7))
_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()


def _ratings(vendor: SimulatedVendor, n: int = 1500) -> tuple[pd.Series, pd.Series]:
    rng = random.Random(5)
    gold, labels = {}, {}
    for i in range(n):
        # mid-scale gold (2..5 on 1..7): a shift of up to 2 steps is never clipped
        truth = {"help": rng.randint(3, 5), "fact": rng.randint(3, 5)}
        answer = simulate_answer(
            vendor,
            item_id=f"r{i}",
            data={"scale_min": 1, "scale_max": 7},
            truth=truth,
            task_type="rating",
            classes=["help", "fact"],
            annotator="a1",
        )
        gold[f"r{i}"], labels[f"r{i}"] = truth, answer.label
    return pd.Series(gold), pd.Series(labels)


@pytest.mark.parametrize("planted", [0.6, -0.35, 1.5], ids=["lenient", "severe", "lenient2"])
def test_planted_leniency_is_found_with_its_size_per_criterion(planted: float) -> None:
    vendor = SimulatedVendor(name="rater", rating_bias=planted, rating_noise=0.2)
    gold, labels = _ratings(vendor)
    scored = score("rating", gold, labels, options=OPTIONS)
    for name in ("leniency_bias", "leniency_bias:help", "leniency_bias:fact"):
        ci = scored.summary[name].ci
        assert ci is not None and ci.low <= planted <= ci.high, (name, ci)
        assert 0.0 < ci.low or ci.high < 0.0  # and it is told apart from no bias


def test_an_unbiased_rater_shows_no_leniency() -> None:
    gold, labels = _ratings(SimulatedVendor(name="fair", rating_noise=0.3))
    scored = score("rating", gold, labels, options=OPTIONS)
    ci = scored.summary["leniency_bias"].ci
    assert ci is not None and ci.low <= 0.0 <= ci.high


def test_the_verdict_names_each_rating_bias_with_its_size() -> None:
    systems = []
    for name, bias in (("kind", 0.6), ("harsh", -0.5), ("fair", 0.0)):
        gold, labels = _ratings(SimulatedVendor(name=name, rating_bias=bias, rating_noise=0.2))
        systems.append(system_evaluation(name, score("rating", gold, labels, options=OPTIONS)))
    summary = " ".join(rank_systems(systems).summary)
    assert "kind's labels are biased against gold" in summary
    assert re.search(
        r"kind's .*help ratings \+0\.[56]\d\d scale points \(lenient; 95% interval", summary
    )
    assert "harsh's labels are biased" in summary and "(severe;" in summary
    assert "fair's labels" not in summary


def _transcripts(vendor: SimulatedVendor, n: int = 1200) -> tuple[pd.Series, pd.Series]:
    rng = random.Random(9)
    gold, labels = {}, {}
    for i in range(n):
        truth = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14)))
        answer = simulate_answer(
            vendor,
            item_id=f"u{i}",
            data={},
            truth=truth,
            task_type="transcription",
            classes=[],
            annotator="a1",
        )
        gold[f"u{i}"], labels[f"u{i}"] = truth, answer.label
    return pd.Series(gold), pd.Series(labels)


@pytest.mark.parametrize("planted", [0.05, 0.2, 0.4], ids=["wer5", "wer20", "wer40"])
def test_planted_wer_is_found_with_its_size(planted: float) -> None:
    gold, labels = _transcripts(SimulatedVendor(name="asr", transcript_wer=planted))
    options = ScoringOptions(n_resamples=300, transcript_normalization=Normalization())
    scored = score("transcription", gold, labels, options=options)
    ci = scored.summary["wer"].ci
    assert ci is not None and ci.low <= planted <= ci.high, ci
    # how S, D and I split is the alignment's choice (a deletion next to an insertion is
    # one substitution at equal cost), their sum is the planted rate
    parts = ("substitution_rate", "deletion_rate", "insertion_rate")
    assert sum(scored.value(p) for p in parts) == pytest.approx(scored.value("wer"))


def test_the_noisier_transcriber_ranks_lower() -> None:
    systems = []
    for name, wer in (("clean", 0.05), ("noisy", 0.3)):
        gold, labels = _transcripts(SimulatedVendor(name=name, transcript_wer=wer))
        scored = score("transcription", gold, labels, options=ScoringOptions(n_resamples=200))
        systems.append(system_evaluation(name, scored))
    ranking = rank_systems(systems)
    ranked = [r.name for r in ranking.systems if r.rank is not None]
    assert ranked == ["clean", "noisy"] and ranking.verdict == "pick"


def _interval(summary: str, pattern: str) -> tuple[float, float, float]:
    """The value and interval a verdict sentence quotes (``pattern`` leads to the value)."""
    found = re.search(
        pattern + r" ([+-]?[\d.]+)\D.*?interval ([+-]?[\d.]+) to ([+-]?[\d.]+)", summary
    )
    assert found is not None, summary
    value, low, high = (float(x) for x in found.groups())
    return value, low, high


@pytest.mark.parametrize(
    ("bias", "planted", "words"),
    [
        # a share p moved to the first shown (longer) changes the answer when gold was the
        # other response: half the time, so the engine's size is p / 2
        ("position_bias", 0.3, "favour the response shown first"),
        ("length_bias", 0.4, "favour the longer response"),
    ],
    ids=["position", "length"],
)
def test_the_verdict_names_a_preference_bias_with_its_planted_size(
    bias: str, planted: float, words: str
) -> None:
    from tests.adapters.test_simulator_preference import _bakeoff

    systems = []
    for vendor in (
        SimulatedVendor.model_validate({"name": "biased", "accuracy": 1.0, bias: planted}),
        SimulatedVendor(name="fair", accuracy=0.9),
    ):
        gold, labels, meta = _bakeoff(vendor)
        scored = score(
            "preference", gold, labels, options=ScoringOptions(n_resamples=30), metadata=meta
        )
        systems.append(system_evaluation(vendor.name, scored))
    summary = " ".join(rank_systems(systems).summary)
    what = bias.replace("_", " ")
    assert f"biased's labels are biased against gold: {what} +" in summary, summary
    assert f"({words}; 95% interval" in summary
    value, low, high = _interval(summary, f"biased's labels are biased against gold: {what}")
    assert low <= planted / 2 <= high and low > 0, (value, low, high)
    assert "fair's labels" not in summary


def test_the_verdict_names_an_inconsistent_vendor_with_its_planted_size() -> None:
    from reports._verdict import SELF_CONSISTENCY_FLOOR
    from tests.adapters.test_simulator_preference import repeated_pairs

    planted = 0.25  # share of pairs seen again answered differently
    systems = []
    for vendor in (
        SimulatedVendor(name="fickle", accuracy=0.9, inconsistency=planted),
        SimulatedVendor(name="steady", accuracy=0.9),
    ):
        gold, answers = repeated_pairs(vendor, n=400)
        scored = score("preference", gold, answers, options=ScoringOptions(n_resamples=30))
        systems.append(system_evaluation(vendor.name, scored))
    summary = " ".join(rank_systems(systems).summary)
    value, low, high = _interval(
        summary, "fickle answers repeated pairs inconsistently: self-consistency"
    )
    assert low <= 1 - planted <= high < SELF_CONSISTENCY_FLOOR, (value, low, high)
    found = systems[0].metrics["self_consistency"]
    assert f"{found.params['n_same']:,} of 400 pairs sent twice answered alike" in summary
    assert f"below the {SELF_CONSISTENCY_FLOOR:g} floor" in summary
    assert "steady answers" not in summary and "steady's labels" not in summary
