"""Score transcriptions (speech or OCR text): main metric **WER**, lower is better.

Label value shape: the transcript, one string per item (see ``docs/language-tasks.md``).
Gold and transcripts are first normalised by ``options.transcript_normalization``
(:class:`metrics.transcription.Normalization`: case, numbers to words, punctuation,
whitespace; documented in :mod:`metrics.transcription`).

Summary (corpus-level: summed errors over summed reference length, jiwer's definition):

* ``wer`` (main) over the transcribed items; ``wer_all`` over all gold items, an
  untranscribed item counting as every reference word deleted;
* ``cer``, ``cer_all`` likewise over characters;
* ``substitution_rate``, ``deletion_rate``, ``insertion_rate`` (per reference word, they
  sum to ``wer``) and the counts ``hits``, ``substitutions``, ``deletions``,
  ``insertions``;
* ``word_accuracy`` and ``word_accuracy_all``: the mean per-item score
  ``1 - min(WER_i, 1)`` (an item with an empty reference scores 1 when the transcript is
  empty too, else 0); ``items.score`` holds it, and it is the ranked quantity
  (``Scored.ranking_metric`` is ``word_accuracy_all``, named by ``ITEM_TITLE`` in every
  door): higher is better, which orders candidates like WER. ``wer_all`` is reported
  beside it, never shown as the ranked number.

Intervals: percentile bootstrap over gold items (paired across candidates) for the
rates; the project's Wilson-type interval for the word accuracy means. Per item:
``Scored.extra["per_item"]`` (``reference_words``, ``hits``, ``substitutions``,
``deletions``, ``insertions``, ``wer``, ``cer``). Per metadata slice (e.g. ``speaker``):
``Scored.extra["wer_by_slice"]`` (``key``, ``value``, ``n_items``, ``wer``, ``low``,
``high``, ``cer``), corpus WER per slice with bootstrap intervals.

A crowd (several transcripts per item) is reduced to its medoid: the transcript with the
lowest summed WER against the others (ties: the first given).

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series(["The cat sat.", "Hello world"], index=["a", "b"])
>>> s = score(gold, pd.Series(["the cat sat", "hello word"], index=["a", "b"]))
>>> s.value("wer"), s.value("word_accuracy"), s.summary["substitutions"].value
(0.2, 0.75, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.scoring import _assemble
from metrics.scoring._intervals import Ratio, bootstrap
from metrics.scoring.base import Scored, ScoringOptions, ScoringWarning
from metrics.scoring.slices import metadata_slices
from metrics.transcription import edit_count_arrays, normalize

__all__ = ["ITEM_METRIC", "ITEM_TITLE", "MAIN_METRIC", "MAIN_TITLE", "WER_SLICE_COLUMNS", "score"]

MAIN_METRIC = "wer"
MAIN_TITLE = "word error rate (corpus WER, lower is better)"
#: What ``items.score`` holds and the ranking orders by (``word_accuracy_all``).
ITEM_METRIC = "word_accuracy"
ITEM_TITLE = "word accuracy (mean over items of 1 - min(WER, 1), higher is better)"
#: Columns of ``Scored.extra["wer_by_slice"]``.
WER_SLICE_COLUMNS = ("key", "value", "n_items", "wer", "low", "high", "cer")

FloatArray = npt.NDArray[np.float64]


def _check_text(value: object, *, what: str, task: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what}: item {task!r}: a transcript must be a string, got {value!r}")
    return value


def _medoid(texts: list[str]) -> str:
    if len(texts) < 3:
        return texts[0]
    best, best_cost = texts[0], np.inf
    for i, candidate in enumerate(texts):
        others = texts[:i] + texts[i + 1 :]
        _, s, d, k = edit_count_arrays([candidate] * len(others), others)
        cost = float((s + d + k).sum())
        if cost < best_cost:
            best, best_cost = candidate, cost
    return best


def _answers(
    labels: pd.Series[Any] | pd.DataFrame, gold_index: pd.Index, options: ScoringOptions
) -> tuple[pd.Series[Any], pd.Series[int], int]:
    """One normalised transcript per answered gold item, answers per item, outside count."""
    given = _assemble.answer_rows(labels)
    known = set(gold_index)
    by_task: dict[Any, list[str]] = {}
    outside = 0
    norm = options.transcript_normalization
    for task, value in zip(given.tasks, given.values, strict=True):
        text = _check_text(value, what="labels", task=task)
        if task not in known:
            outside += 1
            continue
        by_task.setdefault(task, []).append(normalize(text, norm))
    order = [t for t in gold_index if t in by_task]
    answer = pd.Series([_medoid(by_task[t]) for t in order], index=order, dtype=object)
    counts = pd.Series([len(by_task[t]) for t in order], index=order, dtype=np.int64)
    return answer, counts, outside


def _slices(
    errors: FloatArray,
    lengths: FloatArray,
    char_errors: FloatArray,
    char_lengths: FloatArray,
    metadata: pd.DataFrame | None,
    index: pd.Index,
    options: ScoringOptions,
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    ratios: dict[str, Ratio] = {}
    if metadata is not None:
        for key, value, mask, _ in metadata_slices(metadata.reindex(index)):
            if int(mask.sum()) < options.min_slice_items:
                continue
            name = f"{key}={value}"
            m = mask.astype(np.float64)
            ratios[name] = Ratio(errors * m, lengths * m)
            den, cden = float((lengths * m).sum()), float((char_lengths * m).sum())
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "n_items": int(mask.sum()),
                    "wer": float((errors * m).sum()) / den if den else float("nan"),
                    "cer": float((char_errors * m).sum()) / cden if cden else float("nan"),
                    "_name": name,
                }
            )
    cis = bootstrap(
        len(index),
        ratios=ratios,
        n_resamples=options.n_resamples,
        seed=options.seed,
        level=options.level,
    )
    for row in rows:
        ci = cis.get(row.pop("_name"))
        row["low"] = ci.low if ci is not None else float("nan")
        row["high"] = ci.high if ci is not None else float("nan")
    return pd.DataFrame(rows, columns=list(WER_SLICE_COLUMNS))


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's transcripts against gold.

    Parameters
    ----------
    gold
        The reference transcript per task (index ``task``).
    labels
        The candidate's transcript per task (``None``: not transcribed), or a crowd's
        answers table (columns ``task``, ``worker``, ``label``).
    options
        Intervals, coverage floor, ``transcript_normalization``, ``min_slice_items``.
    metadata
        Item metadata (index ``task``), e.g. ``speaker``: per-slice WER.

    Returns
    -------
    Scored

    Raises
    ------
    TypeError, ValueError
        Malformed gold or labels (a transcript that is not a string, named by item).
    """
    gold = _assemble.check_gold(gold)
    norm = options.transcript_normalization
    refs = [normalize(_check_text(v, what="gold", task=t), norm) for t, v in gold.items()]
    answer, n_answers, outside = _answers(labels, gold.index, options)
    n = len(gold)
    answered = gold.index.isin(answer.index)
    hyps = answer.reindex(gold.index).where(answered, "").tolist()
    hits, subs, dels, ins = edit_count_arrays(refs, hyps, unit="word")
    c_hits, c_subs, c_dels, c_ins = edit_count_arrays(refs, hyps, unit="char")
    lengths = (hits + subs + dels).astype(np.float64)
    errors = (subs + dels + ins).astype(np.float64)
    char_lengths = (c_hits + c_subs + c_dels).astype(np.float64)
    char_errors = (c_subs + c_dels + c_ins).astype(np.float64)
    a = answered.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        item_wer = np.where(lengths > 0, errors / np.where(lengths > 0, lengths, 1), np.nan)
        item_cer = np.where(
            char_lengths > 0, char_errors / np.where(char_lengths > 0, char_lengths, 1), np.nan
        )
    empty_ref = lengths == 0
    accuracy = np.where(empty_ref, (errors == 0).astype(np.float64), 1.0 - np.minimum(item_wer, 1))
    accuracy = np.nan_to_num(accuracy)
    ratios = {
        MAIN_METRIC: Ratio(errors * a, lengths * a),
        f"{MAIN_METRIC}_all": Ratio(np.where(answered, errors, lengths), lengths),
        "cer": Ratio(char_errors * a, char_lengths * a),
        "cer_all": Ratio(np.where(answered, char_errors, char_lengths), char_lengths),
        "substitution_rate": Ratio(subs * a, lengths * a),
        "deletion_rate": Ratio(dels * a, lengths * a),
        "insertion_rate": Ratio(ins * a, lengths * a),
    }
    for name, r in _assemble.main_ratios(ITEM_METRIC, accuracy, answered).items():
        ratios[name] = r
    summary = _assemble.summarise(
        n,
        ratios=ratios,
        fixed={
            "hits": float((hits * a).sum()),
            "substitutions": float((subs * a).sum()),
            "deletions": float((dels * a).sum()),
            "insertions": float((ins * a).sum()),
            "reference_words": float((lengths * a).sum()),
        },
        options=options,
        params=dict.fromkeys(ratios, {"normalization": repr(norm)}),
    )
    # "coverage" comes from the word accuracy ratios (answered / all)
    warnings: list[ScoringWarning] = []
    warnings.extend(_assemble.outside_gold_warning(outside, "transcript(s)"))
    if empty_ref.any():
        warnings.append(
            ScoringWarning(
                "empty_references",
                f"{int(empty_ref.sum())} gold transcript(s) are empty after normalisation: "
                "their insertions count in the corpus WER, their own WER is undefined",
            )
        )
    per_item = pd.DataFrame(
        {
            "reference_words": lengths.astype(np.int64),
            "hits": hits,
            "substitutions": subs,
            "deletions": dels,
            "insertions": ins,
            "wer": item_wer,
            "cer": item_cer,
        },
        index=gold.index,
    )
    per_item = per_item[answered]
    total = float((lengths * a).sum())
    per_class = pd.DataFrame(
        {
            "count": [float((x * a).sum()) for x in (subs, dels, ins)],
            "rate": [float((x * a).sum()) / total if total else np.nan for x in (subs, dels, ins)],
        },
        index=pd.Index(["substitutions", "deletions", "insertions"], name="class"),
    )
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=accuracy,
        n_answers=n_answers,
        n_objects=n_answers,
        tie=pd.Series(False, index=gold.index),
    )
    return _assemble.finish(
        task_type="transcription",
        main=MAIN_METRIC,
        title=MAIN_TITLE,
        items=items,
        summary=summary,
        per_class=per_class,
        n_labels=int(n_answers.sum()),
        options=options,
        metadata=metadata,
        warnings=tuple(warnings),
        item_metric=ITEM_METRIC,
        item_title=ITEM_TITLE,
        extra={
            "per_item": per_item,
            "wer_by_slice": _slices(
                errors * a,
                lengths * a,
                char_errors * a,
                char_lengths * a,
                metadata,
                gold.index,
                options,
            ),
            "normalization": norm,
        },
    )
