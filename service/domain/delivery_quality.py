"""Honeypot quality of a delivery's vendor: accuracy per annotator and week, and the alert.

Reads the vendor's honeypot answers in the project over its deliveries up to (and
including) the one asked about, and hands them to the engine: every accuracy and interval
comes from :func:`metrics.scoring.score` (the task type's main metric), the 0/1 outcomes
for the alert from the engine's per-item scores (:func:`metrics.sequential.honeypot_outcomes`)
and the alert from :mod:`metrics.sequential`. This module only arranges rows.

* Per ISO week of the answer (its reported completion time, else when it was imported):
  the vendor as a whole (several annotators on one honeypot are merged by the engine's
  majority vote) and each annotator.
* Alerts: one Bernoulli CUSUM for the vendor over every honeypot answer in time order, and
  one per annotator over its own answers, designed from the delivery's agreed accuracy
  ``p0``, alert accuracy ``p1`` and target in-control ARL. The design's exact false-alarm
  rate per honeypot and per week (at the vendor's observed honeypots per week) is stated.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, and_, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session

from metrics.scoring import Scored, ScoringOptions, score
from metrics.sequential import (
    CusumDesign,
    bernoulli_cusum,
    cusum_alarm_probability,
    design_bernoulli_cusum,
    honeypot_outcomes,
)
from service.domain._common import get_or_404, table_of
from service.domain.deliveries import get_delivery
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import (
    Delivery,
    DeliveryItem,
    DeliveryLabel,
    DeliveryQualityPublic,
    GoldLabel,
    HoneypotAccuracyPublic,
    HoneypotAlertPublic,
    HoneypotDesignPublic,
    Project,
)

__all__ = ["honeypot_answers", "delivery_quality"]

_PASS_RULE = (
    "a honeypot answer is right when the engine scores it 1 on the main metric "
    "(classification: the label equals gold; boxes and spans: every object matched)"
)


@lru_cache(maxsize=64)
def _design(p0: float, p1: float, target_arl: float) -> CusumDesign:
    return design_bernoulli_cusum(p0, p1, target_arl=target_arl)


def honeypot_answers(session: Session, delivery: Delivery) -> pd.DataFrame:
    """The vendor's honeypot answers in the project, deliveries up to ``delivery``.

    Returns
    -------
    pandas.DataFrame
        Columns ``delivery_id``, ``item`` (the vendor-facing key), ``annotator`` (``""``
        for none), ``label``, ``gold``, ``at`` (UTC), ``label_id``; sorted by ``at`` then
        ``label_id``.
    """
    d, i, lab, g = (table_of(t) for t in (Delivery, DeliveryItem, DeliveryLabel, GoldLabel))
    rows = session.execute(
        sa_select(
            d.c.id,
            i.c.key,
            lab.c.annotator_id,
            cast(lab.c.value, Text),
            cast(g.c.value, Text),
            lab.c.completed_at,
            lab.c.created_at,
            lab.c.id,
        )
        .select_from(lab)
        .join(i, and_(i.c.id == lab.c.item_id, i.c.delivery_id == lab.c.delivery_id))
        .join(d, d.c.id == lab.c.delivery_id)
        .join(
            g,
            and_(g.c.item_id == i.c.gold_item_id, g.c.version_id == d.c.golden_set_version_id),
        )
        .where(d.c.project_id == delivery.project_id)
        .where(d.c.vendor_id == delivery.vendor_id)
        .where(d.c.id <= (delivery.id or 0))
        .where(i.c.gold_item_id.is_not(None))
    ).all()
    frame = pd.DataFrame(
        rows,
        columns=["delivery_id", "item", "annotator", "label", "gold", "done", "created", "id"],
    )
    frame["annotator"] = frame["annotator"].fillna("")
    for column in ("label", "gold"):
        frame[column] = pd.Series(
            [json.loads(t) for t in frame[column]], index=frame.index, dtype=object
        )
    done = pd.to_datetime(frame["done"], utc=True).astype("datetime64[ns, UTC]")
    at = done.fillna(pd.to_datetime(frame["created"], utc=True).astype("datetime64[ns, UTC]"))
    out = pd.DataFrame(
        {
            "delivery_id": frame["delivery_id"].astype(np.int64),
            "item": frame["item"].astype(str),
            "annotator": frame["annotator"].astype(str),
            "label": frame["label"],
            "gold": frame["gold"],
            "at": at,
            "label_id": frame["id"].astype(np.int64),
        }
    )
    return out.sort_values(["at", "label_id"], kind="stable").reset_index(drop=True)


def _iso_week(at: pd.Series[Any]) -> pd.Series[str]:
    cal = at.dt.isocalendar()
    weeks: pd.Series[str] = cal["year"].astype(str) + "-W" + cal["week"].map("{:02d}".format)
    return weeks


def _score(task_type: Any, answers: pd.DataFrame, options: ScoringOptions) -> Scored:
    gold = answers.drop_duplicates("item").set_index("item")["gold"]
    if answers["item"].duplicated().any():  # several annotators on a honeypot: a crowd
        labels: pd.Series[Any] | pd.DataFrame = pd.DataFrame(
            {
                "task": answers["item"].to_numpy(),
                "worker": answers["annotator"].to_numpy(),
                "label": answers["label"].to_numpy(),
            }
        )
    else:
        labels = answers.set_index("item")["label"]
    return score(task_type, gold, labels, options=options)


def _accuracy(
    scored: Scored, *, week: str | None, annotator: str | None, n: int
) -> HoneypotAccuracyPublic:
    main = scored.summary.get(scored.main_metric)
    ci = main.ci if main is not None else None
    value = None if main is None or not np.isfinite(main.value) else float(main.value)
    return HoneypotAccuracyPublic(
        week=week,
        annotator_id=annotator,
        n_honeypots=n,
        value=value,
        ci_low=None if ci is None else float(ci.low),
        ci_high=None if ci is None else float(ci.high),
        warnings=[w.message for w in scored.warnings],
    )


def _alert(annotator: str | None, events: pd.DataFrame, design: CusumDesign) -> HoneypotAlertPublic:
    path = bernoulli_cusum(events["outcome"].to_numpy(), design)
    first = path.first_alarm
    return HoneypotAlertPublic(
        annotator_id=annotator,
        n_outcomes=len(events),
        n_wrong=int((events["outcome"] == 0).sum()),
        statistic=float(path.statistic[-1]) if len(events) else 0.0,
        threshold=path.threshold,
        in_alarm=path.in_alarm,
        n_alarms=len(path.alarms),
        first_alarm_index=first,
        first_alarm_at=None if first is None else events["at"].iloc[first].to_pydatetime(),
        first_alarm_delivery_id=None if first is None else int(events["delivery_id"].iloc[first]),
    )


def delivery_quality(
    *, session: Session, delivery_id: int, principal: Principal | None = None
) -> DeliveryQualityPublic:
    """Honeypot accuracy per week (vendor and annotators) and the alerts, as of a delivery."""
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = get_or_404(session, Project, delivery.project_id)
    options = ScoringOptions(min_coverage=0.0, classes=tuple(class_names(project)) or None)
    answers = honeypot_answers(session, delivery)
    design = _design(delivery.agreed_accuracy, delivery.alert_accuracy, delivery.alert_target_arl)
    warnings: list[str] = []
    weekly: list[HoneypotAccuracyPublic] = []
    alerts: list[HoneypotAlertPublic] = []
    overall = None
    metric = metric_title = ""
    per_week = 0
    if answers.empty:
        warnings.append(
            "no honeypot has been answered yet: no accuracy and no alert (the alert starts "
            "with the first answered honeypot)"
        )
    else:
        answers["week"] = _iso_week(answers["at"])
        outcomes = np.zeros(len(answers), dtype=np.int8)
        for annotator, group in answers.groupby("annotator", sort=True):
            scored = _score(project.task_type, group, options)
            by_item = scored.item_scores
            outcomes[group.index.to_numpy()] = honeypot_outcomes(
                by_item.loc[group["item"]].to_numpy()
            )
            metric, metric_title = scored.main_metric, scored.main_title
            for week, chunk in group.groupby("week", sort=True):
                weekly.append(
                    _accuracy(
                        _score(project.task_type, chunk, options),
                        week=str(week),
                        annotator=str(annotator) or None,
                        n=len(chunk),
                    )
                )
        answers["outcome"] = outcomes
        for week, chunk in answers.groupby("week", sort=True):
            weekly.append(
                _accuracy(
                    _score(project.task_type, chunk, options),
                    week=str(week),
                    annotator=None,
                    n=len(chunk),
                )
            )
        overall_scored = _score(project.task_type, answers, options)
        overall = _accuracy(overall_scored, week=None, annotator=None, n=len(answers))
        metric, metric_title = overall_scored.main_metric, overall_scored.main_title
        alerts.append(_alert(None, answers, design))
        for annotator, group in answers.groupby("annotator", sort=True):
            if annotator:
                alerts.append(_alert(str(annotator), group, design))
        per_week = int(round(answers.groupby("week").size().mean()))
    weekly.sort(key=lambda a: (a.week or "", a.annotator_id is not None, a.annotator_id or ""))
    return DeliveryQualityPublic(
        delivery_id=delivery_id,
        project_id=delivery.project_id,
        vendor_id=delivery.vendor_id,
        task_type=project.task_type,
        metric=metric,
        metric_title=metric_title,
        overall=overall,
        weekly=weekly,
        design=HoneypotDesignPublic(
            agreed_accuracy=design.p0,
            alert_accuracy=design.p1,
            target_arl=design.target_arl,
            threshold=design.decision_interval,
            arl_in_control=design.arl_in_control,
            arl_out_of_control=design.arl_out_of_control,
            false_alarm_rate=design.false_alarm_rate,
            honeypots_per_week=per_week,
            false_alarm_probability_per_week=(
                cusum_alarm_probability(design, per_week, accuracy=design.p0) if per_week else None
            ),
            pass_rule=_PASS_RULE,
        ),
        alerts=alerts,
        warnings=warnings,
    )
