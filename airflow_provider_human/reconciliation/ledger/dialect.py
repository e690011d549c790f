"""What SQLite and PostgreSQL do their own way, one object per backend; the rest of the code asks it.

The ledger runs on both (one code path above this module); the SQL source reads any
common-sql database, so it gets :class:`AnySQL`'s portable reading where neither applies.
A new ledger backend is one class here and one entry in :data:`_LEDGER_BACKENDS`.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from airflow_provider_human.reconciliation import decision_lock
from airflow_provider_human.reconciliation.ledger.schema import KEY, parts
from airflow_provider_human.reconciliation.ledger.states import now_iso

log = logging.getLogger(__name__)

_PG_ARRAY = {sa.Integer: "integer[]", sa.Float: "float8[]"}  # every other claimed column is text
_PG_PAGE = 5000  # claimed rows per INSERT ... SELECT FROM unnest(...)
# Text that is not UTF-8 is read, not raised: each bad byte becomes one lone surrogate
# (U+DC80-U+DCFF), which validation rejects with its position instead of failing the whole day.
_sqlite_text = partial(str, encoding="utf-8", errors="surrogateescape")


@dataclass
class Growth:
    """Rows one ledger instance inserted since its backend's planner statistics were last refreshed."""

    rows_unanalyzed: int = 0
    rows_known: float | None = None  # the table's size as the statistics said at the last look


class AnySQL:
    """A source database that is neither SQLite nor PostgreSQL: portable SQL, nothing of its own."""

    name = "other"

    def closed_in(self, closed: sa.ColumnElement[Any], start: datetime, end: datetime) -> sa.ColumnElement[bool]:
        """The source's rows closed in [start, end) (UTC bounds), and the rows no interval can place."""
        return sa.or_(sa.and_(closed >= start, closed < end), closed.is_(None))

    @contextmanager
    def reading(self, conn: sa.Connection) -> Iterator[None]:
        """The source's read: as the connection is."""
        yield


class LedgerBackend(AnySQL):
    """What the ledger needs of a backend (see :class:`SQLite` and :class:`PostgreSQL`)."""

    def now(self) -> sa.ColumnElement[float]:
        """The database's clock in epoch seconds: every worker's leases are measured on one clock."""
        raise NotImplementedError

    def read_only(self, engine: sa.Engine, statement_timeout_ms: int) -> sa.Engine:
        """``engine`` made unable to write, for readers of the ledger (the UI page)."""
        raise NotImplementedError

    def insert(self, table: sa.Table) -> Any:
        """``INSERT`` with ``ON CONFLICT DO NOTHING`` available."""
        raise NotImplementedError

    def prepare(self, engine: sa.Engine) -> None:
        """Before the schema is checked: what the database file or server needs once."""

    @contextmanager
    def schema_lock(self, engine: sa.Engine, key: str) -> Iterator[sa.Connection]:
        """One connection holding the database's lock for a ledger's schema (``key``), committed at the end.

        Two first runs (or a run and ``airflow human ledger upgrade``) then upgrade one after the other."""
        raise NotImplementedError
        yield  # pragma: no cover

    def insert_claims(self, conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: list[list[Any]]) -> int:
        """Insert claimed rows (values in ``names``' order), skipping existing keys; returns how many were new."""
        raise NotImplementedError

    def lock_decisions(
        self, conn: sa.Connection, *, table: sa.Table, holders: sa.Table, holder: str, wait_seconds: float
    ) -> None:
        """Take the decision lock for ``conn``'s transaction (see ``Ledger.deciding``)."""
        raise NotImplementedError

    def refresh_statistics(self, engine: sa.Engine, table: sa.Table, growth: Growth, after_rows: int) -> None:
        """Refresh the planner's statistics of a fast-growing ledger (nothing where the planner needs none)."""

    def accounts_in(
        self, column: sa.ColumnElement[str], accounts: Sequence[str]
    ) -> tuple[sa.ColumnElement[bool], Iterable[Sequence[str]]]:
        """A condition on ``column`` bound to ``:accounts``, and the account lists to bind it to in turn."""
        return column.in_(sa.bindparam("accounts", expanding=True)), parts(accounts)


def sqlite_read_only(path: str, *, timeout: float = 10) -> sa.Engine:
    """An engine on the SQLite file ``path`` that cannot write (``file:...?mode=ro``: the driver refuses)."""
    import sqlite3
    from urllib.parse import quote

    uri = f"file:{quote(path)}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=timeout)

    return sa.create_engine("sqlite://", creator=connect)


class SQLite(LedgerBackend):
    name = "sqlite"

    def read_only(self, engine: sa.Engine, statement_timeout_ms: int) -> sa.Engine:
        """``engine``'s file opened so that nothing can be written (a page that only reads)."""
        path = engine.url.database or ""
        engine.dispose()
        if path in ("", ":memory:"):
            raise ValueError("a SQLite connection without a file")
        return sqlite_read_only(path, timeout=statement_timeout_ms / 1000)

    def now(self) -> sa.ColumnElement[float]:
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")

    def insert(self, table: sa.Table) -> Any:
        return sqlite.insert(table)

    def prepare(self, engine: sa.Engine) -> None:
        """WAL, so that concurrent runs reading the export are not starved by another run's ledger writes."""
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        except sa.exc.OperationalError:
            pass  # another run holds the file right now and is switching it (or has): fine either way

    @contextmanager
    def schema_lock(self, engine: sa.Engine, key: str) -> Iterator[sa.Connection]:
        """``BEGIN IMMEDIATE``: the write lock, waited for on the busy timeout, DDL inside the transaction."""
        with engine.connect() as conn:
            # the driver would begin only before DML and run DDL outside any transaction
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")

    def insert_claims(self, conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: list[list[Any]]) -> int:
        """One executemany in the driver, rows skipped by ON CONFLICT not counted (SQLite reports this exactly).

        SQLAlchemy's per-row parameter handling costs more than the inserts themselves on big
        days; the statement is the same one, compiled.
        """
        stmt = self.insert(table).on_conflict_do_nothing(index_elements=list(KEY))
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(names))
        params = compiled.construct_params(dict(zip(names, rows[0], strict=True)))
        position = {k: i for i, k in enumerate(names)}
        order: list[int] = []
        fixed: list[Any] = []  # the statement's own binds, if any, after the row's values
        for key in compiled.positiontup or []:
            if key not in position:
                position[key] = len(names) + len(fixed)
                fixed.append(params[key])
            order.append(position[key])
        pick = operator.itemgetter(*order)
        values = [pick(row + fixed) if fixed else pick(row) for row in rows]
        return conn.exec_driver_sql(str(compiled), values).rowcount

    def lock_decisions(
        self, conn: sa.Connection, *, table: sa.Table, holders: sa.Table, holder: str, wait_seconds: float
    ) -> None:
        """Any write starts SQLite's write transaction: this holder's own lease row. Waits the busy timeout."""
        h = holders
        conn.execute(sa.update(h).where(h.c.holder == holder).values(updated_at=now_iso()))

    def closed_in(self, closed: sa.ColumnElement[Any], start: datetime, end: datetime) -> sa.ColumnElement[bool]:
        """Text normalised by ``datetime()`` (UTC text, NULL when unparseable), compared with UTC bounds.

        ``datetime()`` gives whole seconds (it drops fractions): bounds floored, the end one
        second later when it has a fraction, so the text compared is a superset of the
        interval and parse_outcome keeps exactly [start, end).
        """
        normalised = sa.func.datetime(closed)
        upper = end.replace(microsecond=0) + timedelta(seconds=1 if end.microsecond else 0)
        low, high = (t.strftime("%Y-%m-%d %H:%M:%S") for t in (start, upper))
        return sa.or_(sa.and_(normalised >= low, normalised < high), normalised.is_(None))

    @contextmanager
    def reading(self, conn: sa.Connection) -> Iterator[None]:
        """A text factory that escapes bytes that are not UTF-8 instead of failing the read (and echoing the text)."""
        raw: Any = conn.connection.dbapi_connection  # sqlite3.Connection: has text_factory
        before = raw.text_factory
        raw.text_factory = _sqlite_text
        try:
            yield
        finally:
            raw.text_factory = before


class PostgreSQL(LedgerBackend):
    name = "postgresql"

    def read_only(self, engine: sa.Engine, statement_timeout_ms: int) -> sa.Engine:
        """Every session of ``engine`` read-only, each statement bounded: a slow page holds no lock for long."""

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SET default_transaction_read_only = on")
                cursor.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            finally:
                cursor.close()
            dbapi_connection.commit()

        sa.event.listen(engine, "connect", on_connect)
        return engine

    def now(self) -> sa.ColumnElement[float]:
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)

    def insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    @contextmanager
    def schema_lock(self, engine: sa.Engine, key: str) -> Iterator[sa.Connection]:
        """A transaction-scoped advisory lock on ``key``; PostgreSQL's DDL runs inside that transaction."""
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
            yield conn

    def insert_claims(self, conn: sa.Connection, table: sa.Table, names: Sequence[str], rows: list[list[Any]]) -> int:
        """``INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT DO NOTHING``.

        A driver's ``executemany`` sends one statement per row (a million round trips on a big
        day). One statement per 5,000 rows, each column one array parameter, keeps the
        statement small and the count of rows really inserted exact, which the claim needs
        (rows a concurrent run inserted first are not ours).
        """
        prep = conn.dialect.identifier_preparer
        arrays = ", ".join(f"%s::{_PG_ARRAY.get(type(table.c[name].type), 'text[]')}" for name in names)
        # Only quoted identifiers of our own table and fixed casts go into the text; values are parameters.
        into = f"{prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)})"
        key = ", ".join(prep.quote(k) for k in KEY)
        sql = f"INSERT INTO {into} SELECT * FROM unnest({arrays}) ON CONFLICT ({key}) DO NOTHING"  # noqa: S608
        inserted = 0
        for start in range(0, len(rows), _PG_PAGE):
            columns = tuple(list(column) for column in zip(*rows[start : start + _PG_PAGE], strict=True))
            inserted += conn.exec_driver_sql(sql, columns).rowcount
        return inserted

    def lock_decisions(
        self, conn: sa.Connection, *, table: sa.Table, holders: sa.Table, holder: str, wait_seconds: float
    ) -> None:
        """A transaction-scoped advisory lock per ledger table, waited for at most ``wait_seconds``."""
        decision_lock.take(conn, table.name, wait_seconds)

    def refresh_statistics(self, engine: sa.Engine, table: sa.Table, growth: Growth, after_rows: int) -> None:
        """``ANALYZE`` the ledger after this instance has grown it a lot.

        Until autovacuum gets to it, a new or fast-growing ledger is planned from statistics
        that say it is empty or small: every history read became a sequential scan of the
        whole table, which made a day of a million outcomes quadratic (docs/benchmarks.md).
        Refreshed when the rows inserted since the last refresh reach both ``after_rows`` and
        the size the statistics knew, so the count of refreshes grows with the logarithm of the
        table. Where the database user does not own the table, PostgreSQL skips it with a
        warning (not an error), and autovacuum remains the only refresh.
        """
        if growth.rows_unanalyzed < after_rows:
            return
        name = engine.dialect.identifier_preparer.format_table(table)
        size = sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)")
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if growth.rows_known is None:  # this try's first look: what the statistics say now
                    growth.rows_known = max(float(conn.execute(size, {"name": name}).scalar() or 0.0), 0.0)
                if growth.rows_unanalyzed < growth.rows_known:
                    return
                growth.rows_unanalyzed = 0
                conn.exec_driver_sql(f"ANALYZE {name}")
                growth.rows_known = max(float(conn.execute(size, {"name": name}).scalar() or 0.0), 0.0)
        except sa.exc.DBAPIError as exc:  # only ever a speed-up: the run goes on without it
            growth.rows_unanalyzed = 0
            log.warning("Could not refresh the planner statistics of %s: %s", table.name, exc)
            return
        log.info("Refreshed the planner statistics of %s (%.0f rows)", table.name, growth.rows_known)

    def accounts_in(
        self, column: sa.ColumnElement[str], accounts: Sequence[str]
    ) -> tuple[sa.ColumnElement[bool], Iterable[Sequence[str]]]:
        """One array parameter for every account: one round trip, planned once."""
        condition = column == sa.any_(sa.bindparam("accounts", type_=postgresql.ARRAY(sa.String)))
        return condition, [accounts] if accounts else []

    @contextmanager
    def reading(self, conn: sa.Connection) -> Iterator[None]:
        """In UTC, put back as it was after (the engine may be the ledger's too).

        PostgreSQL compares a ``timestamp without time zone`` with the bounds in the session's
        TimeZone: ``SET TIME ZONE 'UTC'`` makes naive values UTC.
        """
        before = conn.exec_driver_sql("SHOW TimeZone").scalar()
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        try:
            yield
        finally:
            try:
                conn.execute(sa.text("SELECT set_config('TimeZone', :zone, false)"), {"zone": before})
            except sa.exc.DBAPIError:  # an aborted transaction: its rollback undoes the SET as well
                pass


_LEDGER_BACKENDS: dict[str, LedgerBackend] = {"sqlite": SQLite(), "postgresql": PostgreSQL()}


def _name(engine: sa.Engine) -> str:
    return engine.dialect.name  # the one place that looks: everything else asks the object


def for_ledger(engine: sa.Engine) -> LedgerBackend:
    """The ledger's backend; a third one is refused before anything is written."""
    backend = _LEDGER_BACKENDS.get(_name(engine))
    if backend is None:
        raise NotImplementedError(f"ledger on {_name(engine)!r} is not supported; use PostgreSQL or SQLite")
    return backend


def for_source(engine: sa.Engine) -> AnySQL:
    """How to read case outcomes from this database (any common-sql one)."""
    return _LEDGER_BACKENDS.get(_name(engine)) or AnySQL()
