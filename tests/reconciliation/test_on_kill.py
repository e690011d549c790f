"""A SIGTERMed reconciliation try (a cleared or marked task, a worker shut down) frees its rows at once.

Airflow's Task SDK answers SIGTERM by calling the operator's ``on_kill`` in the task's own
process; the supervisor sends SIGKILL 5 s later. Here a real ``airflow tasks test`` process
is SIGTERMed while HUMAN holds its upload; the next try must find nothing leased by the dead
one and finish the day with nothing applied twice.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger import Ledger
from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_why import effects

#: what the supervisor waits between SIGTERM and SIGKILL (supervisor.kill's escalation_delay)
ESCALATION_SECONDS = 5.0

DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator

with DAG("human_killed_try", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
         tags=["human"], doc_md="on_kill test") as dag:
    HumanCaseReconciliationOperator(
        task_id="reconcile", source_conn_id="human_case_db", interval_start="{start}", interval_end="{end}",
        lease_seconds=600, batch_size=1, reports_dir="{reports}",
    )
"""


def _wait(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_sigtermed_try_releases_its_lease_and_the_next_try_finishes_the_day(
    airflow_db, case_db, fake_api, reconcile, tmp_path
):
    case_db.add(outcome("c-tp", "tp", "confirmed_fraud"), outcome("c-fp", "fp", "legitimate"))
    seed_states(fake_api, pending=["tp", "fp"])
    fake_api.configure(hold_feedback="before_apply", hold_match={"result": "resolved"})  # HUMAN sits on it
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "killed.py").write_text(
        DAG_FILE.format(start=DAY.isoformat(), end=NEXT_DAY.isoformat(), reports=tmp_path / "reports")
    )
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW_CONN_HUMAN_DEFAULT": json.dumps({"conn_type": "human", "host": fake_api.url, "password": TOKEN}),
           "AIRFLOW_CONN_HUMAN_CASE_DB": case_db.url}  # fmt: skip
    log = open(tmp_path / "task.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "tasks", "test", "human_killed_try", "reconcile",
                             NEXT_DAY.isoformat()], env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait(lambda: fake_api.held() or proc.poll() is not None, "the try's upload to reach HUMAN")
        assert proc.poll() is None, (tmp_path / "task.log").read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)  # what the supervisor sends first
        try:
            proc.wait(timeout=ESCALATION_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()  # and what it sends when the try did not stop
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    fake_api.release(apply=True)  # HUMAN applies the upload it held: the killed try never heard back
    story = (tmp_path / "task.log").read_text()
    assert re.search(r"Released \d+ unfinished outcomes", story), story[-3000:]  # by the try itself, on its way out

    # the dead try's lease is over now, not in 600 s
    ledger = Ledger(case_db.engine)
    with case_db.engine.connect() as conn:
        holders = conn.execute(sa.text("SELECT holder, lease_until FROM human_feedback_ledger_holders")).all()
    assert len(holders) == 1, holders
    assert holders[0].lease_until <= ledger.clock(), (tmp_path / "task.log").read_text()[-3000:]

    # the next try (waiting 3 s at most for others) finishes the day; nothing applied twice
    _, result = reconcile(owner="human_killed_try/manual/reconcile/-1", wait_for_others_seconds=3.0)
    assert result.ok
    assert effects(fake_api) == {("tp", "ato", "resolved", "resolved"): 1, ("fp", "ato", "resolved", "no_attack"): 1}
    assert {r["account_id"]: r["state"] for r in case_db.ledger_rows()} == {"tp": "sent", "fp": "sent"}
