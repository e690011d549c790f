"""PostgreSQL's decision lock, with a bound on the wait and the holder named when it is not granted.

``pg_advisory_xact_lock`` waits for ever: a worker stopped (SIGSTOP, a debugger, a VM paused)
inside its decision transaction would hold every other run of the ledger for as long as it
stays stopped, and leases do not cover it (its heartbeat is another thread and connection).
``lock_timeout`` bounds the wait for this one statement, the waiters keep their place in the
server's queue, and a run that is not granted the lock fails for retry saying who holds it.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import Any

import sqlalchemy as sa

from airflow_provider_human.exceptions import DecisionLockTimeoutError

_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that expired

_HOLDERS = sa.text(
    "SELECT a.pid, a.application_name, a.client_addr, a.client_port, a.state,"
    " extract(epoch FROM clock_timestamp() - a.xact_start) AS in_transaction,"
    " extract(epoch FROM clock_timestamp() - a.state_change) AS in_state"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database()) AND l.classid::bigint = :high AND l.objid::bigint = :low"
    " AND l.objsubid = 1"
)


def lock_key(table_name: str) -> int:
    """The signed 64-bit advisory key of one ledger table (every process derives the same)."""
    return int.from_bytes(hashlib.sha1(table_name.encode(), usedforsecurity=False).digest()[:8], "big") - (1 << 63)


def application_name() -> str:
    """What pg_stat_activity shows for a deciding worker: its host and process id (63 bytes at most)."""
    return f"human-reconcile pid {os.getpid()} on {socket.gethostname()}"[:63]


def take(conn: sa.Connection, table_name: str, wait_seconds: float) -> None:
    """Take the decision lock of ``table_name`` in ``conn``'s transaction, waiting at most ``wait_seconds``.

    Raises :class:`DecisionLockTimeoutError` naming the holder; the caller's transaction is
    then aborted (PostgreSQL cancelled the statement), so it must end it.
    """
    key = lock_key(table_name)
    milliseconds = max(int(wait_seconds * 1000), 1)  # 0 would mean "wait for ever"
    conn.execute(sa.select(sa.func.set_config("lock_timeout", f"{milliseconds}ms", True),
                           sa.func.set_config("application_name", application_name(), True)))  # fmt: skip
    try:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) != _LOCK_NOT_AVAILABLE:
            raise
        raise DecisionLockTimeoutError(_message(conn.engine, table_name, key, wait_seconds)) from None
    conn.execute(sa.text("SET LOCAL lock_timeout TO DEFAULT"))  # later statements wait as the session says


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    orig: Any = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _message(engine: sa.Engine, table_name: str, key: int, wait_seconds: float) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    try:  # a connection of its own: the waiting transaction was aborted with the statement
        with engine.connect() as conn:
            rows = conn.execute(_HOLDERS, {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}).all()
    except sa.exc.DBAPIError as exc:
        rows, failed = [], f" (pg_locks could not be read: {type(exc.orig).__name__})"
    else:
        failed = ""
    holders = "; ".join(_describe(r) for r in rows) or f"a holder that released it meanwhile{failed}"
    return (f"The decision lock of ledger {table_name!r} was not granted within {wait_seconds:g} s "
            f"(decision_lock_seconds): held by {holders}. A stopped or hung worker holds every run of "
            "this ledger until it resumes or its backend ends (pg_terminate_backend(pid)); this try fails "
            "for retry")  # fmt: skip


def _describe(row: sa.Row[Any]) -> str:
    client = f"{row.client_addr}:{row.client_port}" if row.client_addr is not None else "a local socket"
    return (f"PostgreSQL backend pid {row.pid} (application_name {row.application_name!r}, client {client}), "
            f"{row.state}, in its transaction for {float(row.in_transaction or 0):.0f} s and "
            f"{row.state} for {float(row.in_state or 0):.0f} s")  # fmt: skip
