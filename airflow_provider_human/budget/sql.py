"""The shared rate budget in a SQL database (SQLite for the demo, PostgreSQL in production).

Two small tables, shared by every budget key (one key per HUMAN account): the holders with
their leases, and each key's slowdown state. Times are epoch seconds on the database's
clock, so holders on different machines agree on who is alive. A ledger's database gets the
tables from the ledger's migrations (revision 0003); any other database from
:meth:`SqlBudgetStore.ensure_tables`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from airflow_provider_human.budget.shares import BudgetView, Slowdown

HOLDERS = "human_rate_budget_holders"
STATE = "human_rate_budget"
#: Rows of holders dead this long are deleted by whoever beats next (they no longer count anyway).
FORGET_AFTER = 60.0


def budget_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The budget's tables (declared once: the ledger's schema and this store both use this)."""
    holders = sa.Table(
        HOLDERS,
        metadata,
        sa.Column("budget_key", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(64), primary_key=True),
        sa.Column("lease_until", sa.Float, nullable=False),  # epoch seconds on the database's clock
    )
    state = sa.Table(
        STATE,
        metadata,
        sa.Column("budget_key", sa.String(255), primary_key=True),
        sa.Column("factor", sa.Float, nullable=False),  # applies while slow_until is ahead
        sa.Column("slow_until", sa.Float, nullable=False),
        sa.Column("lowered_at", sa.Float, nullable=False),
        sa.Column("pause_until", sa.Float, nullable=False),  # no holder starts a request before it
    )
    return holders, state


def _sqlite_now() -> sa.ColumnElement[float]:
    return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")


def _pg_now() -> sa.ColumnElement[float]:
    return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)


#: The database's clock and its INSERT ... ON CONFLICT, per backend (the same ones as the ledger's dialect).
_BACKENDS: dict[str, tuple[Callable[[], sa.ColumnElement[float]], Callable[[sa.Table], Any]]] = {
    "sqlite": (_sqlite_now, sqlite.insert),
    "postgresql": (_pg_now, postgresql.insert),
}


def _backend_name(engine: sa.Engine) -> str:
    """The one place the budget asks for the backend (the ledger's is ``ledger/dialect.py``; the budget sits
    below the reconciliation and cannot import it, so a new backend is added in both)."""
    return engine.dialect.name


class SqlBudgetStore:
    """The budget's holders and slowdown in ``engine``'s database; one transaction per beat."""

    def __init__(self, engine: sa.Engine, *, create_tables: bool = True) -> None:
        name = _backend_name(engine)
        backend = _BACKENDS.get(name)
        if backend is None:
            raise NotImplementedError(f"a rate budget on {name!r} is not supported; "
                                      "use PostgreSQL, SQLite or Redis")  # fmt: skip
        self.engine = engine
        self.name = name
        self._now, self._insert = backend
        self.holders, self.state = budget_tables(sa.MetaData())
        self._create_tables = create_tables
        self._ready = threading.Lock()
        self._checked = False

    @staticmethod
    def supports(engine: sa.Engine) -> bool:
        return _backend_name(engine) in _BACKENDS

    def ensure_tables(self) -> None:
        """Create the two tables where they are missing (another process may be creating them too)."""
        try:
            self.holders.metadata.create_all(self.engine, checkfirst=True)
        except sa.exc.DBAPIError:
            if not all(sa.inspect(self.engine).has_table(t.name) for t in (self.holders, self.state)):
                raise

    def _prepared(self) -> None:
        with self._ready:
            if not self._checked and self._create_tables:
                self.ensure_tables()
            self._checked = True

    def beat(self, key: str, holder: str, lease_seconds: float) -> BudgetView:
        self._prepared()
        h, now = self.holders, self._now()
        upsert = self._insert(h).values(budget_key=key, holder=holder, lease_until=now + lease_seconds)
        upsert = upsert.on_conflict_do_update(
            index_elements=["budget_key", "holder"], set_={"lease_until": now + lease_seconds}
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)
            conn.execute(sa.delete(h).where(h.c.budget_key == key, h.c.lease_until < now - FORGET_AFTER))
            live = conn.execute(
                sa.select(sa.func.count()).select_from(h).where(h.c.budget_key == key, h.c.lease_until > now)
            ).scalar_one()
            return self._view(conn, key, max(int(live), 1))

    def live_holders(self, key: str) -> int:
        """How many holders of ``key`` hold a lease now (read only: for reports and tests)."""
        h = self.holders
        with self.engine.connect() as conn:
            query = (
                sa.select(sa.func.count()).select_from(h).where(h.c.budget_key == key, h.c.lease_until > self._now())
            )
            return int(conn.execute(query).scalar_one())

    def lease_end(self, key: str, holder: str) -> float | None:
        """When ``holder``'s lease ends (the database's clock), or None if it holds none."""
        h = self.holders
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(h.c.lease_until).where(h.c.budget_key == key, h.c.holder == holder)
            ).scalar_one_or_none()
            return None if value is None else float(value)

    def behind(self, key: str, holder: str, since: float) -> int:
        """Other live holders whose lease ends before ``since``: they have not beaten since it was given."""
        h = self.holders
        with self.engine.connect() as conn:
            query = (
                sa.select(sa.func.count())
                .select_from(h)
                .where(
                    h.c.budget_key == key, h.c.holder != holder, h.c.lease_until > self._now(), h.c.lease_until < since
                )
            )
            return int(conn.execute(query).scalar_one())

    def leave(self, key: str, holder: str) -> None:
        h = self.holders
        with self.engine.begin() as conn:
            conn.execute(sa.delete(h).where(h.c.budget_key == key, h.c.holder == holder))

    def rate_limited(self, key: str, retry_after: float | None, slowdown: Slowdown) -> BudgetView:
        self._prepared()
        s, h = self.state, self.holders
        with self.engine.begin() as conn:
            # the write first: SQLite takes its write lock here, PostgreSQL locks the row below
            conn.execute(self._insert(s).values(budget_key=key, factor=1.0, slow_until=0.0, lowered_at=0.0,
                                                pause_until=0.0).on_conflict_do_nothing())  # fmt: skip
            row = conn.execute(
                sa.select(s.c.factor, s.c.slow_until, s.c.lowered_at, self._now().label("now"))
                .where(s.c.budget_key == key)
                .with_for_update()
            ).one()
            clock = float(row.now)
            watching = clock < row.slow_until  # an earlier 429 within the slowdown's window
            factor = float(row.factor) if watching else 1.0
            values: dict[str, Any] = {"slow_until": clock + slowdown.seconds, "factor": factor}
            if not watching:  # a first 429 (a start-up burst): Retry-After pauses everyone, the pace stays
                values["lowered_at"] = clock
            elif clock - row.lowered_at >= slowdown.debounce:  # 429s again: the limit is lower than configured
                values.update(factor=max(factor * slowdown.factor, slowdown.floor), lowered_at=clock)
            if retry_after and retry_after > 0:
                values["pause_until"] = sa.func.max(s.c.pause_until, clock + retry_after) if self.name == "sqlite" \
                    else sa.func.greatest(s.c.pause_until, clock + retry_after)  # fmt: skip
            conn.execute(sa.update(s).where(s.c.budget_key == key).values(**values))
            live = conn.execute(
                sa.select(sa.func.count()).select_from(h).where(h.c.budget_key == key, h.c.lease_until > self._now())
            ).scalar_one()
            return self._view(conn, key, max(int(live), 1))

    def _view(self, conn: sa.Connection, key: str, live: int) -> BudgetView:
        s, now = self.state, self._now()
        row = conn.execute(
            sa.select(
                sa.case((s.c.slow_until > now, s.c.factor), else_=1.0).label("factor"),
                (s.c.pause_until - now).label("pause"),
            ).where(s.c.budget_key == key)
        ).first()
        if row is None:
            return BudgetView(live_holders=live)
        return BudgetView(live_holders=live, factor=float(row.factor), pause_seconds=max(float(row.pause), 0.0))
