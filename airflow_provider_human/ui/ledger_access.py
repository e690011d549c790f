"""The ledger as the page reads it: through its own Airflow connection, and never able to write.

SQLite is opened with a read-only URI (``mode=ro``: the driver refuses every write);
PostgreSQL sessions start with ``default_transaction_read_only`` on and a statement timeout,
so a slow page can neither change the ledger nor hold locks for long. One engine per
connection id and URI, kept for the api-server's life: the page is read often.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.reconciliation.ledger.dialect import for_ledger, sqlite_read_only
from airflow_provider_human.reconciliation.ledger.schema import build_tables

LEDGER_TABLE = "human_feedback_ledger"
REJECTS_TABLE = "human_feedback_rejects"
STATEMENT_TIMEOUT_MS = 10_000

_engines: dict[tuple[str, str], sa.Engine] = {}
_lock = threading.Lock()


class LedgerTables:
    """The ledger's and the rejects' table objects (the ledger's own definitions), for reading only."""

    def __init__(self, ledger: str = LEDGER_TABLE, rejects: str = REJECTS_TABLE) -> None:
        self.table, self.rejects, _ = build_tables(sa.MetaData(), ledger, rejects)


def read_only_engine(conn_id: str) -> sa.Engine:
    """A read-only engine on the ledger connection ``conn_id`` (SQLite or PostgreSQL, as the ledger)."""
    from airflow_provider_human.reconciliation.sources import sql_engine

    engine = sql_engine(conn_id)
    key = (conn_id, engine.url.render_as_string(hide_password=False))
    with _lock:
        cached = _engines.get(key)
        if cached is None:
            cached = _engines[key] = _read_only(engine, conn_id)
        elif cached is not engine:
            engine.dispose()
    return cached


def _read_only(engine: sa.Engine, conn_id: str) -> sa.Engine:
    try:
        backend = for_ledger(engine)
    except NotImplementedError:
        name = engine.url.get_backend_name()
        engine.dispose()
        raise HumanInputError(
            "ui_ledger_conn_ids", conn_id, f"is a {name} connection; a ledger is SQLite or PostgreSQL"
        ) from None
    try:
        return backend.read_only(engine, STATEMENT_TIMEOUT_MS)
    except ValueError as exc:
        raise HumanInputError("ui_ledger_conn_ids", conn_id, f"names {exc}") from None


__all__ = ["LedgerTables", "read_only_engine", "sqlite_read_only"]
