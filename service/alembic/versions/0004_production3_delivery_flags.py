"""flag.delivery_id, flag.delivery_item_id: a delivery's flags in the review queue (``production3``)

Also ``deliveryflagrun.source`` (``model`` or ``upload``) and
``deliveryflagrun.n_without_probabilities``: a flag run can take uploaded probabilities too.

Production flags (model-label disagreement on a delivery) become rows of the review queue's
``flag`` table, so QA staff work them in the same queue and their decisions are ``review``
rows like any other. A delivery's flag names no bake-off and no golden item, so
``flag.bakeoff_id`` and ``flag.item_id`` become nullable; existing rows keep their values.
The revision id carries the branch name; the lead renumbers it when merging next to other new
migrations.

Revision ID: 0004_production3_delivery_flags
Revises: 0003_delivery_views_jobs
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004_production3_delivery_flags"
down_revision: str | None = "0004_inputs3_coco_category_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveryflagrun", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="model"
            )
        )
        batch_op.add_column(
            sa.Column(
                "n_without_probabilities", sa.Integer(), nullable=False, server_default="0"
            )
        )
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.alter_column("bakeoff_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("item_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("delivery_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delivery_item_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_flag_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flag_delivery_item_id"), ["delivery_item_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_flag_delivery_id_delivery", "delivery", ["delivery_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            "fk_flag_delivery_item_id_deliveryitem",
            "deliveryitem",
            ["delivery_item_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveryflagrun", schema=None) as batch_op:
        batch_op.drop_column("n_without_probabilities")
        batch_op.drop_column("source")
    op.execute("DELETE FROM flag WHERE delivery_id IS NOT NULL")
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.drop_constraint("fk_flag_delivery_item_id_deliveryitem", type_="foreignkey")
        batch_op.drop_constraint("fk_flag_delivery_id_delivery", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_flag_delivery_item_id"))
        batch_op.drop_index(batch_op.f("ix_flag_delivery_id"))
        batch_op.drop_column("delivery_item_id")
        batch_op.drop_column("delivery_id")
        batch_op.alter_column("item_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("bakeoff_id", existing_type=sa.Integer(), nullable=False)
