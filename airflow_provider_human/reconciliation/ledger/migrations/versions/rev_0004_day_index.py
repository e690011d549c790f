"""``ix_<ledger>_day``: (interval_start, state, feedback_result, batch_id), what the UI page's counts read.

The HUMAN page (docs/ui.md) counts a ledger's rows per day, state, result and batch; with
this index every count is a scan of index entries only (no row is read), on SQLite and on
PostgreSQL (an index-only scan once vacuumed). Each claim writes one more index entry
(docs/benchmarks.md, "The HUMAN page"). The downgrade drops it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ["interval_start", "state", "feedback_result", "batch_id"]


def upgrade() -> None:
    tables = op.get_context().opts["ledger_tables"]
    name = f"ix_{tables.ledger}_day"
    if name not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(tables.ledger)}:
        op.create_index(name, tables.ledger, COLUMNS)


def downgrade() -> None:
    tables = op.get_context().opts["ledger_tables"]
    op.drop_index(f"ix_{tables.ledger}_day", table_name=tables.ledger)
