"""``airflow human ledger upgrade|status``: the ledger's schema, ahead of the runs (provider info's ``cli``).

Airflow imports this on every ``airflow`` command, so only the command functions import
Alembic and the database code. The engine comes from the Airflow connection the same way the
reconciliation task gets it (``sources.sql_engine``).
"""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_LEDGER = "human_feedback_ledger"
DEFAULT_REJECTS = "human_feedback_rejects"


def get_cli_commands() -> list[Any]:
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    args = (
        Arg(("--conn-id",), help="the Airflow connection of the ledger's database (the task's ledger_conn_id)",
            required=True),
        Arg(("--table",), help="the ledger table (the task's ledger_table)", default=DEFAULT_LEDGER),
        Arg(("--rejects-table",), help="the rejects table (the task's rejects_table)", default=DEFAULT_REJECTS),
    )  # fmt: skip
    here = __name__
    ledger = GroupCommand(
        name="ledger",
        help="The exactly-once ledger's schema",
        subcommands=[
            ActionCommand(name="upgrade", help="Bring the ledger's tables to the schema this version needs",
                          func=lazy_load_command(f"{here}.upgrade_command"), args=args),
            ActionCommand(name="status", help="The ledger's schema revision, this version's head, what is pending",
                          func=lazy_load_command(f"{here}.status_command"), args=args),
        ],
    )  # fmt: skip
    return [GroupCommand(name="human", help="HUMAN Security provider commands", subcommands=[ledger])]


def _target(args: argparse.Namespace) -> tuple[Any, Any]:
    from airflow_provider_human.reconciliation.ledger.migrations.tables import LedgerTables
    from airflow_provider_human.reconciliation.sources import sql_engine

    return sql_engine(args.conn_id), LedgerTables.of(args.table, args.rejects_table)


def status_command(args: argparse.Namespace) -> None:
    from airflow_provider_human.exceptions import LedgerSchemaError
    from airflow_provider_human.reconciliation.ledger.migrations.runner import status

    engine, tables = _target(args)
    try:
        now = status(engine, tables)
    except LedgerSchemaError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        engine.dispose()
    print(f"ledger: {tables.ledger} (connection {args.conn_id}, version table {tables.version})")
    print(f"current revision: {now.describe()}\nhead: {now.head}\npending: {', '.join(now.pending) or 'none'}")


def upgrade_command(args: argparse.Namespace) -> None:
    from airflow_provider_human.exceptions import LedgerSchemaError
    from airflow_provider_human.reconciliation.ledger.dialect import for_ledger
    from airflow_provider_human.reconciliation.ledger.migrations.runner import HEAD, upgrade

    engine, tables = _target(args)
    for_ledger(engine).prepare(engine)  # as the runs do (SQLite: WAL, so readers of the export are not starved)
    try:
        applied = upgrade(engine, tables)
    except LedgerSchemaError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        engine.dispose()
    if applied:
        print(f"ledger {tables.ledger} upgraded to {HEAD}; applied: {', '.join(applied)}")
    else:
        print(f"ledger {tables.ledger} is at {HEAD} already; nothing applied")
