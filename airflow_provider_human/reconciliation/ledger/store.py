"""What every step of the ledger works on: its tables, its backend, this try's holder, and the guards.

The ledger's modules are functions of a :class:`Store`; the ``Ledger`` facade holds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.dialect import LedgerBackend
from airflow_provider_human.reconciliation.ledger.states import OPEN_STATES_SQL, UNFINISHED, LedgerState, values


@dataclass(frozen=True)
class Store:
    engine: sa.Engine
    backend: LedgerBackend
    table: sa.Table
    rejects: sa.Table
    holders: sa.Table
    holder: str  # this try: fresh for every Ledger instance

    def mine(self, states: Sequence[LedgerState]) -> sa.ColumnElement[bool]:
        """This holder's rows in these (unfinished) states, through the partial index."""
        t = self.table
        assert set(states) <= UNFINISHED, states
        return sa.and_(t.c.holder == self.holder, t.c.state.in_(values(states)), sa.text(OPEN_STATES_SQL))

    def still_mine(self, states: Sequence[LedgerState]) -> sa.ColumnElement[bool]:
        """The compare-and-set guard for updates by id.

        Wrapped in COALESCE so the planner looks rows up by primary key instead of scanning
        the (holder, state) index over every row this try holds (quadratic on big days).
        """
        t = self.table
        return sa.and_(sa.func.coalesce(t.c.holder, "") == self.holder, t.c.state.in_(values(states)))

    def live_holders(self) -> sa.Select:
        """Holders whose lease has not run out; rows of any other holder (or of none registered) are free."""
        h = self.holders
        return sa.select(h.c.holder).where(h.c.lease_until > self.backend.now())

    def my_lease_is_valid(self) -> sa.ColumnElement[bool]:
        h = self.holders
        return sa.exists().where(h.c.holder == self.holder, h.c.lease_until > self.backend.now())

    def in_interval(self, interval: tuple[str, str]) -> sa.ColumnElement[bool]:
        t = self.table
        return sa.and_(t.c.closed_at >= interval[0], t.c.closed_at < interval[1])


def equal(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value
