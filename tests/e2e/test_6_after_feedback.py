"""On a real scheduler: a reconciled day's feedback event starts human_after_feedback, whose task gets
the event's metadata; the day's links are what the API serves the UI."""

from __future__ import annotations

import json
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import TOKEN
from tests.e2e.conftest import DAG_ID

pytestmark = pytest.mark.e2e

AFTER = "human_after_feedback"
DAY = "2026-11-10"


def test_a_reconciled_day_starts_the_after_feedback_dag_with_its_metadata(provisioned, airflow_stack):
    stack = airflow_stack
    stack.wait_for(f"{AFTER} to be parsed", lambda: stack.api.get(f"{stack.base_url}/api/v2/dags/{AFTER}",
                                                                  timeout=10).status_code == 200, timeout=180)  # fmt: skip
    # Unpausing the reconciliation (provisioned) started its latest interval's run: let it end first, so
    # that its event is not the one the consumer runs on (two events a fraction of a second apart were
    # seen to start one consumer run, with the first event only).
    stack.wait_for("the scheduled run to finish", lambda: [
        r for r in stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
        if r["run_type"] == "scheduled" and r["state"] in ("success", "failed")], timeout=300)  # fmt: skip
    stack.rest("PATCH", f"/dags/{AFTER}", json={"is_paused": False})
    # The day again ("All Runs"): its run reads the day, sends what is left (nothing, after test_1) and
    # emits its event.
    backfill = stack.create_backfill({"dag_id": DAG_ID, "from_date": f"{DAY}T00:00:00Z", "to_date": f"{DAY}T00:00:00Z",
                                      "reprocess_behavior": "completed", "max_active_runs": 1})  # fmt: skip
    stack.wait_for(f"backfill {backfill['id']} to complete",
                   lambda: stack.rest("GET", f"/backfills/{backfill['id']}")["completed_at"], timeout=600)  # fmt: skip
    [run] = [r for r in stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
             if r["run_type"] == "backfill" and r["data_interval_start"][:10] == DAY
             and r["start_date"] >= backfill["created_at"]]  # fmt: skip
    assert run["state"] == "success", run

    def told_about_the_day() -> list[dict]:
        """The metadata log_feedback returned, over the finished event-triggered runs."""
        runs = [r for r in stack.rest("GET", f"/dags/{AFTER}/dagRuns")["dag_runs"]
                if r["run_type"] == "asset_triggered" and r["state"] in ("success", "failed")]  # fmt: skip
        assert [r["state"] for r in runs] == ["success"] * len(runs), runs
        told = []
        for r in runs:
            value = stack.rest("GET", f"/dags/{AFTER}/dagRuns/{r['dag_run_id']}/taskInstances/log_feedback/"
                               "xcomEntries/return_value", params={"deserialize": "true", "stringify": "false"})["value"]  # fmt: skip
            told += json.loads(value) if isinstance(value, str) else value
        return [e for e in told if e["day"] == DAY]

    told = stack.wait_for(f"{AFTER} to run on the event of {DAY}", told_about_the_day, timeout=300)
    # After test_1 the consumer's first run was seen to get that test's events of the day too (emitted while
    # it was paused): each says the same of the day.
    for extra in told:
        assert extra["dry_run"] is False and extra["human_conn_id"] == "human_default"
        assert extra["ledger_conn_id"] == "human_case_db" and extra["waiting_for_a_person"] == 0
    assert TOKEN not in json.dumps(told)

    links = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/reconcile_case_outcomes/"
                       "links", params={"map_index": 0})["extra_links"]  # fmt: skip
    assert links["HUMAN console"] == "https://console.humansecurity.com"
    assert links["HUMAN day page"].endswith(f"/human/ledger/human_case_db/days/{DAY}")
    assert "/human/report/" in links["HUMAN report"] and TOKEN not in json.dumps(links)
    # the link opens the report itself, served by the HUMAN page from the reports directory
    report = requests.get(urljoin(stack.base_url, links["HUMAN report"]), timeout=30)
    assert report.status_code == 200 and "HUMAN reconciliation report" in report.text and TOKEN not in report.text, (
        report.text[:500]
    )
    tis = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
    [shard] = [ti for ti in tis if ti["task_id"] == "reconcile_case_outcomes"]
    assert shard["rendered_map_index"] == f"cases closed {DAY}"
