"""The report for detection label *files* (``bakeoff evaluate --task detection --html``).

Classification files are reported by :func:`service.evaluation.write_classification_html`;
this module adds COCO detection: gold instances JSON and one COCO results JSON per system
(read with :mod:`adapters.formats.coco`), scored per image by
:mod:`service.domain.report_scoring` (numbers from :mod:`metrics`: one-to-one matching at
IoU 0.5, per-class F1, box-edge bias) and reported by :mod:`reports`. Files carry no
dispatch times or costs, so the ranking is on per-image F1 alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from metrics.detection import Detections
from reports.inputs import RankingConfig, RankingWeights, SystemEvaluation
from reports.render import render_html
from reports.report import build_report
from reports.results import Report
from service.domain.report_scoring import Scored, box_scores
from service.evaluation import LabelSource

__all__ = ["FileTask", "file_report", "write_html_report"]

FileTask = Literal["detection"]
PathLike = str | os.PathLike[str]


def _system(name: str, main_metric: str, scored: Scored) -> SystemEvaluation:
    return SystemEvaluation(
        name=name,
        item_scores=scored.scores,
        main_metric=main_metric,
        metrics=scored.metrics,
        per_class=scored.per_class,
        confusion=scored.confusion,
        annotator_gold=scored.annotator_gold,
        annotator_peers=scored.annotator_peers,
        annotator_items=scored.annotator_items,
        box_bias=scored.box_bias,
    )


def _detection(gold_path: PathLike, sources: Sequence[LabelSource]) -> list[SystemEvaluation]:
    from adapters.formats.coco import read_coco_dataset, read_coco_results

    gold = read_coco_dataset(gold_path, name=Path(gold_path).name)
    image_ids = np.asarray([im.id for im in gold.images], dtype=np.int64)
    keys = pd.Index([str(im.id) for im in gold.images], name="image_id")
    names = {c.id: c.name for c in gold.categories}
    systems = []
    for src in sources:
        results = read_coco_results(src.path, gold, name=Path(src.path).name)
        boxes = Detections.from_arrays(
            image_ids=results.image_ids, category_ids=results.category_ids, boxes=results.boxes
        )
        scored = box_scores(
            gold,
            boxes,
            image_ids=image_ids,
            keys=keys,
            labelled=None,
            names=names,
            n_labels=len(results.image_ids),
        )
        systems.append(_system(src.name, "per-image F1 (IoU 0.5)", scored))
    return systems


def file_report(
    task: FileTask,
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    title: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Report:
    """Rank the systems of ``sources`` against a gold file and build the whole report.

    Parameters
    ----------
    task
        ``"detection"``: COCO instances gold, COCO results per system; every returned
        box counts (scores, if any, are ignored).
    gold_path, sources
        The gold file and one ``NAME=PATH`` source per system.
    title
        The report's title (default: ``"<gold file> bake-off"``).
    n_resamples, seed
        Paired bootstrap resamples and its seed.

    Raises
    ------
    FormatError
        Any problem with a file (one line naming the file, row or object).
    ValueError
        An unsupported task, or no sources.
    """
    if not sources:
        raise ValueError("no systems: give at least one --labels NAME=PATH")
    if task != "detection":
        raise ValueError(f"file reports here cover --task detection, not {task!r}")
    systems = _detection(gold_path, sources)
    return build_report(
        systems,
        title=title or f"{Path(gold_path).name} bake-off",
        config=RankingConfig(weights=RankingWeights(1.0, 0.0, 0.0), n_resamples=n_resamples),
        rng=np.random.default_rng(seed),
    )


def write_html_report(
    task: str,
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    out: PathLike,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Path:
    """:func:`file_report` written as one self-contained HTML file (for ``--html``)."""
    if task != "detection":
        raise ValueError(f"this HTML report covers --task detection, not {task!r}")
    report = file_report(
        "detection", gold_path, sources, n_resamples=max(n_resamples, 100), seed=seed
    )
    return render_html(report, Path(out))
