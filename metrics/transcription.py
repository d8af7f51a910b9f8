"""Transcription metrics: WER and CER after a documented, configurable normalisation.

Label value shape (planned ``transcription`` task type): one string per item.

Normalisation (:class:`Normalization`, applied to gold and hypothesis alike, in order):
``lowercase`` (case-fold), ``strip_punctuation`` (drop Unicode punctuation characters),
``collapse_whitespace`` (runs of whitespace become one space, ends stripped; always on
for WER, whose tokens are the whitespace-separated words). Numbers are left as written
(``"3"`` and ``"three"`` differ); a number normaliser is future work.

Error counts come from a minimal edit-distance alignment (Levenshtein): the total
``S + D + I`` is unique; how it splits into S, D and I follows one fixed minimal
alignment (substitutions preferred). ``WER = (S + D + I) / N`` with ``N`` the reference
words, corpus-level = summed errors over summed reference length (jiwer's definition).

Examples
--------
>>> corpus_error_rate(["the cat sat"], ["the cat sat down"]).value
0.3333333333333333
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from metrics.types import ConfidenceInterval, MetricResult

__all__ = [
    "AlignedToken",
    "EditCounts",
    "Normalization",
    "Unit",
    "align",
    "corpus_error_rate",
    "edit_counts",
    "normalize",
]

Unit = Literal["word", "char"]


@dataclass(frozen=True)
class Normalization:
    """What :func:`normalize` does before comparing (see the module docstring)."""

    lowercase: bool = False
    strip_punctuation: bool = False
    collapse_whitespace: bool = True


@dataclass(frozen=True)
class EditCounts:
    """Hits, substitutions, deletions and insertions of one alignment."""

    hits: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def reference_length(self) -> int:
        return self.hits + self.substitutions + self.deletions


_SPACE = re.compile(r"\s+")


def normalize(text: str, normalization: Normalization = Normalization()) -> str:  # noqa: B008
    """Apply ``normalization`` to ``text``."""
    if not isinstance(text, str):
        raise TypeError(f"a transcript must be a string, got {type(text).__name__}")
    if normalization.lowercase:
        text = text.casefold()
    if normalization.strip_punctuation:
        text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    if normalization.collapse_whitespace:
        text = _SPACE.sub(" ", text).strip()
    return text


def _tokens(text: str, unit: Unit) -> list[str]:
    return text.split() if unit == "word" else list(text)


def edit_counts(reference: Sequence[str], hypothesis: Sequence[str]) -> EditCounts:
    """Counts of one minimal Levenshtein alignment of two token sequences."""
    n, m = len(reference), len(hypothesis)
    dist = np.zeros((n + 1, m + 1), dtype=np.int64)
    dist[:, 0] = np.arange(n + 1)
    dist[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        ref = reference[i - 1]
        for j in range(1, m + 1):
            cost = 0 if ref == hypothesis[j - 1] else 1
            dist[i, j] = min(dist[i - 1, j - 1] + cost, dist[i - 1, j] + 1, dist[i, j - 1] + 1)
    hits = subs = dels = ins = 0
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            cost = 0 if reference[i - 1] == hypothesis[j - 1] else 1
            if dist[i, j] == dist[i - 1, j - 1] + cost:
                hits, subs = hits + (cost == 0), subs + cost
                i, j = i - 1, j - 1
                continue
        if i > 0 and dist[i, j] == dist[i - 1, j] + 1:
            dels, i = dels + 1, i - 1
        else:
            ins, j = ins + 1, j - 1
    return EditCounts(hits, subs, dels, ins)


def corpus_error_rate(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    unit: Unit = "word",
    normalization: Normalization = Normalization(),  # noqa: B008 - frozen
    n_resamples: int = 0,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
) -> MetricResult:
    """Corpus WER (``unit="word"``) or CER (``"char"``), per-item rates in ``per_item``.

    ``params`` holds the corpus ``substitutions``, ``deletions``, ``insertions``,
    ``hits``; with ``n_resamples`` > 0, ``ci`` is a percentile bootstrap over items.

    Raises
    ------
    ValueError
        Lengths differ, or the normalised references hold no token at all.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    counts = [
        edit_counts(
            _tokens(normalize(r, normalization), unit), _tokens(normalize(h, normalization), unit)
        )
        for r, h in zip(references, hypotheses, strict=True)
    ]
    errors = np.array([c.errors for c in counts], dtype=np.float64)
    lengths = np.array([c.reference_length for c in counts], dtype=np.float64)
    if lengths.sum() == 0:
        raise ValueError("the references are empty after normalisation; no rate is defined")
    value = float(errors.sum() / lengths.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        per_item = pd.Series(np.where(lengths > 0, errors / lengths, np.nan))
    ci = None
    if n_resamples > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        idx = gen.integers(0, len(counts), (n_resamples, len(counts)))
        den = lengths[idx].sum(axis=1)
        rates = np.where(den > 0, errors[idx].sum(axis=1) / np.where(den > 0, den, 1), np.nan)
        alpha = (1 - level) / 2
        ci = ConfidenceInterval(
            float(np.nanquantile(rates, alpha)), float(np.nanquantile(rates, 1 - alpha)), level
        )
    params = {
        "unit": unit,
        "hits": sum(c.hits for c in counts),
        "substitutions": sum(c.substitutions for c in counts),
        "deletions": sum(c.deletions for c in counts),
        "insertions": sum(c.insertions for c in counts),
    }
    return MetricResult("wer" if unit == "word" else "cer", value, per_item, params, ci)


@dataclass(frozen=True)
class AlignedToken:
    """One step of an alignment: ``op`` is ``equal``, ``sub`` (``ref`` heard as ``hyp``),
    ``del`` (``ref`` missing from the hypothesis) or ``ins`` (``hyp`` not in the reference)."""

    op: Literal["equal", "sub", "del", "ins"]
    ref: str | None
    hyp: str | None


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> list[AlignedToken]:
    """The token-by-token alignment :func:`edit_counts` counts (same table, same backtrace:
    a diagonal step first, then a deletion, else an insertion), in reading order.

    Examples
    --------
    >>> [(t.op, t.ref, t.hyp) for t in align("the cat sat".split(), "the bat sat down".split())]
    [('equal', 'the', 'the'), ('sub', 'cat', 'bat'), ('equal', 'sat', 'sat'), ('ins', None, 'down')]
    """
    n, m = len(reference), len(hypothesis)
    dist = np.zeros((n + 1, m + 1), dtype=np.int64)
    dist[:, 0] = np.arange(n + 1)
    dist[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        ref = reference[i - 1]
        for j in range(1, m + 1):
            cost = 0 if ref == hypothesis[j - 1] else 1
            dist[i, j] = min(dist[i - 1, j - 1] + cost, dist[i - 1, j] + 1, dist[i, j - 1] + 1)
    out: list[AlignedToken] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = reference[i - 1] == hypothesis[j - 1]
            if dist[i, j] == dist[i - 1, j - 1] + (0 if same else 1):
                op: Literal["equal", "sub"] = "equal" if same else "sub"
                out.append(AlignedToken(op, reference[i - 1], hypothesis[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and dist[i, j] == dist[i - 1, j] + 1:
            out.append(AlignedToken("del", reference[i - 1], None))
            i -= 1
        else:
            out.append(AlignedToken("ins", None, hypothesis[j - 1]))
            j -= 1
    out.reverse()
    return out
