"""Database failures a new user meets first name their cause and their fix (issue 26)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import inspect as sa_inspect

from airflow_provider_human.docs_links import DOCS_URL
from airflow_provider_human.exceptions import HumanConfigError
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource, sql_engine
from tests.reconciliation.conftest import DAY, FAST, NEXT_DAY
from tests.reconciliation.test_engine import seed_states, uploads
from tests.reconciliation.test_postgres import CREATE, row


class _ProvidersWithout:
    """Airflow's providers manager as it is on a worker where one database provider is not installed."""

    def __init__(self, real, missing: str) -> None:
        self.hooks = {k: v for k, v in real().hooks.items() if k != missing}


@pytest.mark.parametrize(("conn_type", "extra"), [("sqlite", "sqlite"), ("postgres", "postgres")])
def test_a_missing_database_provider_names_the_extra_to_install(monkeypatch, tmp_path, conn_type, extra):
    import airflow.sdk.definitions.connection as sdk_connection

    real = sdk_connection.ProvidersManagerTaskRuntime
    monkeypatch.setattr(sdk_connection, "ProvidersManagerTaskRuntime", lambda: _ProvidersWithout(real, conn_type))
    conn = {"conn_type": conn_type, "host": str(tmp_path / "cases.db")}
    monkeypatch.setenv("AIRFLOW_CONN_MY_CASES", json.dumps(conn))
    with pytest.raises(HumanConfigError) as caught:
        sql_engine("my_cases")
    message = str(caught.value)
    assert "'my_cases'" in message and f"conn_type '{conn_type}'" in message
    assert f'pip install "airflow-provider-human[{extra}]"' in message
    assert f"{DOCS_URL}/getting-started/#install-the-provider-in-your-airflow" in message
    assert f'Unknown hook type "{conn_type}"' in str(caught.value.__cause__)  # what Airflow itself raised


def test_an_installed_provider_still_gives_an_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_MY_CASES", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "c.db")}))
    assert sql_engine("my_cases").dialect.name == "sqlite"


@pytest.fixture
def narrow_role(postgres):
    """A fresh database whose role ``reconciler`` may read the case table and use schema public, nothing more."""
    import sqlalchemy as sa

    name = f"grants_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres.create_database(name))
    role = f"reconciler_{uuid.uuid4().hex[:6]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(CREATE)
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # PostgreSQL 15's default, on any version
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT SELECT ON case_outcomes TO {role}")
        conn.exec_driver_sql(
            "INSERT INTO case_outcomes VALUES (%s, %s, %s, %s, %s, %s)", [row("case-1", "acct-1", "confirmed_fraud")]
        )
    yield admin, role, {**postgres.airflow_conn(), "login": role, "schema": name}
    admin.dispose()


def _reconcile_as(conn_json, monkeypatch, client):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps(conn_json))
    engine = sql_engine("human_case_db")
    try:
        reconciler = Reconciler(
            client, SqlOutcomeSource(engine=engine), Ledger(engine), settings=ReconcileSettings(**FAST)
        )
        return reconciler.run(DAY, NEXT_DAY, "pg/run/reconcile/-1")
    finally:
        engine.dispose()


def test_a_role_without_create_on_public_is_told_the_grants(narrow_role, monkeypatch, fake_api, make_client):
    admin, role, conn_json = narrow_role
    seed_states(fake_api, none=["acct-1"])
    result = _reconcile_as(conn_json, monkeypatch, make_client())
    error = result.error
    assert isinstance(error, HumanConfigError), repr(error)
    message = str(error)
    assert f"database role {role} may not create table human_feedback_ledger in schema public" in message
    assert "permission denied for schema public" in message
    assert f"GRANT USAGE, CREATE ON SCHEMA public TO {role};" in message
    assert f"{DOCS_URL}/postgres/#required-grants" in message
    assert not uploads(fake_api)  # nothing was sent
    with admin.connect() as conn:
        assert not sa_inspect(conn).has_table("human_feedback_ledger")
    _grant_as_told(admin, message.split("Grant it: ")[1].split("; or ")[0])
    _reconcile_as(conn_json, monkeypatch, make_client()).raise_for_outcome()
    assert {key[0]: n for key, n in uploads(fake_api).items()} == {
        "acct-1": 1
    }  # the named grants were the missing ones


def test_a_ledger_an_admin_created_but_nobody_granted_is_told_the_grants(
    narrow_role, monkeypatch, fake_api, make_client
):
    admin, role, conn_json = narrow_role
    Ledger(admin).ensure_schema()  # an administrator created it once
    seed_states(fake_api, none=["acct-1"])
    error = _reconcile_as(conn_json, monkeypatch, make_client()).error
    assert isinstance(error, HumanConfigError), repr(error)
    message = str(error)
    # the first thing a run reads is the ledger's schema revision (its version table)
    assert f"database role {role} may not read table human_feedback_ledger_alembic_version in schema public" in message
    assert (
        f"GRANT SELECT, INSERT, UPDATE ON human_feedback_ledger, human_feedback_ledger_holders, "
        f"human_feedback_rejects TO {role}; GRANT USAGE ON SEQUENCE human_feedback_ledger_id_seq, "
        f"human_feedback_rejects_id_seq TO {role}; GRANT SELECT ON human_feedback_ledger_alembic_version TO {role};"
    ) in message
    assert not uploads(fake_api)  # nothing was sent
    _grant_as_told(admin, message.split("Grant it: ")[1].split(" See ")[0])
    _reconcile_as(conn_json, monkeypatch, make_client()).raise_for_outcome()
    assert {key[0]: n for key, n in uploads(fake_api).items()} == {
        "acct-1": 1
    }  # the named grants were the missing ones


def _grant_as_told(admin, statements: str) -> None:
    with admin.begin() as conn:
        for statement in statements.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def test_a_role_that_does_not_own_an_older_ledger_is_told_who_can_upgrade_it(
    narrow_role, monkeypatch, fake_api, make_client
):
    """The ledger was made before schema versions (the rev1 fixture's DDL, as its admin ran it); the run's
    role may write it but not ALTER it: the message says that the owner runs the upgrade, and after that
    the same role runs."""
    from airflow_provider_human.reconciliation.ledger.migrations import LedgerTables, upgrade
    from tests.reconciliation.test_migrations import FIXTURE

    admin, role, conn_json = narrow_role
    with admin.begin() as conn:
        for statement in (FIXTURE / "schema.postgresql.sql").read_text().split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    tables = "human_feedback_ledger, human_feedback_ledger_holders, human_feedback_rejects"
    _grant_as_told(admin, f"GRANT SELECT, INSERT, UPDATE ON {tables} TO {role}; GRANT USAGE ON SEQUENCE "
                          f"human_feedback_ledger_id_seq, human_feedback_rejects_id_seq TO {role}")  # fmt: skip
    seed_states(fake_api, none=["acct-1"])
    error = _reconcile_as(conn_json, monkeypatch, make_client()).error
    assert isinstance(error, HumanConfigError), repr(error)
    message = str(error)
    assert f"database role {role} may not upgrade table human_feedback_ledger in schema public" in message
    assert "run `airflow human ledger upgrade --conn-id <the ledger's connection>` as the role that owns" in message
    assert not uploads(fake_api)
    upgrade(admin, LedgerTables.of("human_feedback_ledger", "human_feedback_rejects"))  # the owner does it
    _grant_as_told(admin, f"GRANT SELECT ON human_feedback_ledger_alembic_version TO {role}")
    _reconcile_as(conn_json, monkeypatch, make_client()).raise_for_outcome()
    assert {key[0]: n for key, n in uploads(fake_api).items()} == {"acct-1": 1}
