"""WER/CER against jiwer, normalisation, bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.transcription import (
    Normalization,
    corpus_error_rate,
    edit_count_arrays,
    edit_counts,
    normalize,
    number_words,
)

jiwer = pytest.importorskip("jiwer")

_WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away"]


def _corpus(seed: int, n: int = 60) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    refs, hyps = [], []
    for _ in range(n):
        ref = list(rng.choice(_WORDS, rng.integers(1, 12)))
        hyp = [w for w in ref if rng.random() > 0.15]
        hyp = [str(rng.choice(_WORDS)) if rng.random() < 0.15 else w for w in hyp]
        if rng.random() < 0.3:
            hyp.insert(int(rng.integers(0, len(hyp) + 1)), str(rng.choice(_WORDS)))
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp) or "x")
    return refs, hyps


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["s0", "s1", "s2"])
def test_wer_and_cer_equal_jiwer(seed: int) -> None:
    refs, hyps = _corpus(seed)
    assert corpus_error_rate(refs, hyps).value == pytest.approx(jiwer.wer(refs, hyps), abs=1e-9)
    assert corpus_error_rate(refs, hyps, unit="char").value == pytest.approx(
        jiwer.cer(refs, hyps), abs=1e-9
    )
    params = corpus_error_rate(refs, hyps).params
    ours = {k: int(str(params[k])) for k in ("substitutions", "deletions", "insertions")}
    theirs = jiwer.process_words(refs, hyps)
    assert ours == {
        "substitutions": theirs.substitutions,
        "deletions": theirs.deletions,
        "insertions": theirs.insertions,
    }
    assert int(str(params["hits"])) == theirs.hits


def test_counts_on_a_hand_checked_case() -> None:
    counts = edit_counts("a b c d".split(), "a x c d e".split())
    assert (counts.hits, counts.substitutions, counts.deletions, counts.insertions) == (3, 1, 0, 1)


def test_normalization_is_configurable() -> None:
    norm = Normalization(lowercase=True, strip_punctuation=True)
    assert normalize("  Hello,   World! ", norm) == "hello world"
    assert corpus_error_rate(["Hello, world"], ["hello world"]).value == 0.5
    assert corpus_error_rate(["Hello, world"], ["hello world"], normalization=norm).value == 0.0


def test_bootstrap_interval_holds_the_value() -> None:
    refs, hyps = _corpus(3)
    result = corpus_error_rate(refs, hyps, n_resamples=200, rng=np.random.default_rng(0))
    assert result.ci is not None and result.ci.low <= result.value <= result.ci.high


def test_per_item_counts_equal_jiwer_on_each_item() -> None:
    refs, hyps = _corpus(4, n=40)
    hits, subs, dels, ins = edit_count_arrays(refs, hyps)
    for i, (r, h) in enumerate(zip(refs, hyps, strict=True)):
        out = jiwer.process_words(r, h)
        assert (hits[i], subs[i], dels[i], ins[i]) == (
            out.hits,
            out.substitutions,
            out.deletions,
            out.insertions,
        )


@pytest.mark.parametrize(
    ("digits", "words"),
    [
        ("0", "zero"),
        ("7", "seven"),
        ("13", "thirteen"),
        ("40", "forty"),
        ("21", "twenty one"),
        ("100", "one hundred"),
        ("105", "one hundred five"),
        ("1,234", "one thousand two hundred thirty four"),
        ("1000000", "one million"),
        ("2,000,017", "two million seventeen"),
        ("3.05", "three point zero five"),
    ],
    ids=lambda v: str(v),
)
def test_number_words_rule(digits: str, words: str) -> None:
    assert number_words(digits) == words


def test_numbers_normalisation_meets_both_spellings() -> None:
    norm = Normalization(lowercase=True, strip_punctuation=True, numbers="words")
    assert normalize("I have 21 cats.", norm) == normalize("I have twenty-one cats", norm)
    assert normalize("the 1st mp3", norm) == "the 1st mp3"  # digits glued to letters stay
    assert (
        corpus_error_rate(
            ["I paid 1,234 dollars"],
            ["i paid one thousand two hundred thirty four dollars"],
            normalization=norm,
        ).value
        == 0.0
    )
    with pytest.raises(ValueError, match="numbers"):
        Normalization(numbers="roman")  # type: ignore[arg-type]
