"""preference pairs presented swapped: task.swapped, bakeoff.swap_share

For position bias the dispatcher sends a share of a preference bake-off's items to each vendor
with the two responses exchanged. Which tasks were swapped is recorded on the task
(``task.swapped``, server-side only); the share is the bake-off's ``swap_share`` (0.5 by
default). Existing tasks were sent as stored: ``swapped`` is false for them.

Revision ID: 0003_lang_formats
Revises: 0003_delivery
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_lang_formats"
down_revision: str | None = "0003_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("swapped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("bakeoff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("swap_share", sa.Float(), nullable=False, server_default="0.5")
        )


def downgrade() -> None:
    # plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy of ``bakeoff`` would
    # cascade-delete the rows that reference it
    op.drop_column("bakeoff", "swap_share")
    op.drop_column("task", "swapped")
