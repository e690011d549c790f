"""The review answered per item (issue 29), judged by what the fake API applied and the ledger holds.

The request carries one field per listed item (the HITL operator's ``params``): a choice worded
for the item's kind, *Leave for later* by default. A person resends one item and marks another
handled in the same answer; each item's answer applies only to the version that was listed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_human.operators.review import ANSWER_EACH, LEAVE_ALL
from airflow_provider_human.reconciliation.review_answers import ReviewAnswerError, item_key
from tests.reconciliation.conftest import NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_review_step import review as review  # the fixture, shared
from tests.reconciliation.test_why import effects

DAY3 = datetime(2026, 11, 20, tzinfo=UTC)
DAY4 = datetime(2026, 11, 21, tzinfo=UTC)
ON_DAY_2 = "2026-11-19T10:00:00Z"
ON_DAY_3 = "2026-11-20T10:00:00Z"
FRAUD = ("ato", "resolved", "manually_identified_and_resolved")  # confirmed_fraud x no incident


def respond(op, context, per_item, option=ANSWER_EACH, user=("alice", "u-1"), raw=None):
    """What Airflow hands the resumed task: the button pressed and the form's fields."""
    fields = raw if raw is not None else {item_key(i): word for i, word in per_item.items()}
    event = {"chosen_options": [option], "params_input": fields, "responded_at": datetime.now(UTC),
             "responded_by_user": {"name": user[0], "id": user[1]} if user else None}  # fmt: skip
    return op.execute_complete(context, event)


def ids(case_db) -> dict[str, int]:
    return {r["case_id"]: r["id"] for r in case_db.ledger_rows()}


def rows(case_db) -> dict[str, tuple]:
    return {r["case_id"]: (r["state"], r["answer"], r["answered_by"], r["updated_at"]) for r in case_db.ledger_rows()}


def reversal_and_in_doubt(case_db, fake_api, reconcile):
    """Day 2 leaves two items: c2 a reversal (a1), c3 an upload in doubt that HUMAN never applied (a2)."""
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a1", "legitimate", closed_at=ON_DAY_2),
                outcome("c3", "a2", "confirmed_fraud", closed_at=ON_DAY_2))  # fmt: skip
    seed_states(fake_api, none=["a1", "a2"])
    reconcile()  # day 1: c1 sent
    fake_api.configure(failure_rate=1.0, failure_status=503, fault_kinds=["feedback"])  # 503 before HUMAN acts
    reconcile(NEXT_DAY, DAY3, owner="dag/day-2", fail_on_review=False)
    fake_api.configure(failure_rate=0.0)
    states = {r["case_id"]: (r["state"], r["review"]) for r in case_db.ledger_rows()}
    assert states == {"c1": ("sent", None), "c2": ("needs_review", "reversal"), "c3": ("needs_review", "in_doubt")}
    assert effects(fake_api) == {("a1", *FRAUD): 1}


def test_the_request_has_one_field_per_item_worded_for_its_kind(case_db, fake_api, reconcile, review):
    reversal_and_in_doubt(case_db, fake_api, reconcile)
    op, _, body = review(DAY3)
    assert op.options == [ANSWER_EACH, LEAVE_ALL] and op.defaults == [LEAVE_ALL]
    row = ids(case_db)
    fields = op.serialized_params
    assert list(fields) == [item_key(row["c2"]), item_key(row["c3"])]  # oldest first, as listed
    reversal, upload = fields[item_key(row["c2"])], fields[item_key(row["c3"])]
    # a reversal is never "applied"; an upload is resent or marked applied
    assert reversal["schema"]["enum"] == ["Leave for later", "Decide again by the table",
                                          "Mark as handled (nothing sent)"]  # fmt: skip
    assert upload["schema"]["enum"] == ["Leave for later", "Resend", "Mark as applied"]
    assert reversal["value"] == upload["value"] == "Leave for later"
    assert "c2" in reversal["schema"]["title"] and "reversal" in reversal["schema"]["title"]
    assert "a2" in upload["schema"]["title"] and "in_doubt" in upload["schema"]["title"]
    assert "| c2 | a1 |" in body and "| c3 | a2 |" in body


def test_resend_one_item_and_mark_another_handled_sends_exactly_the_first(case_db, fake_api, reconcile, review):
    """Before: one answer applied to every listed item; there was no way to resend c3 alone."""
    reversal_and_in_doubt(case_db, fake_api, reconcile)
    op, context, _ = review(DAY3)
    row = ids(case_db)
    result = respond(op, context, {row["c3"]: "Resend", row["c2"]: "Mark as handled (nothing sent)"})
    assert effects(fake_api) == {("a1", *FRAUD): 1, ("a2", *FRAUD): 1}  # c3's upload applied once; c2 nothing
    now = {r["case_id"]: (r["state"], r["answer"], r["answered_by"]) for r in case_db.ledger_rows()}
    assert now["c3"] == ("sent", "resend", "alice (u-1)")
    assert now["c2"] == ("noop", "mark_applied", "alice (u-1)")  # final: handled, nothing sent
    assert result["answers"] == {"resend": 1, "mark_applied": 1} and result["moved"] == 2
    _, _, again = review(DAY4)
    assert again == {"items": 0, "answer": None}  # nothing waits any more


def test_an_item_left_for_later_stays_and_the_other_is_applied(case_db, fake_api, reconcile, review):
    reversal_and_in_doubt(case_db, fake_api, reconcile)
    op, context, _ = review(DAY3)
    row = ids(case_db)
    with pytest.raises(Exception, match=r"1 item left for a person.*applied to 1 other"):
        respond(op, context, {row["c3"]: "Resend", row["c2"]: "Leave for later"})
    assert effects(fake_api) == {("a1", *FRAUD): 1, ("a2", *FRAUD): 1}
    now = {r["case_id"]: (r["state"], r["answer"]) for r in case_db.ledger_rows()}
    assert now["c3"] == ("sent", "resend") and now["c2"] == ("needs_review", "leave")
    _, _, body = review(DAY4)  # the next request lists the one left, and only it
    assert "| c2 | a1 |" in body and "| c3 |" not in body


def test_leave_all_for_later_and_the_response_timeout_leave_every_item(case_db, fake_api, reconcile, review):
    reversal_and_in_doubt(case_db, fake_api, reconcile)
    op, context, _ = review(DAY3)
    defaults = {k: v["value"] for k, v in op.serialized_params.items()}  # what the scheduler sends on timeout
    with pytest.raises(Exception, match=r"2 items left for a person \(nobody \(response timeout\)"):
        respond(op, context, {}, option=LEAVE_ALL, user=None, raw=defaults)
    assert effects(fake_api) == {("a1", *FRAUD): 1}
    assert {r["state"] for r in case_db.ledger_rows() if r["case_id"] != "c1"} == {"needs_review"}


def test_a_stale_listing_applies_per_item_only_to_the_unchanged_ones(case_db, fake_api, reconcile, review, human_conn):
    """Day 3's request lists c1; day 4's lists c1 and c2. Day 3's Resend of c1 lands first.

    Day 4's answer (Resend c1, mark c2 applied) marks c2 and leaves c1 alone, naming it:
    its upload is not sent a third time, and it is listed again with its last answer.
    """
    human_conn(max_retries=0)
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a2", "confirmed_fraud", closed_at=ON_DAY_3))
    seed_states(fake_api, none=["a1", "a2"])
    fake_api.configure(after_apply="status", after_apply_status=503)  # every upload: applied, then 503
    reconcile(fail_on_review=False)
    reconcile(DAY3, DAY4, owner="dag/day-3", fail_on_review=False)
    assert effects(fake_api) == {("a1", *FRAUD): 1, ("a2", *FRAUD): 1}
    row = ids(case_db)
    op3, ctx3, _ = review(DAY3)
    op4, ctx4, _ = review(DAY4)
    op3.verify_after_seconds, op3.wait_for_others_seconds = 0.2, 5.0  # as tests/reconciliation/_review_worker.py
    assert list(op3.serialized_params) == [item_key(row["c1"])]
    assert list(op4.serialized_params) == [item_key(row["c1"]), item_key(row["c2"])]

    with pytest.raises(Exception, match="waits for a person"):  # resent: applied, 503, in doubt again
        respond(op3, ctx3, {row["c1"]: "Resend"}, user=("carol", "u-3"))
    assert effects(fake_api)[("a1", *FRAUD)] == 2

    with pytest.raises(Exception, match=r"1 item changed since the request listed them") as info:
        respond(op4, ctx4, {row["c1"]: "Resend", row["c2"]: "Mark as applied"}, user=("dave", "u-4"))
    assert effects(fake_api) == {("a1", *FRAUD): 2, ("a2", *FRAUD): 1}, "a stale listing resent c1"
    assert f"ledger id {row['c1']} (case c1, account a1) was answered 'resend' by carol (u-3)" in str(info.value)
    now = {r["case_id"]: (r["state"], r["answered_by"]) for r in case_db.ledger_rows()}
    assert now == {"c1": ("needs_review", "carol (u-3)"), "c2": ("sent", "dave (u-4)")}
    _, _, body = review(DAY4)
    assert "| c1 | a1 |" in body and "resend by carol (u-3)" in body and "| c2 |" not in body


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("unknown", r"item_999999 names no item of this request"),
        ("twice", r"ledger id {c3} \(case c3, account a2\) is answered twice"),
        ("missing", r"ledger id {c2} \(case c2, account a1\) has no answer"),
        ("cleared", r"ledger id {c2} \(case c2, account a1\) has no answer \(its field is empty\)"),
        ("wrong_word", r"ledger id {c2} \(case c2, account a1\): 'Mark as applied' is not one of"),
    ],
)
def test_an_invalid_per_item_answer_names_the_item_and_nothing_is_sent_or_written(
    case_db, fake_api, reconcile, review, case, named
):
    reversal_and_in_doubt(case_db, fake_api, reconcile)
    op, context, _ = review(DAY3)
    row = ids(case_db)
    before = rows(case_db)
    fields = {item_key(row["c3"]): "Resend", item_key(row["c2"]): "Mark as handled (nothing sent)"}
    if case == "unknown":
        fields["item_999999"] = "Resend"
    elif case == "twice":
        fields[f"item_0{row['c3']}"] = "Mark as applied"  # a second key naming the same ledger row
    elif case == "missing":
        del fields[item_key(row["c2"])]
    elif case == "cleared":
        fields[item_key(row["c2"])] = None  # the page's drop-downs can be cleared
    else:
        fields[item_key(row["c2"])] = "Mark as applied"  # an upload's word, for a reversal
    with pytest.raises(ReviewAnswerError, match=named.format(**row)) as info:
        respond(op, context, {}, raw=fields)
    assert "nothing was written or sent" in str(info.value)
    assert effects(fake_api) == {("a1", *FRAUD): 1}
    assert rows(case_db) == before  # every item stays, unchanged, for the next request
    _, _, body = review(DAY4)
    assert "| c2 | a1 |" in body and "| c3 | a2 |" in body


def test_a_request_lists_at_most_max_listed_items_the_rest_wait_for_the_next(case_db, fake_api, reconcile, review):
    reversal_and_in_doubt(case_db, fake_api, reconcile)
    op, context, _ = review(DAY3)
    op.max_listed = 1
    op, context, body = _reopen(op, context, review)
    row = ids(case_db)
    assert list(op.serialized_params) == [item_key(row["c2"])]
    assert "1 more item waits" in body
    with pytest.raises(Exception, match=r"1 more item waits.*the retry"):
        respond(op, context, {row["c2"]: "Mark as handled (nothing sent)"})
    assert case_db.ledger_rows("case_id = 'c2'")[0]["state"] == "noop"
    assert effects(fake_api) == {("a1", *FRAUD): 1}


def _reopen(op, context, review):
    """Open the same request again with the operator's current settings."""
    from tests.reconciliation.test_review_step import FakeTI, Waiting

    context = {**context, "ti": FakeTI()}
    try:
        op.execute(context)
    except Waiting:
        return op, context, op.body
    raise AssertionError("no request opened")
