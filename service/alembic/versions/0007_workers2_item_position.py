"""deliveryitem: unique (delivery_id, position) (``workers2``)

A flag-run chunk reads its items by position range (``position >= lo AND position < hi``),
and the vendor's batch is read in position order; without an index on the position each
chunk scanned every item of the delivery (quadratic in its size). Positions are unique per
delivery by construction (``range(batch_size)``), so the constraint holds on existing data.
The revision id carries the branch name; the lead relinearises if two helpers add one.

Revision ID: 0007_workers2_item_position
Revises: 0006_reportspeed2_replicates
Create Date: 2026-12-03 21:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_workers2_item_position"
down_revision: str | None = "0006_reportspeed2_replicates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveryitem", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_deliveryitem_position", ["delivery_id", "position"])


def downgrade() -> None:
    with op.batch_alter_table("deliveryitem", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveryitem_position", type_="unique")
