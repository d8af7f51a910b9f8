"""The transcription scorer: corpus WER/CER and S/D/I equal jiwer after the documented
normalisation; unanswered items, slices, crowds and bad values are handled out loud."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics.scoring import ScoringOptions, score
from metrics.transcription import Normalization, normalize

jiwer = pytest.importorskip("jiwer")

_WORDS = "the cat sat on a mat dog ran far away 21 Hello, World!".split()
OPTIONS = ScoringOptions(n_resamples=200, min_coverage=0.5)


def _data(n: int = 80, seed: int = 0) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    refs, hyps = [], []
    for _ in range(n):
        ref = list(rng.choice(_WORDS, rng.integers(1, 10)))
        hyp = [w for w in ref if rng.random() > 0.1]
        hyp = [str(rng.choice(_WORDS)) if rng.random() < 0.1 else w for w in hyp]
        if rng.random() < 0.2:
            hyp.append(str(rng.choice(_WORDS)))
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    index = pd.Index([f"u{k:03d}" for k in range(n)], name="task")
    meta = pd.DataFrame({"speaker": rng.choice(["ann", "bob"], n)}, index=index)
    return pd.Series(refs, index=index), pd.Series(hyps, index=index), meta


def _jiwer_norm(texts: list[str], norm: Normalization) -> list[str]:
    return [normalize(t, norm) for t in texts]


def test_corpus_wer_cer_and_counts_equal_jiwer() -> None:
    gold, labels, _ = _data()
    scored = score("transcription", gold, labels, options=OPTIONS)
    norm = OPTIONS.transcript_normalization
    refs, hyps = _jiwer_norm(gold.tolist(), norm), _jiwer_norm(labels.tolist(), norm)
    keep = [i for i, r in enumerate(refs) if r]  # jiwer refuses empty references
    refs, hyps = [refs[i] for i in keep], [hyps[i] for i in keep]
    out = jiwer.process_words(refs, hyps)
    assert scored.value("wer") == pytest.approx(out.wer, abs=1e-9)
    assert scored.value("cer") == pytest.approx(jiwer.cer(refs, hyps), abs=1e-9)
    for name in ("substitutions", "deletions", "insertions", "hits"):
        assert scored.value(name) == getattr(out, name)
    rates = sum(scored.value(f"{k}_rate") for k in ("substitution", "deletion", "insertion"))
    assert rates == pytest.approx(scored.value("wer"), abs=1e-12)
    ci = scored.summary["wer"].ci
    assert ci is not None and ci.low <= scored.value("wer") <= ci.high
    per_item = scored.extra["per_item"]
    first = gold.index[0]
    assert per_item.loc[first, "wer"] == pytest.approx(
        jiwer.wer(normalize(gold[first], norm), normalize(labels[first], norm)), abs=1e-12
    )


def test_normalisation_is_configurable() -> None:
    gold = pd.Series(["I have 21 cats."], index=["a"])
    labels = pd.Series(["i have twenty-one cats"], index=["a"])
    assert score("transcription", gold, labels).value("wer") == 0.0
    raw = ScoringOptions(transcript_normalization=Normalization())
    assert score("transcription", gold, labels, options=raw).value("wer") == 0.75  # I, 21, cats.


def test_untranscribed_items_count_as_deleted_in_wer_all() -> None:
    gold = pd.Series(["a b c d", "e f"], index=["x", "y"])
    labels = pd.Series(["a b c d", None], index=["x", "y"])
    scored = score("transcription", gold, labels, options=OPTIONS)
    assert scored.value("wer") == 0.0
    assert scored.value("wer_all") == pytest.approx(2 / 6)
    assert scored.value("word_accuracy_all") == 0.5 and scored.n_answered == 1
    assert scored.items["score"].tolist()[0] == 1.0


def test_item_score_is_clipped_word_accuracy_and_empty_references_warn() -> None:
    gold = pd.Series(["a", "", "a b"], index=["x", "y", "z"])
    labels = pd.Series(["b c d", "", "a b"], index=["x", "y", "z"])
    scored = score("transcription", gold, labels, options=OPTIONS)
    assert scored.items["score"].tolist() == [0.0, 1.0, 1.0]
    assert "empty_references" in {w.code for w in scored.warnings}
    assert scored.value("wer") == pytest.approx(3 / 3)


def test_per_speaker_wer_with_intervals() -> None:
    gold, labels, meta = _data(n=60, seed=2)
    scored = score("transcription", gold, labels, options=OPTIONS, metadata=meta)
    table = scored.extra["wer_by_slice"].set_index("value")
    norm = OPTIONS.transcript_normalization
    for speaker in ("ann", "bob"):
        mask = (meta["speaker"] == speaker).to_numpy()
        refs = _jiwer_norm(gold[mask].tolist(), norm)
        hyps = _jiwer_norm(labels[mask].tolist(), norm)
        keep = [i for i, r in enumerate(refs) if r]
        ref_wer = jiwer.wer([refs[i] for i in keep], [hyps[i] for i in keep])
        assert table.loc[speaker, "wer"] == pytest.approx(ref_wer, abs=1e-9)
        assert table.loc[speaker, "low"] <= table.loc[speaker, "wer"] <= table.loc[speaker, "high"]
    assert scored.per_slice is not None and set(scored.per_slice["value"]) == {"ann", "bob"}


def test_crowd_takes_the_medoid_transcript() -> None:
    gold = pd.Series(["the cat sat on the mat"], index=["a"])
    answers = pd.DataFrame(
        {
            "task": ["a"] * 3,
            "worker": ["w1", "w2", "w3"],
            "label": ["the cat sat on the mat", "the cat sat on a mat", "dog"],
        }
    )
    scored = score("transcription", gold, answers, options=OPTIONS)
    assert scored.value("wer") == 0.0 and scored.items["n_answers"].iloc[0] == 3


def test_a_non_string_is_refused_naming_the_item() -> None:
    gold = pd.Series(["a b"], index=["x"])
    with pytest.raises(ValueError, match=r"item 'x'.*must be a string"):
        score("transcription", gold, pd.Series([3], index=["x"]))
    with pytest.raises(ValueError, match=r"gold: item 'x'"):
        score("transcription", pd.Series([3], index=["x"]), pd.Series(["a"], index=["x"]))


def test_paired_tests_compare_word_accuracy_so_lower_wer_is_better() -> None:
    from metrics.scoring.compare import paired_comparisons

    gold, labels, _ = _data(n=60, seed=7)
    worse = labels.map(lambda t: " ".join(t.split()[:-1]) or "x")  # drops the last word
    scored = {
        "good": score("transcription", gold, labels, options=OPTIONS),
        "bad": score("transcription", gold, worse, options=OPTIONS),
    }
    assert scored["good"].value("wer") < scored["bad"].value("wer")
    (c,) = paired_comparisons(scored)
    assert c.metric == "word_accuracy_all" == scored["good"].item_score_metric
    better = c.a if c.difference > 0 else c.b
    assert better == "good" and c.significant
