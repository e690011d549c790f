"""Case outcomes and the ledger on a real PostgreSQL server (timestamptz, real row-level concurrency)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource, sql_engine
from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, FAST, NEXT_DAY
from tests.reconciliation.test_engine import CELLS, seed_states, uploads
from tests.reconciliation.workers import run_gated_workers

CREATE = (
    "CREATE TABLE case_outcomes (case_id text, account_id text, attack_type text, verdict text,"
    " closed_at timestamptz, comment text)"
)


class PgCaseDB:
    """A fresh database on the throwaway server, with a case_outcomes table.

    ``closed_at_type`` is the column's type (``timestamptz`` or ``timestamp``, without time
    zone); ``timezone`` is the database's TimeZone, so every session on it starts in that zone.
    """

    def __init__(self, server, *, timezone: str | None = None, closed_at_type: str = "timestamptz") -> None:
        self.name = f"cases_{uuid.uuid4().hex[:10]}"
        self.url = server.create_database(self.name, timezone=timezone)
        self.engine = sa.create_engine(self.url)
        self.conn_json = {**server.airflow_conn(), "schema": self.name}
        with self.engine.begin() as conn:
            conn.exec_driver_sql(CREATE.replace("closed_at timestamptz", f"closed_at {closed_at_type}"))

    def add(self, *rows: tuple) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO case_outcomes VALUES (%s, %s, %s, %s, %s, %s)", list(rows))

    def ledger(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM human_feedback_ledger ORDER BY id")]


@pytest.fixture
def pg(postgres, monkeypatch):
    db = PgCaseDB(postgres)
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps(db.conn_json))
    yield db
    db.engine.dispose()


def row(case_id, account_id, verdict, closed_at="2026-11-18T10:00:00+00:00", attack_type="ato", comment=None):
    return (case_id, account_id, attack_type, verdict, closed_at, comment)


def run_once(client, engine, start=DAY, end=NEXT_DAY, owner="pg/run/reconcile/-1", **settings):
    reconciler = Reconciler(
        client, SqlOutcomeSource(engine=engine), Ledger(engine),
        settings=ReconcileSettings(**{**FAST, **settings}),
    )  # fmt: skip
    result = reconciler.run(start, end, owner)
    result.raise_for_outcome()
    return result.report


def test_every_decision_cell_through_an_airflow_postgres_connection(pg, fake_api, make_client):
    for n, (verdict, state, *_rest) in enumerate(CELLS):
        pg.add(row(f"case-{n}", f"acct-{verdict}-{state}", verdict))
    seed_states(fake_api, pending=[f"acct-{v}-pending" for v, *_ in CELLS], none=[f"acct-{v}-none" for v, *_ in CELLS])
    engine = sql_engine("human_case_db")  # PostgresHook from the Airflow connection
    assert engine.dialect.name == "postgresql"
    report = run_once(make_client(), engine)
    rows = {r["account_id"]: r for r in pg.ledger()}
    for verdict, state, decision, ledger_state, result in CELLS:
        got = rows[f"acct-{verdict}-{state}"]
        assert (got["decision"], got["state"], got["feedback_result"]) == (decision, ledger_state, result)
    assert report.counts["requests_sent"] == 4 and set(uploads(fake_api).values()) == {1}
    with pg.engine.connect() as conn:  # the unique key is the database's, not ours
        unique = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'human_feedback_ledger'::regclass AND contype = 'u'"
        ).scalar()
    assert unique == 1


def test_interval_edges_with_timestamptz_in_a_non_utc_session(postgres, fake_api, make_client):
    db = PgCaseDB(postgres)
    db.add(
        row("start", "a1", "suspected_fraud", "2026-11-18T00:00:00+00:00"),
        row("ny-late", "a2", "suspected_fraud", "2026-11-18T18:59:59-05:00"),  # 23:59:59 UTC: in
        row("ny-midnight", "a3", "suspected_fraud", "2026-11-18T19:00:00-05:00"),  # 00:00 UTC next day: out
        row("tokyo-early", "a4", "suspected_fraud", "2026-11-18T08:59:59+09:00"),  # 23:59:59 UTC day before: out
    )
    seed_states(fake_api, none=["a1", "a2", "a3", "a4"])
    engine = sa.create_engine(db.url, connect_args={"options": "-c timezone=America/New_York"})
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "America/New_York"
    run_once(make_client(), engine)
    assert {r["case_id"] for r in db.ledger()} == {"start", "ny-late"}
    assert {r["closed_at"] for r in db.ledger()} == {"2026-11-18T00:00:00.000000Z", "2026-11-18T23:59:59.000000Z"}


def test_four_workers_on_one_interval_send_each_feedback_once(pg, fake_api, tmp_path):
    accounts = [f"acct-{i:03d}" for i in range(100)]
    pg.add(*[row(f"case-{i}", a, "confirmed_fraud") for i, a in enumerate(accounts)])
    seed_states(fake_api, pending=accounts[::2], none=accounts[1::2])
    fake_api.configure(latency_ms=3)
    summaries = run_gated_workers(pg.url, fake_api, [(f"bf/run-{n}/t/-1", DAY, NEXT_DAY) for n in range(4)], tmp_path)
    sent = uploads(fake_api)
    assert len(sent) == 100 and set(sent.values()) == {1}
    assert sum(100 - s["already_decided"] for s in summaries) == 100
    assert max(s["started"] for s in summaries) < min(s["finished"] for s in summaries)
    assert Counter(r["state"] for r in pg.ledger()) == {"sent": 100}


def test_three_day_parallel_backfill_sends_what_a_sequential_run_would(postgres, fake_api, make_client, tmp_path):
    days = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
    verdicts = ["confirmed_fraud", "legitimate", "suspected_fraud"]
    rows = [row(f"case-{d}-{i}", f"acct-{d}-{i}", verdicts[i % 3], (day + timedelta(hours=i)).isoformat())
            for d, day in enumerate(days) for i in range(12)]  # fmt: skip
    states = {"pending": [r[1] for r in rows if int(r[1].rsplit("-", 1)[1]) % 2 == 0],
              "none": [r[1] for r in rows if int(r[1].rsplit("-", 1)[1]) % 2 == 1]}  # fmt: skip

    sequential_db = PgCaseDB(postgres)
    sequential_db.add(*rows)
    seed_states(fake_api, **states)
    for day in days:
        run_once(make_client(), sequential_db.engine, day, day + timedelta(days=1), owner=f"seq/{day.date()}")
    expected = uploads(fake_api)

    fake_api.state.reset()
    fake_api.set_tokens(TOKEN)
    seed_states(fake_api, **states)
    parallel_db = PgCaseDB(postgres)
    parallel_db.add(*rows)
    jobs = [(f"backfill/{day.date()}/t/-1", day, day + timedelta(days=1)) for day in days]
    run_gated_workers(parallel_db.url, fake_api, jobs, tmp_path)
    assert uploads(fake_api) == expected and len(expected) == 24


def test_sigkill_during_uploads_then_rerun_is_exactly_once(pg, fake_api, tmp_path):
    accounts = [f"acct-{i:02d}" for i in range(30)]
    pg.add(*[row(f"case-{i}", a, "suspected_fraud") for i, a in enumerate(accounts)])  # false negatives: risky
    seed_states(fake_api, none=accounts)
    fake_api.configure(latency_ms=150, latency_kinds=["feedback"])
    command = [sys.executable, "-m", "tests.reconciliation._worker", pg.url, fake_api.url, TOKEN,
               "daily/run-1/reconcile/-1", DAY.isoformat(), NEXT_DAY.isoformat(), "1"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(fake_api.requests("feedback")) < 8:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-upload: one request is in flight
    proc.wait(timeout=30)
    time.sleep(0.3)  # let the fake finish the request the dead client left behind
    states = Counter(r["state"] for r in pg.ledger())
    assert states["sent"] < 30 and states["planned"] > 0
    fake_api.configure(latency_ms=0)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["error"] is None and summary["in_doubt"] == 0
    # the batch in flight when the process died was resolved by looking, not by resending blindly
    assert summary["verified_applied"] + summary["verified_not_applied"] == 1, summary
    assert Counter(r["state"] for r in pg.ledger()) == {"sent": 30}
    sent = uploads(fake_api)
    assert len(sent) == 30 and set(sent.values()) == {1}
    assert all(len(fake_api.account(a)["incidents"]) == 1 for a in accounts)


def test_ids_longer_than_the_ledger_columns_are_rejects_not_failed_claims(pg, fake_api, make_client):
    pg.add(row("c-long", "a" * 300, "suspected_fraud"), row("c" * 300, "a2", "suspected_fraud"),
           *[row(f"c{i}", f"ok{i}", "suspected_fraud") for i in range(40)])  # fmt: skip
    seed_states(fake_api, none=[f"ok{i}" for i in range(40)])
    report = run_once(make_client(), pg.engine)
    assert dict(report.rejected) == {"invalid_account_id": 1, "invalid_case_id": 1}
    assert report.counts["accounts_sent"] == 40 and len(pg.ledger()) == 40


def test_claim_counts_only_rows_it_inserted_and_stores_values_exactly(pg):
    """The claim's multi-row insert (one array per column): the count excludes rows a concurrent run
    inserted first, and awkward text (quotes, tabs, newlines, backslashes, non-ASCII, NULL) round-trips."""
    from datetime import UTC, datetime

    from airflow_provider_human.client.attack_types import AttackType
    from airflow_provider_human.reconciliation.ledger import LedgerState
    from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict

    ledger = Ledger(pg.engine)
    ledger.ensure_schema()
    ledger.register("pg/claims/-1")
    when = datetime(2026, 11, 18, 10, tzinfo=UTC)
    comments = [None, "", 'it\'s "quoted"', "tab\there\nnew line", "back\\slash {a,b} NULL", "café ✓"]
    outcomes = [CaseOutcome(f"c{i}", f"a{i}", AttackType.ATO, Verdict.LEGITIMATE, when, comments[i % 6])
                for i in range(7001)]  # fmt: skip
    columns = {"decision": "consistent", "reason": None}
    first = ledger.claim([(o, LedgerState.NOOP, columns) for o in outcomes[:4000]], owner="pg/one",
                         interval=("a", "z"))  # fmt: skip
    second = ledger.claim([(o, LedgerState.NOOP, columns) for o in outcomes], owner="pg/two", interval=("a", "z"))
    assert (first, second) == (4000, 3001)
    stored = {r["case_id"]: r for r in pg.ledger()}
    assert len(stored) == 7001
    for o in outcomes:
        got = stored[o.case_id]
        assert (got["comment"], got["closed_at"], got["fingerprint"], got["lookup_failures"]) == (
            o.comment, o.closed_at_key, o.fingerprint, 0)  # fmt: skip
        assert got["owner"] == ("pg/one" if int(o.case_id[1:]) < 4000 else "pg/two")


def test_a_growing_ledger_refreshes_its_planner_statistics(pg):
    """A new ledger's statistics say "empty" until autovacuum gets to it, so every history read was a
    sequential scan (a day of a million outcomes went quadratic). A try that grew the table by at
    least ``analyze_after_rows`` rows and by what the statistics knew runs ANALYZE after its commit."""
    from datetime import UTC, datetime

    from airflow_provider_human.client.attack_types import AttackType
    from airflow_provider_human.reconciliation.ledger import LedgerState
    from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict

    ledger = Ledger(pg.engine)
    ledger.analyze_after_rows = 1000
    ledger.ensure_schema()
    ledger.register("pg/stats/-1")
    with pg.engine.begin() as conn:  # only the ledger's own ANALYZE may change the figures below
        conn.exec_driver_sql("ALTER TABLE human_feedback_ledger SET (autovacuum_enabled = false)")
    when = datetime(2026, 11, 18, 10, tzinfo=UTC)

    def reltuples() -> float:
        with pg.engine.connect() as conn:
            query = "SELECT reltuples FROM pg_class WHERE relname = 'human_feedback_ledger'"
            return conn.exec_driver_sql(query).scalar_one()

    def claim(first: int, n: int) -> None:
        outcomes = [CaseOutcome(f"c{i}", f"a{i}", AttackType.ATO, Verdict.LEGITIMATE, when, None)
                    for i in range(first, first + n)]  # fmt: skip
        with ledger.deciding() as decider:
            decider.claim([(o, LedgerState.NOOP, None) for o in outcomes], owner="pg/stats", interval=("a", "z"))

    claim(0, 999)
    assert reltuples() <= 0  # never analyzed: -1 on PostgreSQL 14 and later
    claim(999, 1)
    assert reltuples() == 1000
    claim(1000, 999)  # 999 more: fewer than the 1,000 the statistics know
    assert reltuples() == 1000
    claim(1999, 1)
    assert reltuples() == 2000

    ledger = Ledger(pg.engine)  # the next try starts from what the statistics say (2,000), not from 0
    ledger.analyze_after_rows = 1000
    ledger.register("pg/stats/-2")
    claim(2000, 1999)
    assert reltuples() == 2000
    claim(3999, 1)
    assert reltuples() == 4000
