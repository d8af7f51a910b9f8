"""WER and CER on 100,000 transcripts: Bakeoff vs jiwer.

Same seeded references and hypotheses (words from a 5,000-word vocabulary, 3-30 words
each, ~15% word errors) for both, in one process. Bakeoff's timed path is the public
:func:`metrics.transcription.corpus_error_rate` (whitespace normalisation, one C++
Levenshtein alignment per item with each distinct word coded as one character, S/D/I
counts), once for words and once for characters; jiwer's is ``jiwer.process_words`` and
``jiwer.cer`` (its default transforms collapse whitespace the same way). Exits 1 if a
rate or count differs (1e-9) or Bakeoff is slower than jiwer.

Usage: ``python benchmarks/bench_wer.py [--n 100000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import jiwer
import numpy as np

from metrics.transcription import corpus_error_rate


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, int(rng.integers(2, 9)))) for _ in range(5000)]
    refs, hyps = [], []
    for _ in range(n):
        ref = [vocab[i] for i in rng.integers(0, len(vocab), int(rng.integers(3, 31)))]
        hyp = []
        for w in ref:
            r = rng.random()
            if r < 0.08:
                hyp.append(vocab[int(rng.integers(0, len(vocab)))])
            elif r < 0.12:
                continue
            else:
                hyp.append(w)
            if rng.random() < 0.03:
                hyp.append(vocab[int(rng.integers(0, len(vocab)))])
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp) or vocab[0])
    return refs, hyps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    refs, hyps = _corpus(args.n, 2024)

    def ours() -> tuple[Any, Any]:
        return corpus_error_rate(refs, hyps), corpus_error_rate(refs, hyps, unit="char")

    def theirs() -> tuple[Any, float]:
        return jiwer.process_words(refs, hyps), float(jiwer.cer(refs, hyps))

    t_ours, (wer, cer) = best_of(ours, args.repeat)
    t_ref, (words, ref_cer) = best_of(theirs, args.repeat)
    ok = abs(wer.value - words.wer) <= 1e-9 and abs(cer.value - ref_cer) <= 1e-9
    for name in ("substitutions", "deletions", "insertions", "hits"):
        ok &= int(str(wer.params[name])) == getattr(words, name)
    ratio = t_ref / t_ours
    print(f"transcripts: {args.n:,}  best of {args.repeat}")
    print(f"bakeoff corpus_error_rate word + char : {t_ours:8.3f} s   WER={wer.value:.12f}")
    print(f"jiwer   process_words + cer           : {t_ref:8.3f} s   WER={words.wer:.12f}")
    print(f"speed-up: {ratio:.2f}x   results agree (rates 1e-9, S/D/I/H exact): {ok}")
    return 0 if ok and ratio >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
