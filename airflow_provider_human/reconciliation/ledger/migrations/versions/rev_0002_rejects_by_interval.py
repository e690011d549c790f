"""The rejects by interval_start, and no ``ix_<ledger>_batch``.

``interval_rejects`` (the day check, the report's truth) reads one interval's rejects by
``interval_start``, which had no index at all; rejects are few, so the index costs the
claims nothing. An early build's ``ix_<ledger>_batch`` goes: every claim paid for it and the
open-rows index finds a batch's rows (the downgrade does not bring it back). The ledger
itself gets no index by interval: each one more is written by every one of a day's claims
(docs/benchmarks.md, "Ledger lifecycle"), and its day reads use ``ix_<ledger>_closed``.
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
    inspector = sa.inspect(op.get_bind())
    legacy = f"ix_{tables.ledger}_batch"
    if legacy in {i["name"] for i in inspector.get_indexes(tables.ledger)}:
        op.drop_index(legacy, table_name=tables.ledger)
    rejects_index = f"ix_{tables.rejects}_interval"
    if rejects_index not in {i["name"] for i in inspector.get_indexes(tables.rejects)}:
        op.create_index(rejects_index, tables.rejects, ["interval_start"])  # a shared rejects table has it already


def downgrade() -> None:
    """Nothing: the rejects index may serve another ledger sharing the table, and is harmless to 0001."""
