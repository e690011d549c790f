"""The page opens a ledger through its Airflow connection and can never write it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.ui.figures import ledger_days
from airflow_provider_human.ui.ledger_access import LedgerTables, read_only_engine

ROW = {"case_id": "c1", "account_id": "a1", "attack_type": "ato", "closed_at": "2026-11-18T10:00:00.000000Z",
       "fingerprint": "f", "verdict": "confirmed_fraud", "state": "sent", "feedback_status": "resolved",
       "feedback_result": "resolved", "batch_id": "b1", "interval_start": "2026-11-18T00:00:00.000000Z",
       "interval_end": "2026-11-19T00:00:00.000000Z", "owner": "d/r/t/-1", "holder": "", "created_at": "x",
       "updated_at": "x"}  # fmt: skip


def _fill(engine: sa.Engine) -> None:
    ledger = Ledger(engine)
    ledger.ensure_schema()
    with engine.begin() as conn:
        conn.execute(sa.insert(ledger.table), [ROW, {**ROW, "case_id": "c2", "state": "noop", "batch_id": None}])


def _reads_but_never_writes(engine: sa.Engine, refusal: str) -> None:
    with engine.connect() as conn:
        [day] = ledger_days(conn, LedgerTables())
        assert (day.day, day.outcomes, dict(day.sent), day.nothing_to_send, day.requests) == (
            "2026-11-18", 2, {"resolved": 1}, 1, 1)  # fmt: skip
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match=refusal):
        conn.exec_driver_sql("DELETE FROM human_feedback_ledger")
        conn.commit()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM human_feedback_ledger").scalar() == 2


def test_a_sqlite_ledger_connection_is_opened_read_only(tmp_path, monkeypatch):
    path = tmp_path / "ledger.sqlite"
    _fill(sa.create_engine(f"sqlite:///{path}"))
    monkeypatch.setenv("AIRFLOW_CONN_UI_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    _reads_but_never_writes(read_only_engine("ui_sqlite"), "readonly")


def test_a_postgres_ledger_connection_reads_in_read_only_transactions(postgres, monkeypatch):
    name = f"ui_{uuid.uuid4().hex[:10]}"
    _fill(sa.create_engine(postgres.create_database(name)))
    monkeypatch.setenv("AIRFLOW_CONN_UI_PG", json.dumps({**postgres.airflow_conn(), "schema": name}))
    engine = read_only_engine("ui_pg")
    _reads_but_never_writes(engine, "read-only transaction")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "10s"
    assert read_only_engine("ui_pg") is engine  # one engine (and pool) per connection, kept


def test_a_postgres_database_without_a_ledger_yet_reads_as_empty(postgres, monkeypatch):
    from airflow_provider_human.ui.app import TABLES, _read

    name = f"ui_{uuid.uuid4().hex[:10]}"
    postgres.create_database(name)
    monkeypatch.setenv("AIRFLOW_CONN_UI_PG_EMPTY", json.dumps({**postgres.airflow_conn(), "schema": name}))
    assert _read("ui_pg_empty", lambda conn: ledger_days(conn, TABLES)) is None
