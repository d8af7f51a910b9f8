"""one answer per (bake-off, vendor, item, annotator)

The unique key of ``vendorlabel`` was ``external_key`` (the vendor's answer id when it sent one),
so two answers for the same item and annotator with different answer ids were both stored. The
key is now ``(bakeoff_id, vendor_id, item_id, annotator_id)`` with ``annotator_id`` NOT NULL
(``''`` = no annotator); the vendor's answer id moves to ``external_id``.

Existing duplicates (same bake-off, vendor, item and annotator) keep their first stored row
(lowest id), as the service does for a second answer now; the others are deleted, and the
bake-offs concerned get a new ``data_version`` so cached results are recomputed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 10:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_log = logging.getLogger("alembic.runtime.migration")

_ITEM_KEY = "(SELECT key FROM goldenitem WHERE goldenitem.id = vendorlabel.item_id)"
_LATER_DUPLICATE = (
    "EXISTS (SELECT 1 FROM vendorlabel AS first WHERE first.bakeoff_id = vendorlabel.bakeoff_id "
    "AND first.vendor_id = vendorlabel.vendor_id AND first.item_id = vendorlabel.item_id "
    "AND first.annotator_id = vendorlabel.annotator_id AND first.id < vendorlabel.id)"
)


def upgrade() -> None:
    with op.batch_alter_table("vendorlabel", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("external_id", AutoString(length=512), nullable=True)
        )
    # external_key was "x:<item key>|<answer id>" when the vendor gave an answer id
    op.execute(
        f"UPDATE vendorlabel SET external_id = substr(external_key, length({_ITEM_KEY}) + 4) "
        "WHERE external_key LIKE 'x:%'"
    )
    op.execute("UPDATE vendorlabel SET annotator_id = '' WHERE annotator_id IS NULL")
    removed = (
        op.get_bind()
        .execute(sa.text(f"SELECT count(*) FROM vendorlabel WHERE {_LATER_DUPLICATE}"))
        .scalar_one()
    )
    if removed:
        _log.warning(
            "vendorlabel: deleting %d later answers for an (item, annotator) already answered",
            removed,
        )
        op.execute(
            "UPDATE bakeoff SET data_version = data_version + 1 WHERE id IN "
            f"(SELECT bakeoff_id FROM vendorlabel WHERE {_LATER_DUPLICATE})"
        )
        op.execute(f"DELETE FROM vendorlabel WHERE {_LATER_DUPLICATE}")
    with op.batch_alter_table("vendorlabel", schema=None) as batch_op:
        batch_op.drop_constraint("uq_vendorlabel_key", type_="unique")
        batch_op.drop_index("ix_vendorlabel_bakeoff_vendor_item")
        batch_op.drop_column("external_key")
        batch_op.alter_column(
            "annotator_id",
            existing_type=AutoString(length=200),
            nullable=False,
            server_default="",
        )
        batch_op.create_unique_constraint(
            "uq_vendorlabel_answer", ["bakeoff_id", "vendor_id", "item_id", "annotator_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("vendorlabel", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("external_key", AutoString(length=512), nullable=True)
        )
    op.execute(
        f"UPDATE vendorlabel SET external_key = CASE WHEN external_id IS NOT NULL "
        f"THEN 'x:' || {_ITEM_KEY} || '|' || external_id "
        f"ELSE {_ITEM_KEY} || '|' || annotator_id END"
    )
    with op.batch_alter_table("vendorlabel", schema=None) as batch_op:
        batch_op.drop_constraint("uq_vendorlabel_answer", type_="unique")
        batch_op.alter_column(
            "external_key",
            existing_type=AutoString(length=512),
            nullable=False,
        )
        batch_op.alter_column(
            "annotator_id",
            existing_type=AutoString(length=200),
            nullable=True,
            server_default=None,
        )
        batch_op.drop_column("external_id")
        batch_op.create_unique_constraint(
            "uq_vendorlabel_key", ["bakeoff_id", "vendor_id", "external_key"]
        )
        batch_op.create_index(
            "ix_vendorlabel_bakeoff_vendor_item", ["bakeoff_id", "vendor_id", "item_id"]
        )
    op.execute("UPDATE vendorlabel SET annotator_id = NULL WHERE annotator_id = ''")
