"""bakeoffreplicates: the ranking's bootstrap replicates kept next to the scores (``reportspeed2``)

New table only. One row per stored scores row (``bakeoffscores``, whose deletion takes its
replicates with it) and ranking input (``key``: a digest of the per-item arrays the ranking
reads, the resamples, the seed and the bootstrap's code), so a report in a new process reads
the paired bootstrap instead of drawing 1,000 resamples again. The revision id carries the
branch name; the lead relinearises if two helpers add one.

Revision ID: 0006_reportspeed2_replicates
Revises: 0005_pages4_leaders
Create Date: 2026-12-03 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.core.types

revision: str = "0006_reportspeed2_replicates"
down_revision: str | None = "0005_pages4_leaders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bakeoffreplicates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scores_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("computed_at", service.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["scores_id"], ["bakeoffscores.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scores_id", "key", name="uq_bakeoffreplicates_key"),
    )
    with op.batch_alter_table("bakeoffreplicates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bakeoffreplicates_scores_id"), ["scores_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bakeoffreplicates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bakeoffreplicates_scores_id"))
    op.drop_table("bakeoffreplicates")
