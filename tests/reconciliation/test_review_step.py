"""The review step: what it lists, and what each answer does, judged by the ledger and the fake's effects.

Only the supervisor boundary is replaced (``upsert_hitl_detail`` and the wait); the real
Required Actions round trip through Airflow runs in tests/e2e/test_review_e2e.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_provider_human.operators import review as review_module
from airflow_provider_human.operators.review import HumanReconciliationReviewOperator
from tests.reconciliation.conftest import NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_why import effects, incidents

ON_DAY_2 = "2026-11-19T10:00:00Z"


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict = {}
        self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number = "d", "r1", "review", -1, 1
        self.id = "0199a1a0-0000-7000-8000-000000000001"

    def xcom_push(self, key, value):
        self.xcom[key] = json.loads(json.dumps(value))

    def xcom_pull(self, task_ids=None, key=None, map_indexes=None):
        return self.xcom.get(key)


class Waiting(Exception):
    pass


@pytest.fixture
def review(case_db, human_conn, monkeypatch, tmp_path):
    """Open the review for outcomes closed before ``until``; returns (operator, context, body or None)."""
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", case_db.url)
    opened: list = []
    monkeypatch.setattr(review_module.HITLOperator, "execute", lambda self, context: opened.append(self) or _wait())

    def open_review(until=NEXT_DAY):
        op = HumanReconciliationReviewOperator(task_id="review", reports_dir=str(tmp_path / "reports"),
                                               interval_end=until.isoformat())  # fmt: skip
        context = {"ti": FakeTI(), "data_interval_end": until}
        try:
            result = op.execute(context)
        except Waiting:
            return op, context, op.body
        return op, context, result

    return open_review


def _wait():
    raise Waiting()


def answer(op, context, option, user=("alice", "u-1")):
    event = {"chosen_options": [option], "params_input": {}, "responded_at": datetime.now(UTC),
             "responded_by_user": {"name": user[0], "id": user[1]} if user else None}  # fmt: skip
    return op.execute_complete(context, event)


def reversal_day(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a1", "legitimate", closed_at=ON_DAY_2))
    seed_states(fake_api, none=["a1"])
    reconcile()
    reconcile(NEXT_DAY, datetime(2026, 11, 20, tzinfo=UTC), owner="dag/day-2", fail_on_review=False)


def test_nothing_to_review_opens_no_request(case_db, fake_api, reconcile, review):
    case_db.add(outcome("c1", "a1", "suspected_fraud"))
    seed_states(fake_api, none=["a1"])
    reconcile()
    _, _, result = review()
    assert result == {"items": 0, "answer": None}


def test_the_request_lists_each_item_with_its_kind_and_the_full_list_in_a_file(
    case_db, fake_api, reconcile, review, capfd
):
    reversal_day(case_db, fake_api, reconcile)
    capfd.readouterr()
    op, context, body = review(datetime(2026, 11, 20, tzinfo=UTC))
    assert "1 item waits for a person (" in capfd.readouterr().out
    assert "1 item for a person to review" in op.subject and "| reversal | 1 |" in body
    assert "| c2 | a1 | ato |" in body and "contradicts the feedback sent" in body
    assert "| reversal | - | no batch |" in body  # a reversal has no upload and no batch
    listing = json.loads(open(body.split("Full list: `")[1].split("`")[0]).read())
    assert [(i["case_id"], i["kind"]) for i in listing] == [("c2", "reversal")]
    assert list(context["ti"].xcom["review_listed"]) == [str(listing[0]["ledger_id"])]


def test_leave_for_later_keeps_the_items_fails_the_task_and_they_are_listed_again(case_db, fake_api, reconcile, review):
    reversal_day(case_db, fake_api, reconcile)
    op, context, _ = review(datetime(2026, 11, 20, tzinfo=UTC))
    with pytest.raises(Exception, match=r"1 item left for a person \(nobody \(response timeout\) answered"):
        answer(op, context, "Leave for later", user=None)  # what the scheduler sends when the timeout passes
    row = case_db.ledger_rows("case_id = 'c2'")[0]
    assert (row["state"], row["answer"], row["answered_by"]) == ("needs_review", "leave", "nobody (response timeout)")
    _, _, body = review(datetime(2026, 11, 21, tzinfo=UTC))  # the next day's run lists it again
    assert "| c2 | a1 |" in body


def test_resend_of_a_reversal_decides_by_the_table_alone_and_records_who(case_db, fake_api, reconcile, review):
    case_db.add(outcome("c1", "a1", "legitimate"), outcome("c2", "a1", "confirmed_fraud", closed_at=ON_DAY_2))
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    reconcile()  # legitimate x pending: a false positive is sent (no_attack)
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])  # AD flags it again
    reconcile(NEXT_DAY, datetime(2026, 11, 20, tzinfo=UTC), owner="dag/day-2", fail_on_review=False)
    assert effects(fake_api) == {("a1", "ato", "resolved", "no_attack"): 1}  # the reversal sent nothing
    op, context, _ = review(datetime(2026, 11, 20, tzinfo=UTC))
    # worded for a reversal (its field on the page); nothing is "applied"
    assert [f["schema"]["enum"] for f in op.serialized_params.values()] == [
        ["Leave for later", "Decide again by the table", "Mark as handled (nothing sent)"]]  # fmt: skip
    result = answer(op, context, "Decide again by the table")
    assert result["answer"] == "resend" and result["answered_by"] == "alice (u-1)"
    # the person's answer: confirmed_fraud x pending = resolved/resolved, through the fenced path
    assert effects(fake_api) == {("a1", "ato", "resolved", "no_attack"): 1, ("a1", "ato", "resolved", "resolved"): 1}
    row = case_db.ledger_rows("case_id = 'c2'")[0]
    assert (row["state"], row["answer"], row["answered_by"], row["decision"]) == ("sent", "resend", "alice (u-1)",
                                                                                  "true_positive")  # fmt: skip


def test_mark_as_applied_and_resend_of_an_in_doubt_upload(case_db, fake_api, reconcile, review):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1", "a2"])
    fake_api.configure(after_apply="status", after_apply_status=503)  # applied, then a gateway says 503
    reconcile(fail_on_review=False)
    case_db.add(outcome("c2", "a2", "confirmed_fraud"))
    fake_api.configure(after_apply=None, failure_rate=1.0, failure_status=503, fault_kinds=["feedback"])
    reconcile(owner="dag/run-2", fail_on_review=False)  # 503 before HUMAN acted: the client cannot tell
    fake_api.configure(failure_rate=0.0)
    states = {r["account_id"]: (r["state"], r["review"]) for r in case_db.ledger_rows()}
    assert states == {"a1": ("needs_review", "in_doubt"), "a2": ("needs_review", "in_doubt")}
    op, context, _ = review()
    assert {tuple(f["schema"]["enum"]) for f in op.serialized_params.values()} == {
        ("Leave for later", "Resend", "Mark as applied")}  # uploads only  # fmt: skip
    ids = {r["account_id"]: r["id"] for r in case_db.ledger_rows()}
    listed = context["ti"].xcom["review_listed"]
    context["ti"].xcom["review_listed"] = {str(ids["a1"]): listed[str(ids["a1"])]}  # the person checked a1: there
    answer(op, context, "Mark as applied")
    op, context, _ = review()
    assert list(context["ti"].xcom["review_listed"]) == [str(ids["a2"])]
    answer(op, context, "Resend")  # a2 was not there: send it
    assert incidents(fake_api, "a1") == 1 and incidents(fake_api, "a2") == 1
    assert {r["account_id"]: r["state"] for r in case_db.ledger_rows()} == {"a1": "sent", "a2": "sent"}


def test_dry_run_opens_nothing(case_db, human_conn):
    op = HumanReconciliationReviewOperator(task_id="review", dry_run="True")
    assert op.execute({"ti": FakeTI(), "data_interval_end": NEXT_DAY}) == {"items": 0, "answer": None}


def test_a_resend_that_cannot_finish_fails_and_the_retry_finishes_it(case_db, fake_api, reconcile, review, human_conn):
    human_conn(max_retries=0)  # the review step's own client: no backoff sleeps in this test
    case_db.add(outcome("c1", "a1", "legitimate"), outcome("c2", "a1", "confirmed_fraud", closed_at=ON_DAY_2))
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    reconcile()
    day_3 = datetime(2026, 11, 20, tzinfo=UTC)
    reconcile(NEXT_DAY, day_3, owner="dag/day-2", fail_on_review=False)  # a reversal, for a person
    op, context, _ = review(day_3)
    fake_api.configure(lookup_status={"a1": 503})  # HUMAN cannot be asked right now
    with pytest.raises(Exception, match="not done"):
        answer(op, context, "Decide again by the table")
    assert case_db.ledger_rows("case_id = 'c2'")[0]["state"] == "claimed"
    fake_api.configure(lookup_status=None)
    _, _, result = review(day_3)  # the task's retry: nothing left to ask, but the answer is carried out first
    assert result == {"items": 0, "answer": None}
    row = case_db.ledger_rows("case_id = 'c2'")[0]
    # the table alone: confirmed_fraud x none (day 1's no_attack closed the incident) = a false negative
    assert (row["state"], row["answer"], row["decision"]) == ("sent", "resend", "false_negative")
