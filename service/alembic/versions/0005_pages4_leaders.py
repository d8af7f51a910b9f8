"""bakeoffleaders: each bake-off's leader and verdict stored next to its scores (``pages4``)

New table only. One row per stored scores row (``bakeoffscores``, whose deletion takes its
leaders with it) and ranking state (``key``: weights, constraints, bootstrap, blinding,
code), so the project dashboard of a new process reads every bake-off's leader instead of
ranking each again. The revision id carries the branch name; the lead relinearises if two
helpers add one.

Revision ID: 0005_pages4_leaders
Revises: 0004_swaps_repeats
Create Date: 2026-12-04 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.core.types

revision: str = "0005_pages4_leaders"
down_revision: str | None = "0004_swaps_repeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bakeoffleaders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scores_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("leader", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("computed_at", service.core.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["scores_id"], ["bakeoffscores.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scores_id", "key", name="uq_bakeoffleaders_key"),
    )
    with op.batch_alter_table("bakeoffleaders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bakeoffleaders_scores_id"), ["scores_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bakeoffleaders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bakeoffleaders_scores_id"))
    op.drop_table("bakeoffleaders")
