"""Indexes for the reads by interval: the ledger by (interval_start, state), the rejects by interval_start.

The day check, the report's truth and the review listing read one interval's rows (the
rejects by ``interval_start`` with no index at all); a per-day summary groups by state. An
early build's ``ix_<ledger>_batch`` goes (every claim paid for it; the downgrade does not bring it back).
Plain CREATE INDEX: ledgers are small enough (millions of rows) that the short write lock
is cheaper than CONCURRENTLY, which cannot run inside the upgrade's transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = op.get_context().opts["ledger_tables"]
    op.create_index(f"ix_{tables.ledger}_interval_state", tables.ledger, ["interval_start", "state"])
    legacy = f"ix_{tables.ledger}_batch"  # made by early builds; the open-rows index finds a batch's rows
    if legacy in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(tables.ledger)}:
        op.drop_index(legacy, table_name=tables.ledger)  # one index less to write on every claim
    rejects_index = f"ix_{tables.rejects}_interval"
    if rejects_index not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(tables.rejects)}:
        op.create_index(rejects_index, tables.rejects, ["interval_start"])  # a shared rejects table has it already


def downgrade() -> None:
    tables = op.get_context().opts["ledger_tables"]
    op.drop_index(f"ix_{tables.ledger}_interval_state", table_name=tables.ledger)
