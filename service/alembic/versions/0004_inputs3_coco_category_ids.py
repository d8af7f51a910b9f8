"""goldensetversion.coco_category_ids: a COCO gold file's category ids (branch ``inputs3``)

One nullable JSON column. A COCO results array names categories by the gold file's ids
(COCO's own run 1..90 with gaps), which the class names alone do not give; the COCO gold
import stores them here. Existing versions keep NULL (class i is id i, as before). The
revision id carries the branch name; the lead renumbers it when merging next to other new
migrations.

Revision ID: 0004_inputs3_coco_category_ids
Revises: 0003_delivery_views_jobs
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.core.types

revision: str = "0004_inputs3_coco_category_ids"
down_revision: str | None = "0003_delivery_views_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN: SQLite's batch mode would copy and drop goldensetversion, which
    # the gold labels' foreign keys refuse
    op.add_column(
        "goldensetversion",
        sa.Column("coco_category_ids", service.core.types.JSONType(), nullable=True),
    )


def downgrade() -> None:
    # plain DROP COLUMN (SQLite >= 3.35), for the same reason as upgrade
    op.drop_column("goldensetversion", "coco_category_ids")
