"""HUMAN_RETRY_POLICY applied by Airflow's own task runner (`airflow dags test`, the Task SDK in process).

The task instance history is what Airflow records per try: its state, and the delay and reason
the policy gave (``retry_delay_override``, ``retry_reason``), which the scheduler loop honours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import TOKEN

PROBE = """
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY

# retry_delay of an hour: a try retried sooner was retried by the policy's delay
with DAG("retry_policy_probe", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC"), catchup=False,
         default_args={"retries": 3, "retry_delay": timedelta(hours=1), "retry_policy": HUMAN_RETRY_POLICY}):

    @task
    def rate_limited(ti=None):
        from airflow_provider_human.hooks.human import HumanHook

        hook = HumanHook("human_default")
        if ti.try_number == 1:
            hook.get_account_info_v2("a1")  # the one request of these 2 s: the next is answered 429
        return hook.get_account_info_v2("a1").exists

    @task
    def misconfigured():
        from airflow_provider_human.hooks.human import HumanHook

        HumanHook("human_no_token").get_account_info_v2("a1")

    @task
    def token_refused():
        from airflow_provider_human.hooks.human import HumanHook

        HumanHook("human_bad_token").get_account_info_v2("a1")

    rate_limited()
    misconfigured()
    token_refused()
"""


def test_airflow_retries_a_429_after_retry_after_and_fails_config_and_auth_errors_at_once(
    airflow_db, fake_api, tmp_path
):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "retry_policy_probe.py").write_text(textwrap.dedent(PROBE))
    fake_api.seed_accounts([{"account_id": "a1"}])
    env = os.environ.copy()
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    conn = {"conn_type": "human", "host": fake_api.url, "password": TOKEN, "extra": {"max_retries": 0}}
    env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps(conn)
    env["AIRFLOW_CONN_HUMAN_NO_TOKEN"] = json.dumps({**conn, "password": ""})
    env["AIRFLOW_CONN_HUMAN_BAD_TOKEN"] = json.dumps({**conn, "password": "not-the-token-1234"})
    # One request per 2 s: the first try spends it and meets 429 "Retry-After: 2"; 2 s later the retry has it.
    fake_api.configure(rate_limit_rps=0.5, rate_limit_burst=1, retry_after=2)
    run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "retry_policy_probe"],
                         env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    out = run.stdout + run.stderr
    assert TOKEN not in out

    db = sa.create_engine(f"sqlite:///{Path(airflow_db) / 'airflow.db'}")
    with db.connect() as c:
        final = {
            r.task_id: (r.state, r.try_number)
            for r in c.execute(
                sa.text("SELECT task_id, state, try_number FROM task_instance WHERE dag_id = 'retry_policy_probe'")
            )
        }
        tries = {(r.task_id, r.try_number): (r.state, r.retry_delay_override, r.retry_reason) for r in c.execute(
            sa.text("SELECT task_id, try_number, state, retry_delay_override, retry_reason"
                    " FROM task_instance_history WHERE dag_id = 'retry_policy_probe'"))}  # fmt: skip
    expected = {"rate_limited": ("success", 2), "misconfigured": ("failed", 1), "token_refused": ("failed", 1)}
    assert final == expected, out[-4000:]
    _, delay, reason = tries["rate_limited", 1]
    assert delay == 2.0 and "Retry-After asked for 2 s" in reason  # the history keeps the failed try (state "failed")
    assert not any(task in ("misconfigured", "token_refused") for task, _ in tries)
    statuses = [e["status"] for e in fake_api.requests("v2")]
    refused = [s for s in statuses if s in (401, 403)]  # the fake answers a wrong token as the v2 page does
    assert len(refused) == 1 and sorted(s for s in statuses if s not in refused) == [200, 200, 429]
