"""The Bakeoff data model (SQLModel): every table and its API schemas.

Naming follows the FastAPI template: ``XBase`` (shared fields), ``XCreate`` (request body),
``XUpdate`` (PATCH body, all optional), ``X`` (``table=True``), ``XPublic`` (response) and
``XsPublic`` (a page: ``data`` + total ``count``).

Entities
--------
Project
    A task type (:data:`adapters.base.TaskType`) and its ontology
    (:class:`adapters.base.Ontology` as JSON: classes, ``ordinal`` flag, attributes).
InstructionsVersion
    Versioned labeling instructions of a project: markdown plus examples (JSON list of
    :class:`adapters.base.InstructionExample`, counter-examples included).
GoldenSet / GoldenSetVersion / GoldenItem / GoldLabel
    Items belong to the set (a key, a data reference or payload, free ``meta`` used for slices
    such as ``{"lighting": "dim"}``); gold labels belong to a *version*. A correction makes a new
    version; bake-offs keep pointing at the version they pinned.
Vendor
    A candidate labeling system: adapter kind + settings, and its pricing.
BakeOff / BakeOffVendorLink
    A golden-set version, an instructions version, the candidates (with their blinded alias),
    ranking weights, hard constraints, production volume, blinding, status.
Task
    One golden item sent to one vendor in one bake-off (a persisted state machine).
VendorLabel
    One vendor's answer for one item by one annotator: (bake-off, vendor, item, annotator) is
    unique in the database, with a missing annotator stored as ``""`` (see
    :class:`service.core.types.BlankIsNone`), so an answer is stored once however often and by
    whichever route it is re-sent (docs/vendor-labels.md).
ApiKey
    A hashed API key with a role (and a vendor for ``vendor`` keys, optionally a project scope).
Flag / Review / AuditEvent
    Used by the QA review queue.
IdempotencyRecord
    The stored answer of a request sent with an ``Idempotency-Key`` header.
Delivery / DeliveryItem / DeliveryLabel / DeliveryAudit
    Production batches for a chosen vendor (docs/deliveries.md): every item as the vendor sees
    it (honeypots included, marked only server-side), one answer per (delivery, item,
    annotator), and the drawn audit sample with the reviewers' decisions.

Label values are JSON in the shapes of :mod:`adapters.base`: a class name (classification),
a list of class names (multilabel), a list of ``Box`` / ``Mask`` / ``Span`` dicts.

Adding a table or column: add it here, then generate a migration (see
``service/alembic/README``); ``tests/service/test_migrations.py`` fails until you do.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import field_validator
from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import AutoString, Field, SQLModel

from adapters.base import Ontology, TaskType
from reports.defaults import DEFAULT_RANKING_WEIGHTS
from reports.results import SystemScores
from service.core.types import BlankIsNone, JSONType, UTCDateTime, utcnow

__all__ = [
    "TaskType",
    "Role",
    "ROLES",
    "REDACTED",
    "is_secret_setting",
    "redact_settings",
    "BakeOffStatus",
    "TaskStatus",
    "FlagStatus",
    "ReviewDecision",
    "ProjectBase",
    "ProjectCreate",
    "ProjectUpdate",
    "Project",
    "ProjectPublic",
    "ProjectsPublic",
    "InstructionsVersionBase",
    "InstructionsVersionCreate",
    "InstructionsVersion",
    "InstructionsVersionPublic",
    "InstructionsVersionsPublic",
    "GoldenSetBase",
    "GoldenSetCreate",
    "GoldenSetUpdate",
    "GoldenSet",
    "GoldenSetPublic",
    "GoldenSetsPublic",
    "GoldenSetVersionBase",
    "GoldenSetVersionCreate",
    "GoldenSetVersion",
    "GoldenSetVersionPublic",
    "GoldenSetVersionsPublic",
    "GoldenItemBase",
    "GoldenItemCreate",
    "GoldenItemUpdate",
    "GoldenItem",
    "GoldenItemPublic",
    "GoldenItemsPublic",
    "GoldLabelBase",
    "GoldLabelCreate",
    "GoldLabel",
    "GoldLabelPublic",
    "GoldLabelsPublic",
    "VendorBase",
    "VendorCreate",
    "VendorUpdate",
    "Vendor",
    "VendorPublic",
    "VendorsPublic",
    "BakeOffBase",
    "BakeOffCreate",
    "BakeOffUpdate",
    "BakeOff",
    "BakeOffPublic",
    "BakeOffsPublic",
    "BakeOffVendorLink",
    "TaskBase",
    "TaskCreate",
    "TaskUpdate",
    "Task",
    "TaskPublic",
    "TasksPublic",
    "VendorLabelBase",
    "VendorLabelCreate",
    "VendorLabel",
    "VendorLabelPublic",
    "VendorLabelsPublic",
    "ImportResult",
    "GoldenSetImportResult",
    "VendorResult",
    "BakeOffResults",
    "ApiKeyBase",
    "ApiKeyCreate",
    "ApiKey",
    "ApiKeyPublic",
    "ApiKeyCreated",
    "ApiKeysPublic",
    "FlagBase",
    "FlagCreate",
    "Flag",
    "FlagPublic",
    "FlagsPublic",
    "ReviewBase",
    "ReviewCreate",
    "Review",
    "ReviewPublic",
    "AuditEvent",
    "AuditEventPublic",
    "AuditEventsPublic",
    "IdempotencyRecord",
    "Message",
    "DeliveryStatus",
    "AuditStratumName",
    "AuditDecision",
    "DeliveryBase",
    "DeliveryItemIn",
    "DeliveryCreate",
    "Delivery",
    "DeliveryItem",
    "DeliveryLabel",
    "DeliveryAudit",
    "DeliveryPublic",
    "DeliveriesPublic",
    "DeliveryBatchPublic",
    "HoneypotAccuracyPublic",
    "HoneypotAlertPublic",
    "HoneypotDesignPublic",
    "DeliveryQualityPublic",
    "DeliveryFlagPublic",
    "DeliveryFlagsPublic",
    "AuditDraw",
    "AuditDecisionIn",
    "AuditStratumPublic",
    "AuditItemPublic",
    "DeliveryAuditPublic",
    "DeliveryModelFlagsIn",
]

Role = Literal["admin", "lead", "qa", "viewer", "vendor"]
ROLES: tuple[Role, ...] = ("admin", "lead", "qa", "viewer", "vendor")
BakeOffStatus = Literal["draft", "running", "completed", "cancelled"]
TaskStatus = Literal["pending", "sent", "received", "failed", "timed_out"]
FlagStatus = Literal["open", "resolved", "dismissed"]
ReviewDecision = Literal["accept_candidate", "confirm_gold", "correct"]

_NAME = 200
_KEY = 512


class Message(SQLModel):
    """A plain message response."""

    message: str


# --------------------------------------------------------------------------- projects


class ProjectBase(SQLModel):
    name: str = Field(min_length=1, max_length=_NAME, unique=True, index=True)
    description: str = ""
    task_type: TaskType = Field(sa_type=AutoString)
    ontology: dict[str, Any] = Field(
        sa_type=JSONType,
        description="adapters.base.Ontology as JSON: classes, ordinal flag, attributes.",
    )

    @field_validator("ontology")
    @classmethod
    def _check_ontology(cls, value: dict[str, Any]) -> dict[str, Any]:
        return Ontology.model_validate(value).model_dump(mode="json")


class ProjectCreate(ProjectBase):
    pass


class ProjectUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=_NAME)
    description: str | None = None
    ontology: dict[str, Any] | None = None

    @field_validator("ontology")
    @classmethod
    def _check_ontology(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else Ontology.model_validate(value).model_dump(mode="json")


class Project(ProjectBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProjectPublic(ProjectBase):
    id: int
    created_at: datetime


class ProjectsPublic(SQLModel):
    data: list[ProjectPublic]
    count: int


# --------------------------------------------------------------------------- instructions


class InstructionsVersionBase(SQLModel):
    text: str = Field(description="Markdown instructions.")
    examples: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_type=JSONType,
        description="adapters.base.InstructionExample dicts; counter_example marks what not to do.",
    )


class InstructionsVersionCreate(InstructionsVersionBase):
    pass


class InstructionsVersion(InstructionsVersionBase, table=True):
    __tablename__ = "instructionsversion"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    version: int = Field(ge=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InstructionsVersionPublic(InstructionsVersionBase):
    id: int
    project_id: int
    version: int
    created_at: datetime


class InstructionsVersionsPublic(SQLModel):
    data: list[InstructionsVersionPublic]
    count: int


# --------------------------------------------------------------------------- golden sets


class GoldenSetBase(SQLModel):
    name: str = Field(min_length=1, max_length=_NAME)
    description: str = ""


class GoldenSetCreate(GoldenSetBase):
    project_id: int


class GoldenSetUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=_NAME)
    description: str | None = None


class GoldenSet(GoldenSetBase, table=True):
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GoldenSetPublic(GoldenSetBase):
    id: int
    project_id: int
    created_at: datetime
    latest_version: int | None = None


class GoldenSetsPublic(SQLModel):
    data: list[GoldenSetPublic]
    count: int


class GoldenSetVersionBase(SQLModel):
    note: str = ""


class GoldenSetVersionCreate(GoldenSetVersionBase):
    pass


class GoldenSetVersion(GoldenSetVersionBase, table=True):
    __tablename__ = "goldensetversion"
    __table_args__ = (UniqueConstraint("golden_set_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    golden_set_id: int = Field(foreign_key="goldenset.id", index=True, ondelete="CASCADE")
    version: int = Field(ge=1)
    parent_id: int | None = Field(default=None, foreign_key="goldensetversion.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # A COCO gold file's own category ids by class name (COCO's run 1..90 with gaps): a
    # results array names categories by these ids, so reading one needs them. None: the
    # gold came from another format, and class i (1-based, ontology order) is id i.
    coco_category_ids: dict[str, int] | None = Field(default=None, sa_type=JSONType)


class GoldenSetVersionPublic(GoldenSetVersionBase):
    id: int
    golden_set_id: int
    version: int
    parent_id: int | None
    created_at: datetime
    item_count: int = 0


class GoldenSetVersionsPublic(SQLModel):
    data: list[GoldenSetVersionPublic]
    count: int


class GoldenItemBase(SQLModel):
    key: str = Field(min_length=1, max_length=_KEY, description="The item id users know.")
    data: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=JSONType,
        description="Data reference or payload: e.g. {'image': 'img/1.jpg'} or {'text': '...'}.",
    )
    meta: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=JSONType,
        description="Free metadata used for slices, e.g. {'lighting': 'dim'}.",
    )


class GoldenItemCreate(GoldenItemBase):
    pass


class GoldenItemUpdate(SQLModel):
    data: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


class GoldenItem(GoldenItemBase, table=True):
    __tablename__ = "goldenitem"
    __table_args__ = (UniqueConstraint("golden_set_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    golden_set_id: int = Field(foreign_key="goldenset.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GoldenItemPublic(GoldenItemBase):
    id: int
    golden_set_id: int


class GoldenItemsPublic(SQLModel):
    data: list[GoldenItemPublic]
    count: int


class GoldLabelBase(SQLModel):
    value: Any = Field(sa_type=JSONType, description="Label value in the adapters.base shape.")
    annotator_id: str | None = Field(default=None, max_length=_NAME)


class GoldLabelCreate(GoldLabelBase):
    item_key: str = Field(min_length=1, max_length=_KEY)


class GoldLabel(GoldLabelBase, table=True):
    __tablename__ = "goldlabel"
    __table_args__ = (UniqueConstraint("version_id", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="goldensetversion.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="goldenitem.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GoldLabelPublic(GoldLabelBase):
    id: int
    version_id: int
    item_id: int
    item_key: str


class GoldLabelsPublic(SQLModel):
    data: list[GoldLabelPublic]
    count: int


# --------------------------------------------------------------------------- vendors


class VendorBase(SQLModel):
    name: str = Field(min_length=1, max_length=_NAME, unique=True, index=True)
    adapter_kind: str = Field(
        default="file", max_length=_NAME, description="Adapter registry key, e.g. 'simulator'."
    )
    adapter_settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    price_per_item: float = Field(default=0.0, ge=0)
    price_per_label: float = Field(default=0.0, ge=0, description="Per label or per box.")
    price_per_hour: float = Field(default=0.0, ge=0)
    minimum_commitment: float = Field(default=0.0, ge=0, description="Minimum spend.")
    currency: str = Field(default="USD", max_length=8)


class VendorCreate(VendorBase):
    pass


class VendorUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=_NAME)
    adapter_kind: str | None = Field(default=None, max_length=_NAME)
    adapter_settings: dict[str, Any] | None = None
    price_per_item: float | None = Field(default=None, ge=0)
    price_per_label: float | None = Field(default=None, ge=0)
    price_per_hour: float | None = Field(default=None, ge=0)
    minimum_commitment: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=8)


class Vendor(VendorBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


REDACTED = "********"
# A setting is secret when a word of its name says so (``webhook_secret``, ``auth.password``,
# ``apiKey``) or the name ends in one (``signing_key``, ``private_key``, ``accesstoken``),
# unless the name ends in a word that describes the secret rather than holding it
# (``token_kind``, ``password_file``, ``api_key_header``).
_SECRET_WORDS = frozenset(
    {
        "secret", "secrets", "password", "passwords", "passwd", "passphrase", "pwd",
        "credential", "credentials", "token", "tokens", "apikey", "key", "keys", "private",
        "auth", "authorization", "cookie", "cookies", "signature",
    }
)  # fmt: skip
_SECRET_ENDINGS = ("key", "token", "secret", "password", "passwd", "credentials", "auth")
_SECRET_INSIDE = ("secret", "password", "passwd", "credential")
_DESCRIPTOR_WORDS = frozenset(
    {"kind", "type", "url", "uri", "name", "file", "path", "header", "id", "length", "algorithm"}
)


def is_secret_setting(name: str) -> bool:
    """Whether an adapter setting of this name holds a secret (and is masked when read).

    Examples
    --------
    >>> [is_secret_setting(n) for n in ("webhook_secret", "signing_key", "apiKey", "password")]
    [True, True, True, True]
    >>> [is_secret_setting(n) for n in ("base_url", "token_kind", "timeout_s", "mode")]
    [False, False, False, False]
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", snake) if w]
    if not words or words[-1] in _DESCRIPTOR_WORDS:
        return False
    joined = "".join(words)
    return (
        any(w in _SECRET_WORDS for w in words)
        or joined.endswith(_SECRET_ENDINGS)
        or any(w in joined for w in _SECRET_INSIDE)
    )


def mask_url_password(value: str) -> str:
    """A URL with the password of its ``user:password@`` part masked (other text unchanged).

    Examples
    --------
    >>> mask_url_password("https://bot:hunter2@vendor.example/api")
    'https://bot:********@vendor.example/api'
    >>> mask_url_password("https://vendor.example/api")
    'https://vendor.example/api'
    """
    if "://" not in value or "@" not in value:
        return value
    parts = urlsplit(value)
    if not parts.password:
        return value
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def redact_settings(value: Any, *, secret: bool = False) -> Any:
    """``value`` with every secret masked as :data:`REDACTED`, at any depth.

    A setting is secret when its own name or the name of any setting it is nested in says
    so (:func:`is_secret_setting`): under ``{"credentials": {"user": ..., "pass": ...}}``
    both values are masked. Empty values (``""``, ``None``) stay visible: they hold nothing.

    Examples
    --------
    >>> redact_settings({"url": "http://x", "auth": {"user": "bob", "password": "pw"}})
    {'url': 'http://x', 'auth': {'user': '********', 'password': '********'}}
    >>> redact_settings({"hooks": [{"signing_key": "k"}], "webhook_secret": ""})
    {'hooks': [{'signing_key': '********'}], 'webhook_secret': ''}
    >>> redact_settings({"base_url": "https://bot:pw@vendor.example"})
    {'base_url': 'https://bot:********@vendor.example'}
    """
    if isinstance(value, dict):
        return {
            k: redact_settings(v, secret=secret or is_secret_setting(str(k)))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_settings(v, secret=secret) for v in value]
    if secret and value is not None and value != "":
        return REDACTED
    if isinstance(value, str):
        return mask_url_password(value)  # https://user:password@host keeps no password
    return value


class VendorPublic(VendorBase):
    id: int
    created_at: datetime

    @field_validator("adapter_settings", mode="after")
    @classmethod
    def _redact_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Never show secrets, at any depth (anyone who reads them could sign or log in)."""
        redacted: dict[str, Any] = redact_settings(value)
        return redacted


class VendorsPublic(SQLModel):
    data: list[VendorPublic]
    count: int


# --------------------------------------------------------------------------- bake-offs


class BakeOffBase(SQLModel):
    name: str = Field(min_length=1, max_length=_NAME)
    description: str = ""
    ranking_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RANKING_WEIGHTS),
        sa_type=JSONType,
        description=(
            "Weights of the ranking score {accuracy, speed, cost}; default "
            + ", ".join(f"{k} {v}" for k, v in DEFAULT_RANKING_WEIGHTS.items())
            + " (reports.defaults.DEFAULT_RANKING_WEIGHTS)."
        ),
    )
    constraints: dict[str, float] = Field(
        default_factory=dict,
        sa_type=JSONType,
        description="Hard constraints, e.g. {'min_accuracy': 0.95, 'max_p95_latency_h': 24}.",
    )
    production_volume: int | None = Field(
        default=None, ge=0, description="Items per period for cost projection."
    )
    blinded: bool = Field(default=True, description="QA sees 'Candidate A/B/..' not names.")
    swap_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Preference bake-offs: share of items each vendor is sent with the two "
        "responses swapped (position bias); the swap is recorded here, never sent.",
        sa_column_kwargs={"server_default": "0.5"},
    )
    repeat_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Preference bake-offs: share of items each vendor is sent a second time, "
        "in the other order and under an unlinked id, to measure its self-consistency; the "
        "repeat never counts twice in the main metric.",
        sa_column_kwargs={"server_default": "0"},
    )


class BakeOffCreate(BakeOffBase):
    project_id: int
    golden_set_version_id: int
    instructions_version_id: int
    vendor_ids: list[int] = Field(default_factory=list)


class BakeOffUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=_NAME)
    description: str | None = None
    ranking_weights: dict[str, float] | None = None
    constraints: dict[str, float] | None = None
    production_volume: int | None = Field(default=None, ge=0)
    blinded: bool | None = None
    swap_share: float | None = Field(default=None, ge=0, le=1)
    repeat_share: float | None = Field(default=None, ge=0, le=1)
    status: BakeOffStatus | None = None
    vendor_ids: list[int] | None = None
    golden_set_version_id: int | None = Field(
        default=None, description="Move to another version of the same golden set."
    )


class BakeOff(BakeOffBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    golden_set_version_id: int = Field(foreign_key="goldensetversion.id", index=True)
    instructions_version_id: int = Field(foreign_key="instructionsversion.id", index=True)
    status: BakeOffStatus = Field(default="draft", sa_type=AutoString)
    data_version: int = Field(default=0, description="Bumped whenever labels or gold change.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BakeOffVendorLink(SQLModel, table=True):
    __tablename__ = "bakeoffvendorlink"

    bakeoff_id: int = Field(foreign_key="bakeoff.id", primary_key=True, ondelete="CASCADE")
    vendor_id: int = Field(foreign_key="vendor.id", primary_key=True)
    alias: str = Field(max_length=64, description="Blinded name, e.g. 'Candidate A'.")


class BakeOffPublic(BakeOffBase):
    id: int
    project_id: int
    golden_set_version_id: int
    instructions_version_id: int
    status: BakeOffStatus
    data_version: int
    created_at: datetime
    updated_at: datetime
    vendor_ids: list[int] = Field(
        default_factory=list,
        description="Candidate vendors in alias order; empty when the caller sees it blinded.",
    )
    candidates: list[str] = Field(
        default_factory=list, description="The candidates' aliases ('Candidate A', ...)."
    )


class BakeOffsPublic(SQLModel):
    data: list[BakeOffPublic]
    count: int


# --------------------------------------------------------------------------- tasks


class TaskBase(SQLModel):
    status: TaskStatus = Field(default="pending", sa_type=AutoString, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cost: float | None = Field(default=None, ge=0)
    attempts: int = Field(default=0, ge=0)
    external_id: str | None = Field(default=None, max_length=_KEY, description="Vendor's task id.")
    job_id: str | None = Field(default=None, max_length=_KEY, description="Vendor's batch id.")
    last_error: str | None = None


class TaskCreate(TaskBase):
    bakeoff_id: int
    vendor_id: int
    item_id: int


class TaskUpdate(SQLModel):
    status: TaskStatus | None = None
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    cost: float | None = Field(default=None, ge=0)
    attempts: int | None = Field(default=None, ge=0)
    external_id: str | None = Field(default=None, max_length=_KEY)
    job_id: str | None = Field(default=None, max_length=_KEY)
    last_error: str | None = None


class Task(TaskBase, table=True):
    __table_args__ = (
        # ``repeat`` 1: the same pair sent a second time (self-consistency), its own task
        UniqueConstraint("bakeoff_id", "vendor_id", "item_id", "repeat", name="uq_task_item"),
        Index("ix_task_bakeoff_vendor_status", "bakeoff_id", "vendor_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bakeoff_id: int = Field(foreign_key="bakeoff.id", index=True, ondelete="CASCADE")
    vendor_id: int = Field(foreign_key="vendor.id", index=True)
    item_id: int = Field(foreign_key="goldenitem.id", index=True)
    # preference items sent with the responses exchanged; server-side only (not in TaskPublic)
    swapped: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # 0: the item's sending; 1: its repeat in the other order, sent under an opaque id
    # (server-side only, like ``swapped``)
    repeat: int = Field(default=0, ge=0, le=1, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TaskPublic(TaskBase):
    id: int
    bakeoff_id: int
    vendor_id: int | None = Field(description="None when the caller sees the bake-off blinded.")
    candidate: str | None = Field(default=None, description="The vendor's alias ('Candidate A').")
    item_id: int
    item_key: str | None = None
    item_data: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class TasksPublic(SQLModel):
    data: list[TaskPublic]
    count: int


# --------------------------------------------------------------------------- vendor labels


class VendorLabelBase(SQLModel):
    value: Any = Field(sa_type=JSONType, description="Label value in the adapters.base shape.")
    annotator_id: str | None = Field(default=None, max_length=_NAME)
    score: float | None = None
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cost: float | None = Field(default=None, ge=0)
    instructions_version: int | None = Field(default=None, ge=1)


class VendorLabelCreate(VendorLabelBase):
    item_key: str = Field(min_length=1, max_length=_KEY)
    external_id: str | None = Field(
        default=None,
        max_length=_KEY,
        description="Vendor's id of this answer; defaults to item key + annotator id.",
    )


class VendorLabel(VendorLabelBase, table=True):
    __tablename__ = "vendorlabel"
    __table_args__ = (
        # One answer per (vendor, item, annotator) in a bake-off, whatever route it came by.
        # Its index also serves lookups by (bake-off, vendor) and (bake-off, vendor, item).
        # ... and per sending: ``repeat`` 1 holds the answer to the item's repeat
        UniqueConstraint(
            "bakeoff_id",
            "vendor_id",
            "item_id",
            "annotator_id",
            "repeat",
            name="uq_vendorlabel_answer",
        ),
    )

    # Bulk imports write this table at tens of thousands of rows per second; a foreign key costs
    # one locked lookup per row on PostgreSQL, so only ``bakeoff_id`` has one (deleting a bake-off
    # deletes its labels). ``vendor_id``, ``item_id`` and ``task_id`` are checked by
    # ``service.domain.vendor_labels`` (candidate vendor, item of the pinned golden-set version,
    # the bake-off's task), and vendors and golden sets in use cannot be deleted.
    id: int | None = Field(default=None, primary_key=True)
    bakeoff_id: int = Field(foreign_key="bakeoff.id", ondelete="CASCADE")
    vendor_id: int
    item_id: int = Field(index=True)
    task_id: int | None = Field(default=None)
    # NOT NULL with "" for "no annotator": NULLs would each count as distinct in the unique key
    annotator_id: str | None = Field(
        default=None,
        max_length=_NAME,
        sa_type=BlankIsNone(_NAME),
        nullable=False,
        sa_column_kwargs={"server_default": ""},
    )
    external_id: str | None = Field(
        default=None, max_length=_KEY, description="The vendor's own id of this answer."
    )
    # 1: the answer to the item's repeat (self-consistency); never enters the main metric
    repeat: int = Field(default=0, ge=0, le=1, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VendorLabelPublic(VendorLabelBase):
    id: int
    bakeoff_id: int
    vendor_id: int | None = Field(description="None when the caller sees the bake-off blinded.")
    candidate: str | None = Field(default=None, description="The vendor's alias ('Candidate A').")
    item_id: int
    item_key: str | None = None
    task_id: int | None
    external_id: str | None = Field(
        default=None, description="The vendor's answer id; None when blinded."
    )
    created_at: datetime


class VendorLabelsPublic(SQLModel):
    data: list[VendorLabelPublic]
    count: int


class ImportResult(SQLModel):
    """What a bulk import stored."""

    received: int = Field(description="Records read from the request.")
    stored: int = Field(description="New rows written.")
    duplicates: int = Field(default=0, description="Records already stored (not written again).")
    replayed: bool = Field(
        default=False, description="True when answered from an earlier request's Idempotency-Key."
    )
    golden_set_version: int | None = Field(
        default=None, description="The version a golden-set import created."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What the file's reader left out or could not check, said out loud "
        "(e.g. CVAT shapes the task type does not score, Prodigy answers not accepted).",
    )


class GoldenSetImportResult(ImportResult):
    """What ``POST /golden-sets/import`` created: the golden set and its first version."""

    golden_set_id: int = Field(description="The new golden set.")
    golden_set_version_id: int = Field(
        description="Its first version's id (what a bake-off pins as golden_set_version_id)."
    )


# --------------------------------------------------------------------------- results


class VendorResult(SQLModel):
    """One candidate's scores in a bake-off, read from the scoring engine (``scores``)."""

    vendor_id: int | None = Field(description="None when the caller sees the bake-off blinded.")
    vendor: str = Field(description="Vendor name, or its alias ('Candidate A') when blinded.")
    n_gold: int
    n_labelled: int = Field(description="Gold items with at least one label from the vendor.")
    n_labels: int = Field(description="Labels stored (all annotators).")
    coverage: float
    main_metric: str = Field(
        description="Key of the task type's main metric over answered items, e.g. 'accuracy'; "
        "metrics['<main_metric>_all'] is the same over all gold items (unanswered = wrong)."
    )
    main_title: str = Field(default="", description="The main metric in words.")
    ranking_metric: str | None = Field(
        default=None,
        description="Key of the ranked quantity in metrics: '<main_metric>_all'; "
        "transcription ranks by 'word_accuracy_all' (lower WER is better). Null without gold.",
    )
    ranking_title: str = Field(default="", description="The ranked quantity in words.")
    main_value: float | None = Field(
        description="The ranked quantity (metrics[ranking_metric]: the mean per-item score "
        "over all gold items, unanswered = 0); null when nothing was labelled."
    )
    status: str = Field(
        default="ok",
        description="'ok'; 'not_enough_results' (coverage below the floor) or 'no_results' "
        "(nothing labelled): no rank.",
    )
    metrics: dict[str, float | None] = Field(default_factory=dict)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    total_cost: float | None = None
    cost_per_correct: float | None = None
    scores: SystemScores | None = Field(
        default=None, description="Every value with its interval, status and warnings."
    )
    annotators: dict[str, dict[str, float | None]] | None = Field(
        default=None,
        description="Several annotators per item (any task type: classes, boxes, masks, "
        "keypoints, spans, ...): per annotator id, 'n_items', 'agreement_with_gold' (mean "
        "per-item score against gold) and 'agreement_with_peers' (against the consensus of "
        "the vendor's annotators), read from the scoring engine: the rows of `bakeoff "
        "evaluate --json` (systems[].annotators). Numbered 'annotator 1, 2, ...' while "
        "blinded; null with fewer than two named annotators.",
    )


class BakeOffResults(SQLModel):
    """The metrics of every candidate of a bake-off at one data version."""

    bakeoff_id: int
    data_version: int
    task_type: TaskType
    golden_set_version_id: int
    n_gold: int
    blinded: bool
    computed_at: datetime = Field(description="When the engine computed these scores.")
    scored_now: bool = Field(
        default=False,
        description="True when this request computed the scores (none were stored yet for "
        "the bake-off's current data); false when they were read as stored when labels landed.",
    )
    vendors: list[VendorResult]


# --------------------------------------------------------------------------- API keys


class ApiKeyBase(SQLModel):
    name: str = Field(min_length=1, max_length=_NAME)
    role: Role = Field(sa_type=AutoString)
    vendor_id: int | None = Field(default=None, foreign_key="vendor.id", index=True)
    project_id: int | None = Field(
        default=None, foreign_key="project.id", description="Limit the key to one project."
    )


class ApiKeyCreate(ApiKeyBase):
    pass


class ApiKey(ApiKeyBase, table=True):
    __tablename__ = "apikey"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=128, unique=True, index=True)
    prefix: str = Field(max_length=16, description="First characters, to recognise a key.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKeyPublic(ApiKeyBase):
    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The plaintext key. Shown once; store it now.")


class ApiKeysPublic(SQLModel):
    data: list[ApiKeyPublic]
    count: int


# --------------------------------------------------------------------------- QA (issue 5)


class FlagBase(SQLModel):
    item_id: int | None = Field(
        default=None,
        foreign_key="goldenitem.id",
        index=True,
        description="The golden item (bake-off flags); None on a delivery's flag.",
    )
    vendor_id: int | None = Field(
        default=None, foreign_key="vendor.id", index=True, description="None: the gold."
    )
    reason: str = Field(max_length=64, index=True)
    score: float = Field(default=0.0, index=True)
    status: FlagStatus = Field(default="open", sa_type=AutoString, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class FlagCreate(FlagBase):
    bakeoff_id: int


class Flag(FlagBase, table=True):
    """A flag in the review queue: on a bake-off's golden item, or on a delivery's item.

    Exactly one of (``bakeoff_id``, ``item_id``) and (``delivery_id``, ``delivery_item_id``)
    is set: production flags live in the same table (and their decisions in the same
    ``review`` rows) as bake-off flags.
    """

    id: int | None = Field(default=None, primary_key=True)
    bakeoff_id: int | None = Field(
        default=None, foreign_key="bakeoff.id", index=True, ondelete="CASCADE"
    )
    delivery_id: int | None = Field(
        default=None, foreign_key="delivery.id", index=True, ondelete="CASCADE"
    )
    delivery_item_id: int | None = Field(
        default=None, foreign_key="deliveryitem.id", index=True, ondelete="CASCADE"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FlagPublic(FlagBase):
    id: int
    bakeoff_id: int | None
    delivery_id: int | None = None
    delivery_item_id: int | None = None
    created_at: datetime


class FlagsPublic(SQLModel):
    data: list[FlagPublic]
    count: int


class ReviewBase(SQLModel):
    decision: ReviewDecision = Field(sa_type=AutoString)
    corrected_value: Any = Field(default=None, sa_type=JSONType)
    comment: str = ""


class ReviewCreate(ReviewBase):
    pass


class Review(ReviewBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="flag.id", index=True, ondelete="CASCADE")
    reviewer_key_id: int | None = Field(default=None, foreign_key="apikey.id", index=True)
    undone: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReviewPublic(ReviewBase):
    id: int
    flag_id: int
    reviewer_key_id: int | None
    undone: bool
    created_at: datetime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "auditevent"

    id: int | None = Field(default=None, primary_key=True)
    actor_key_id: int | None = Field(default=None, foreign_key="apikey.id", index=True)
    actor: str = Field(default="", max_length=_NAME, description="Key name or 'system'.")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    action: str = Field(max_length=64, index=True)
    entity_type: str = Field(max_length=64)
    entity_id: str = Field(max_length=_KEY)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class AuditEventPublic(SQLModel):
    id: int
    actor_key_id: int | None
    actor: str
    at: datetime
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditEventsPublic(SQLModel):
    data: list[AuditEventPublic]
    count: int


# --------------------------------------------------------------------------- idempotency


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotencyrecord"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=_KEY, description="Endpoint and target, e.g. 'labels:3:2'.")
    key: str = Field(max_length=_KEY)
    fingerprint: str = Field(max_length=128, description="sha256 of the request body.")
    response: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- model candidates


class RegisteredModelPublic(SQLModel):
    """A model the server's operator registered; a ``model`` vendor names it in its settings."""

    name: str
    source: Literal["file", "entry_point"]


class RegisteredModelsPublic(SQLModel):
    data: list[RegisteredModelPublic]
    count: int


# --------------------------------------------------------------------------- deliveries (issue 15)

DeliveryStatus = Literal["open", "labeled", "cancelled"]
AuditStratumName = Literal["flagged", "unflagged"]
AuditDecision = Literal["correct", "error"]


class DeliveryBase(SQLModel):
    name: str = Field(min_length=1, max_length=_NAME)
    honeypot_rate: float = Field(
        default=0.02, ge=0, lt=1, description="Share of the sent batch that is honeypots."
    )
    honeypot_min_gap: int = Field(
        default=0, ge=0, description="Fewest other honeypots between two uses of a gold item."
    )
    agreed_accuracy: float = Field(
        default=0.95, gt=0, lt=1, description="Honeypot accuracy the vendor agreed to (p0)."
    )
    alert_accuracy: float = Field(
        default=0.85, gt=0, lt=1, description="Honeypot accuracy the alert must catch (p1)."
    )
    # 100,000: a week of 2,000 honeypots (100,000 labels at 2%) has about a 2% false-alarm
    # chance; 1,000 alarmed in most such weeks. Longer designs delay an alarm only by
    # log(ARL) / KL(p1 || p0) honeypots (about 65 more per tenfold at 0.95 vs 0.85).
    alert_target_arl: float = Field(
        default=100_000.0, ge=2, description="Wanted honeypots between false alarms at p0."
    )
    max_error_rate: float = Field(
        default=0.05, gt=0, lt=1, description="SLA: highest acceptable delivery error rate."
    )


class DeliveryItemIn(SQLModel):
    """A production item to label: the customer's key and its data (never gold)."""

    key: str = Field(min_length=1, max_length=_KEY)
    data: dict[str, Any] = Field(default_factory=dict)


class DeliveryCreate(DeliveryBase):
    project_id: int
    vendor_id: int
    golden_set_version_id: int | None = Field(
        default=None, description="Where honeypots come from; required when honeypot_rate > 0."
    )
    items: list[DeliveryItemIn] = Field(min_length=1)
    bakeoff_id: int | None = Field(
        default=None, description="The bake-off that chose this vendor (same project)."
    )
    seed: int | None = Field(
        default=None, ge=0, description="Seed of the honeypot draw; None: a random one."
    )


class Delivery(DeliveryBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    vendor_id: int = Field(foreign_key="vendor.id", index=True)
    golden_set_version_id: int | None = Field(default=None, foreign_key="goldensetversion.id")
    status: DeliveryStatus = Field(default="open", sa_type=AutoString)
    n_items: int = Field(default=0, ge=0, description="Production items.")
    n_honeypots: int = Field(default=0, ge=0)
    seed: int = Field(default=0, ge=0)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dispatch_job: dict[str, Any] | None = Field(
        default=None, sa_type=JSONType, description="The vendor's job once dispatched."
    )
    dispatch_error: str | None = None
    bakeoff_id: int | None = Field(
        default=None, foreign_key="bakeoff.id", index=True, ondelete="SET NULL"
    )


class DeliveryItem(SQLModel, table=True):
    """One item of a delivery as the vendor sees it (``key``, ``data``); honeypots included.

    ``source_key`` (the customer's key) and ``gold_item_id`` (a honeypot's gold item) never
    leave the service; ``key`` is the same scheme for both kinds.
    """

    __tablename__ = "deliveryitem"
    __table_args__ = (
        UniqueConstraint("delivery_id", "key", name="uq_deliveryitem_key"),
        # flag-run chunks and the vendor's batch read items by position range: an index
        # scan per chunk instead of a scan of the whole delivery (issue 15, scale)
        UniqueConstraint("delivery_id", "position", name="uq_deliveryitem_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", ondelete="CASCADE")
    position: int = Field(ge=0)
    key: str = Field(max_length=_KEY)
    source_key: str | None = Field(default=None, max_length=_KEY)
    gold_item_id: int | None = Field(default=None, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    flag_score: float | None = Field(default=None, description="Model-label disagreement.")
    flagged: bool = Field(default=False)


class DeliveryLabel(SQLModel, table=True):
    """One answer per (delivery, item, annotator); a missing annotator is stored as ``""``."""

    __tablename__ = "deliverylabel"
    __table_args__ = (
        UniqueConstraint("delivery_id", "item_id", "annotator_id", name="uq_deliverylabel_answer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", ondelete="CASCADE")
    item_id: int = Field(index=True)
    annotator_id: str | None = Field(
        default=None,
        max_length=_NAME,
        sa_type=BlankIsNone(_NAME),
        nullable=False,
        sa_column_kwargs={"server_default": ""},
    )
    value: Any = Field(sa_type=JSONType)
    score: float | None = None
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cost: float | None = Field(default=None, ge=0)
    external_id: str | None = Field(default=None, max_length=_KEY)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeliveryAudit(SQLModel, table=True):
    """One item drawn into a delivery's audit sample, and the reviewer's decision."""

    __tablename__ = "deliveryaudit"
    __table_args__ = (UniqueConstraint("delivery_id", "item_id", name="uq_deliveryaudit_item"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="deliveryitem.id")
    stratum: AuditStratumName = Field(sa_type=AutoString)
    draw: int = Field(ge=0, description="Order of the draw inside the stratum.")
    decision: AuditDecision | None = Field(default=None, sa_type=AutoString)
    reviewer_key_id: int | None = Field(default=None, foreign_key="apikey.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryPublic(DeliveryBase):
    """A delivery with its progress, cost and latency (read by leads, QA and viewers)."""

    id: int
    project_id: int
    vendor_id: int
    golden_set_version_id: int | None
    status: DeliveryStatus
    n_items: int
    n_honeypots: int
    sent_at: datetime | None
    created_at: datetime
    bakeoff_id: int | None = Field(default=None, description="The bake-off that chose the vendor.")
    n_labeled: int = Field(default=0, description="Items (honeypots included) with an answer.")
    n_labels: int = Field(default=0, description="Answers stored.")
    progress: float = Field(default=0.0, description="Share of sent items answered.")
    total_cost: float | None = Field(default=None, description="Reported or priced cost.")
    cost_per_item: float | None = None
    latency_p50_s: float | None = Field(default=None, description="Sent to answered, median.")
    latency_p95_s: float | None = None


class DeliveriesPublic(SQLModel):
    data: list[DeliveryPublic]
    count: int


class DeliveryBatchPublic(SQLModel):
    """What the vendor receives: every item's id and data, honeypots indistinguishable."""

    delivery_id: int
    task_type: TaskType
    items: list[dict[str, Any]]


class HoneypotAccuracyPublic(SQLModel):
    """The task type's main metric on honeypots for one vendor or annotator and week."""

    week: str | None = Field(description="ISO week ('2026-W49'); None: every week.")
    annotator_id: str | None = Field(description="None: the vendor as a whole.")
    n_honeypots: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    warnings: list[str] = Field(default_factory=list)


class HoneypotAlertPublic(SQLModel):
    """The sequential alert (Bernoulli CUSUM) on honeypot outcomes, oldest answer first."""

    annotator_id: str | None = Field(description="None: the vendor as a whole.")
    n_outcomes: int
    n_wrong: int
    statistic: float = Field(description="CUSUM after the last outcome (log-likelihood ratio).")
    threshold: float = Field(description="Decision interval h.")
    in_alarm: bool
    n_alarms: int
    first_alarm_index: int | None = Field(description="0-based, among this chart's outcomes.")
    first_alarm_at: datetime | None
    first_alarm_delivery_id: int | None


class HoneypotDesignPublic(SQLModel):
    """The alert's design and its stated false-alarm rate (exact, from the Markov chain)."""

    agreed_accuracy: float
    alert_accuracy: float
    target_arl: float
    threshold: float
    arl_in_control: float = Field(description="Mean honeypots between false alarms at p0.")
    arl_out_of_control: float = Field(description="Mean honeypots to the alarm at p1.")
    false_alarm_rate: float = Field(description="False alarms per honeypot at p0.")
    honeypots_per_week: int
    false_alarm_probability_per_week: float | None
    pass_rule: str


class DeliveryQualityPublic(SQLModel):
    """Honeypot quality of a delivery's vendor, over its deliveries up to this one."""

    delivery_id: int
    project_id: int
    vendor_id: int
    task_type: TaskType
    metric: str
    metric_title: str
    overall: HoneypotAccuracyPublic | None
    weekly: list[HoneypotAccuracyPublic]
    design: HoneypotDesignPublic
    alerts: list[HoneypotAlertPublic]
    warnings: list[str] = Field(default_factory=list)


class DeliveryFlagPublic(SQLModel):
    """One production label the model disagrees with, most likely wrong first."""

    item_id: str = Field(description="The vendor-facing item id.")
    source_key: str | None = Field(description="The customer's item key.")
    label: Any = None
    score: float = Field(description="1 - cleanlab label quality (high: likely wrong).")


class DeliveryFlagsPublic(SQLModel):
    delivery_id: int
    n_scored: int = Field(description="Production answers scored against the probabilities.")
    n_flagged: int = Field(description="Items flagged.")
    n_honeypots_skipped: int = 0
    n_unlabeled: int = Field(default=0, description="Rows whose item has no answer yet.")
    data: list[DeliveryFlagPublic]


class AuditDraw(SQLModel):
    """How to size the audit sample: a target interval half-width on the error rate."""

    half_width: float = Field(default=0.02, gt=0, lt=0.5)
    expected_error_flagged: float = Field(default=0.5, ge=0, le=1)
    expected_error_unflagged: float = Field(default=0.05, ge=0, le=1)
    level: float = Field(default=0.95, gt=0, lt=1)


class AuditDecisionIn(SQLModel):
    item_id: str = Field(min_length=1, max_length=_KEY, description="The item served next.")
    decision: AuditDecision


class AuditStratumPublic(SQLModel):
    name: AuditStratumName
    population: int
    planned: int
    reviewed: int
    errors: int


class AuditItemPublic(SQLModel):
    """The next drawn item to review: what the vendor saw and what it answered."""

    item_id: str
    stratum: AuditStratumName
    draw: int
    data: dict[str, Any]
    labels: list[Any]


class DeliveryAuditPublic(SQLModel):
    """The audit sample, the stratified error-rate estimate and the SLA verdict."""

    delivery_id: int
    strata: list[AuditStratumPublic]
    planned_half_width: float | None
    reviewed: int
    remaining: int
    estimate: float | None
    standard_error: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    max_error_rate: float
    decision: Literal["accept", "reject", "inconclusive", "not_enough_reviews"]
    reason: str
    next_item: AuditItemPublic | None


class DeliveryModelFlagsIn(SQLModel):
    """Flag a delivery with a model the server's operator registered (``GET /models``)."""

    model: str = Field(min_length=1, max_length=_NAME)
    feature_key: str = Field(default="features", min_length=1, max_length=_NAME)


# --------------------------------------------------------------------------- procurement view


class WeeklyQualityPublic(SQLModel):
    """A vendor's honeypot accuracy in one ISO week, and whether its CUSUM alert fired then."""

    week: str
    n_honeypots: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    alert: bool = Field(description="The vendor's CUSUM alert first fired in this week.")


class DeliveryQualityRowPublic(SQLModel):
    """One delivery of a vendor on the procurement view: every number from the domain."""

    delivery_id: int
    name: str
    created_at: datetime
    status: DeliveryStatus
    n_labels: int
    honeypot_accuracy: float | None
    honeypot_ci_low: float | None
    honeypot_ci_high: float | None
    n_honeypots_answered: int
    error_rate: float | None = Field(description="Audited (stratified) error-rate estimate.")
    error_ci_low: float | None
    error_ci_high: float | None
    audit_decision: str
    flagged_share: float | None = Field(description="Flagged items among those scored.")
    n_flagged: int
    n_scored: int
    total_cost: float | None
    cost_per_correct: float | None
    cost_per_correct_low: float | None
    cost_per_correct_high: float | None
    correct_basis: str | None = Field(description="'audit' or 'honeypots': the correct rate used.")
    alert: bool = Field(description="The vendor's CUSUM alert first fired in this delivery.")
    rejected: bool = Field(description="The audit rejected the delivery against its SLA.")
    bakeoff_id: int | None


class BakeoffLinkPublic(SQLModel):
    bakeoff_id: int
    name: str


class VendorQualityPublic(SQLModel):
    """A vendor's production quality over time in a project (names as the caller may see)."""

    vendor_id: int | None = Field(description="None while the caller sees the vendor blinded.")
    name: str
    metric_title: str
    weekly: list[WeeklyQualityPublic]
    deliveries: list[DeliveryQualityRowPublic]
    alert_in_alarm: bool
    first_alarm_at: datetime | None
    first_alarm_delivery_id: int | None
    false_alarm_probability_per_week: float | None
    agreed_accuracy: float
    alert_accuracy: float
    n_alarms: int = Field(description="Times the vendor's CUSUM alert fired (it restarts).")
    n_rejected: int = Field(description="Deliveries the audit rejected against the SLA.")
    n_breaches: int = Field(description="CUSUM alarms plus rejected deliveries.")
    bakeoffs: list[BakeoffLinkPublic]
    warnings: list[str] = Field(default_factory=list)


class ProcurementViewPublic(SQLModel):
    project_id: int
    project_name: str
    vendors: list[VendorQualityPublic]


# --------------------------------------------------------------------------- flag jobs (workers)

FlagRunState = Literal["running", "merged", "failed"]
FlagChunkState = Literal["pending", "parsed", "scored"]
FlagRunSource = Literal["model", "upload"]


class DeliveryFlagRun(SQLModel, table=True):
    """One flagging of a delivery by a registered model, partitioned into chunk jobs."""

    __tablename__ = "deliveryflagrun"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", index=True, ondelete="CASCADE")
    model: str = Field(max_length=_NAME, description="The registered model; '' for an upload.")
    feature_key: str = Field(default="features", max_length=_NAME)
    source: FlagRunSource = Field(
        default="model",
        sa_type=AutoString,
        sa_column_kwargs={"server_default": "model"},
        description="model: predicted on the workers; upload: predictions uploaded (a file).",
    )
    n_chunks: int = Field(ge=0)
    chunk_size: int = Field(gt=0)
    state: FlagRunState = Field(default="running", sa_type=AutoString)
    phase: int = Field(default=1, ge=1, le=2, description="1: predict; 2: score (thresholds set).")
    thresholds: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    n_scored: int = 0
    n_flagged: int = 0
    n_honeypots: int = 0
    n_unlabeled: int = 0
    n_without_probabilities: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="Answered production items the uploaded file gave no predictions for.",
    )
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryFlagChunk(SQLModel, table=True):
    """A chunk job: items at positions ``[lo, hi)``; its result is stored exactly once."""

    __tablename__ = "deliveryflagchunk"
    __table_args__ = (UniqueConstraint("run_id", "chunk", name="uq_deliveryflagchunk_chunk"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="deliveryflagrun.id", index=True, ondelete="CASCADE")
    chunk: int = Field(ge=0)
    lo: int = Field(ge=0)
    hi: int = Field(ge=0)
    state: FlagChunkState = Field(default="pending", sa_type=AutoString)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    partial: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    arrays: bytes | None = Field(default=None, sa_type=LargeBinary)


class DeliveryFlagRunCreate(SQLModel):
    model: str = Field(min_length=1, max_length=_NAME)
    feature_key: str = Field(default="features", min_length=1, max_length=_NAME)
    chunk_size: int = Field(default=50_000, ge=1, le=1_000_000)


class DeliveryFlagRunPublic(SQLModel):
    id: int
    delivery_id: int
    model: str
    source: FlagRunSource = "model"
    n_chunks: int
    chunk_size: int
    state: FlagRunState
    n_chunks_parsed: int = 0
    n_chunks_scored: int = 0
    n_scored: int
    n_flagged: int
    n_honeypots: int
    n_unlabeled: int
    n_without_probabilities: int = 0
    method: str = Field(
        default="", description="What decides a flag: the task type's flagger's method."
    )
    error: str | None
    created_at: datetime
    finished_at: datetime | None


# --------------------------------------------------------------------------- stored scores


class BakeOffScoresRow(SQLModel, table=True):
    """A bake-off's scores as the engine returned them, stored when labels land.

    ``fingerprint`` digests everything the scores depend on (data version, gold version,
    coverage floor, ontology, candidates and their prices, task timings, the engine's code,
    bootstrap settings): a row is read only under the exact fingerprint of the bake-off's
    current state, so a stale row is never served. ``body`` is compressed JSON
    (:mod:`service.core.scored_json`), never pickle.
    """

    __tablename__ = "bakeoffscores"
    __table_args__ = (
        UniqueConstraint("bakeoff_id", "fingerprint", name="uq_bakeoffscores_fingerprint"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bakeoff_id: int = Field(foreign_key="bakeoff.id", index=True, ondelete="CASCADE")
    data_version: int
    fingerprint: str = Field(max_length=64)
    body: bytes = Field(sa_type=LargeBinary)
    compute_s: float = Field(default=0.0, description="Seconds the engine took.")
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BakeOffLeaderRow(SQLModel, table=True):
    """A bake-off's leader and verdict line, as its ranking found them, next to its scores.

    The project dashboard lists every bake-off's leader; in a new process it reads them here
    instead of ranking every bake-off again. A row belongs to one stored scores row
    (``scores_id``: the scores' fingerprint; it goes when they are replaced) and ``key``
    digests everything else the ranking depends on (that fingerprint, the ranking weights,
    constraints and bootstrap settings, whether names are shown or blinded, the ranking's
    code), so a row of other weights or another role's view is never served.
    """

    __tablename__ = "bakeoffleaders"
    __table_args__ = (UniqueConstraint("scores_id", "key", name="uq_bakeoffleaders_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scores_id: int = Field(foreign_key="bakeoffscores.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    leader: str
    verdict: str
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BakeOffReplicatesRow(SQLModel, table=True):
    """The ranking's paired bootstrap replicates of a bake-off, next to its scores.

    Drawing 1,000 resamples of 100,000 items again costs a report read more than the rest of
    its ranking; the replicates are a function of the per-item arrays the ranking reads from
    the scores, the resamples and the seed, so they are stored once under ``key``
    (:func:`reports._bootstrap.replicates_key`: a digest of exactly those) and read back bit
    for bit. A row belongs to one stored scores row (``scores_id``; it goes when they are
    replaced). ``body`` is compressed JSON (:mod:`service.core.scored_json`), never pickle.
    """

    __tablename__ = "bakeoffreplicates"
    __table_args__ = (UniqueConstraint("scores_id", "key", name="uq_bakeoffreplicates_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scores_id: int = Field(foreign_key="bakeoffscores.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    body: bytes = Field(sa_type=LargeBinary)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
