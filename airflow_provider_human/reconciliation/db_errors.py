"""Database failures a new user meets first, said as their cause and their fix.

Airflow's ``Unknown hook type "sqlite"`` does not say that the provider's ``[sqlite]``
extra is missing, and PostgreSQL's ``permission denied for schema public`` does not say
which role needs which grant: both become a ``HumanConfigError`` that does.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from airflow_provider_human.docs_links import docs_link
from airflow_provider_human.exceptions import HumanConfigError

#: conn_type -> this package's extra that installs its Airflow provider (pyproject.toml).
EXTRAS = {"sqlite": "sqlite", "postgres": "postgres"}

#: PostgreSQL's SQLSTATE for insufficient_privilege (``permission denied for ...``).
INSUFFICIENT_PRIVILEGE = "42501"


def is_unknown_hook_type(exc: Exception, conn_type: str | None) -> bool:
    """Whether ``exc`` is the error ``Connection.get_hook()`` raises when no provider defines the type."""
    return str(exc) == f'Unknown hook type "{conn_type}"'


def missing_provider(conn_id: str, conn_type: str | None) -> HumanConfigError:
    extra = EXTRAS.get(conn_type or "")
    if extra:
        fix = f'install the extra: pip install "airflow-provider-human[{extra}]"'
    else:
        fix = f"install the Airflow provider package that defines connection type {conn_type!r}"
    return HumanConfigError(
        f"Connection {conn_id!r} has conn_type {conn_type!r}, but no installed Airflow provider "
        f"defines that type (Airflow: Unknown hook type {conn_type!r}): {fix}, on every worker "
        f"and the scheduler. See {docs_link('getting-started', 'install-the-provider-in-your-airflow')}"
    )


def is_insufficient_privilege(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)  # psycopg 3, psycopg2
    return code == INSUFFICIENT_PRIVILEGE


def grants_error(
    engine: sa.Engine, exc: sa.exc.DBAPIError, table: str, action: str, ledger: LedgerNames
) -> HumanConfigError:
    """``exc`` (permission denied) while ``action`` on ``table``: name the role, the schema and the grants."""
    schema, _, name = table.rpartition(".")
    role, schema = _role_and_schema(engine, schema or None)
    denied = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    write = (
        f"GRANT SELECT, INSERT, UPDATE ON {', '.join(ledger.tables)} TO {role}; "
        f"GRANT USAGE ON SEQUENCE {', '.join(ledger.sequences)} TO {role};"
    )
    if ledger.read_only:
        write += f" GRANT SELECT ON {', '.join(ledger.read_only)} TO {role};"
    if action == "upgrade":  # ALTER TABLE and CREATE INDEX need the tables' owner, not a grant
        grants = (
            f"run `airflow human ledger upgrade --conn-id <the ledger's connection>` as the role that owns the "
            f"ledger's tables (or make {role} their owner: ALTER TABLE {name} OWNER TO {role}; and the same for "
            f"the others), or turn [human] ledger_auto_upgrade off and upgrade ahead of the runs."
        )
    elif action == "create":
        grants = (
            f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}; or let an administrator run the "
            f"reconciliation once so that it creates the ledger, then: {write}"
        )
    else:
        grants = f"GRANT USAGE ON SCHEMA {schema} TO {role}; {write}"
    return HumanConfigError(
        f"The database role {role} may not {action} table {name} in schema {schema} "
        f"(PostgreSQL: {denied}). Grant it: {grants} See {docs_link('postgres', 'required-grants')}"
    )


@dataclass(frozen=True)
class LedgerNames:
    """The ledger's tables and the sequences of their ids, as a grant names them."""

    tables: tuple[str, ...]
    sequences: tuple[str, ...]
    read_only: tuple[str, ...] = ()  # read by every run, written only by an upgrade (the version table)


def _role_and_schema(engine: sa.Engine, schema: str | None) -> tuple[str, str]:
    try:
        with engine.connect() as conn:
            role, current = conn.execute(sa.text("SELECT current_user, current_schema()")).one()
    except sa.exc.DBAPIError:  # the message still names the table and the grants
        return "<the connection's role>", schema or "public"
    return str(role), schema or str(current or "public")
