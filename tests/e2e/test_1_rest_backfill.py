"""A three-day backfill through Airflow's REST API on a real scheduler, then the same backfill again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import TOKEN
from tests.e2e.conftest import DAG_ID, REST_DAYS
from tests.e2e.expected import every_upload_accepted, expected_for, ledger, rejected_cases, uploads

BATCH_SIZE = 1  # through dag_run_conf: every upload then carries exactly one account, which proves the conf arrived

pytestmark = pytest.mark.e2e


def _runs(stack, run_type: str) -> list[dict]:
    body = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})
    return [r for r in body["dag_runs"] if r["run_type"] == run_type]


def _backfill(stack, **extra) -> dict:
    return stack.create_backfill(
        {
            "dag_id": DAG_ID,
            "from_date": f"{REST_DAYS[0]}T00:00:00Z",
            "to_date": f"{REST_DAYS[-1]}T00:00:00Z",
            "dag_run_conf": {"batch_size": BATCH_SIZE},
            "max_active_runs": 3,
            **extra,
        }
    )


def _wait_completed(stack, backfill_id: int) -> dict:
    return stack.wait_for(
        f"backfill {backfill_id} to complete",
        lambda: (b := stack.rest("GET", f"/backfills/{backfill_id}"))["completed_at"] and b,
        timeout=600,
    )


def test_connections_are_created_and_the_token_never_comes_back(provisioned, airflow_stack):
    conn = airflow_stack.rest("GET", "/connections/human_default")
    assert conn["conn_type"] == "human" and conn["password"] == "***"
    assert TOKEN not in str(provisioned) and TOKEN not in str(conn)
    assert airflow_stack.rest("GET", "/connections/human_case_db")["conn_type"] == "sqlite"


def test_connection_test_endpoint_accepts_a_good_token_and_refuses_a_wrong_one(
    provisioned, airflow_stack, e2e_fake_api
):
    body = {"connection_id": "human_check", "conn_type": "human", "host": e2e_fake_api.url, "password": TOKEN}
    good = airflow_stack.rest("POST", "/connections/test", json=body)
    assert good["status"] is True and "server token was accepted" in good["message"], good
    bad = airflow_stack.rest("POST", "/connections/test", json={**body, "password": "wrong-token-123"})
    assert bad["status"] is False and "refused the server token" in bad["message"], bad
    assert "wrong-token-123" not in bad["message"] and TOKEN not in good["message"]


def test_three_day_backfill_applies_the_decision_table_exactly_once(provisioned, airflow_stack, e2e_fake_api, case_db):
    stack = airflow_stack
    # Unpausing lets the scheduler start the latest interval's run; let it finish so the
    # backfill is the only thing running (it holds no cases, so it sends nothing).
    scheduled = stack.wait_for(
        "the scheduled run to finish",
        lambda: [r for r in _runs(stack, "scheduled") if r["state"] in ("success", "failed")],
        timeout=300,
    )
    assert {r["state"] for r in scheduled} == {"success"}, scheduled
    e2e_fake_api.clear_log()

    backfill = _backfill(stack)
    _wait_completed(stack, backfill["id"])
    runs = sorted(_runs(stack, "backfill"), key=lambda r: r["data_interval_start"])
    assert [r["state"] for r in runs] == ["success"] * 3, runs
    for run, day in zip(runs, REST_DAYS, strict=True):
        start = datetime.fromisoformat(run["data_interval_start"])
        end = datetime.fromisoformat(run["data_interval_end"])
        assert start == datetime.fromisoformat(f"{day}T00:00:00+00:00") and end - start == timedelta(days=1), run
        assert run["conf"]["batch_size"] == BATCH_SIZE

    expected = expected_for(REST_DAYS)
    assert every_upload_accepted(e2e_fake_api)
    assert uploads(e2e_fake_api) == expected.uploads  # each expected upload exactly once, nothing else
    assert {len(e["body"]["accountIds"]) for e in e2e_fake_api.requests("feedback")} == {BATCH_SIZE}
    rows = ledger(case_db)
    assert {case: row["decision"] for case, row in rows.items()} == expected.decisions
    assert {case for case, row in rows.items() if row["state"] == "sent"} == expected.sent
    assert {row["state"] for case, row in rows.items() if case not in expected.sent} == {"noop"}
    assert rejected_cases(case_db) == {"case-broken-1", "case-broken-2"}
    sent_before = len(e2e_fake_api.requests())

    # The same three days again, re-running the completed runs: the ledger must make it a no-op.
    again = _backfill(stack, reprocess_behavior="completed")
    assert again["id"] != backfill["id"]
    _wait_completed(stack, again["id"])
    reruns = [r for r in _runs(stack, "backfill") if r["data_interval_start"][:10] in REST_DAYS]
    assert [r["state"] for r in reruns] == ["success"] * 3, reruns
    for run in reruns:  # the reconciliation really ran again, after the second backfill was made
        tis = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
        reconcile = next(ti for ti in tis if ti["task_id"] == "reconcile_case_outcomes")
        started = datetime.fromisoformat(reconcile["start_date"])
        assert reconcile["state"] == "success" and started > datetime.fromisoformat(again["created_at"]), reconcile
    assert len(e2e_fake_api.requests("feedback")) == sum(expected.uploads.values())
    assert e2e_fake_api.requests()[sent_before:] == []  # not even a lookup: every outcome was decided already
    assert ledger(case_db) == rows


def test_nothing_the_stack_starts_listens_beyond_loopback(provisioned, airflow_stack):
    """What the docs promise for `make ui`: Airflow's log server binds every interface (it has no
    host setting), so the stack starts the scheduler and triggerer without it."""
    import psutil

    listening = []
    for root in airflow_stack.processes.values():
        try:
            family = [psutil.Process(root.pid), *psutil.Process(root.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in family:
            try:
                sockets = proc.net_connections(kind="inet")
                name = proc.name()
            except psutil.NoSuchProcess:  # a task's process that ended meanwhile
                continue
            listening += [(name, s.laddr.ip, s.laddr.port) for s in sockets if s.status == psutil.CONN_LISTEN]
    assert any(port == airflow_stack.port for _, _, port in listening), listening  # the api-server was seen
    assert all(ip in ("127.0.0.1", "::1") for _, ip, _ in listening), listening
