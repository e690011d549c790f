"""The ledger's schema versions: a ledger written before migrations existed is upgraded and finishes its day.

The rev1 fixture (tests/fixtures/ledger_rev1, written by the code before this change) is
loaded as a user's database would hold it, on SQLite and on PostgreSQL; what is judged is
what the fake HUMAN API applied afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from airflow_provider_human.exceptions import (
    LedgerNewerThanCodeError,
    LedgerSchemaError,
    LedgerUpgradeRequiredError,
    ReconciliationIncompleteError,
)
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import NEEDS_A_PERSON, UNFINISHED, Ledger, build_tables
from airflow_provider_human.reconciliation.ledger.migrations import HEAD, LedgerTables, drift, status, upgrade
from airflow_provider_human.reconciliation.ledger.migrations import cli as ledger_cli
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from airflow_provider_human.testing.fake_api import Account, Incident
from tests.reconciliation.conftest import CREATE_OUTCOMES, FAST

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ledger_rev1"
ROWS = json.loads((FIXTURE / "rows.json").read_text())
DAY, NEXT_DAY = (datetime.fromisoformat(t) for t in ROWS["interval"])
TABLES = LedgerTables.of("human_feedback_ledger", "human_feedback_rejects")
LEDGER = "human_feedback_ledger"
WAITS = "waits_for_earlier_upload"


# ---------------------------------------------------------------- databases holding the rev1 ledger


def sqlite_db(tmp_path, name="ledger.sqlite") -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / name}", connect_args={"timeout": 120})


@pytest.fixture
def pg_db(postgres):
    import uuid

    engine = sa.create_engine(postgres.create_database(f"mig_{uuid.uuid4().hex[:10]}"))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        engine = sqlite_db(tmp_path)
        yield engine
        engine.dispose()
    else:
        yield request.getfixturevalue("pg_db")


def load_rev1(engine: sa.Engine, *, rows: bool = True, source: bool = True) -> None:
    """The fixture's DDL for this dialect, then its rows as today's code wrote them (ids kept)."""
    ddl = (FIXTURE / f"schema.{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for statement in ddl.split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        if source:
            timestamps = "timestamptz" if engine.dialect.name == "postgresql" else "TEXT"  # as test_postgres does
            conn.exec_driver_sql(CREATE_OUTCOMES.replace("closed_at TEXT", f"closed_at {timestamps}"))
            insert = sa.text("INSERT INTO case_outcomes VALUES (:c, :a, :t, :v, :at, :comment)")
            for c, a, t, v, at, comment in ROWS["source"]:
                conn.execute(insert, {"c": c, "a": a, "t": t, "v": v, "at": at, "comment": comment})
        if not rows:
            return
        meta = sa.MetaData()
        for name, values in ROWS["tables"].items():
            conn.execute(sa.Table(name, meta, autoload_with=conn).insert(), values)
        if engine.dialect.name == "postgresql":  # the serial ids went on as the old code's inserts moved them
            for name in (LEDGER, "human_feedback_rejects"):
                conn.exec_driver_sql(f"SELECT setval('{name}_id_seq', (SELECT max(id) FROM {name}))")  # noqa: S608


def restore_api(fake_api) -> None:
    """HUMAN as it was when the fixture was written (what the crashed try's upload applied, too)."""
    with fake_api.state.lock:
        for item in map(dict, ROWS["api_accounts"]):
            incidents = [Incident(**i) for i in item.pop("incidents")]
            fake_api.state.accounts[item["account_id"]] = Account(**item, incidents=incidents)


def run_day(engine, make_client, owner="upgraded/run/reconcile/1"):
    settings = ReconcileSettings(**{**FAST, "max_reject_ratio": 0.5})
    reconciler = Reconciler(make_client(), SqlOutcomeSource(engine=engine), Ledger(engine), settings=settings)
    return reconciler.run(DAY, NEXT_DAY, owner)


def ledger_rows(engine) -> dict[int, dict]:
    with engine.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {LEDGER}"))}  # noqa: S608


def version_of(engine, tables=TABLES) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(f"SELECT version_num FROM {tables.version}")]  # noqa: S608


# ---------------------------------------------------------------- (a) upgrade, then a day finishes


def test_the_fixture_holds_every_state_and_answered_rows():
    rows = ROWS["tables"][LEDGER]
    assert {r["state"] for r in rows} == {s.value for s in (*UNFINISHED, *NEEDS_A_PERSON)} | {"sent", "noop"}
    assert any(r["state"] == "claimed" and r["reason"] == WAITS for r in rows)
    assert any(r["answer"] for r in rows) and ROWS["tables"]["human_feedback_rejects"]
    assert ROWS["tables"]["human_feedback_ledger_holders"]


def test_a_rev1_ledger_is_upgraded_and_its_day_finishes_without_sending_anything_twice(db, fake_api, make_client):
    load_rev1(db)
    restore_api(fake_api)
    before = ledger_rows(db)
    result = run_day(db, make_client)
    assert version_of(db) == [HEAD], repr(result.error)
    assert result.report.counts["rows_read"] == len(ROWS["source"]), repr(result.error)
    applied = Counter(e["account_id"] for e in fake_api.effects())
    # open rows: the planned (one answered Resend), the in-doubt one HUMAN never applied, the failed lookup
    assert applied == {"a-plan-2": 1, "a-refused": 1, "a-crash-doubt": 1, "a-lookup": 1}, applied
    sent_before = {r["account_id"] for r in before.values() if r["state"] == "sent"}
    assert sent_before and not sent_before & set(applied)  # nothing already sent is sent again
    after = ledger_rows(db)
    assert after[14]["state"] == "sent" and "a-crash-sent" not in applied  # applied before the crash: verified
    waiting_pairs = {(r["account_id"], r["attack_type"]) for r in after.values() if r["state"] in NEEDS_A_PERSON}
    for row_id, old in before.items():
        now = after[row_id]
        if old["state"] not in UNFINISHED:
            assert now["state"] == old["state"], (row_id, old["state"], now["state"])  # finished rows stay as they were
        elif now["state"] in UNFINISHED:  # only honestly waiting: behind an earlier upload a person must decide
            assert now["state"] == "claimed" and now["reason"] == WAITS, now
            assert (now["account_id"], now["attack_type"]) in waiting_pairs
    assert sum(r["state"] in UNFINISHED for r in after.values()) == 1
    # not done, honestly: one outcome behind an earlier upload in review, three items for a person
    assert isinstance(result.error, ReconciliationIncompleteError), repr(result.error)
    assert "1 outcome waits for an earlier upload" in str(result.error)
    assert "3 items wait for a person (in_doubt: 1, rejected: 1, reversal: 1)" in str(result.error)
    assert len(after) == len(before)  # the day's outcomes were all in the ledger already


# ---------------------------------------------------------------- (b) the head equals the code's tables


def test_after_the_upgrade_the_database_is_what_build_tables_declares(db):
    load_rev1(db, source=False)
    assert upgrade(db, TABLES) == ["0001 (recognised, stamped)", "0002", "0003", "0004"]
    metadata = sa.MetaData()
    build_tables(metadata, TABLES.ledger, TABLES.rejects)
    assert drift(db, metadata) == []
    inspector = sa.inspect(db)
    indexes = {f"ix_{LEDGER}_open", f"ix_{LEDGER}_closed", f"ix_{LEDGER}_day"}
    assert {i["name"] for i in inspector.get_indexes(LEDGER)} >= indexes
    assert f"ix_{TABLES.rejects}_interval" in {i["name"] for i in inspector.get_indexes(TABLES.rejects)}


def test_an_early_builds_batch_index_is_dropped_by_the_upgrade(db):
    """Builds before the open-rows index made ``ix_<ledger>_batch``; the base revision accepts it, 0002 drops it."""
    load_rev1(db, source=False)
    with db.begin() as conn:
        conn.exec_driver_sql(f"CREATE INDEX ix_{LEDGER}_batch ON {LEDGER} (batch_id)")
    upgrade(db, TABLES)
    assert f"ix_{LEDGER}_batch" not in {i["name"] for i in sa.inspect(db).get_indexes(LEDGER)}
    metadata = sa.MetaData()
    build_tables(metadata, TABLES.ledger, TABLES.rejects)
    assert drift(db, metadata) == []


def test_a_fresh_database_is_created_at_head_and_equals_build_tables(db):
    ledger = Ledger(db)
    ledger.ensure_schema()
    assert version_of(db) == [HEAD]
    assert drift(db, ledger.metadata) == []
    ledger.ensure_schema()  # at head: nothing to do
    assert status(db, TABLES).pending == []


def test_revision_0001_is_exactly_the_schema_the_old_code_created(db, tmp_path, request):
    """The base migration is frozen history: the same tables, columns, keys and indexes as the fixture's DDL."""
    load_rev1(db, rows=False, source=False)
    if db.dialect.name == "sqlite":
        other = sqlite_db(tmp_path, "other.sqlite")
    else:
        other = request.getfixturevalue("postgres")
        other = sa.create_engine(other.create_database(f"mig_other_{os.getpid()}_{time.monotonic_ns() % 10**6}"))
    upgrade(other, TABLES, revision="0001")
    assert snapshot(other) == snapshot(db)
    other.dispose()


def snapshot(engine) -> dict:
    inspector = sa.inspect(engine)
    tables = [t for t in inspector.get_table_names() if not t.endswith("_alembic_version")]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            return {r[0]: r[1] for r in conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                                                             " AND name NOT LIKE '%alembic_version%'")}  # fmt: skip
    return {
        t: (
            [(c["name"], str(c["type"]), c["nullable"], str(c["default"])) for c in inspector.get_columns(t)],
            inspector.get_pk_constraint(t)["constrained_columns"],
            sorted((u["name"], u["column_names"]) for u in inspector.get_unique_constraints(t)),
            sorted((i["name"], i["column_names"], str(i.get("dialect_options"))) for i in inspector.get_indexes(t)),
        )
        for t in tables
    }


# ---------------------------------------------------------------- (c) a ledger newer than the code


def test_a_ledger_from_a_future_revision_is_refused_with_what_to_do(db, fake_api, make_client):
    load_rev1(db)
    upgrade(db, TABLES)
    with db.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {TABLES.version} SET version_num = '0099'")  # noqa: S608
    before = ledger_rows(db)
    result = run_day(db, make_client)
    error = result.error
    assert isinstance(error, LedgerNewerThanCodeError) and isinstance(error, LedgerSchemaError), repr(error)
    message = str(error)
    assert "human_feedback_ledger is at schema revision 0099" in message
    assert f"the newest this version of airflow-provider-human knows is {HEAD}" in message
    assert "Upgrade airflow-provider-human" in message and "never downgrade the ledger" in message
    assert fake_api.requests() == [] and ledger_rows(db) == before  # nothing read from HUMAN, nothing written


# ---------------------------------------------------------------- (d) automatic upgrade off


def test_with_automatic_upgrade_off_the_run_refuses_naming_the_command_then_the_cli_upgrade_lets_it_run(
    tmp_path, monkeypatch, fake_api, make_client, capsys
):
    engine = sqlite_db(tmp_path)
    load_rev1(engine)
    restore_api(fake_api)
    monkeypatch.setenv("AIRFLOW__HUMAN__LEDGER_AUTO_UPGRADE", "False")
    refused = run_day(engine, make_client)
    error = refused.error
    assert isinstance(error, LedgerUpgradeRequiredError), repr(error)
    message = str(error)
    assert "at schema revision 0001 (recorded by no version table: the schema before migrations)" in message
    assert f"needs {HEAD}" in message and "pending: 0002, 0003, 0004" in message
    assert "airflow human ledger upgrade --conn-id <the ledger's connection>" in message
    assert "[human] ledger_auto_upgrade" in message
    assert fake_api.requests() == [] and version_of_missing(engine)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUMAN_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "ledger.sqlite")})
    )
    args = SimpleNamespace(conn_id="human_ledger", table=TABLES.ledger, rejects_table=TABLES.rejects)
    ledger_cli.status_command(args)
    assert "current revision: 0001 (not recorded" in capsys.readouterr().out
    ledger_cli.upgrade_command(args)
    out = capsys.readouterr().out
    assert f"upgraded to {HEAD}" in out and "applied: 0001 (recognised, stamped), 0002, 0003, 0004" in out
    ledger_cli.status_command(args)
    assert f"current revision: {HEAD}\nhead: {HEAD}\npending: none" in capsys.readouterr().out
    result = run_day(engine, make_client)
    assert isinstance(result.error, ReconciliationIncompleteError), repr(result.error)  # as in the test above
    assert len(fake_api.effects()) == 4


def version_of_missing(engine) -> bool:
    return not sa.inspect(engine).has_table(TABLES.version)


def test_automatic_upgrade_off_still_creates_a_fresh_ledger_and_exists_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__HUMAN__LEDGER_AUTO_UPGRADE", "False")
    engine = sqlite_db(tmp_path)
    ledger = Ledger(engine)
    assert not ledger.exists() and sa.inspect(engine).get_table_names() == []
    ledger.ensure_schema()
    assert version_of(engine) == [HEAD]


def test_an_unrecognised_table_of_the_ledgers_name_is_refused_not_stamped(tmp_path):
    engine = sqlite_db(tmp_path)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {LEDGER} (id INTEGER PRIMARY KEY, case_id TEXT)")
    with pytest.raises(LedgerSchemaError, match=r"not a ledger this version knows.*missing columns: account_id"):
        Ledger(engine).ensure_schema()
    assert version_of_missing(engine)


def test_two_ledgers_in_one_database_have_their_own_version_tables(tmp_path):
    engine = sqlite_db(tmp_path)
    Ledger(engine).ensure_schema()
    other = Ledger(engine, table="team_b_ledger")  # shares the default rejects table
    other.ensure_schema()
    team_b = LedgerTables.of("team_b_ledger", TABLES.rejects)
    assert version_of(engine) == [HEAD] and version_of(engine, team_b) == [HEAD]
    assert drift(engine, other.metadata) == []


def test_the_cli_is_registered_in_the_provider_info():
    from airflow_provider_human.get_provider_info import get_provider_info

    info = get_provider_info()
    assert info["cli"] == ["airflow_provider_human.reconciliation.ledger.migrations.cli.get_cli_commands"]
    assert info["config"]["human"]["options"]["ledger_auto_upgrade"]["default"] == "True"
    [group] = ledger_cli.get_cli_commands()
    assert group.name == "human"
    [ledger] = group.subcommands
    assert {c.name for c in ledger.subcommands} == {"upgrade", "status"}


def test_airflow_human_ledger_status_runs_as_a_real_command(tmp_path):
    path = tmp_path / "ledger.sqlite"
    load_rev1(sqlite_db(tmp_path))
    env = {**os.environ, "AIRFLOW_CONN_HUMAN_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(path)})}
    done = subprocess.run([sys.executable, "-m", "airflow", "human", "ledger", "status", "--conn-id", "human_ledger"],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "current revision: 0001 (not recorded" in done.stdout and f"head: {HEAD}" in done.stdout
    assert "pending: 0002, 0003, 0004" in done.stdout
    upgraded = subprocess.run([sys.executable, "-m", "airflow", "human", "ledger", "upgrade", "--conn-id",
                               "human_ledger"], capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    assert version_of(sqlite_db(tmp_path)) == [HEAD]


# ---------------------------------------------------------------- (e) two first runs at once


def race(url: str, tmp_path: Path, n: int = 2) -> list[list[str]]:
    """``n`` processes call ensure_schema on one database, released together; what each applied."""
    command = [sys.executable, "-m", "tests.reconciliation._migrate_worker", url, str(tmp_path / "go")]
    procs = [subprocess.Popen([*command, str(tmp_path / f"ready-{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(n)]  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < n:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.02)
    (tmp_path / "go").touch()
    applied = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        applied.append(json.loads(out.strip().splitlines()[-1]))
    return applied


@pytest.mark.parametrize("start", ["fresh", "rev1"])
def test_two_processes_upgrading_at_once_both_succeed_and_each_migration_runs_once(db, tmp_path, start):
    if start == "rev1":
        load_rev1(db)
    applied = race(db.url.render_as_string(hide_password=False), tmp_path)
    steps = sorted(step for one in applied for step in one)
    later = ["0002", "0003", "0004"]
    expected = ["0001", *later] if start == "fresh" else ["0001 (recognised, stamped)", *later]
    assert steps == expected, applied
    assert version_of(db) == [HEAD]
    metadata = sa.MetaData()
    build_tables(metadata, TABLES.ledger, TABLES.rejects)
    assert drift(db, metadata) == []
    if start == "rev1":
        assert len(ledger_rows(db)) == len(ROWS["tables"][LEDGER])


def test_the_run_log_says_what_the_upgrade_did_without_alembics_context_chatter(tmp_path, caplog):
    engine = sqlite_db(tmp_path)
    with caplog.at_level("INFO"):
        Ledger(engine).ensure_schema()  # created: every revision applied
        Ledger(engine).ensure_schema()  # at head: silent
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if m.startswith(("Context impl", "Will assume"))], messages
    assert [m for m in messages if "schema upgraded to" in m] == [
        f"Ledger {LEDGER}: schema upgraded to {HEAD} (0001, 0002, 0003, 0004)"
    ], messages
