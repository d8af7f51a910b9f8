"""WER/CER against jiwer, normalisation, bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.transcription import Normalization, corpus_error_rate, edit_counts, normalize

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
    total = theirs.substitutions + theirs.deletions + theirs.insertions
    assert ours["substitutions"] + ours["deletions"] + ours["insertions"] == total


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
