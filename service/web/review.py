"""The QA review pages: bake-offs, the queue, and the item page with keyboard shortcuts.

Pages (``GET``, signed in with :mod:`service.web.auth`, role ``qa`` and up):

``/ui/review``                         bake-offs with their open flags
``/ui/review/bakeoffs/{bakeoff_id}``   the queue (filters), throughput, agreement, groups
``/ui/review/flags/{flag_id}``         one flag: the item drawn with gold and candidates
``/ui/review/deliveries/{delivery_id}`` a delivery's flags (model-label disagreement), the same
                                       ``flag`` rows and decisions as a bake-off's

The page scripts (``/static/review.js``) post JSON to the ``/ui/review/...`` action routes
below, which carry the CSRF token (``X-CSRF-Token``) and call the same domain functions as the
``/review`` API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import col, func, select

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.domain import delivery_jobs, review, review_delivery
from service.domain import flags as flags_domain
from service.domain import review_outcomes as outcomes
from service.domain import review_present as present
from service.domain.bakeoffs import list_bakeoffs
from service.domain.deliveries import get_delivery, list_deliveries
from service.domain.errors import Invalid, NotFound
from service.domain.review_language import language_view
from service.models import Flag, ReviewDecision
from service.web.auth import render
from service.web.csrf import CsrfProtected

__all__ = ["router", "PALETTE"]

router = APIRouter(prefix="/ui/review", tags=["web"], include_in_schema=False)

# Distinct, colour-blind-friendly colours: gold first (bright yellow, drawn over a dark halo so
# it shows on dim and bright images alike), then one per candidate (Okabe-Ito).
PALETTE = ("#FFD60A", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442")

_REASONS = ("vendor_vs_gold", "model_vs_label", "candidates_disagree", "gold_may_be_wrong")


_SORTS: dict[str, str] = {
    "value": "expected value of a review",
    "score": "score",
    "item": "item",
    "reason": "reason",
}


def _filters(
    reason: str | None,
    candidate: str | None,
    class_name: str | None,
    slice_: str | None,
    status: str,
    sort: str = "value",
    min_score: float | None = None,
) -> dict[str, str]:
    out = {
        "reason": reason or "",
        "candidate": candidate or "",
        "class": class_name or "",
        "slice": slice_ or "",
        "status": status if status != "open" else "",
        "sort": sort if sort != "value" else "",
        "min_score": f"{min_score:g}" if min_score is not None else "",
    }
    return {k: v for k, v in out.items() if v}


def _sort(value: str | None) -> review.QueueSort:
    if value in ("score", "item", "reason"):
        return value  # type: ignore[return-value]
    return "value"


def _since(value: int | None) -> datetime | None:
    """A worked queue's start (epoch seconds, from the queue page's links)."""
    if value is None or value <= 0:
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _status(value: str | None) -> review.QueueStatus:
    if value in ("open", "resolved", "dismissed", "all"):
        return value  # type: ignore[return-value]
    return "open"


def _reason(value: str | None) -> str | None:
    return value if value in _REASONS else None


@router.get("", response_class=HTMLResponse)
def index(
    request: Request, session: SessionDep, settings: SettingsDep, principal: CurrentKey
) -> HTMLResponse:
    """Bake-offs and deliveries to review."""
    bakeoffs, _ = list_bakeoffs(session=session, principal=principal, limit=200)
    counts = dict(
        session.exec(
            select(Flag.bakeoff_id, func.count())
            .where(Flag.status == "open")
            .where(col(Flag.bakeoff_id).is_not(None))
            .group_by(col(Flag.bakeoff_id))
        ).all()
    )
    shipped = list_deliveries(session=session, principal=principal)[:200]
    return render(
        request,
        "review/index.html",
        {
            "bakeoffs": bakeoffs,
            "open_counts": counts,
            "deliveries": shipped,
            "delivery_counts": review_delivery.open_counts(session, [d.id or 0 for d in shipped]),
        },
        settings=settings,
        principal=principal,
    )


@router.get("/bakeoffs/{bakeoff_id}", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    bakeoff_id: int,
    reason: str | None = None,
    candidate: str | None = None,
    class_name: Annotated[str | None, Query(alias="class")] = None,
    slice_: Annotated[str | None, Query(alias="slice")] = None,
    status: str | None = None,
    sort: str | None = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    layout: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """The review queue of a bake-off."""
    st = _status(status)
    rs = _reason(reason)
    so = _sort(sort)
    per_page = 48
    flags = review.list_queue(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        status=st,
        reason=rs,
        candidate=candidate or None,
        class_name=class_name or None,
        slice_=slice_ or None,
        skip=(page - 1) * per_page,
        limit=per_page,
        sort=so,
        min_score=min_score,
    )
    gold_open = review.list_queue(
        session=session, bakeoff_id=bakeoff_id, principal=principal, candidate="gold", limit=0
    ).count
    cards = present.queue_cards(
        session=session, bakeoff_id=bakeoff_id, flags=flags.data, principal=principal
    )
    stats = outcomes.review_stats(session=session, bakeoff_id=bakeoff_id, principal=principal)
    groups = outcomes.disagreement_groups(
        session=session, bakeoff_id=bakeoff_id, principal=principal
    )[:8]
    pending = outcomes.list_pending_corrections(
        session=session, bakeoff_id=bakeoff_id, principal=principal
    )
    from service.domain.bakeoffs import get_bakeoff, vendor_aliases

    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    filters = _filters(rs, candidate, class_name, slice_, st, so, min_score)
    since = int(datetime.now(tz=UTC).timestamp())
    grid = layout != "table" and any(c.image or c.text for c in cards)
    # Production deliveries from the vendor this bake-off chose: their flags, one click away.
    chosen = [
        d
        for d in list_deliveries(session=session, principal=principal)
        if d.bakeoff_id == bakeoff_id
    ]
    return render(
        request,
        "review/queue.html",
        {
            "bakeoff": bakeoff,
            "flags": flags,
            "cards": cards,
            "grid": grid,
            "gold_open": gold_open,
            "gold_view": (candidate or "").lower() == "gold",
            "sorts": _SORTS,
            "classes": present.bakeoff_classes(session=session, bakeoff_id=bakeoff_id),
            "slices": present.slice_options(session=session, bakeoff_id=bakeoff_id),
            "item_query": urlencode({**filters, "since": str(since)}),
            "stats": stats,
            "groups": groups,
            "pending": pending,
            "filters": filters,
            "query": urlencode(filters),
            "page_query": urlencode(
                {**filters, **({"layout": "table"} if layout == "table" else {})}
            ),
            "reasons": _REASONS,
            "candidates": sorted(vendor_aliases(session, bakeoff_id).values()),
            "page": page,
            "pages": max(1, -(-flags.count // per_page)),
            "can_lead": principal.role in ("admin", "lead"),
            "flag_notes": flags_domain.last_compute_notes(session=session, bakeoff_id=bakeoff_id),
            "deliveries": chosen,
            "delivery_counts": review_delivery.open_counts(session, [d.id or 0 for d in chosen]),
        },
        settings=settings,
        principal=principal,
    )


@router.get("/flags/{flag_id}", response_class=HTMLResponse)
def item_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    flag_id: int,
    reason: str | None = None,
    candidate: str | None = None,
    class_name: Annotated[str | None, Query(alias="class")] = None,
    slice_: Annotated[str | None, Query(alias="slice")] = None,
    status: str | None = None,
    sort: str | None = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    since: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """One flag: the item with gold and every candidate's label, and the decision keys."""
    if flag_id and _delivery_flag(session, flag_id):
        return _delivery_item_page(request, session, settings, principal, flag_id, status)
    st = _status(status)
    rs = _reason(reason)
    so = _sort(sort)
    item = review.get_item_review(
        session=session,
        flag_id=flag_id,
        principal=principal,
        status=st,
        reason=rs,
        candidate=candidate or None,
        class_name=class_name or None,
        slice_=slice_ or None,
        sort=so,
        min_score=min_score,
        pinned_since=_since(since),
    )
    bakeoff_id = item.flag.bakeoff_id or 0
    stats = outcomes.review_stats(session=session, bakeoff_id=bakeoff_id, principal=principal)
    filters = _filters(rs, candidate, class_name, slice_, st, so, min_score)
    sources = _sources(item)
    layers = present.item_layers(item)
    explanation = present.explain(
        item.flag,
        task_type=item.task_type,
        gold=item.gold,
        candidates=item.candidates,
        size=present.image_size(item.item_data),
    )
    # A worked queue keeps the flags decided since it was opened (``since``), so the counter,
    # ``k`` and undo reach them; a page opened without one starts such a session now.
    since = since or int(datetime.now(tz=UTC).timestamp())
    item_query = urlencode({**filters, "since": str(since)})
    mine = [r for r in item.reviews if not r.undone and r.reviewer_key_id == principal.key_id]
    last_mine = review.last_decision(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return render(
        request,
        "review/item.html",
        {
            "item": item,
            "flag": item.flag,
            "stats": stats,
            "sources": sources,
            "language": language_view(item.task_type, item.item_data, sources),
            "layers": layers,
            "explanation": explanation,
            "legend": _LEGEND,
            "query": urlencode(filters),
            "item_query": item_query,
            "mine": mine,
            "page_data": _page_data(item, layers, item_query, bool(mine), last_mine),
        },
        settings=settings,
        principal=principal,
    )


def _delivery_flag(session: SessionDep, flag_id: int) -> bool:
    flag = session.get(Flag, flag_id)
    return flag is not None and flag.delivery_id is not None


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery_queue_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    delivery_id: int,
    status: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """The review queue of a delivery: its model-label flags, most likely wrong first."""
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    st = _status(status)
    per_page = 48
    flags = review_delivery.list_delivery_queue(
        session=session,
        delivery_id=delivery_id,
        principal=principal,
        status=st,
        skip=(page - 1) * per_page,
        limit=per_page,
    )
    query = urlencode({"status": st} if st != "open" else {})
    runs = delivery_jobs.list_flag_runs(
        session=session, delivery_id=delivery_id, principal=principal
    )[:5]
    return render(
        request,
        "review/delivery_queue.html",
        {
            "delivery": delivery,
            "runs": runs,
            "flags": flags,
            "status": st,
            "query": query,
            "page": page,
            "pages": max(1, -(-flags.count // per_page)),
        },
        settings=settings,
        principal=principal,
    )


def _delivery_item_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    flag_id: int,
    status: str | None,
) -> HTMLResponse:
    """A delivery's flag: the item as the vendor saw it, its labels, accept or correct."""
    st = _status(status)
    item = review_delivery.get_item_review(
        session=session, flag_id=flag_id, principal=principal, status=st
    )
    mine = [r for r in item.reviews if not r.undone and r.reviewer_key_id == principal.key_id]
    return render(
        request,
        "review/delivery_item.html",
        {
            "item": item,
            "flag": item.flag,
            "mine": mine,
            "query": urlencode({"status": st} if st != "open" else {}),
            "labels": [(c.annotator, _plain(c.value, item.task_type)) for c in item.candidates],
        },
        settings=settings,
        principal=principal,
    )


def _plain(value: Any, task_type: str) -> str:
    """A label in a few plain words (the confirm step's "cat → fox")."""
    if value is None:
        return "no label"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " + ".join(value) if value else "no class"
    if isinstance(value, list) and task_type in ("detection", "segmentation", "spans"):
        noun = {"detection": "box", "segmentation": "mask", "spans": "span"}[task_type]
        counts: dict[str, int] = {}
        for obj in value:
            if isinstance(obj, dict):
                k = str(obj.get("category", obj.get("type", "")))
                counts[k] = counts.get(k, 0) + 1
        n = len(value)
        plural = noun + ("" if n == 1 else ("es" if noun == "box" else "s"))
        if not n:
            return f"no {noun}es" if noun == "box" else f"no {noun}s"
        return (
            f"{n} {plural} ("
            + ", ".join(f"{k}{f' ×{c}' if c > 1 else ''}" for k, c in sorted(counts.items()))
            + ")"
        )
    return json.dumps(value)


def _page_data(
    item: review.ItemReview,
    layers: list[present.Layer],
    item_query: str,
    mine: bool,
    last_mine: int | None,
) -> dict[str, Any]:
    """What the item page's script needs (``#review-data``): ids, links, and each candidate
    under its number key with whether accepting it would change gold."""
    flag = item.flag
    suggested = flag.suggested_label if flag.target == "gold" else None
    return {
        "flag_id": flag.id,
        "bakeoff_id": flag.bakeoff_id,
        "target": flag.target,
        "task_type": item.task_type,
        "next_id": item.next_id,
        "next_open_id": item.next_open_id,
        "prev_id": item.prev_id,
        "query": item_query,
        "mine": mine,
        "last_mine_id": last_mine,
        "decide_url": f"/ui/review/flags/{flag.id}/decide",
        "undo_url": f"/ui/review/flags/{flag.id}/undo",
        "queue_url": f"/ui/review/bakeoffs/{flag.bakeoff_id}",
        "classes": item.classes,
        "gold": item.gold,
        "gold_text": _plain(item.gold, item.task_type),
        "suggestion": None
        if suggested is None
        else {
            "text": _plain(suggested, item.task_type),
            "changes_gold": not present.same_label(suggested, item.gold),
        },
        "layers": [
            {
                "key": layer.key,
                "name": layer.name,
                "candidate": layer.candidate,
                "annotator": layer.annotator,
                "flagged": layer.flagged,
                "changes_gold": layer.changes_gold,
                "drew_nothing": layer.drew_nothing,
                "value": layer.value,
                "text": _plain(layer.value, item.task_type),
            }
            for layer in layers[1:]
        ],
    }


#: The box statuses, as FiftyOne marks ground truth and predictions (TP / FN / FP).
_LEGEND = (
    ("gold", "Gold", ""),
    ("matched", "Matched", "TP"),
    ("missed", "Missed", "FN"),
    ("extra", "Extra", "FP"),
    ("wrong_class", "Wrong class", ""),
    ("low_iou", "Loose", "IoU < 50%"),
)


def _segments(text: str, spans: Any) -> list[tuple[str, str | None]]:
    """``text`` cut into ``(piece, span type or None)``; overlapping spans keep the first."""
    if not isinstance(spans, list):
        return [(text, None)]
    out: list[tuple[str, str | None]] = []
    pos = 0
    for span in sorted(
        (s for s in spans if isinstance(s, dict)),
        key=lambda s: (s.get("start", 0), s.get("end", 0)),
    ):
        start, end = int(span.get("start", 0)), int(span.get("end", 0))
        if start < pos or end <= start or end > len(text):
            continue
        if start > pos:
            out.append((text[pos:start], None))
        out.append((text[start:end], str(span.get("type", ""))))
        pos = end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def _sources(item: review.ItemReview) -> list[dict[str, Any]]:
    """Gold and each candidate's answer with a colour, for drawing and side-by-side tables."""
    text = item.item_data.get("text")
    out: list[dict[str, Any]] = [
        {"name": "Gold", "css": "src-0", "colour": PALETTE[0], "value": item.gold, "score": None}
    ]
    seen: dict[str, int] = {}
    for cand in item.candidates:
        idx = seen.setdefault(cand.candidate, len(seen) + 1)
        name = cand.candidate + (f" · {cand.annotator}" if cand.annotator else "")
        out.append(
            {
                "name": name,
                "css": f"src-{min(idx, len(PALETTE) - 1)}",
                "colour": PALETTE[min(idx, len(PALETTE) - 1)],
                "value": cand.value,
                "score": cand.score,
                "flagged": cand.candidate == item.flag.candidate,
            }
        )
    if isinstance(text, str) and item.task_type == "spans":
        for src in out:
            src["segments"] = _segments(text, src["value"])
    return out


# --------------------------------------------------------------------------- page actions


@router.post("/flags/{flag_id}/decide", dependencies=[CsrfProtected])
def decide_action(
    session: SessionDep, principal: CurrentKey, flag_id: int, body: review.DecisionCreate
) -> review.DecisionResult:
    """Record a decision from the item page."""
    return review.decide(session=session, flag_id=flag_id, body=body, principal=principal)


@router.post("/flags/{flag_id}/undo", dependencies=[CsrfProtected])
def undo_action(session: SessionDep, principal: CurrentKey, flag_id: int) -> review.ReviewView:
    """Undo the caller's latest decision from the item page."""
    return review.undo(session=session, flag_id=flag_id, principal=principal)


@router.post("/flags/{flag_id}/delivery-decision", dependencies=[CsrfProtected])
def delivery_decide_action(
    session: SessionDep,
    principal: CurrentKey,
    flag_id: int,
    decision: Annotated[ReviewDecision | None, Form()] = None,
    corrected_value: Annotated[str | None, Form(max_length=100_000)] = None,
    comment: Annotated[str, Form(max_length=4000)] = "",
    undo: Annotated[str | None, Form(max_length=8)] = None,
) -> RedirectResponse:
    """Decide (or undo) a delivery's flag from its page, then show the next open flag."""
    if not _delivery_flag(session, flag_id):
        raise NotFound(f"flag {flag_id} is not a delivery's flag")
    if undo:
        review.undo(session=session, flag_id=flag_id, principal=principal)
        return RedirectResponse(f"/ui/review/flags/{flag_id}", status_code=303)
    if decision is None:
        raise Invalid("choose a decision, or undo", location=("body", "decision"))
    value: Any = None
    if decision == "correct" and corrected_value is not None:
        text = corrected_value.strip()
        # Regions and spans come as JSON from the text box; a class name comes as itself.
        try:
            value = json.loads(text) if text[:1] in ("[", "{") else text
        except ValueError as exc:
            raise Invalid(
                f"corrected_value is not valid JSON: {exc}", location=("body", "corrected_value")
            ) from exc
    body = review.DecisionCreate(decision=decision, corrected_value=value, comment=comment)
    result = review.decide(session=session, flag_id=flag_id, body=body, principal=principal)
    if result.next_id is not None:
        return RedirectResponse(f"/ui/review/flags/{result.next_id}", status_code=303)
    return RedirectResponse(f"/ui/review/deliveries/{result.flag.delivery_id}", status_code=303)


@router.post("/bakeoffs/{bakeoff_id}/flags", dependencies=[CsrfProtected])
def compute_action(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> RedirectResponse:
    """(Re)compute the bake-off's flags from stored labels, then show the queue."""
    flags_domain.compute_flags(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return RedirectResponse(f"/ui/review/bakeoffs/{bakeoff_id}", status_code=303)


@router.post("/bakeoffs/{bakeoff_id}/gold-corrections", dependencies=[CsrfProtected])
def apply_action(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    digest: Annotated[str, Form(max_length=128)] = "",
) -> RedirectResponse:
    """Confirm the pending gold corrections shown on the page (leads)."""
    outcomes.apply_gold_corrections(
        session=session,
        bakeoff_id=bakeoff_id,
        confirm=outcomes.GoldCorrectionConfirm(digest=digest),
        principal=principal,
    )
    return RedirectResponse(f"/ui/review/bakeoffs/{bakeoff_id}", status_code=303)


@router.post("/bakeoffs/{bakeoff_id}/blinding", dependencies=[CsrfProtected])
def blinding_action(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    blinded: Annotated[str, Form()] = "1",
) -> RedirectResponse:
    """Turn blinding on or off (leads)."""
    outcomes.set_blinding(
        session=session,
        bakeoff_id=bakeoff_id,
        blinded=blinded not in ("0", "false", "off"),
        principal=principal,
    )
    return RedirectResponse(f"/ui/review/bakeoffs/{bakeoff_id}", status_code=303)
