"""Example DAGs parse cleanly and run under `airflow dags test` against the fake API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TOKEN

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_folder_imports_without_errors(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert "example_human_operators" in bag.dag_ids
    for dag in bag.dags.values():
        assert dag.tags and "human" in dag.tags and dag.doc_md
        assert dag.description and len(dag.description) < 200, dag.dag_id  # the DAG list shows it
        assert {t.owner for t in dag.tasks} == {"fraud-data"}, dag.dag_id  # not Airflow's default "airflow"


def test_example_operators_dag_renders_templates_maps_and_runs(airflow_db, fake_api, tmp_path):
    fake_api.seed_accounts([{"account_id": "acct-1001", "incidents": [{"attack_type": "ato"}]}])
    fake_api.seed_identities([{"id": "013xrzp12g3nqk8nfsf13ajhjnj5hjp5"}])
    env = os.environ.copy()
    env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": fake_api.url, "password": TOKEN})
    ledger_db = tmp_path / "ledger.sqlite"
    env["AIRFLOW_CONN_HUMAN_CASE_DB"] = json.dumps({"conn_type": "sqlite", "host": str(ledger_db)})
    subprocess.run([sys.executable, "-m", "airflow", "pools", "set", "human_api", "4", "HUMAN"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "example_human_operators"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert TOKEN not in run.stdout + run.stderr
    lookups = sorted(e["id"] for e in fake_api.requests("v2"))
    # templated params list ("{{ params.account_ids }}") plus two mapped task instances
    assert lookups == sorted(["acct-1001", "acct-1002", "acct-1003"] * 2)
    bodies = sorted((p["body"]["attackType"], p["body"]["result"]) for p in fake_api.requests("feedback"))
    assert bodies == [("ato", "no_attack"), ("ato", "resolved"), ("fa", "manually_identified_and_resolved")]
    import sqlalchemy as sa  # the feedback went through the reconciliation's ledger

    with sa.create_engine(f"sqlite:///{ledger_db}").connect() as conn:
        told = conn.exec_driver_sql("SELECT account_id, state, feedback_result FROM human_feedback_ledger").all()
        identities = conn.exec_driver_sql("SELECT identity_id FROM human_identity_updates").scalars().all()
    assert sorted(told) == [("acct-1001", "sent", "resolved"), ("acct-1002", "sent", "no_attack"),
                            ("acct-1003", "sent", "manually_identified_and_resolved")]  # fmt: skip
    assert identities == ["013xrzp12g3nqk8nfsf13ajhjnj5hjp5"]
    [put] = fake_api.requests("identity")
    assert put["body"]["metadata"]["run"].startswith("manual__")


def test_every_example_task_retries_with_the_packages_policy(airflow_db):
    """What a retry cannot fix fails at once, a 429 waits HUMAN's Retry-After (tests/retry)."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY

    bag = DagBag(dag_folder=str(DAGS))
    for dag_id in (
        "human_case_reconciliation",
        "example_human_operators",
        "human_account_lookup",
        "human_identity_sync",
        "human_case_review",
    ):
        for task in bag.dags[dag_id].tasks:
            assert task.retry_policy is HUMAN_RETRY_POLICY, (dag_id, task.task_id)
            assert task.retries == (0 if task.task_id == "day_done" else 2), (dag_id, task.task_id)


def test_the_reconciliation_carries_its_deadline_and_failure_alert_when_serialized(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(DAGS))
    dag = bag.dags["human_case_reconciliation"]
    serialized = DagSerialization.to_dict(dag)["dag"]
    [deadline] = serialized["deadline"]
    assert deadline["reference"] == {"reference_type": "DagRunLogicalDateDeadline"}  # the day's start
    assert deadline["interval"]["__data__"] == 30 * 3600  # the day + RECONCILE_WITHIN (a module constant)
    callback = deadline["callback"]
    assert callback["__classname__"] == "airflow.sdk.definitions.callback.AsyncCallback"
    assert callback["__data__"]["path"] == "airflow_provider_human.notifications.day.HumanDayNotifier"
    assert callback["__data__"]["kwargs"] == {"ledger_conn_id": "human_case_db", "review_dag_id": "human_case_review"}
    assert serialized["has_on_failure_callback"] is True
    [on_failure] = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    assert type(on_failure).__name__ == "HumanDayNotifier" and on_failure.ledger_conn_id == "human_case_db"
    again = DagSerialization.from_dict(DagSerialization.to_dict(dag))  # what the scheduler reads back
    assert again.deadline
