"""deliveryflagrun, deliveryflagchunk: flag runs as chunk jobs (branch ``delivery-views``)

New tables only. A flag run cuts a delivery into chunks of item positions that workers
process in parallel; each chunk stores its result once (see
``service/domain/delivery_jobs.py``). The revision id carries the branch name; the lead
renumbers it when merging next to other new migrations.

Revision ID: 0003_delivery_views_jobs
Revises: 0003_delivery_views
Create Date: 2026-12-03 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import service.core.types

revision: str = "0003_delivery_views_jobs"
down_revision: str | None = "0003_delivery_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveryflagrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("feature_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("n_chunks", sa.Integer(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("thresholds", service.core.types.JSONType(), nullable=True),
        sa.Column("n_scored", sa.Integer(), nullable=False),
        sa.Column("n_flagged", sa.Integer(), nullable=False),
        sa.Column("n_honeypots", sa.Integer(), nullable=False),
        sa.Column("n_unlabeled", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", service.core.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", service.core.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deliveryflagrun", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveryflagrun_delivery_id"), ["delivery_id"], unique=False
        )
    op.create_table(
        "deliveryflagchunk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("lo", sa.Integer(), nullable=False),
        sa.Column("hi", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("lease_until", service.core.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("partial", service.core.types.JSONType(), nullable=True),
        sa.Column("arrays", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["deliveryflagrun.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "chunk", name="uq_deliveryflagchunk_chunk"),
    )
    with op.batch_alter_table("deliveryflagchunk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveryflagchunk_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveryflagchunk", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveryflagchunk_run_id"))
    op.drop_table("deliveryflagchunk")
    with op.batch_alter_table("deliveryflagrun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveryflagrun_delivery_id"))
    op.drop_table("deliveryflagrun")
