"""Alembic, run from code: no alembic.ini, one version table per ledger, table names handed to the migrations.

Every change of the schema is a revision in ``versions/``. Upgrades run under the
database's lock, so two first runs cannot race: a transaction-scoped advisory lock on
PostgreSQL (keyed on the version table's name; the DDL runs in that transaction), the write
lock on SQLite (``BEGIN IMMEDIATE``: a second process waits for it on its busy timeout).
Whoever gets the lock second finds the work done.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from airflow_provider_human.docs_links import docs_link
from airflow_provider_human.exceptions import LedgerNewerThanCodeError, LedgerSchemaError, LedgerUpgradeRequiredError
from airflow_provider_human.reconciliation.db_errors import LedgerNames, grants_error, is_insufficient_privilege
from airflow_provider_human.reconciliation.ledger.dialect import for_ledger
from airflow_provider_human.reconciliation.ledger.migrations.tables import BASE_COLUMNS, LedgerTables

log = logging.getLogger(__name__)


class _NoContextChatter(logging.Filter):
    """Alembic says "Context impl SQLiteImpl." and "Will assume ... DDL." each time a context opens:
    every run checks its ledger's revision, and those lines would open every task log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_NoContextChatter())

HERE = Path(__file__).resolve().parent
#: The revision a ledger without a version table is (when its columns say so).
BASE = "0001"
STAMPED = f"{BASE} (recognised, stamped)"
DEFAULT_TABLES = LedgerTables.of("human_feedback_ledger", "human_feedback_rejects")


@cache
def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")  # version_locations is one path
    config.set_main_option("version_locations", str(HERE / "versions"))
    return config


@cache
def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    found = script().get_current_head()
    assert found is not None
    return found


HEAD = head()


@dataclass(frozen=True)
class LedgerStatus:
    """Where one ledger's schema stands: ``current`` is None for no ledger at all."""

    current: str | None
    recorded: bool  # False: no version table (the base revision, recognised by its columns, or nothing)
    head: str
    pending: list[str]

    def describe(self) -> str:
        if self.current is None:
            return "none (no ledger yet: the first run creates it at head)"
        return self.current if self.recorded else f"{self.current} (not recorded: the schema before migrations)"


def status(engine: sa.Engine, tables: LedgerTables = DEFAULT_TABLES) -> LedgerStatus:
    with engine.connect() as conn:
        return _status(conn, tables)


def _status(conn: sa.Connection, tables: LedgerTables) -> LedgerStatus:
    current = _recorded(conn, tables)
    if current is not None:
        _known(current, tables)
        return LedgerStatus(current, True, HEAD, _pending(current, HEAD))
    if sa.inspect(conn).has_table(tables.ledger):
        return LedgerStatus(BASE, False, HEAD, _pending(BASE, HEAD))
    return LedgerStatus(None, False, HEAD, _pending(None, HEAD))


def upgrade(engine: sa.Engine, tables: LedgerTables = DEFAULT_TABLES, revision: str = "head") -> list[str]:
    """Bring the ledger to ``revision`` under the database's lock; returns the steps this call applied.

    A fresh database gets every revision; tables of the ledger's name without a version table
    are recognised as the base revision (or refused) and stamped first.
    """
    target = script().get_revision(revision)
    assert target is not None
    with _locked(engine, tables) as conn:
        now = _status(conn, tables)
        applied: list[str] = []
        if now.current is not None and not now.recorded:
            _recognise_base(conn, tables)
            MigrationContext.configure(conn, opts={"version_table": tables.version}).stamp(script(), BASE)
            applied.append(STAMPED)
        steps = _pending(now.current, target.revision)
        if steps:
            _run_upgrade(conn, tables, target.revision)
            applied += steps
    if applied:
        log.info("Ledger %s: schema upgraded to %s (%s)", tables.ledger, target.revision, ", ".join(applied))
    return applied


def ensure_head(engine: sa.Engine, tables: LedgerTables, *, auto_upgrade: bool | None, names: LedgerNames) -> None:
    """What a run does first: nothing when at head (no lock taken), else create or upgrade, or refuse.

    ``auto_upgrade`` None reads ``[human] ledger_auto_upgrade``. A fresh database is created
    either way; an existing ledger behind head is upgraded only when automatic upgrade is on.
    """
    names = dataclasses.replace(names, read_only=(tables.version,))
    existed = False
    try:
        now = status(engine, tables)
        existed = now.current is not None
        if not now.pending:
            return
        if existed and not (auto_upgrade_enabled() if auto_upgrade is None else auto_upgrade):
            raise _upgrade_required(now, tables)
        upgrade(engine, tables)
    except sa.exc.DBAPIError as exc:
        if not is_insufficient_privilege(exc):  # no retry can fix it: say which grant or owner is missing
            raise
        statement = str(exc.statement or "").replace('"', "").lstrip().upper()
        if statement.startswith("SELECT"):
            raise grants_error(engine, exc, tables.version, "read", names) from exc
        raise grants_error(engine, exc, tables.ledger, "upgrade" if existed else "create", names) from exc


def auto_upgrade_enabled() -> bool:
    from airflow.sdk import conf

    return conf.getboolean("human", "ledger_auto_upgrade", fallback=True)


def drift(engine: sa.Engine, metadata: sa.MetaData) -> list[Any]:
    """Alembic's differences between the database and ``metadata``'s tables (others are ignored): [] when equal."""

    def ours(name: str | None, kind: str, parent: Any) -> bool:
        return kind != "table" or name in metadata.tables

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": ours, "compare_type": True})
        return list(compare_metadata(context, metadata))


# ---------------------------------------------------------------- inside


def _recorded(conn: sa.Connection, tables: LedgerTables) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": tables.version}).get_current_revision()


def _known(revision: str, tables: LedgerTables) -> None:
    try:
        script().get_revision(revision)
    except CommandError:
        raise LedgerNewerThanCodeError(
            f"The ledger table {tables.ledger} is at schema revision {revision} (in {tables.version}), which "
            f"this code does not know: the newest this version of airflow-provider-human knows is {HEAD}. A newer "
            f"version of the provider upgraded it. Upgrade airflow-provider-human on every worker and the "
            f"scheduler to the version that did (or later); never downgrade the ledger: it is the record of "
            f"what HUMAN was told. Nothing was read or written. See {docs_link('postgres', 'upgrading-the-ledger')}"
        ) from None


def _pending(current: str | None, target: str) -> list[str]:
    """Revisions from ``current`` (excluded) up to ``target``, oldest first."""
    revisions = script().iterate_revisions(target, current or "base")
    return [r.revision for r in reversed(list(revisions))]


def _upgrade_required(now: LedgerStatus, tables: LedgerTables) -> LedgerUpgradeRequiredError:
    unrecorded = "recorded by no version table: the schema before migrations"
    found = now.current if now.recorded else f"{now.current} ({unrecorded})"
    names = "" if tables == DEFAULT_TABLES else f" --table {tables.ledger} --rejects-table {tables.rejects}"
    return LedgerUpgradeRequiredError(
        f"The ledger table {tables.ledger} is at schema revision {found}; this version of airflow-provider-human "
        f"needs {now.head} (pending: {', '.join(now.pending)}), and automatic upgrade is off "
        f"([human] ledger_auto_upgrade = False). Upgrade it ahead of the run, as the role that owns the tables: "
        f"airflow human ledger upgrade --conn-id <the ledger's connection>{names}; then run again (or turn "
        f"[human] ledger_auto_upgrade on). Nothing was read or written. "
        f"See {docs_link('postgres', 'upgrading-the-ledger')}"
    )


def _recognise_base(conn: sa.Connection, tables: LedgerTables) -> None:
    """Tables of the ledger's names without a version table: the base revision when every column is there."""
    inspector = sa.inspect(conn)
    missing: list[str] = []
    for role, name in (("ledger", tables.ledger), ("holders", tables.holders), ("rejects", tables.rejects)):
        if not inspector.has_table(name):
            missing.append(f"table {name}")
            continue
        have = {c["name"] for c in inspector.get_columns(name)}
        missing += [f"{name}.{c}" if role != "ledger" else c for c in BASE_COLUMNS[role] if c not in have]
    if missing:
        raise LedgerSchemaError(
            f"Table {tables.ledger} exists but is not a ledger this version knows: no version table "
            f"{tables.version}, and it is not the schema before migrations (missing columns: "
            f"{', '.join(missing[:12])}). Nothing was changed. Point the task at another ledger_table, or ask "
            f"who made this table. See {docs_link('postgres', 'upgrading-the-ledger')}"
        )


def _run_upgrade(conn: sa.Connection, tables: LedgerTables, target: str) -> None:
    scripts = script()

    def steps(revision: Any, context: MigrationContext) -> Any:
        return scripts._upgrade_revs(target, revision)

    with EnvironmentContext(_config(), scripts, fn=steps, destination_rev=target) as env:
        env.configure(connection=conn, version_table=tables.version, ledger_tables=tables)
        with env.begin_transaction():
            env.run_migrations()


@contextmanager
def _locked(engine: sa.Engine, tables: LedgerTables) -> Iterator[sa.Connection]:
    """One connection holding the database's lock for this ledger's schema, committed at the end."""
    with for_ledger(engine).schema_lock(engine, tables.version) as conn:
        yield conn
