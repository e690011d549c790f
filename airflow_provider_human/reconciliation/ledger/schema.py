"""The ledger's three tables (and the rate budget's two beside them) and the column lists the claim and the
decisions write."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import sqlalchemy as sa

from airflow_provider_human.budget.sql import budget_tables
from airflow_provider_human.reconciliation.ledger.states import OPEN_STATES_SQL
from airflow_provider_human.reconciliation.outcomes import MAX_ID_LENGTH as ID_LENGTH

_T = TypeVar("_T")
CHUNK = 500  # ids per statement: below every database's bind-parameter limit

#: A case outcome as the export said it: an edited row (other verdict or comment) is a new outcome.
#: Led by (account, attack type): the same index serves the claim and every history read.
KEY = ("account_id", "attack_type", "case_id", "closed_at", "fingerprint")
DECISION_COLUMNS = (
    "ad_state", "decision", "reason", "detail", "review", "feedback_status", "feedback_result", "feedback_comment",
)  # fmt: skip
NO_DECISION = dict.fromkeys(DECISION_COLUMNS)
OUTCOME_COLUMNS = ("case_id", "account_id", "attack_type", "closed_at", "fingerprint", "verdict", "comment")
#: What a claim writes, in this order: the outcome's own columns, its state, then the rest.
CLAIM_COLUMNS = (
    *OUTCOME_COLUMNS, "state", *DECISION_COLUMNS, "lookup_failures", "error", "interval_start", "interval_end",
    "owner", "holder", "created_at", "updated_at",
)  # fmt: skip


def build_tables(metadata: sa.MetaData, ledger: str, rejects: str) -> tuple[sa.Table, sa.Table, sa.Table]:
    ledger_table = sa.Table(
        ledger,
        metadata,
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
        sa.Column("detail", sa.Text),  # the decision's evidence in words (history rows, incident types)
        sa.Column("review", sa.String(32)),  # why a person must decide (needs_review and failed rows)
        sa.Column("answer", sa.String(16)),  # the person's answer (Answer), who gave it and when
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
        sa.UniqueConstraint(*KEY, name=f"uq_{ledger}_outcome"),
        sa.Index(f"ix_{ledger}_closed", "closed_at"),
        # The UI page's counts per day (revision 0004): covered by the index, no row read.
        sa.Index(f"ix_{ledger}_day", "interval_start", "state", "feedback_result", "batch_id"),
    )
    # A partial index: rows that are done (most of them) leave the holder index, so a day's
    # million claims and transitions stay cheap. It also finds a batch's rows (this holder's
    # ``sending`` rows): a batch index of its own cost more on every claim than it saved.
    t = ledger_table
    sa.Index(f"ix_{ledger}_open", t.c.holder, t.c.state, t.c.id,
             sqlite_where=sa.text(OPEN_STATES_SQL), postgresql_where=sa.text(OPEN_STATES_SQL))  # fmt: skip
    rejects_table = sa.Table(
        rejects,
        metadata,
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
        sa.UniqueConstraint("row_hash", "reason", name=f"uq_{rejects}_row"),
        sa.Index(f"ix_{rejects}_interval", "interval_start"),  # interval_rejects (revision 0002)
    )
    # One lease per try, not per row: a heartbeat renews one row however many outcomes a try holds.
    holders_table = sa.Table(
        f"{ledger}_holders",
        metadata,
        sa.Column("holder", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),  # epoch seconds on the database's clock
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    # The account's rate budget lives next to the ledger by default (revision 0003), shared by every ledger.
    budget_tables(metadata)
    return ledger_table, rejects_table, holders_table


def parts(ids: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """Slices small enough for one ``IN (...)`` (SQLite's bound-parameter limit)."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
