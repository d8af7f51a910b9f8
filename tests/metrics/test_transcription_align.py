"""The word alignment the review page draws is the one the engine counts (and jiwer's totals)."""

from __future__ import annotations

import jiwer
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.transcription import align, edit_counts

_words = st.lists(st.sampled_from(["the", "cat", "sat", "on", "a", "mat", "today"]), max_size=9)


@settings(max_examples=200, deadline=None)
@given(_words, _words)
def test_alignment_steps_count_like_edit_counts_and_jiwer(ref: list[str], hyp: list[str]) -> None:
    steps = align(ref, hyp)
    counts = edit_counts(ref, hyp)
    assert sum(s.op == "equal" for s in steps) == counts.hits
    assert sum(s.op == "sub" for s in steps) == counts.substitutions
    assert sum(s.op == "del" for s in steps) == counts.deletions
    assert sum(s.op == "ins" for s in steps) == counts.insertions
    # the steps spell out both sequences in order
    assert [s.ref for s in steps if s.ref is not None] == ref
    assert [s.hyp for s in steps if s.hyp is not None] == hyp
    if ref and hyp:
        out = jiwer.process_words(" ".join(ref), " ".join(hyp))
        assert out.substitutions + out.deletions + out.insertions == counts.errors
