"""Label issues found by a model: the one module that wraps :mod:`cleanlab`.

Three kinds of data are covered, each returning a frozen dataclass around a
documented ``pandas`` frame (never a ``dict``):

* classification: :func:`find_label_issues` on out-of-fold predicted
  probabilities (``cleanlab.filter.find_label_issues`` and
  ``cleanlab.rank.get_label_quality_scores``);
* object detection: :func:`find_box_label_issues`
  (``cleanlab.object_detection.filter`` / ``.rank``);
* several annotators per item: :func:`multiannotator_quality`
  (``cleanlab.multiannotator.get_label_quality_multiannotator``): consensus
  label, consensus quality and each annotator's quality.

:func:`out_of_fold_pred_probs` fits a scikit-learn classifier by
cross-validation on features (for example text embeddings) so that items
without uploaded predictions still get out-of-fold probabilities.

Everything here is pure: no I/O, no global random state, inputs unmodified.

Data contract
-------------
``labels``
    ``pd.Series`` indexed by ``task``; values are class names (or ids).
``pred_probs``
    ``pd.DataFrame`` of shape ``(N, K)`` indexed by ``task``; its columns are the
    ``K`` classes in a fixed order and each row sums to 1.
``boxes`` / ``predictions``
    long ``pd.DataFrame`` with one row per box and columns ``task``, ``label``,
    ``x``, ``y``, ``width``, ``height`` (COCO pixel coordinates); predictions
    also carry ``score`` (the model's probability for that class).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.types import LABEL, SCORE, TASK, WORKER, MetricResult

__all__ = [
    "BOX_COLUMNS",
    "FilterBy",
    "QualityMethod",
    "LabelIssues",
    "BoxLabelIssues",
    "MultiannotatorQuality",
    "find_label_issues",
    "find_box_label_issues",
    "multiannotator_quality",
    "out_of_fold_pred_probs",
    "ChunkedLabelIssues",
    "find_label_issues_chunked",
]

BOX_COLUMNS: Final = ("x", "y", "width", "height")

FilterBy = Literal[
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]
QualityMethod = Literal["self_confidence", "normalized_margin", "confidence_weighted_entropy"]

_PROB_TOL: Final = 1e-4


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class LabelIssues:
    """Label issues of one set of classification labels.

    Attributes
    ----------
    frame
        Indexed by ``task`` in the order of the input labels, with columns
        ``label`` (given), ``predicted_label`` (argmax of ``pred_probs``),
        ``label_quality`` (cleanlab's score in ``[0, 1]``; low = likely wrong)
        and ``is_label_issue`` (bool).
    classes
        The class order of ``pred_probs``' columns.
    filter_by, quality_method
        The cleanlab options used.
    """

    frame: pd.DataFrame
    classes: tuple[Hashable, ...]
    filter_by: FilterBy
    quality_method: QualityMethod

    @property
    def n_issues(self) -> int:
        """Number of items flagged as label issues."""
        return int(self.frame["is_label_issue"].sum())

    def ranked(self, *, only_issues: bool = True) -> pd.DataFrame:
        """Rows sorted by ``label_quality`` (most likely wrong first).

        Parameters
        ----------
        only_issues
            Keep only rows flagged ``is_label_issue``.
        """
        frame = self.frame[self.frame["is_label_issue"]] if only_issues else self.frame
        return frame.sort_values("label_quality", kind="stable")

    def to_metric_result(self) -> MetricResult:
        """The fraction of items flagged, with per-item label quality."""
        n = len(self.frame)
        value = float(self.n_issues / n) if n else float("nan")
        return MetricResult(
            name="label_issue_rate",
            value=value,
            per_item=self.frame["label_quality"].astype(float),
            params={"filter_by": self.filter_by, "quality_method": self.quality_method},
        )


@dataclass(frozen=True)
class BoxLabelIssues:
    """Per-item label issues of object-detection labels.

    Attributes
    ----------
    frame
        Indexed by ``task``, with columns ``n_boxes`` (given boxes),
        ``label_quality`` (cleanlab ObjectLab score in ``[0, 1]``; low = likely
        wrong) and ``is_label_issue`` (bool).
    classes
        The class order used to encode box labels.
    """

    frame: pd.DataFrame
    classes: tuple[Hashable, ...]

    @property
    def n_issues(self) -> int:
        """Number of items flagged as label issues."""
        return int(self.frame["is_label_issue"].sum())

    def ranked(self, *, only_issues: bool = True) -> pd.DataFrame:
        """Rows sorted by ``label_quality`` (most likely wrong first)."""
        frame = self.frame[self.frame["is_label_issue"]] if only_issues else self.frame
        return frame.sort_values("label_quality", kind="stable")


@dataclass(frozen=True)
class MultiannotatorQuality:
    """Consensus and annotator quality from several annotators per item (CROWDLAB).

    Attributes
    ----------
    consensus
        Indexed by ``task``: ``consensus_label``, ``consensus_quality`` (``[0, 1]``),
        ``annotator_agreement`` (fraction of the item's annotators agreeing with
        the consensus) and ``num_annotations``.
    label_quality
        Long frame, one row per given answer: ``task``, ``worker``, ``label``,
        ``label_quality`` (quality of that annotator's label for that item).
    annotators
        Indexed by ``worker``: ``annotator_quality``, ``agreement_with_consensus``,
        ``worst_class`` and ``num_examples_labeled``; sorted by quality, worst first.
    classes
        The class order of ``pred_probs``' columns.
    """

    consensus: pd.DataFrame
    label_quality: pd.DataFrame
    annotators: pd.DataFrame
    classes: tuple[Hashable, ...]


# --------------------------------------------------------------------------- validation


def _check_pred_probs(pred_probs: object, *, name: str = "pred_probs") -> pd.DataFrame:
    if not isinstance(pred_probs, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame indexed by task with one column per class, "
            f"got {type(pred_probs).__name__}"
        )
    if pred_probs.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 class columns, got {pred_probs.shape[1]}")
    if not pred_probs.columns.is_unique:
        dup = pred_probs.columns[pred_probs.columns.duplicated()].tolist()
        raise ValueError(f"{name} has duplicated class columns: {dup[:5]}")
    if not pred_probs.index.is_unique:
        dup = pred_probs.index[pred_probs.index.duplicated()].tolist()
        raise ValueError(f"{name} has duplicated tasks in its index: {dup[:5]}")
    values = pred_probs.to_numpy(dtype=np.float64, copy=False)
    bad = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1) | (values > 1).any(axis=1)
    if bad.any():
        rows = pred_probs.index[bad][:5].tolist()
        raise ValueError(
            f"{name} must hold finite probabilities in [0, 1]; bad rows (task): {rows}"
        )
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > _PROB_TOL
    if off.any():
        rows = pred_probs.index[off][:5].tolist()
        raise ValueError(f"{name} rows must sum to 1; rows that do not (task): {rows}")
    return pred_probs


def _check_labels(labels: object, *, name: str = "labels") -> pd.Series[Any]:
    if not isinstance(labels, pd.Series):
        raise TypeError(
            f"{name} must be a pandas Series indexed by task, got {type(labels).__name__}"
        )
    if not labels.index.is_unique:
        dup = labels.index[labels.index.duplicated()].tolist()
        raise ValueError(f"{name} has duplicated tasks in its index: {dup[:5]}")
    if labels.isna().any():
        rows = labels.index[labels.isna()][:5].tolist()
        raise ValueError(f"{name} has missing labels at tasks {rows}")
    return labels


def _encode(
    values: npt.ArrayLike, classes: pd.Index, *, where: pd.Index, name: str
) -> npt.NDArray[np.int64]:
    """Integer codes of ``values`` in ``classes``; ``ValueError`` naming unknown labels."""
    codes = classes.get_indexer(pd.Index(np.asarray(values))).astype(np.int64)
    unknown = codes < 0
    if unknown.any():
        vals = np.asarray(values)[unknown]
        raise ValueError(
            f"{name} holds labels that are not columns of pred_probs: "
            f"{sorted({str(v) for v in vals[:20]})} at tasks {where[unknown][:5].tolist()}; "
            f"known classes: {classes.tolist()}"
        )
    return codes


def _aligned_probs(labels: pd.Series[Any], pred_probs: pd.DataFrame) -> npt.NDArray[np.float64]:
    if pred_probs.index.equals(labels.index):
        return pred_probs.to_numpy(dtype=np.float64)
    missing = labels.index.difference(pred_probs.index)
    if len(missing):
        raise ValueError(
            f"pred_probs has no row for {len(missing)} labelled task(s), "
            f"e.g. {missing[:5].tolist()}"
        )
    return pred_probs.loc[labels.index].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------- classification


def find_label_issues(
    labels: pd.Series[Any],
    pred_probs: pd.DataFrame,
    *,
    filter_by: FilterBy = "prune_by_noise_rate",
    quality_method: QualityMethod = "self_confidence",
    n_jobs: int | None = 1,
) -> LabelIssues:
    """Find classification labels that a model's out-of-fold probabilities contradict.

    Parameters
    ----------
    labels
        Given labels, indexed by ``task`` (``N`` items).
    pred_probs
        Out-of-fold predicted probabilities, shape ``(N', K)`` with ``N' >= N``,
        indexed by ``task``; columns are the classes.
    filter_by
        cleanlab's rule for flagging (``cleanlab.filter.find_label_issues``).
    quality_method
        cleanlab's label quality score (``cleanlab.rank.get_label_quality_scores``).
    n_jobs
        Worker processes cleanlab may use; ``1`` (default) keeps it in-process.

    Returns
    -------
    LabelIssues
        ``frame`` indexed by ``task`` with ``label``, ``predicted_label``,
        ``label_quality``, ``is_label_issue``.

    Raises
    ------
    TypeError
        If ``labels`` is not a Series or ``pred_probs`` not a DataFrame.
    ValueError
        On unknown labels, missing rows, or rows that are not probabilities.

    Examples
    --------
    >>> import pandas as pd
    >>> probs = pd.DataFrame(
    ...     [[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4, columns=["cat", "dog"],
    ...     index=[f"t{i}" for i in range(8)])
    >>> labels = pd.Series(["cat"] * 3 + ["dog"] + ["dog"] * 4, index=probs.index)
    >>> issues = find_label_issues(labels, probs)
    >>> issues.ranked().index.tolist()
    ['t3']
    """
    labels = _check_labels(labels)
    pred_probs = _check_pred_probs(pred_probs)
    return _find_label_issues_impl(
        labels, pred_probs, filter_by=filter_by, quality_method=quality_method, n_jobs=n_jobs
    )


def _find_label_issues_impl(
    labels: pd.Series[Any],
    pred_probs: pd.DataFrame,
    *,
    filter_by: FilterBy,
    quality_method: QualityMethod,
    n_jobs: int | None,
) -> LabelIssues:
    from cleanlab.filter import find_label_issues as _cl_find
    from cleanlab.rank import get_label_quality_scores as _cl_scores

    classes = pred_probs.columns
    probs = _aligned_probs(labels, pred_probs)
    codes = _encode(labels.to_numpy(), classes, where=labels.index, name="labels")
    if len(codes) == 0:
        issue = np.zeros(0, dtype=bool)
        quality = np.zeros(0, dtype=np.float64)
    else:
        issue = np.asarray(_cl_find(codes, probs, filter_by=filter_by, n_jobs=n_jobs), dtype=bool)
        quality = np.asarray(_cl_scores(codes, probs, method=quality_method), dtype=np.float64)
    predicted = classes.take(probs.argmax(axis=1)) if len(codes) else classes[:0]
    frame = pd.DataFrame(
        {
            LABEL: labels.to_numpy(),
            "predicted_label": np.asarray(predicted),
            "label_quality": quality,
            "is_label_issue": issue,
        },
        index=labels.index.rename(TASK),
    )
    return LabelIssues(
        frame=frame,
        classes=tuple(classes),
        filter_by=filter_by,
        quality_method=quality_method,
    )


# --------------------------------------------------------------------------- object detection


def _check_boxes(boxes: object, *, name: str, with_score: bool) -> pd.DataFrame:
    if not isinstance(boxes, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(boxes).__name__}")
    need = [TASK, LABEL, *BOX_COLUMNS] + ([SCORE] if with_score else [])
    missing = [c for c in need if c not in boxes.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; needs {need}")
    num_cols = list(BOX_COLUMNS) + ([SCORE] if with_score else [])
    values = boxes[num_cols].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    bad |= (boxes["width"].to_numpy(dtype=np.float64) < 0) | (
        boxes["height"].to_numpy(dtype=np.float64) < 0
    )
    if with_score:
        s = boxes[SCORE].to_numpy(dtype=np.float64)
        bad |= (s < 0) | (s > 1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(
            f"{name} rows {rows} have non-finite or negative box sizes"
            + (" or scores outside [0, 1]" if with_score else "")
        )
    if boxes[LABEL].isna().any() or boxes[TASK].isna().any():
        rows = np.flatnonzero((boxes[LABEL].isna() | boxes[TASK].isna()).to_numpy())[:5]
        raise ValueError(f"{name} rows {rows.tolist()} have a missing task or label")
    return boxes


def _xyxy(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    xywh = frame[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
    out = xywh.copy()
    out[:, 2] = xywh[:, 0] + xywh[:, 2]
    out[:, 3] = xywh[:, 1] + xywh[:, 3]
    return out


def find_box_label_issues(
    boxes: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    tasks: Sequence[Hashable] | None = None,
    classes: Sequence[Hashable] | None = None,
) -> BoxLabelIssues:
    """Find items whose boxes a detector's predictions contradict (cleanlab ObjectLab).

    An item is an issue when any box seems overlooked, swapped to a wrong class,
    or badly located.

    Parameters
    ----------
    boxes
        Given boxes, long frame with ``task``, ``label``, ``x``, ``y``, ``width``, ``height``.
    predictions
        Out-of-sample model boxes, same columns plus ``score`` in ``[0, 1]``.
    tasks
        All items, including those with no box at all; default: every task in
        ``boxes`` or ``predictions`` (sorted).
    classes
        Class order; default: sorted union of labels in both frames.

    Returns
    -------
    BoxLabelIssues
        ``frame`` indexed by ``task`` with ``n_boxes``, ``label_quality``, ``is_label_issue``.

    Raises
    ------
    TypeError, ValueError
        On malformed frames or a task list that misses items present in the frames.
    """
    boxes = _check_boxes(boxes, name="boxes", with_score=False)
    predictions = _check_boxes(predictions, name="predictions", with_score=True)
    seen = pd.Index(pd.concat([boxes[TASK], predictions[TASK]]).unique())
    if tasks is None:
        task_index = seen.sort_values()
    else:
        task_index = pd.Index(list(tasks))
        if not task_index.is_unique:
            raise ValueError("tasks has duplicates")
        extra = seen.difference(task_index)
        if len(extra):
            raise ValueError(
                f"boxes/predictions mention tasks not in `tasks`: {extra[:5].tolist()}"
            )
    if classes is None:
        class_index = pd.Index(
            sorted(pd.concat([boxes[LABEL], predictions[LABEL]]).unique().tolist(), key=str)
        )
    else:
        class_index = pd.Index(list(classes))
    if len(class_index) == 0:
        raise ValueError("no classes: boxes and predictions are both empty")
    return _find_box_label_issues_impl(boxes, predictions, task_index, class_index)


def _find_box_label_issues_impl(
    boxes: pd.DataFrame,
    predictions: pd.DataFrame,
    task_index: pd.Index,
    class_index: pd.Index,
) -> BoxLabelIssues:
    from cleanlab.object_detection.filter import find_label_issues as _cl_find
    from cleanlab.object_detection.rank import get_label_quality_scores as _cl_scores

    cl_labels, cl_preds = _to_cleanlab_detection(boxes, predictions, task_index, class_index)
    n_boxes = np.array([len(lab["labels"]) for lab in cl_labels], dtype=np.int64)
    if len(task_index) == 0:
        issue = np.zeros(0, dtype=bool)
        quality = np.zeros(0, dtype=np.float64)
    else:
        # cleanlab prints progress; metrics stay silent.
        with contextlib.redirect_stdout(io.StringIO()):
            issue = np.asarray(_cl_find(cl_labels, cl_preds), dtype=bool)
            quality = np.asarray(_cl_scores(cl_labels, cl_preds, verbose=False), dtype=np.float64)
    frame = pd.DataFrame(
        {"n_boxes": n_boxes, "label_quality": quality, "is_label_issue": issue},
        index=task_index.rename(TASK),
    )
    return BoxLabelIssues(frame=frame, classes=tuple(class_index))


def _to_cleanlab_detection(
    boxes: pd.DataFrame,
    predictions: pd.DataFrame,
    task_index: pd.Index,
    class_index: pd.Index,
) -> tuple[list[dict[str, Any]], list[npt.NDArray[np.float64]]]:
    """Per-item cleanlab inputs: labels ``{'bboxes': (L,4) xyxy, 'labels': (L,)}`` and
    predictions ``[K arrays of (M,5)]``."""
    n_classes = len(class_index)
    lab_codes = _encode(boxes[LABEL].to_numpy(), class_index, where=boxes.index, name="boxes")
    pred_codes = _encode(
        predictions[LABEL].to_numpy(), class_index, where=predictions.index, name="predictions"
    )
    lab_pos = task_index.get_indexer(pd.Index(boxes[TASK]))
    pred_pos = task_index.get_indexer(pd.Index(predictions[TASK]))
    lab_xyxy = _xyxy(boxes)
    pred_rows = np.column_stack([_xyxy(predictions), predictions[SCORE].to_numpy(np.float64)])

    labels_out: list[dict[str, Any]] = []
    preds_out: list[npt.NDArray[np.float64]] = []
    lab_order = np.argsort(lab_pos, kind="stable")
    pred_order = np.argsort(pred_pos, kind="stable")
    lab_bounds = np.searchsorted(lab_pos[lab_order], np.arange(len(task_index) + 1))
    pred_bounds = np.searchsorted(pred_pos[pred_order], np.arange(len(task_index) + 1))
    for i, task in enumerate(task_index):
        li = lab_order[lab_bounds[i] : lab_bounds[i + 1]]
        pi = pred_order[pred_bounds[i] : pred_bounds[i + 1]]
        labels_out.append(
            {
                "bboxes": lab_xyxy[li].reshape(-1, 4),
                "labels": lab_codes[li],
                "image_name": str(task),
            }
        )
        per_class = np.empty(n_classes, dtype=object)
        pcodes = pred_codes[pi]
        prows = pred_rows[pi].reshape(-1, 5)
        for k in range(n_classes):
            per_class[k] = prows[pcodes == k].reshape(-1, 5)
        preds_out.append(per_class)
    return labels_out, preds_out


# --------------------------------------------------------------------------- multi-annotator


def multiannotator_quality(
    answers: pd.DataFrame,
    pred_probs: pd.DataFrame,
    *,
    consensus_method: Literal["best_quality", "majority_vote"] = "best_quality",
    quality_method: Literal["crowdlab", "agreement"] = "crowdlab",
) -> MultiannotatorQuality:
    """Consensus labels and annotator quality when several annotators label each item.

    Parameters
    ----------
    answers
        Long frame with columns ``task``, ``worker``, ``label``; one answer per
        (task, worker).
    pred_probs
        Out-of-fold model probabilities indexed by ``task`` (must cover every
        answered task); columns are the classes.
    consensus_method, quality_method
        cleanlab options (``get_label_quality_multiannotator``).

    Returns
    -------
    MultiannotatorQuality

    Raises
    ------
    TypeError, ValueError
        On malformed input, duplicate (task, worker) answers, unknown labels, or
        data where no item has two annotators.
    """
    if not isinstance(answers, pd.DataFrame):
        raise TypeError(f"answers must be a pandas DataFrame, got {type(answers).__name__}")
    missing = [c for c in (TASK, WORKER, LABEL) if c not in answers.columns]
    if missing:
        raise ValueError(f"answers lacks column(s) {missing}; needs task, worker, label")
    if answers[[TASK, WORKER, LABEL]].isna().any().any():
        rows = np.flatnonzero(answers[[TASK, WORKER, LABEL]].isna().any(axis=1).to_numpy())
        raise ValueError(f"answers rows {rows[:5].tolist()} have a missing task, worker or label")
    dup = answers.duplicated([TASK, WORKER])
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())[:5].tolist()
        raise ValueError(f"answers has more than one answer per (task, worker) at rows {rows}")
    pred_probs = _check_pred_probs(pred_probs)
    counts = answers.groupby(TASK, sort=False).size()
    if len(counts) == 0 or int(counts.max()) < 2:
        raise ValueError("multiannotator_quality needs at least one task with 2 or more answers")
    return _multiannotator_quality_impl(
        answers, pred_probs, consensus_method=consensus_method, quality_method=quality_method
    )


def _multiannotator_quality_impl(
    answers: pd.DataFrame,
    pred_probs: pd.DataFrame,
    *,
    consensus_method: Literal["best_quality", "majority_vote"],
    quality_method: Literal["crowdlab", "agreement"],
) -> MultiannotatorQuality:
    from cleanlab.multiannotator import get_label_quality_multiannotator

    classes = pred_probs.columns
    codes = _encode(answers[LABEL].to_numpy(), classes, where=answers.index, name="answers")
    task_index = pd.Index(answers[TASK].unique())
    worker_index = pd.Index(answers[WORKER].unique())
    probs = _aligned_probs(pd.Series(0, index=task_index), pred_probs)
    wide = np.full((len(task_index), len(worker_index)), np.nan)
    rows = task_index.get_indexer(answers[TASK])
    cols = worker_index.get_indexer(answers[WORKER])
    wide[rows, cols] = codes
    # Column names stand in for worker ids: cleanlab requires str-able, unique ones.
    col_names = [f"w{j}" for j in range(len(worker_index))]
    with contextlib.redirect_stdout(io.StringIO()):
        out = get_label_quality_multiannotator(
            pd.DataFrame(wide, columns=col_names),
            probs,
            consensus_method=consensus_method,
            quality_method=quality_method,
            verbose=False,
        )
    lq = out["label_quality"]
    consensus = pd.DataFrame(
        {
            "consensus_label": np.asarray(classes.take(lq["consensus_label"].to_numpy(np.int64))),
            "consensus_quality": lq["consensus_quality_score"].to_numpy(np.float64),
            "annotator_agreement": lq["annotator_agreement"].to_numpy(np.float64),
            "num_annotations": lq["num_annotations"].to_numpy(np.int64),
        },
        index=task_index.rename(TASK),
    )
    detailed = out["detailed_label_quality"].to_numpy(np.float64)
    label_quality = pd.DataFrame(
        {
            TASK: answers[TASK].to_numpy(),
            WORKER: answers[WORKER].to_numpy(),
            LABEL: answers[LABEL].to_numpy(),
            "label_quality": detailed[rows, cols],
        },
        index=answers.index,
    )
    stats = out["annotator_stats"]
    pos = pd.Index(col_names).get_indexer(stats.index)
    worst = stats["worst_class"].to_numpy(np.int64)
    annotators = pd.DataFrame(
        {
            "annotator_quality": stats["annotator_quality"].to_numpy(np.float64),
            "agreement_with_consensus": stats["agreement_with_consensus"].to_numpy(np.float64),
            "worst_class": np.asarray(classes.take(worst)),
            "num_examples_labeled": stats["num_examples_labeled"].to_numpy(np.int64),
        },
        index=pd.Index(worker_index.take(pos), name=WORKER),
    )
    return MultiannotatorQuality(
        consensus=consensus,
        label_quality=label_quality,
        annotators=annotators,
        classes=tuple(classes),
    )


# --------------------------------------------------------------------------- out-of-fold model


def out_of_fold_pred_probs(
    features: pd.DataFrame,
    labels: pd.Series[Any],
    *,
    estimator: Any = None,
    n_splits: int = 5,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Out-of-fold predicted probabilities from a classifier fit by cross-validation.

    Each item's probabilities come from a model that never saw it
    (``sklearn.model_selection.cross_val_predict(method="predict_proba")`` over
    stratified folds), as cleanlab requires.

    Parameters
    ----------
    features
        Numeric features (e.g. text embeddings), shape ``(N, D)``, indexed by ``task``.
    labels
        The labels to learn, indexed by ``task`` (same tasks as ``features``).
    estimator
        A scikit-learn classifier with ``predict_proba``; cloned, never mutated.
        Default: standardised features into ``LogisticRegression(max_iter=1000)``
        (``make_pipeline(StandardScaler(), LogisticRegression(...))``).
    n_splits
        Number of stratified folds (at least 2); lowered to the smallest class
        size when a class is rarer.
    rng
        Seeds fold shuffling (and the estimator's ``random_state`` when it has one).

    Returns
    -------
    pandas.DataFrame
        Shape ``(N, K)`` indexed by ``task`` in the order of ``labels``; columns
        are the sorted distinct labels.

    Raises
    ------
    ValueError
        If a class has fewer than 2 items, tasks differ, or features are not finite.
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = _check_labels(labels)
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    missing = labels.index.difference(features.index)
    if len(missing):
        raise ValueError(f"features has no row for tasks {missing[:5].tolist()}")
    x = features.loc[labels.index].to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        rows = labels.index[~np.isfinite(x).all(axis=1)][:5].tolist()
        raise ValueError(f"features must be finite; bad rows (task): {rows}")
    counts = labels.value_counts()
    if len(counts) < 2:
        raise ValueError("labels must contain at least 2 classes to fit a classifier")
    if int(counts.min()) < 2:
        rare = counts[counts < 2].index.tolist()
        raise ValueError(
            f"class(es) {rare[:5]} have fewer than 2 items; cross-validation cannot hold one out"
        )
    classes = pd.Index(sorted(counts.index.tolist(), key=str))
    y = _encode(labels.to_numpy(), classes, where=labels.index, name="labels")
    seed = int((rng or np.random.default_rng(0)).integers(0, 2**31 - 1))
    model = (
        clone(estimator)
        if estimator is not None
        else make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    )
    seeded = {
        k: seed for k in model.get_params() if k == "random_state" or k.endswith("__random_state")
    }
    model.set_params(**seeded)
    folds = StratifiedKFold(
        n_splits=min(n_splits, int(counts.min())), shuffle=True, random_state=seed
    )
    probs = cross_val_predict(model, x, y, cv=folds, method="predict_proba")
    return pd.DataFrame(
        np.asarray(probs, dtype=np.float64), index=labels.index.rename(TASK), columns=classes
    )


# --------------------------------------------------------------------------- chunked (big data)


@dataclass(frozen=True)
class ChunkedLabelIssues:
    """Label issues of a delivery too big for memory, found chunk by chunk.

    Attributes
    ----------
    label_quality
        Shape ``(N,)``: cleanlab's label quality per row, in the order the chunks gave them
        (low = likely wrong).
    issues
        Row indices of the label issues, most severe first (cleanlab's ranking).
    classes
        The class order of the probabilities' columns.
    quality_method
        The cleanlab quality score used.
    """

    label_quality: npt.NDArray[np.float64]
    issues: npt.NDArray[np.int64]
    classes: tuple[Hashable, ...]
    quality_method: Literal["self_confidence", "normalized_margin"]

    @property
    def is_label_issue(self) -> npt.NDArray[np.bool_]:
        """Shape ``(N,)``: whether each row is a label issue."""
        mask = np.zeros(self.label_quality.size, dtype=bool)
        mask[self.issues] = True
        return mask


def _chunk_arrays(
    labels: npt.ArrayLike, pred_probs: npt.ArrayLike, classes: pd.Index, number: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    probs = np.asarray(pred_probs, dtype=np.float64)
    given = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(
            f"chunk {number}: pred_probs must have shape (n, {len(classes)}) (one column per "
            f"class), got {probs.shape}"
        )
    if given.shape != (probs.shape[0],):
        raise ValueError(
            f"chunk {number}: {given.shape[0] if given.ndim else 0} labels for "
            f"{probs.shape[0]} rows of pred_probs"
        )
    bad = ~np.isfinite(probs).all(axis=1) | (np.abs(probs.sum(axis=1) - 1.0) > _PROB_TOL)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"chunk {number}: rows {rows} are not probabilities summing to 1")
    where = pd.RangeIndex(len(given))
    return _encode(given, classes, where=where, name=f"chunk {number} labels"), probs


def find_label_issues_chunked(
    chunks: Callable[[], Iterable[tuple[npt.ArrayLike, npt.ArrayLike]]],
    *,
    classes: Sequence[Hashable],
    quality_method: Literal["self_confidence", "normalized_margin"] = "self_confidence",
) -> ChunkedLabelIssues:
    """Label issues from chunks, in bounded memory (cleanlab's ``LabelInspector``).

    Two passes over the data, as ``cleanlab.experimental.label_issues_batched`` does: the
    first estimates the per-class confident thresholds, the second scores every label and
    counts the issues; the issues are the lowest-quality labels, as many as cleanlab
    estimates (``filter_by="low_self_confidence"`` or ``"low_normalized_margin"``). Only one
    chunk of probabilities is in memory at a time; the result keeps one float per row.
    The same rows in one array give exactly ``find_label_issues_batched``'s answer.

    Parameters
    ----------
    chunks
        Called twice; each call yields ``(labels, pred_probs)`` chunks in the same order:
        ``labels`` shape ``(n,)`` class names from ``classes``, ``pred_probs`` shape
        ``(n, K)`` with columns in ``classes`` order and rows summing to 1.
    classes
        The ``K`` classes, in the probabilities' column order.
    quality_method
        cleanlab's label quality score.

    Returns
    -------
    ChunkedLabelIssues

    Raises
    ------
    ValueError
        A chunk with the wrong shape, rows that are not probabilities, or unknown labels
        (named with their chunk); or the two passes gave different row counts.

    Examples
    --------
    >>> probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4)
    >>> labels = np.array(["cat"] * 3 + ["dog"] + ["dog"] * 4)
    >>> found = find_label_issues_chunked(
    ...     lambda: [(labels[:5], probs[:5]), (labels[5:], probs[5:])], classes=["cat", "dog"]
    ... )
    >>> found.issues.tolist()
    [3]
    """
    from cleanlab.experimental.label_issues_batched import LabelInspector, find_top_issues

    if quality_method not in ("self_confidence", "normalized_margin"):
        raise ValueError(
            "quality_method must be 'self_confidence' or 'normalized_margin'; "
            f"got {quality_method!r}"
        )
    index = pd.Index(list(classes))
    if len(index) < 2 or not index.is_unique:
        raise ValueError(f"classes must be at least 2 unique names; got {list(classes)[:10]}")
    inspector = LabelInspector(
        num_class=len(index),
        store_results=False,
        verbose=False,
        quality_score_kwargs={"method": quality_method},
        n_jobs=1,
    )
    n_first = 0
    for number, (labels, pred_probs) in enumerate(chunks()):
        codes, probs = _chunk_arrays(labels, pred_probs, index, number)
        if len(codes):
            inspector.update_confident_thresholds(codes, probs)
        n_first += len(codes)
    scores: list[npt.NDArray[np.float64]] = []
    for number, (labels, pred_probs) in enumerate(chunks()):
        codes, probs = _chunk_arrays(labels, pred_probs, index, number)
        if len(codes):
            scores.append(np.asarray(inspector.score_label_quality(codes, probs), np.float64))
    quality = np.concatenate(scores) if scores else np.zeros(0, dtype=np.float64)
    if quality.size != n_first:
        raise ValueError(
            f"the chunks gave {n_first} rows on the first pass and {quality.size} on the second"
        )
    issues = (
        np.asarray(find_top_issues(quality, top=inspector.get_num_issues(silent=True)), np.int64)
        if quality.size
        else np.zeros(0, dtype=np.int64)
    )
    return ChunkedLabelIssues(
        label_quality=quality,
        issues=issues,
        classes=tuple(index.tolist()),
        quality_method=quality_method,
    )
