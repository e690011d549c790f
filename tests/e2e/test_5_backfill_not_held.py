"""A ten-day backfill where three days leave items for a person: the other seven finish without
waiting, every run ends, and one review request then spans every waiting day (issue 26)."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, timedelta

import pytest

from tests.e2e.conftest import DAG_ID, REVIEW_DAG_ID
from tests.e2e.test_3_review import ANSWER_EACH, _as_a_person_would, _review_state, _ti, every_item

pytestmark = pytest.mark.e2e

DAYS = [(date(2026, 10, 1) + timedelta(days=n)).isoformat() for n in range(10)]
FOR_A_PERSON = {DAYS[2], DAYS[5], DAYS[8]}  # AD shows an incident type the provider cannot map: a person decides


def _add_days(case_db, e2e_fake_api) -> None:
    rows, accounts = [], []
    for n, day in enumerate(DAYS):
        for k in range(2):
            rows.append((f"bf-{n}-{k}", f"acct-bf-{n}-{k}", "ato", "suspected_fraud", f"{day}T1{k}:00:00Z", None))
            accounts.append({"account_id": f"acct-bf-{n}-{k}"})
        if day in FOR_A_PERSON:
            rows.append((f"bf-{n}-odd", f"acct-bf-{n}-odd", "ato", "confirmed_fraud", f"{day}T12:00:00Z", None))
            accounts.append({"account_id": f"acct-bf-{n}-odd", "incidents": [{"attack_type": "bot_scraping"}]})
    db = sqlite3.connect(case_db)
    try:
        db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()
    e2e_fake_api.seed_accounts(accounts)


def _runs(stack) -> dict[str, dict]:
    runs = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 200})["dag_runs"]
    return {r["data_interval_start"][:10]: r for r in runs if r["run_type"] == "backfill" and
            r["data_interval_start"][:10] in DAYS}  # fmt: skip


def _ended(stack) -> dict[str, dict] | None:
    runs = _runs(stack)
    return runs if len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs.values()) else None


def test_a_ten_day_backfill_is_not_held_by_the_three_days_that_wait_for_a_person(
    provisioned, airflow_stack, e2e_fake_api, case_db
):
    stack = airflow_stack
    _add_days(case_db, e2e_fake_api)
    began = time.monotonic()
    stack.create_backfill({"dag_id": DAG_ID, "from_date": f"{DAYS[0]}T00:00:00Z", "to_date": f"{DAYS[-1]}T00:00:00Z",
                           "max_active_runs": 3})  # fmt: skip
    runs = stack.wait_for("all ten days to end", lambda: _ended(stack), timeout=900, every=1.0)
    elapsed = time.monotonic() - began
    states = {day: run["state"] for day, run in runs.items()}
    assert {d for d, s in states.items() if s == "success"} == set(DAYS) - FOR_A_PERSON, states
    assert {d for d, s in states.items() if s == "failed"} == FOR_A_PERSON, states
    for day in FOR_A_PERSON:  # failed by the day check, after the reconciliation handed its item over
        run_id = runs[day]["dag_run_id"]
        assert _ti(stack, DAG_ID, run_id, "day_done")["state"] == "failed"
        assert _ti(stack, DAG_ID, run_id, "request_review")["state"] == "success"
    spans = sorted((r["start_date"], r["end_date"]) for r in runs.values())
    print(
        f"\n10-day backfill, 3 days waiting for a person, max_active_runs=3: every run ended {elapsed:.0f} s after "
        f"the backfill was created; first run started {spans[0][0]}, last ended {max(e for _, e in spans)}"
    )
    uploaded = {e["account_id"] for e in e2e_fake_api.effects() if e["account_id"].startswith("acct-bf-")}
    assert uploaded == {f"acct-bf-{n}-{k}" for n in range(10) for k in range(2)}  # the odd ones: nothing sent

    # Nobody has answered yet; one request lists what was there when it opened. Leave it for
    # later: the next review run lists every waiting day.
    first = _as_a_person_would(stack, "a review to wait for a person", "bf-2-odd")
    path = f"/dags/{REVIEW_DAG_ID}/dagRuns/{first['dag_run_id']}/taskInstances/review/-1/hitlDetails"
    stack.rest("PATCH", path, json={"chosen_options": ["Leave all for later"], "params_input": {}})
    assert stack.wait_for("the first review to end", lambda: _review_state(stack, first), timeout=300) == "failed"
    # A run the later days' asset events queued, or (if they all came before the first opened) the
    # person's own Trigger: either lists every day still waiting.
    stack.rest("POST", f"/dags/{REVIEW_DAG_ID}/dagRuns", json={"logical_date": None})

    def spanning():
        run = _as_a_person_would(stack, "a review listing every waiting day", "bf-8-odd")
        detail = stack.rest("GET", f"/dags/{REVIEW_DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review/-1"
                                   "/hitlDetails")  # fmt: skip
        return run, detail

    run, detail = spanning()
    assert all(f"| bf-{n}-odd |" in detail["body"] for n in (2, 5, 8)), detail["body"]
    assert f"3 days: {DAYS[2]}, {DAYS[5]}, {DAYS[8]}" in detail["subject"], detail["subject"]
    path = f"/dags/{REVIEW_DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review/-1/hitlDetails"
    stack.rest(
        "PATCH",
        path,
        json={"chosen_options": [ANSWER_EACH], "params_input": every_item(detail, "Mark as handled (nothing sent)")},
    )
    assert stack.wait_for("the review to succeed", lambda: _review_state(stack, run), timeout=300) == "success"
