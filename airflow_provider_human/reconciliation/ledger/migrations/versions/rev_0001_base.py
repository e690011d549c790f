"""The ledger as it was before schema versions: the base revision (frozen, never edited).

A ledger created before migrations existed has these tables and no version table; it is
recognised by its columns and stamped with this revision (see ``runner.recognise_base``).
Self-contained on purpose: later code changes ``build_tables``, never this history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID_LENGTH = 255
OPEN_STATES_SQL = "state IN ('claimed', 'in_doubt', 'planned', 'sending')"


def upgrade() -> None:
    tables = op.get_context().opts["ledger_tables"]
    ledger = tables.ledger
    op.create_table(
        ledger,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("account_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("attack_type", sa.String(16), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ad_state", sa.String(16)),
        sa.Column("decision", sa.String(32)),
        sa.Column("reason", sa.String(64)),
        sa.Column("detail", sa.Text),
        sa.Column("review", sa.String(32)),
        sa.Column("answer", sa.String(16)),
        sa.Column("answered_by", sa.String(256)),
        sa.Column("answered_at", sa.String(32)),
        sa.Column("feedback_status", sa.String(16)),
        sa.Column("feedback_result", sa.String(48)),
        sa.Column("feedback_comment", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("marked_at", sa.Float),
        sa.Column("lookup_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reprocessed_by", sa.String(512)),
        sa.Column("http_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.String(32)),
        sa.UniqueConstraint(
            "account_id", "attack_type", "case_id", "closed_at", "fingerprint", name=f"uq_{ledger}_outcome"
        ),
    )
    op.create_index(f"ix_{ledger}_closed", ledger, ["closed_at"])
    op.create_index(f"ix_{ledger}_open", ledger, ["holder", "state", "id"],
                    sqlite_where=sa.text(OPEN_STATES_SQL), postgresql_where=sa.text(OPEN_STATES_SQL))  # fmt: skip
    op.create_table(
        tables.holders,
        sa.Column("holder", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    if sa.inspect(op.get_bind()).has_table(tables.rejects):
        return  # shared with another ledger of this database (the default name), which created it
    op.create_table(
        tables.rejects,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("row_hash", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("case_id", sa.String(ID_LENGTH)),
        sa.Column("account_id", sa.String(ID_LENGTH)),
        sa.Column("raw", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("row_hash", "reason", name=f"uq_{tables.rejects}_row"),
    )


def downgrade() -> None:
    raise NotImplementedError("the base revision is never undone: dropping the ledger would forget what HUMAN was told")
