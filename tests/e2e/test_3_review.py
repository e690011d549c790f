"""A day that leaves something for a person opens the review task; it is answered through the REST
API, then in the browser on the Required Actions page, and the ledger shows the answer and who gave it."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.e2e.conftest import DAG_ID

pytestmark = pytest.mark.e2e
_SCHEDULER_CATCH_UP_SECONDS = 5  # see _as_a_person_would

# Days no other end-to-end test touches. A reversal: fraud confirmed (an incident is opened),
# then the same account's next case says legitimate. The API cannot take feedback back.
REVERSAL_ROWS = [
    ("rev-1a", "acct-rev-1", "ato", "confirmed_fraud", "2026-11-17T09:00:00Z", None),
    ("rev-1b", "acct-rev-1", "ato", "legitimate", "2026-11-18T09:00:00Z", None),
    ("rev-2a", "acct-rev-2", "ato", "legitimate", "2026-11-18T10:00:00Z", None),  # a false positive is sent
    ("rev-2b", "acct-rev-2", "ato", "confirmed_fraud", "2026-11-19T10:00:00Z", None),  # ...then fraud after all
]


def _add_cases(case_db, e2e_fake_api) -> None:
    db = sqlite3.connect(case_db)
    try:
        db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", REVERSAL_ROWS)
        db.commit()
    finally:
        db.close()
    e2e_fake_api.seed_accounts([{"account_id": "acct-rev-1"}, {"account_id": "acct-rev-2", "incidents": [
        {"attack_type": "ato", "risk_score": 0.7}]}])  # fmt: skip


def _row(case_db, case_id: str) -> dict:
    db = sqlite3.connect(case_db)
    db.row_factory = sqlite3.Row
    try:
        return dict(db.execute("SELECT * FROM human_feedback_ledger WHERE case_id = ?", (case_id,)).fetchone())
    finally:
        db.close()


def _backfill(stack, first: str, last: str) -> dict:
    return stack.create_backfill({"dag_id": DAG_ID, "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z",
                                  "max_active_runs": 1})  # fmt: skip


def _run_of(stack, day: str) -> dict:
    runs = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
    [run] = [r for r in runs if r["run_type"] == "backfill" and r["data_interval_start"][:10] == day]
    return run


def _review_waits(stack, day: str) -> dict | None:
    try:
        run = _run_of(stack, day)
    except ValueError:
        return None
    path = f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review"
    ti = stack.rest("GET", path, expect=(200, 404))
    assert ti.get("state") not in ("failed", "upstream_failed"), f"{ti}\n{stack.tails()}"
    return run if ti.get("state") == "awaiting_input" else None


def _as_a_person_would(stack, what: str, day: str) -> dict:
    """The run whose review waits, once it has waited a few seconds.

    An answer in the very second the task deferred races Airflow 3.3's scheduler: when the
    resumed try is queued before the scheduler has processed the executor's "success" event
    of the deferring process, the scheduler takes that event for the new try, sets it
    ``up_for_retry`` ("state mismatch" in the audit log), and the worker is refused ("TI was
    not in a state where it could be marked as running"). A person never answers that fast.
    """
    run = stack.wait_for(what, lambda: _review_waits(stack, day), timeout=300)
    time.sleep(_SCHEDULER_CATCH_UP_SECONDS)
    return run


def _run_state(stack, day: str) -> str | None:
    state = _run_of(stack, day)["state"]
    return state if state in ("success", "failed") else None


def test_a_reversal_opens_the_review_and_a_rest_answer_is_written_to_the_ledger(
    provisioned, airflow_stack, e2e_fake_api, case_db
):
    stack = airflow_stack
    _add_cases(case_db, e2e_fake_api)
    _backfill(stack, "2026-11-17", "2026-11-18")
    assert stack.wait_for("day 1 to succeed", lambda: _run_state(stack, "2026-11-17"), timeout=300) == "success"
    run = _as_a_person_would(stack, "the review of day 2 to wait for a person", "2026-11-18")
    path = f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review/-1/hitlDetails"
    detail = stack.rest("GET", path)
    assert detail["options"] == ["Resend", "Mark as applied", "Leave for later"] and detail["defaults"] == [
        "Leave for later"
    ]
    assert "| rev-1b | acct-rev-1 | ato |" in detail["body"] and "reversal" in detail["body"]
    assert _row(case_db, "rev-1b")["state"] == "needs_review"

    answered = stack.rest("PATCH", path, json={"chosen_options": ["Mark as applied"], "params_input": {}})
    assert answered["chosen_options"] == ["Mark as applied"]
    assert stack.wait_for("day 2 to succeed", lambda: _run_state(stack, "2026-11-18"), timeout=300) == "success"
    row = _row(case_db, "rev-1b")
    assert (row["state"], row["answer"]) == ("noop", "mark_applied")
    assert row["answered_by"] and "response timeout" not in row["answered_by"]
    sent = [e for e in e2e_fake_api.effects() if e["account_id"] == "acct-rev-1"]
    assert [(e["status"], e["result"]) for e in sent] == [("resolved", "manually_identified_and_resolved")]


def test_the_required_actions_page_answers_resend_in_the_browser(
    provisioned, airflow_stack, e2e_fake_api, case_db, page, shots
):
    stack = airflow_stack
    _backfill(stack, "2026-11-19", "2026-11-19")
    run = _as_a_person_would(stack, "the review of day 3 to wait for a person", "2026-11-19")
    page.goto(f"{stack.base_url}/dags/{DAG_ID}/runs/{run['dag_run_id']}/tasks/review/required_actions")
    page.get_by_text("for a person to review").first.wait_for()
    page.get_by_text("rev-2b").first.wait_for()
    page.wait_for_timeout(500)  # only for the picture
    page.screenshot(path=shots / "review-required-actions.png", full_page=True)
    page.get_by_role("button", name="Resend").click()
    assert stack.wait_for("day 3 to succeed", lambda: _run_state(stack, "2026-11-19"), timeout=300) == "success"
    row = _row(case_db, "rev-2b")
    assert (row["answer"], row["state"], row["decision"]) == ("resend", "sent", "false_negative")
    assert row["answered_by"] and "response timeout" not in row["answered_by"]
    sent = [(e["status"], e["result"]) for e in e2e_fake_api.effects() if e["account_id"] == "acct-rev-2"]
    # the false positive of day 2, then what the person asked for: fraud, on an account no longer pending
    assert sent == [("resolved", "no_attack"), ("resolved", "manually_identified_and_resolved")]
