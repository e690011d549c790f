"""human_case_reconciliation under `airflow dags test`: params, the data interval, the ledger, the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import TOKEN
from tests.reconciliation.conftest import CaseDB, outcome
from tests.reconciliation.test_engine import seed_states, uploads


def _dags_test(env, *args):
    run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "human_case_reconciliation", *args],
                         env=env, capture_output=True, text=True)  # fmt: skip
    return run.returncode, run.stdout + run.stderr


def test_daily_run_dry_run_then_real_then_again(airflow_db, fake_api, tmp_path):
    db = CaseDB(tmp_path / "cases.sqlite")
    db.add(
        outcome("c1", "a1", "confirmed_fraud", "2026-11-18T00:00:00Z"),  # first instant of the day
        outcome("c2", "a2", "legitimate", "2026-11-18T12:00:00Z"),
        outcome("c3", "a3", "suspected_fraud", "2026-11-18T23:59:59Z"),
        outcome("c4", "a4", "confirmed_fraud", "2026-11-19T00:00:00Z"),  # belongs to the next day
    )
    seed_states(fake_api, pending=["a1", "a2"], none=["a3", "a4"])
    env = os.environ.copy()
    env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": fake_api.url, "password": TOKEN})
    env["AIRFLOW_CONN_HUMAN_CASE_DB"] = json.dumps({"conn_type": "sqlite", "host": db.path})
    subprocess.run([sys.executable, "-m", "airflow", "pools", "set", "human_api", "2", "HUMAN"], env=env,
                   check=True, capture_output=True)  # fmt: skip

    code, out = _dags_test(env, "2026-11-19", "--conf", json.dumps({"dry_run": True}))
    assert code == 0, out[-4000:]
    assert "DRY RUN" in out and fake_api.requests("feedback") == []
    assert not sa.inspect(db.engine).has_table("human_feedback_ledger")

    code, out = _dags_test(env, "2026-11-19")
    assert code == 0, out[-4000:]
    assert "XCom not found" not in out  # no error line in a run that succeeded
    assert uploads(fake_api) == {
        ("a1", "ato", "resolved", "resolved"): 1,
        ("a2", "ato", "resolved", "no_attack"): 1,
        ("a3", "ato", "resolved", "manually_identified"): 1,
    }
    rows = db.ledger_rows()
    assert {r["case_id"] for r in rows} == {"c1", "c2", "c3"}
    assert {r["interval_start"] for r in rows} == {"2026-11-18T00:00:00.000000Z"}
    assert all(r["owner"].startswith("human_case_reconciliation/") for r in rows)

    code, out = _dags_test(env, "2026-11-19")
    assert code == 0, out[-4000:]
    assert len(fake_api.requests("feedback")) == 3
    assert TOKEN not in out
    reports = list((Path(airflow_db) / "reports" / "human").glob("2026-11-18T000000__human_case_reconciliation*"))
    assert {p.suffix for p in reports} == {".json", ".md"}
    assert all(TOKEN not in p.read_text() for p in reports)
    assert any(json.loads(p.read_text())["counts"]["requests_sent"] == 3 for p in reports if p.suffix == ".json")


def test_sharded_dag_run_maps_one_task_per_shard(airflow_db, fake_api, tmp_path):
    db = CaseDB(tmp_path / "cases.sqlite")
    accounts = [f"acct-{i}" for i in range(12)]
    db.add(*[outcome(f"c{i}", a, "confirmed_fraud", "2026-11-10T08:00:00Z") for i, a in enumerate(accounts)])
    seed_states(fake_api, pending=accounts)
    env = os.environ.copy()
    env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": fake_api.url, "password": TOKEN})
    env["AIRFLOW_CONN_HUMAN_CASE_DB"] = json.dumps({"conn_type": "sqlite", "host": db.path})
    subprocess.run([sys.executable, "-m", "airflow", "pools", "set", "human_api", "2", "HUMAN"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    code, out = _dags_test(env, "2026-11-11", "--conf", json.dumps({"shards": 3}))
    assert code == 0, out[-4000:]
    assert set(uploads(fake_api)) == {(a, "ato", "resolved", "resolved") for a in accounts}
    assert set(uploads(fake_api).values()) == {1}
    assert {r["owner"].rsplit("/", 1)[1] for r in db.ledger_rows()} <= {"0", "1", "2"}
    assert len({r["owner"] for r in db.ledger_rows()}) >= 2
    assert "The day across 3 shard(s)" in out
    assert "XCom not found" not in out  # summarize reads the shards' results in one slice, not past the end
    day = out[out.index("The day across 3 shard(s)") :].splitlines()[0]
    assert "'dry_run': False" in day and "'interval_start': '2026-11-10T00:00:00.000000Z'" in day, day
    assert f"'accounts_sent': {len(accounts)}" in day, day
