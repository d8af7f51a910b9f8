"""Transcription metrics: WER and CER after a documented, configurable normalisation.

Label value shape (``transcription`` task type): one string per item.

Normalisation (:class:`Normalization`, applied to gold and hypothesis alike, in order):

1. ``lowercase``: Unicode case folding;
2. ``numbers="words"``: every number written in digits becomes English words, by one
   small rule (:func:`number_words`): ``21`` -> ``twenty one``; thousands separators
   are read (``1,234`` -> ``one thousand two hundred thirty four``); a decimal point is
   ``point`` followed by its digits one by one (``3.05`` -> ``three point zero five``);
   digits glued to letters (``1st``, ``mp3``) are left alone; a hyphen between number
   words (``twenty-one``) becomes a space, so both spellings meet. ``numbers="keep"``
   (the default) leaves numbers as written;
3. ``strip_punctuation``: drop Unicode punctuation characters;
4. ``collapse_whitespace``: runs of whitespace become one space, ends stripped (always
   in effect for WER, whose tokens are the whitespace-separated words).

Error counts come from rapidfuzz's Levenshtein alignment (the one jiwer uses, so
substitutions, deletions and insertions split as in ``jiwer.process_words``).
``WER = (S + D + I) / N`` with ``N`` the reference words; the corpus-level rate is
summed errors over summed reference length (jiwer's definition).

Examples
--------
>>> corpus_error_rate(["the cat sat"], ["the cat sat down"]).value
0.3333333333333333
>>> normalize("Room 21, twenty-one; 3.5", Normalization(lowercase=True, numbers="words",
...           strip_punctuation=True))
'room twenty one twenty one three point five'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.types import ConfidenceInterval, MetricResult

__all__ = [
    "AlignedToken",
    "EditCounts",
    "Normalization",
    "NumberRule",
    "Unit",
    "align",
    "corpus_error_rate",
    "edit_counts",
    "edit_count_arrays",
    "normalize",
    "number_words",
]

Unit = Literal["word", "char"]
NumberRule = Literal["keep", "words"]


@dataclass(frozen=True)
class Normalization:
    """What :func:`normalize` does before comparing (see the module docstring)."""

    lowercase: bool = False
    strip_punctuation: bool = False
    collapse_whitespace: bool = True
    numbers: NumberRule = "keep"

    def __post_init__(self) -> None:
        if self.numbers not in ("keep", "words"):
            raise ValueError(f"numbers must be 'keep' or 'words', got {self.numbers!r}")


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
_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w]|[.,]\d)")
_HYPHEN = re.compile(
    r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-"
    r"(one|two|three|four|five|six|seven|eight|nine)\b",
    re.IGNORECASE,
)


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def number_words(digits: str) -> str:
    """English words of a non-negative number written in digits (see the module rule).

    Examples
    --------
    >>> number_words("0"), number_words("1,234"), number_words("3.05")
    ('zero', 'one thousand two hundred thirty four', 'three point zero five')
    >>> number_words("2000000")
    'two million'
    """
    whole, _, fraction = digits.partition(".")
    n = int(whole.replace(",", ""))
    if n >= 1000 ** len(_SCALES):  # beyond quintillions: read digit by digit
        words = [_ONES[int(d)] for d in str(n)]
    elif n == 0:
        words = ["zero"]
    else:
        words = []
        for power in range(len(_SCALES) - 1, -1, -1):
            group = (n // 1000**power) % 1000
            if group:
                words += _below_thousand(group)
                if _SCALES[power]:
                    words.append(_SCALES[power])
    if fraction:
        words += ["point", *(_ONES[int(d)] for d in fraction)]
    return " ".join(words)


def _numbers_to_words(text: str) -> str:
    text = _NUMBER.sub(
        lambda m: number_words(m.group(1) + (f".{m.group(2)}" if m.group(2) else "")), text
    )
    return _HYPHEN.sub(r"\1 \2", text)


def normalize(text: str, normalization: Normalization = Normalization()) -> str:  # noqa: B008
    """Apply ``normalization`` to ``text``."""
    if not isinstance(text, str):
        raise TypeError(f"a transcript must be a string, got {type(text).__name__}")
    if normalization.lowercase:
        text = text.casefold()
    if normalization.numbers == "words":
        text = _numbers_to_words(text)
    if normalization.strip_punctuation:
        text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    if normalization.collapse_whitespace:
        text = _SPACE.sub(" ", text).strip()
    return text


def _tokens(text: str, unit: Unit) -> list[str]:
    return text.split() if unit == "word" else list(text)


def edit_counts(reference: Sequence[str], hypothesis: Sequence[str]) -> EditCounts:
    """Counts of rapidfuzz's minimal Levenshtein alignment of two token sequences.

    Examples
    --------
    >>> edit_counts("a b c d".split(), "a x c d e".split())
    EditCounts(hits=3, substitutions=1, deletions=0, insertions=1)
    """
    from rapidfuzz.distance import Levenshtein

    subs = dels = ins = 0
    for tag, _, _ in Levenshtein.editops(list(reference), list(hypothesis)):
        if tag == "replace":
            subs += 1
        elif tag == "delete":
            dels += 1
        else:
            ins += 1
    return EditCounts(len(reference) - subs - dels, subs, dels, ins)


IntArray = npt.NDArray[np.int64]


def _encode_words(texts: Sequence[str], vocab: dict[str, str]) -> list[str]:
    """Each text's words as one character per distinct word (fast Levenshtein on str)."""
    out = []
    for text in texts:
        chars = []
        for word in text.split():
            code = vocab.get(word)
            if code is None:
                k = len(vocab)
                code = chr(k if k < 0xD800 else k + 0x800)  # skip the surrogates
                vocab[word] = code
            chars.append(code)
        out.append("".join(chars))
    return out


def edit_count_arrays(
    references: Sequence[str], hypotheses: Sequence[str], *, unit: Unit = "word"
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Per item ``(hits, substitutions, deletions, insertions)`` of normalised texts.

    Words are compared as whole tokens (each distinct word coded as one character, then
    one C++ Levenshtein alignment per item); characters as they are.
    """
    from rapidfuzz.distance import Levenshtein

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if unit == "word":
        vocab: dict[str, str] = {}
        if len({w for t in (*references, *hypotheses) for w in t.split()}) > 0x10FFFF - 0x800:
            pairs: Sequence[tuple[Sequence[str], Sequence[str]]] = [
                (r.split(), h.split()) for r, h in zip(references, hypotheses, strict=True)
            ]
        else:
            refs = _encode_words(references, vocab)
            hyps = _encode_words(hypotheses, vocab)
            pairs = list(zip(refs, hyps, strict=True))
    else:
        pairs = list(zip(references, hypotheses, strict=True))
    n = len(pairs)
    subs = np.zeros(n, dtype=np.int64)
    dels = np.zeros(n, dtype=np.int64)
    ins = np.zeros(n, dtype=np.int64)
    lengths = np.fromiter((len(r) for r, _ in pairs), dtype=np.int64, count=n)
    editops = Levenshtein.editops
    for i, (ref, hyp) in enumerate(pairs):
        if ref == hyp:
            continue
        s = d = k = 0
        for tag, _, _ in editops(ref, hyp):
            if tag == "replace":
                s += 1
            elif tag == "delete":
                d += 1
            else:
                k += 1
        subs[i], dels[i], ins[i] = s, d, k
    return lengths - subs - dels, subs, dels, ins


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
    refs = [normalize(r, normalization) for r in references]
    hyps = [normalize(h, normalization) for h in hypotheses]
    hits, subs, dels, ins = edit_count_arrays(refs, hyps, unit=unit)
    errors = (subs + dels + ins).astype(np.float64)
    lengths = (hits + subs + dels).astype(np.float64)
    if lengths.sum() == 0:
        raise ValueError("the references are empty after normalisation; no rate is defined")
    value = float(errors.sum() / lengths.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        per_item = pd.Series(np.where(lengths > 0, errors / lengths, np.nan))
    ci = None
    if n_resamples > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        idx = gen.integers(0, len(refs), (n_resamples, len(refs)))
        den = lengths[idx].sum(axis=1)
        rates = np.where(den > 0, errors[idx].sum(axis=1) / np.where(den > 0, den, 1), np.nan)
        alpha = (1 - level) / 2
        ci = ConfidenceInterval(
            float(np.nanquantile(rates, alpha)), float(np.nanquantile(rates, 1 - alpha)), level
        )
    params = {
        "unit": unit,
        "hits": int(hits.sum()),
        "substitutions": int(subs.sum()),
        "deletions": int(dels.sum()),
        "insertions": int(ins.sum()),
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
    """The token-by-token alignment that :func:`edit_counts` counts (rapidfuzz's minimal
    Levenshtein alignment, the one jiwer uses), in reading order.

    Examples
    --------
    >>> [(t.op, t.ref, t.hyp) for t in align("the cat sat".split(), "the bat sat down".split())]
    [('equal', 'the', 'the'), ('sub', 'cat', 'bat'), ('equal', 'sat', 'sat'), ('ins', None, 'down')]
    """
    from rapidfuzz.distance import Levenshtein

    ref, hyp = list(reference), list(hypothesis)
    out: list[AlignedToken] = []
    for op in Levenshtein.opcodes(ref, hyp):
        tag, i1, i2, j1, j2 = op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end
        if tag == "equal":
            out.extend(
                AlignedToken("equal", r, h) for r, h in zip(ref[i1:i2], hyp[j1:j2], strict=True)
            )
        elif tag == "replace":
            out.extend(
                AlignedToken("sub", r, h) for r, h in zip(ref[i1:i2], hyp[j1:j2], strict=True)
            )
        elif tag == "delete":
            out.extend(AlignedToken("del", r, None) for r in ref[i1:i2])
        else:
            out.extend(AlignedToken("ins", None, h) for h in hyp[j1:j2])
    return out
