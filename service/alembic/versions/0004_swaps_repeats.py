"""preference pairs sent twice: task.repeat, vendorlabel.repeat, bakeoff.repeat_share

For self-consistency a share of a preference bake-off's items (``bakeoff.repeat_share``, 0 by
default) is sent to each vendor a second time, in the other order and under an opaque id.
The second sending is its own task (``task.repeat`` = 1) and its answers their own rows
(``vendorlabel.repeat`` = 1), so both unique keys gain ``repeat``; existing rows are first
sendings (0). The task key, unnamed until now, is named ``uq_task_item``. The revision id
carries the branch name; the lead relinearises if two helpers add one.

Revision ID: 0004_swaps_repeats
Revises: 0004_scorecache_scores
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_swaps_repeats"
down_revision: str | None = "0004_scorecache_scores"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite reflects the unnamed key without a name: the convention names it for the batch copy
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _old_task_key() -> str:
    """The name the database gave the unnamed (bakeoff_id, vendor_id, item_id) task key."""
    if op.get_bind().dialect.name == "postgresql":
        return "task_bakeoff_id_vendor_id_item_id_key"
    return "uq_task_bakeoff_id_vendor_id_item_id"


def upgrade() -> None:
    with op.batch_alter_table("task", naming_convention=_SQLITE_NAMES) as batch_op:
        batch_op.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint(_old_task_key(), type_="unique")
        batch_op.create_unique_constraint(
            "uq_task_item", ["bakeoff_id", "vendor_id", "item_id", "repeat"]
        )
    with op.batch_alter_table("vendorlabel") as batch_op:
        batch_op.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint("uq_vendorlabel_answer", type_="unique")
        batch_op.create_unique_constraint(
            "uq_vendorlabel_answer",
            ["bakeoff_id", "vendor_id", "item_id", "annotator_id", "repeat"],
        )
    op.add_column(
        "bakeoff", sa.Column("repeat_share", sa.Float(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # the repeats go: the narrower keys allow one sending and one answer per annotator
    op.execute("DELETE FROM vendorlabel WHERE repeat = 1")
    op.execute("DELETE FROM task WHERE repeat = 1")
    # plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy of ``bakeoff`` would
    # cascade-delete the rows that reference it
    op.drop_column("bakeoff", "repeat_share")
    with op.batch_alter_table("vendorlabel") as batch_op:
        batch_op.drop_constraint("uq_vendorlabel_answer", type_="unique")
        batch_op.drop_column("repeat")
        batch_op.create_unique_constraint(
            "uq_vendorlabel_answer", ["bakeoff_id", "vendor_id", "item_id", "annotator_id"]
        )
    with op.batch_alter_table("task") as batch_op:
        batch_op.drop_constraint("uq_task_item", type_="unique")
        batch_op.drop_column("repeat")
        batch_op.create_unique_constraint(_old_task_key(), ["bakeoff_id", "vendor_id", "item_id"])
