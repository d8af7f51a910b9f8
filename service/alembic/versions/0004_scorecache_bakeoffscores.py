"""bakeoffscores: a bake-off's scores stored when labels land (branch ``scorecache``)

New table only. One row per bake-off state (``fingerprint``): the engine's output as
compressed JSON (see ``service/domain/score_store.py``), so the first read after an
import is a read. The revision id carries the branch name; the lead renumbers it when
merging next to other new migrations.

Revision ID: 0004_scorecache_scores
Revises: 0003_delivery_views_jobs
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.core.types

revision: str = "0004_scorecache_scores"
down_revision: str | None = "0004_production3_delivery_flags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bakeoffscores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bakeoff_id", sa.Integer(), nullable=False),
        sa.Column("data_version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("compute_s", sa.Float(), nullable=False),
        sa.Column("computed_at", service.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["bakeoff_id"], ["bakeoff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bakeoff_id", "fingerprint", name="uq_bakeoffscores_fingerprint"),
    )
    with op.batch_alter_table("bakeoffscores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bakeoffscores_bakeoff_id"), ["bakeoff_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bakeoffscores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bakeoffscores_bakeoff_id"))
    op.drop_table("bakeoffscores")
