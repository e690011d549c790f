"""The account's rate budget next to the ledger: holders with leases, and the shared slowdown after a 429.

Shared by every ledger of the database and by any other task that names this database as its
budget (its store creates the same tables where missing), so each is created only when absent.
The downgrade leaves them: another ledger, or the plain operators, may be using them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("human_rate_budget_holders"):
        op.create_table(
            "human_rate_budget_holders",
            sa.Column("budget_key", sa.String(255), primary_key=True),
            sa.Column("holder", sa.String(64), primary_key=True),
            sa.Column("lease_until", sa.Float, nullable=False),
        )
    if not inspector.has_table("human_rate_budget"):
        op.create_table(
            "human_rate_budget",
            sa.Column("budget_key", sa.String(255), primary_key=True),
            sa.Column("factor", sa.Float, nullable=False),
            sa.Column("slow_until", sa.Float, nullable=False),
            sa.Column("lowered_at", sa.Float, nullable=False),
            sa.Column("pause_until", sa.Float, nullable=False),
        )


def downgrade() -> None:
    pass
