"""A day that leaves something for a person ends its run at once and hands the item to the review
DAG (an asset event); the review is answered through the REST API, then in the browser on the
Required Actions page, and the ledger shows the answer and who gave it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

from airflow_provider_human.operators.review import ANSWER_EACH
from tests.e2e.conftest import DAG_ID, REVIEW_DAG_ID

pytestmark = pytest.mark.e2e
_SCHEDULER_CATCH_UP_SECONDS = 5  # see _as_a_person_would

# Days no other end-to-end test touches. A reversal: fraud confirmed (an incident is opened),
# then the same account's next case says legitimate. The API cannot take feedback back.
REVERSAL_ROWS = [
    ("rev-1a", "acct-rev-1", "ato", "confirmed_fraud", "2026-11-17T09:00:00Z", None),
    ("rev-1b", "acct-rev-1", "ato", "legitimate", "2026-11-18T09:00:00Z", None),
    ("rev-2a", "acct-rev-2", "ato", "legitimate", "2026-11-18T10:00:00Z", None),  # a false positive is sent
    ("rev-2b", "acct-rev-2", "ato", "confirmed_fraud", "2026-11-19T10:00:00Z", None),  # ...then fraud after all
    ("rev-3a", "acct-rev-3", "ato", "legitimate", "2026-11-18T11:00:00Z", None),  # the same, for a second item
    ("rev-3b", "acct-rev-3", "ato", "confirmed_fraud", "2026-11-19T11:00:00Z", None),  # ...that is marked handled
]


def _add_cases(case_db, e2e_fake_api) -> None:
    db = sqlite3.connect(case_db)
    try:
        db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", REVERSAL_ROWS)
        db.commit()
    finally:
        db.close()
    flagged = [{"attack_type": "ato", "risk_score": 0.7}]
    e2e_fake_api.seed_accounts([{"account_id": "acct-rev-1"}, {"account_id": "acct-rev-2", "incidents": flagged},
                                {"account_id": "acct-rev-3", "incidents": flagged}])  # fmt: skip


def every_item(detail: dict, word: str) -> dict:
    """The request's per-item fields, each answered ``word`` (the REST form of the page's answer)."""
    return {key: word for key in detail["params"]}


def field_of(detail: dict, case_id: str) -> str:
    """The per-item field whose title names ``case_id``."""
    [key] = [k for k, f in detail["params"].items() if f["schema"]["title"].startswith(f"{case_id} ")]
    return key


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


def _run_state(stack, day: str) -> str | None:
    state = _run_of(stack, day)["state"]
    return state if state in ("success", "failed") else None


def _ti(stack, dag_id: str, run_id: str, task_id: str) -> dict:
    return stack.rest("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", expect=(200, 404))


def review_waiting_for(stack, case_id: str) -> dict | None:
    """The review DAG's run whose request lists ``case_id`` and waits for a person (None until there is one)."""
    runs = stack.rest("GET", f"/dags/{REVIEW_DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
    for run in runs:
        ti = _ti(stack, REVIEW_DAG_ID, run["dag_run_id"], "review")  # (a failed one: a Leave for later)
        if ti.get("state") == "awaiting_input":
            detail = stack.rest("GET", f"/dags/{REVIEW_DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review/-1"
                                       "/hitlDetails")  # fmt: skip
            if f"| {case_id} |" in detail["body"]:
                return run
    return None


def _as_a_person_would(stack, what: str, case_id: str) -> dict:
    """The review run waiting with ``case_id``, once it has waited a few seconds.

    An answer in the very second the task deferred races Airflow 3.3's scheduler: when the
    resumed try is queued before the scheduler has processed the executor's "success" event
    of the deferring process, the scheduler takes that event for the new try, sets it
    ``up_for_retry`` ("state mismatch" in the audit log), and the worker is refused ("TI was
    not in a state where it could be marked as running"). A person never answers that fast;
    the test waits until the scheduler log shows it read that event (seconds on a busy
    scheduler: a fixed sleep of 5 s was not enough with ten runs in flight).
    """
    run = stack.wait_for(what, lambda: review_waiting_for(stack, case_id), timeout=300)
    try_number = _ti(stack, REVIEW_DAG_ID, run["dag_run_id"], "review")["try_number"]
    seen = (f"Received executor event with state success for task instance TaskInstanceKey(dag_id='{REVIEW_DAG_ID}', "
            f"task_id='review', run_id='{run['dag_run_id']}', try_number={try_number}")  # fmt: skip
    # A busy scheduler takes seconds to read the executor's event: answer only after it did.
    stack.wait_for("the scheduler to see the review pause", lambda: seen in stack.log_path("scheduler").read_text(),
                   timeout=120)  # fmt: skip
    time.sleep(_SCHEDULER_CATCH_UP_SECONDS)
    return run


def _review_state(stack, run: dict) -> str | None:
    state = stack.rest("GET", f"/dags/{REVIEW_DAG_ID}/dagRuns/{run['dag_run_id']}")["state"]
    return state if state in ("success", "failed") else None


def clear_day_done(stack, day: str) -> None:
    run = _run_of(stack, day)
    stack.rest("POST", f"/dags/{DAG_ID}/clearTaskInstances", json={
        "dag_run_id": run["dag_run_id"], "task_ids": ["day_done"], "dry_run": False, "only_failed": True,
        "reset_dag_runs": True})  # fmt: skip


def test_a_reversal_ends_its_day_at_once_and_a_rest_answer_in_the_review_dag_is_written_to_the_ledger(
    provisioned, airflow_stack, e2e_fake_api, case_db
):
    stack = airflow_stack
    _add_cases(case_db, e2e_fake_api)
    _backfill(stack, "2026-11-17", "2026-11-18")
    assert stack.wait_for("day 1 to succeed", lambda: _run_state(stack, "2026-11-17"), timeout=300) == "success"
    # Day 2 is not held by its reversal: the run fails at once, naming the item and the review DAG.
    assert stack.wait_for("day 2 to end", lambda: _run_state(stack, "2026-11-18"), timeout=300) == "failed"
    day2 = _run_of(stack, "2026-11-18")
    assert _ti(stack, DAG_ID, day2["dag_run_id"], "day_done")["state"] == "failed"
    assert _ti(stack, DAG_ID, day2["dag_run_id"], "request_review")["state"] == "success"

    run = _as_a_person_would(stack, "the review DAG to wait for a person with rev-1b", "rev-1b")
    path = f"/dags/{REVIEW_DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review/-1/hitlDetails"
    detail = stack.rest("GET", path)
    # one field per item, worded for a reversal: nothing is "applied", it is handled or decided again
    assert detail["options"] == [ANSWER_EACH, "Leave all for later"]
    assert detail["defaults"] == ["Leave all for later"]
    assert [f["schema"]["enum"] for f in detail["params"].values()] == [
        ["Leave for later", "Decide again by the table", "Mark as handled (nothing sent)"]]  # fmt: skip
    assert [f["value"] for f in detail["params"].values()] == ["Leave for later"]
    assert "| rev-1b | acct-rev-1 | ato |" in detail["body"] and "reversal" in detail["body"]
    assert "day 2026-11-18" in detail["subject"]
    assert _row(case_db, "rev-1b")["state"] == "needs_review"

    answer = {field_of(detail, "rev-1b"): "Mark as handled (nothing sent)"}
    answered = stack.rest("PATCH", path, json={"chosen_options": [ANSWER_EACH], "params_input": answer})
    assert answered["chosen_options"] == [ANSWER_EACH] and answered["params_input"] == answer
    assert stack.wait_for("the review to succeed", lambda: _review_state(stack, run), timeout=300) == "success"
    row = _row(case_db, "rev-1b")
    assert (row["state"], row["answer"]) == ("noop", "mark_applied")
    assert row["answered_by"] and "response timeout" not in row["answered_by"]
    sent = [e for e in e2e_fake_api.effects() if e["account_id"] == "acct-rev-1"]
    assert [(e["status"], e["result"]) for e in sent] == [("resolved", "manually_identified_and_resolved")]

    clear_day_done(stack, "2026-11-18")  # what the docs say to do after the answer
    assert stack.wait_for("day 2 to turn green", lambda: _run_state(stack, "2026-11-18"), timeout=300) == "success"


def open_review_url_in(stack, day: str) -> str | None:
    """``open_review_url`` as the HUMAN UI's day view calls it, on this Airflow's metadata database."""
    code = ("import json, sys; from airflow_provider_human.ui_links_review import open_review_url; "
            "print(json.dumps(open_review_url('human_case_db', sys.argv[1])))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, day], env=stack.env, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def choose(page, detail: dict, case_id: str, word: str) -> None:
    """Pick ``word`` in the item's field (a drop-down on the page)."""
    page.locator(f"#element_{field_of(detail, case_id)}").click()
    page.get_by_role("option", name=word, exact=True).click()


def test_the_required_actions_page_answers_per_item_in_the_browser(
    provisioned, airflow_stack, e2e_fake_api, case_db, page, shots
):
    """Two reversals of day 3 in one request: the person resends rev-2b and marks rev-3b handled, on the page."""
    stack = airflow_stack
    _backfill(stack, "2026-11-19", "2026-11-19")
    run = _as_a_person_would(stack, "the review DAG to wait for a person with rev-2b", "rev-2b")
    path = f"/dags/{REVIEW_DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/review/-1/hitlDetails"
    detail = stack.rest("GET", path)
    assert "| rev-3b | acct-rev-3 |" in detail["body"] and len(detail["params"]) == 2
    # the link the HUMAN UI's day page gives for day 3: this run's Required Actions page
    url = open_review_url_in(stack, "2026-11-19")
    assert url == (f"{stack.base_url}/dags/{REVIEW_DAG_ID}/runs/{quote(run['dag_run_id'], safe='')}/tasks/review"
                   "/required_actions?map_index=-1")  # fmt: skip
    assert open_review_url_in(stack, "2026-11-16") is None  # no item of that day waits
    page.goto(url)
    page.get_by_text("for a person to review").first.wait_for()
    page.get_by_text("rev-2b").first.wait_for()
    choose(page, detail, "rev-2b", "Decide again by the table")
    choose(page, detail, "rev-3b", "Mark as handled (nothing sent)")
    submit = page.get_by_role("button", name=ANSWER_EACH)
    submit.scroll_into_view_if_needed()  # the picture: the last rows of the table, the fields, the buttons
    page.wait_for_timeout(500)  # only for the picture
    page.screenshot(path=shots / "review-required-actions.png", full_page=True)
    submit.click()
    assert stack.wait_for("the review to succeed", lambda: _review_state(stack, run), timeout=300) == "success"
    answered = stack.rest("GET", path)
    assert answered["params_input"] == {field_of(detail, "rev-2b"): "Decide again by the table",
                                        field_of(detail, "rev-3b"): "Mark as handled (nothing sent)"}  # fmt: skip
    row = _row(case_db, "rev-2b")
    assert (row["answer"], row["state"], row["decision"]) == ("resend", "sent", "false_negative")
    assert row["answered_by"] and "response timeout" not in row["answered_by"]
    sent = [(e["status"], e["result"]) for e in e2e_fake_api.effects() if e["account_id"] == "acct-rev-2"]
    # the false positive of day 2, then what the person asked for: fraud, on an account no longer pending
    assert sent == [("resolved", "no_attack"), ("resolved", "manually_identified_and_resolved")]
    other = _row(case_db, "rev-3b")
    assert (other["answer"], other["state"]) == ("mark_applied", "noop")  # final: handled, nothing sent
    sent = [(e["status"], e["result"]) for e in e2e_fake_api.effects() if e["account_id"] == "acct-rev-3"]
    assert sent == [("resolved", "no_attack")]  # day 2's false positive only
    assert _run_state(stack, "2026-11-19") == "failed"  # until its day_done is cleared, as docs say
    clear_day_done(stack, "2026-11-19")
    assert stack.wait_for("day 3 to turn green", lambda: _run_state(stack, "2026-11-19"), timeout=300) == "success"
