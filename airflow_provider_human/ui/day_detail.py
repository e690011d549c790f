"""What a day's page lists beyond its figures: its items for a person, each with the run that holds it.

Only columns a person needs to decide are read: account, attack type, kind, batch, the
decision's evidence. Never the case comment or the feedback comment (free text the fraud
team wrote) and nothing of a lookup (the ledger keeps no lookup fields; see ``pii.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.rows import review_kind
from airflow_provider_human.reconciliation.ledger.states import NEEDS_A_PERSON, values
from airflow_provider_human.ui.ledger_access import LedgerTables

#: Items listed on one page; the figures still count them all.
ITEMS_SHOWN = 500


@dataclass(frozen=True)
class RunRef:
    """The task instance that holds a row (the ledger's ``owner``: dag/run/task/map index)."""

    owner: str

    @property
    def parts(self) -> tuple[str, str, str, str] | None:
        """(dag id, run id, task id, map index), or None for an owner not written by an Airflow task."""
        dag, _, rest = self.owner.partition("/")
        if rest.count("/") < 2:
            return None
        run, task, index = rest.rsplit("/", 2)
        return dag, run, task, index


@dataclass(frozen=True)
class ReviewRow:
    """A row of the day waiting for a person, without personal fields or free text."""

    id: int
    account_id: str
    attack_type: str
    kind: str
    state: str
    batch_id: str | None
    decision: str | None
    reason: str | None
    detail: str | None
    upload: str
    http_status: int | None
    answer: str | None
    owner: str

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def interval_starts(conn: sa.Connection, tables: LedgerTables, bounds: tuple[str, str]) -> list[str]:
    """The distinct interval starts in ``bounds``, one index seek each (a loose index scan)."""
    t = tables.table
    found: list[str] = []
    while True:
        after = t.c.interval_start > found[-1] if found else t.c.interval_start >= bounds[0]
        start = conn.execute(sa.select(sa.func.min(t.c.interval_start)).where(after, t.c.interval_start < bounds[1]))
        value = start.scalar()
        if value is None:
            return found
        found.append(value)


def review_rows(conn: sa.Connection, tables: LedgerTables, bounds: tuple[str, str]) -> list[ReviewRow]:
    """The day's rows waiting for a person (``needs_review``, ``failed``), oldest first, at most ITEMS_SHOWN."""
    t = tables.table
    # The ids first, from ix_<ledger>_day alone (SQLite keeps the row id in every index entry), then
    # only those rows: a day with tens of thousands of items reads ITEMS_SHOWN rows, not all of them.
    # By each interval start of the day (a daily run has one), so the index is searched by (start, state).
    starts = interval_starts(conn, tables, bounds)
    first = (
        sa.select(t.c.id)
        .where(t.c.interval_start.in_(starts), t.c.state.in_(values(NEEDS_A_PERSON)))
        .order_by(t.c.id)
        .limit(ITEMS_SHOWN)
    )
    query = (
        sa.select(
            t.c.id, t.c.account_id, t.c.attack_type, t.c.review, t.c.state, t.c.batch_id, t.c.decision,
            t.c.reason, t.c.detail, t.c.feedback_status, t.c.feedback_result, t.c.http_status, t.c.answer,
            t.c.owner,
        )
        .where(t.c.id.in_(first))
        .order_by(t.c.id)
    )  # fmt: skip
    found = []
    for row in conn.execute(query):
        row_id, account, attack, review, state, batch, decision, reason, detail, status, result, http, answer, owner = (
            row
        )
        upload = f"{status}/{result or '-'}" if status else "-"
        found.append(ReviewRow(row_id, account, attack, review_kind(review, state), state, batch, decision, reason,
                               detail, upload, http, answer, owner))  # fmt: skip
    return found
