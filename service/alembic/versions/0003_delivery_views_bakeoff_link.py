"""delivery.bakeoff_id: the bake-off that chose a delivery's vendor (branch ``delivery-views``)

One nullable column (and its index) on ``delivery``, so the procurement view links each
vendor's production quality back to the bake-off that chose it. Existing deliveries keep
``NULL`` (no bake-off recorded); deleting a bake-off sets it back to ``NULL``. The revision id
carries the branch name; the lead renumbers it when merging next to other new migrations.

Revision ID: 0003_delivery_views
Revises: 0003_lang_formats
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_delivery_views"
down_revision: str | None = "0003_lang_formats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bakeoff_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_delivery_bakeoff_id"), ["bakeoff_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_delivery_bakeoff_id_bakeoff", "bakeoff", ["bakeoff_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint("fk_delivery_bakeoff_id_bakeoff", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_delivery_bakeoff_id"))
        batch_op.drop_column("bakeoff_id")
