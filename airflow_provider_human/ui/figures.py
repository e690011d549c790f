"""A ledger's figures per day, by one aggregate read on ``ix_<ledger>_day`` (interval start, state, result, batch).

A day is the UTC date of a row's interval start: the day whose cases a daily run reconciled.
Every count is one ``GROUP BY`` the index covers, so a page costs one scan of the shown
days' index entries, not of the ledger's rows. The states are grouped by their flags in
:mod:`~airflow_provider_human.reconciliation.ledger.states`, so a new state lands in the
right column without an edit here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.states import IN_FLIGHT, NEEDS_A_PERSON, UNFINISHED, LedgerState
from airflow_provider_human.ui.ledger_access import LedgerTables

#: Rows with a decision: everything but ``claimed`` (its lookup failed or it waits for an earlier upload).
DECIDED = frozenset(LedgerState) - {LedgerState.CLAIMED}
#: Not sent yet and not in doubt: undecided, or decided and waiting for its batch.
WAITING = UNFINISHED - IN_FLIGHT


@dataclass
class DayFigures:
    """One day of one ledger; ``sent`` is by feedback result, ``requests`` counts the upload batches."""

    day: str
    outcomes: int = 0
    decided: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    nothing_to_send: int = 0
    requests: int = 0
    waiting: int = 0
    in_doubt: int = 0
    needs_review: int = 0
    rejected: int = 0  # broken rows of the export (the rejects table), never in the ledger

    @property
    def sent_total(self) -> int:
        return sum(self.sent.values())

    @property
    def done(self) -> bool:
        """Every outcome decided and sent or needing nothing: what a green run of the day saw."""
        return self.outcomes == self.decided and not (self.waiting or self.in_doubt or self.needs_review)

    def add(self, state: str, result: str | None, rows: int) -> None:
        s = LedgerState(state)
        self.outcomes += rows
        self.decided += rows if s in DECIDED else 0
        if s is LedgerState.SENT:
            self.sent[result or "-"] += rows
        elif s is LedgerState.NOOP:
            self.nothing_to_send += rows
        self.waiting += rows if s in WAITING else 0
        self.in_doubt += rows if s in IN_FLIGHT else 0
        self.needs_review += rows if s in NEEDS_A_PERSON else 0

    def as_json(self) -> dict[str, object]:
        names = ("day", "outcomes", "decided", "sent_total", "nothing_to_send", "requests", "waiting", "in_doubt",
                 "needs_review", "rejected", "done")  # fmt: skip
        return {**{n: getattr(self, n) for n in names}, "sent": dict(sorted(self.sent.items()))}


def day_bounds(day: date) -> tuple[str, str]:
    """The interval starts of ``day`` as the ledger writes them (fixed-width UTC text): [day, next day)."""
    return day.isoformat(), (day + timedelta(days=1)).isoformat()


#: Days the overview shows per page (newest first); older ones are a link away (``before``).
DAYS_SHOWN = 14


def recent_days(
    conn: sa.Connection, tables: LedgerTables, limit: int = DAYS_SHOWN, before: date | None = None
) -> tuple[list[date], date | None]:
    """The newest ``limit`` days with ledger rows or rejects (before ``before``), and the next older day if any.

    A loose index scan: one ``max(interval_start) < cursor`` seek per day on each table's
    interval index, so finding the days costs the same on a ledger of a thousand rows or of
    a hundred million.
    """
    t, r = tables.table, tables.rejects
    cursor = (before or date.max).isoformat()
    found: list[date] = []
    while len(found) <= limit:
        newest = [conn.execute(sa.select(sa.func.max(c)).where(c < cursor)).scalar() for c in
                  (t.c.interval_start, r.c.interval_start)]  # fmt: skip
        starts = [s for s in newest if s]
        if not starts:
            break
        cursor = max(starts)[:10]
        found.append(date.fromisoformat(cursor))
    return found[:limit], (found[limit] if len(found) > limit else None)


def ledger_days(conn: sa.Connection, tables: LedgerTables, bounds: tuple[str, str] | None = None) -> list[DayFigures]:
    """Figures of every day (or of the days in ``bounds``), newest first."""
    t, r = tables.table, tables.rejects
    starts = t.c.interval_start
    where = [] if bounds is None else [starts >= bounds[0], starts < bounds[1]]
    days: dict[str, DayFigures] = {}

    def of(start: str) -> DayFigures:
        day = start[:10]
        return days.setdefault(day, DayFigures(day))

    # One group per (interval start, state, result, batch): exactly the index's order, so the database
    # streams it from the index without sorting; days and distinct batches are folded here (few groups).
    key = (starts, t.c.state, t.c.feedback_result, t.c.batch_id)
    batches: dict[str, set[str]] = {}
    for start, state, result, batch, rows in conn.execute(
        sa.select(*key, sa.func.count()).where(*where).group_by(*key)
    ):
        of(start).add(state, result, rows)
        if batch is not None:
            batches.setdefault(start[:10], set()).add(batch)
    for day, ids in batches.items():
        days[day].requests = len(ids)
    r_where = [] if bounds is None else [r.c.interval_start >= bounds[0], r.c.interval_start < bounds[1]]
    rejects = sa.select(r.c.interval_start, sa.func.count()).where(*r_where).group_by(r.c.interval_start)
    for start, rows in conn.execute(rejects):
        of(start).rejected += rows
    return [days[d] for d in sorted(days, reverse=True)]


def one_day(conn: sa.Connection, tables: LedgerTables, day: date) -> DayFigures:
    """The figures of ``day`` (all zero when the ledger holds nothing of it)."""
    found = ledger_days(conn, tables, day_bounds(day))
    return found[0] if found else DayFigures(day.isoformat())
