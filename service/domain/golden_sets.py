"""Golden sets: items, versions and the expert's gold labels.

Items belong to a golden set; gold labels belong to a *version* of it. A version that a bake-off
pins is frozen: changing its gold means making a new version (:func:`correct_gold`), and the
bake-offs that used the old version keep it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, literal
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain import idempotency
from service.domain._common import (
    apply_update,
    commit_or_conflict,
    get_or_404,
    paginate,
    table_of,
)
from service.domain.access import check_project, project_scope
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.labels import check_image_size, check_inside_image, normalize_value
from service.domain.projects import class_names, get_project
from service.domain.security import Principal
from service.models import (
    BakeOff,
    GoldenItem,
    GoldenItemCreate,
    GoldenItemUpdate,
    GoldenSet,
    GoldenSetCreate,
    GoldenSetPublic,
    GoldenSetUpdate,
    GoldenSetVersion,
    GoldenSetVersionPublic,
    GoldLabel,
    GoldLabelCreate,
    GoldLabelPublic,
    Project,
)

__all__ = [
    "create_golden_set",
    "get_golden_set",
    "golden_set_public",
    "list_golden_sets",
    "update_golden_set",
    "delete_golden_set",
    "latest_version",
    "create_version",
    "get_version",
    "get_version_by_id",
    "version_public",
    "list_versions",
    "is_pinned",
    "add_items",
    "list_items",
    "get_item",
    "update_item",
    "item_ids_by_key",
    "set_gold_labels",
    "list_gold_labels",
    "correct_gold",
    "add_corrected_version",
    "changed_items",
    "golden_set_project",
]


def create_golden_set(
    *, session: Session, data: GoldenSetCreate, principal: Principal | None = None
) -> GoldenSet:
    """Create an empty golden set in a project (names are unique per project)."""
    get_project(session=session, project_id=data.project_id, principal=principal)
    golden = GoldenSet.model_validate(data)
    session.add(golden)
    commit_or_conflict(session, f"project {data.project_id} already has a golden set {data.name!r}")
    session.refresh(golden)
    return golden


def get_golden_set(
    *, session: Session, golden_set_id: int, principal: Principal | None = None
) -> GoldenSet:
    """One golden set."""
    golden = get_or_404(session, GoldenSet, golden_set_id, what="Golden set")
    check_project(principal, golden.project_id)
    return golden


def golden_set_project(session: Session, golden: GoldenSet) -> Project:
    """The project a golden set belongs to."""
    return get_or_404(session, Project, golden.project_id)


def golden_set_public(session: Session, golden: GoldenSet) -> GoldenSetPublic:
    """The public view, with the latest version number."""
    latest = latest_version(session=session, golden_set_id=golden.id or 0)
    return GoldenSetPublic.model_validate(
        golden, update={"latest_version": latest.version if latest else None}
    )


def list_golden_sets(
    *,
    session: Session,
    principal: Principal | None = None,
    project_id: int | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[GoldenSet], int]:
    """Golden sets, optionally of one project."""
    stmt = select(GoldenSet)
    scope = project_scope(principal)
    if scope is not None:
        stmt = stmt.where(GoldenSet.project_id == scope)
    if project_id is not None:
        stmt = stmt.where(GoldenSet.project_id == project_id)
    return paginate(session, stmt.order_by(col(GoldenSet.id)), skip=skip, limit=limit)


def update_golden_set(
    *,
    session: Session,
    golden_set_id: int,
    data: GoldenSetUpdate,
    principal: Principal | None = None,
) -> GoldenSet:
    """Rename or describe a golden set."""
    golden = get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    apply_update(golden, data)
    session.add(golden)
    commit_or_conflict(session, f"this project already has a golden set {data.name!r}")
    session.refresh(golden)
    return golden


def delete_golden_set(*, session: Session, golden_set_id: int) -> None:
    """Delete a golden set with its items and labels (refused while a bake-off uses it)."""
    golden = get_or_404(session, GoldenSet, golden_set_id, what="Golden set")
    used = session.exec(
        select(func.count())
        .select_from(BakeOff)
        .join(GoldenSetVersion, col(GoldenSetVersion.id) == col(BakeOff.golden_set_version_id))
        .where(GoldenSetVersion.golden_set_id == golden_set_id)
    ).one()
    if used:
        raise Conflict(f"golden set {golden_set_id} is used by {used} bake-off(s)")
    session.delete(golden)
    commit_or_conflict(session, f"golden set {golden_set_id} is still referenced")


# --------------------------------------------------------------------------- versions


def latest_version(*, session: Session, golden_set_id: int) -> GoldenSetVersion | None:
    """The newest version of a golden set, or ``None`` before the first."""
    return session.exec(
        select(GoldenSetVersion)
        .where(GoldenSetVersion.golden_set_id == golden_set_id)
        .order_by(col(GoldenSetVersion.version).desc())
        .limit(1)
    ).first()


def is_pinned(session: Session, version_id: int) -> bool:
    """Whether a bake-off uses this version (then its gold is frozen)."""
    count = session.exec(
        select(func.count()).select_from(BakeOff).where(BakeOff.golden_set_version_id == version_id)
    ).one()
    return bool(count)


def create_version(
    *,
    session: Session,
    golden_set_id: int,
    note: str = "",
    copy_labels: bool = True,
    principal: Principal | None = None,
    commit: bool = True,
) -> GoldenSetVersion:
    """Add the next version; with ``copy_labels`` it starts with the latest version's gold."""
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    parent = latest_version(session=session, golden_set_id=golden_set_id)
    version = GoldenSetVersion(
        golden_set_id=golden_set_id,
        version=(parent.version if parent else 0) + 1,
        parent_id=parent.id if parent else None,
        note=note,
        # the copied gold keeps its COCO category ids (a re-import replaces them)
        coco_category_ids=parent.coco_category_ids if copy_labels and parent else None,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError as exc:  # two requests numbered the same next version
        session.rollback()
        raise Conflict(
            f"another version of golden set {golden_set_id} was created at the same time; retry",
            code="version_conflict",
        ) from exc
    if copy_labels and parent is not None:
        now = utcnow()
        gold = table_of(GoldLabel)
        source = sa_select(
            literal(version.id),
            gold.c.item_id,
            gold.c.value,
            gold.c.annotator_id,
            literal(now, type_=gold.c.created_at.type),
        ).where(gold.c.version_id == parent.id)
        session.execute(
            insert(GoldLabel).from_select(
                ["version_id", "item_id", "value", "annotator_id", "created_at"], source
            )
        )
    if commit:
        commit_or_conflict(session, "another version was created at the same time; retry")
        session.refresh(version)
    return version


def get_version(
    *, session: Session, golden_set_id: int, version: int, principal: Principal | None = None
) -> GoldenSetVersion:
    """A version of a golden set by its number."""
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    found = session.exec(
        select(GoldenSetVersion)
        .where(GoldenSetVersion.golden_set_id == golden_set_id)
        .where(GoldenSetVersion.version == version)
    ).first()
    if found is None:
        raise NotFound(f"version {version} of golden set {golden_set_id} not found")
    return found


def get_version_by_id(*, session: Session, version_id: int) -> GoldenSetVersion:
    """A golden-set version by its database id."""
    return get_or_404(session, GoldenSetVersion, version_id, what="Golden set version")


def version_public(session: Session, version: GoldenSetVersion) -> GoldenSetVersionPublic:
    """The public view of a version, with its number of gold-labelled items."""
    count = session.exec(
        select(func.count()).select_from(GoldLabel).where(GoldLabel.version_id == version.id)
    ).one()
    return GoldenSetVersionPublic.model_validate(version, update={"item_count": int(count)})


def list_versions(
    *,
    session: Session,
    golden_set_id: int,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[GoldenSetVersion], int]:
    """The versions of a golden set, oldest first."""
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    stmt = select(GoldenSetVersion).where(GoldenSetVersion.golden_set_id == golden_set_id)
    return paginate(session, stmt.order_by(col(GoldenSetVersion.version)), skip=skip, limit=limit)


# --------------------------------------------------------------------------- items


def add_items(
    *,
    session: Session,
    golden_set_id: int,
    items: Sequence[GoldenItemCreate],
    principal: Principal | None = None,
) -> list[GoldenItem]:
    """Add items (keys unique per golden set) in one transaction."""
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    seen: set[str] = set()
    rows = []
    for i, item in enumerate(items):
        if item.key in seen:
            raise Invalid(f"duplicate item key {item.key!r}", location=("body", i, "key"))
        seen.add(item.key)
        check_image_size(item.data, ("body", i, "data"))
        rows.append(GoldenItem.model_validate(item, update={"golden_set_id": golden_set_id}))
    session.add_all(rows)
    commit_or_conflict(session, f"golden set {golden_set_id} already has one of these item keys")
    for row in rows:
        session.refresh(row)
    return rows


def list_items(
    *,
    session: Session,
    golden_set_id: int,
    principal: Principal | None = None,
    key: str | None = None,
    meta: Mapping[str, str] | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[GoldenItem], int]:
    """Items of a golden set, filtered by a key substring and ``meta`` equalities."""
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    stmt = select(GoldenItem).where(GoldenItem.golden_set_id == golden_set_id)
    if key:
        stmt = stmt.where(col(GoldenItem.key).contains(key))
    for name, value in (meta or {}).items():
        stmt = stmt.where(table_of(GoldenItem).c.meta[name].as_string() == value)
    return paginate(session, stmt.order_by(col(GoldenItem.id)), skip=skip, limit=limit)


def get_item(
    *, session: Session, golden_set_id: int, item_id: int, principal: Principal | None = None
) -> GoldenItem:
    """One item of a golden set."""
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    item = session.get(GoldenItem, item_id)
    if item is None or item.golden_set_id != golden_set_id:
        raise NotFound(f"item {item_id} of golden set {golden_set_id} not found")
    return item


def update_item(
    *,
    session: Session,
    golden_set_id: int,
    item_id: int,
    data: GoldenItemUpdate,
    principal: Principal | None = None,
) -> GoldenItem:
    """Change an item's data reference or metadata."""
    item = get_item(
        session=session, golden_set_id=golden_set_id, item_id=item_id, principal=principal
    )
    if data.data is not None:
        check_image_size(data.data, ("body", "data"))
    apply_update(item, data)
    session.add(item)
    session.commit()
    session.refresh(item)
    return item


def item_ids_by_key(session: Session, golden_set_id: int) -> dict[str, int]:
    """``{item key: item id}`` for a whole golden set (one query)."""
    rows = session.execute(
        select(GoldenItem.key, GoldenItem.id).where(GoldenItem.golden_set_id == golden_set_id)
    ).all()
    return dict(rows)


# --------------------------------------------------------------------------- gold labels


def _normalized_gold(
    session: Session, golden: GoldenSet, labels: Sequence[GoldLabelCreate]
) -> list[tuple[int, Any, str | None]]:
    project = golden_set_project(session, golden)
    classes = set(class_names(project))
    ids = item_ids_by_key(session, golden.id or 0)
    out: list[tuple[int, Any, str | None]] = []
    seen: set[str] = set()
    for i, label in enumerate(labels):
        if label.item_key not in ids:
            raise Invalid(
                f"unknown item key {label.item_key!r} in golden set {golden.id}",
                location=("body", i, "item_key"),
            )
        if label.item_key in seen:
            raise Invalid(
                f"duplicate item key {label.item_key!r}", location=("body", i, "item_key")
            )
        seen.add(label.item_key)
        value = normalize_value(
            label.value, task_type=project.task_type, classes=classes, where=("body", i, "value")
        )
        if project.task_type == "detection":
            item = session.get(GoldenItem, ids[label.item_key])
            data = dict(item.data or {}) if item is not None else {}
            check_inside_image(value, data, ("body", i, "value"))
        out.append((ids[label.item_key], value, label.annotator_id))
    return out


def _write_gold(session: Session, version_id: int, rows: list[tuple[int, Any, str | None]]) -> None:
    if not rows:
        return
    item_ids = [r[0] for r in rows]
    for start in range(0, len(item_ids), 5000):
        chunk = item_ids[start : start + 5000]
        gold = table_of(GoldLabel)
        session.execute(
            gold.delete().where(gold.c.version_id == version_id).where(gold.c.item_id.in_(chunk))
        )
    now = utcnow()
    session.execute(
        insert(GoldLabel),
        [
            {
                "version_id": version_id,
                "item_id": i,
                "value": v,
                "annotator_id": a,
                "created_at": now,
            }
            for i, v, a in rows
        ],
    )


def set_gold_labels(
    *,
    session: Session,
    golden_set_id: int,
    version: int,
    labels: Sequence[GoldLabelCreate],
    principal: Principal | None = None,
) -> int:
    """Set (insert or replace) gold labels in a version that no bake-off pins yet.

    Raises
    ------
    Conflict
        The version is pinned by a bake-off: make a new version with :func:`correct_gold`.
    Invalid
        An unknown item key or class, or a value of the wrong shape (nothing is stored).
    """
    golden = get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    found = get_version(session=session, golden_set_id=golden_set_id, version=version)
    if is_pinned(session, found.id or 0):
        raise Conflict(
            f"version {version} is used by a bake-off and is frozen; "
            f"POST /golden-sets/{golden_set_id}/corrections makes a new version"
        )
    rows = _normalized_gold(session, golden, labels)
    _write_gold(session, found.id or 0, rows)
    session.commit()
    return len(rows)


def list_gold_labels(
    *,
    session: Session,
    golden_set_id: int,
    version: int,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[GoldLabelPublic], int]:
    """The gold labels of a version with their item keys, in item order."""
    found = get_version(
        session=session, golden_set_id=golden_set_id, version=version, principal=principal
    )
    base = select(GoldLabel, GoldenItem.key).join(
        GoldenItem, col(GoldenItem.id) == col(GoldLabel.item_id)
    )
    base = base.where(GoldLabel.version_id == found.id)
    count = session.exec(
        select(func.count()).select_from(GoldLabel).where(GoldLabel.version_id == found.id)
    ).one()
    rows = session.exec(base.order_by(col(GoldLabel.item_id)).offset(skip).limit(limit)).all()
    data = [GoldLabelPublic.model_validate(g, update={"item_key": k}) for g, k in rows]
    return data, int(count)


def correct_gold(
    *,
    session: Session,
    golden_set_id: int,
    corrections: Sequence[GoldLabelCreate],
    note: str = "",
    principal: Principal | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> GoldenSetVersion:
    """Make a new version: the latest version's gold with ``corrections`` applied.

    Bake-offs pinned to older versions keep them; bake-offs may be moved to the new version
    with ``PATCH /bakeoffs/{id}`` (``golden_set_version_id``).

    Parameters
    ----------
    idempotency_key, fingerprint
        A request re-sent with the same key (and body digest) gets the version the first one
        made; concurrent ones wait for it (:mod:`service.domain.idempotency`).

    Raises
    ------
    Invalid
        No corrections, an unknown item key or class, or a value of the wrong shape.
    Conflict
        Another version was made at the same time (retry), or the key was used with another
        body.
    """
    get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    scope = f"gold-corrections:{golden_set_id}"
    replay = idempotency.lookup(session, scope=scope, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return get_version_by_id(session=session, version_id=int(replay["version_id"]))
    # lookup may have rolled back after waiting for a same-key request: read afresh
    golden = get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    version = add_corrected_version(
        session=session, golden=golden, corrections=corrections, note=note
    )
    idempotency.remember(
        session,
        scope=scope,
        key=idempotency_key,
        fingerprint=fingerprint,
        response={"version_id": version.id, "version": version.version},
    )
    commit_or_conflict(session, "another version was created at the same time; retry")
    session.refresh(version)
    return version


def add_corrected_version(
    *,
    session: Session,
    golden: GoldenSet,
    corrections: Sequence[GoldLabelCreate],
    note: str = "",
) -> GoldenSetVersion:
    """Add (not commit) the next version: the latest version's gold with ``corrections``.

    The caller commits, or rolls back on error; :func:`correct_gold` and the review queue's
    confirmation (:mod:`service.domain.review_outcomes`) share it.

    Raises
    ------
    Invalid
        No corrections, an unknown item key or class, or a value of the wrong shape.
    Conflict
        Another version was numbered the same at the same time (the session is rolled back).
    """
    if not corrections:
        raise Invalid("no corrections given", location=("body", "labels"))
    rows = _normalized_gold(session, golden, corrections)
    version = create_version(
        session=session, golden_set_id=golden.id or 0, note=note, copy_labels=True, commit=False
    )
    _write_gold(session, version.id or 0, rows)
    return version


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def changed_items(session: Session, old_version_id: int, new_version_id: int) -> list[int]:
    """Ids of the items whose gold differs between two versions (added or dropped included)."""
    if old_version_id == new_version_id:
        return []

    def gold(version_id: int) -> dict[int, str]:
        rows = session.execute(
            select(GoldLabel.item_id, GoldLabel.value).where(GoldLabel.version_id == version_id)
        ).all()
        return {int(item_id): _canonical(value) for item_id, value in rows}

    old, new = gold(old_version_id), gold(new_version_id)
    return sorted(i for i in old.keys() | new.keys() if old.get(i) != new.get(i))
