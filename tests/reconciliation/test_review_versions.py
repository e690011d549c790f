"""Review answers bound to what was listed (issue 25, item 3), judged by what the fake API applied.

Two review tasks (day 2's and day 3's) list the same in-doubt upload. An answer applies only
to an item unchanged since its request listed it; one that another answer moved, even one
that came back to wait again, is left alone and listed again, in either order and when both
answers arrive at once (real processes: tests/reconciliation/_review_worker.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from airflow_provider_human.client import HumanInputError
from airflow_provider_human.operators.review import LISTED_KEY, HumanReconciliationReviewOperator
from tests.reconciliation.conftest import outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_review_step import answer
from tests.reconciliation.test_review_step import review as review  # the fixture, shared
from tests.reconciliation.test_why import effects

DAY3 = datetime(2026, 11, 20, tzinfo=UTC)
DAY4 = datetime(2026, 11, 21, tzinfo=UTC)
UPLOAD = ("a1", "ato", "resolved", "manually_identified_and_resolved")


def in_doubt_false_negative(case_db, fake_api, reconcile):
    """confirmed_fraud with no incident: HUMAN applies the upload, then a gateway answers 503.

    No documented field tells a resolved manual incident from none: the row waits for a person.
    """
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    fake_api.configure(after_apply="status", after_apply_status=503)  # every upload: applied, then 503
    reconcile(fail_on_review=False)
    assert effects(fake_api)[UPLOAD] == 1
    assert [(r["state"], r["review"]) for r in case_db.ledger_rows()] == [("needs_review", "in_doubt")]


def open_two_reviews(review):
    """Day 3's and day 4's review tasks, both listing the item before anyone answered."""
    day3, day4 = review(DAY3), review(DAY4)
    for _, _, body in (day3, day4):
        assert "| c1 | a1 |" in body, body
    return day3, day4


def start_answer(tmp_path, name, context, option="Resend", person="alice", gate=None):
    listing = tmp_path / f"listing-{name}.json"
    listing.write_text(json.dumps(context["ti"].xcom[LISTED_KEY]))
    command = [sys.executable, "-m", "tests.reconciliation._review_worker", str(listing), option, person]
    command += [str(gate)] if gate else []
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc) -> dict:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("first", ["day3", "day4"])
def test_item3_a_resend_from_a_listing_taken_before_another_answer_sends_nothing(
    case_db, fake_api, reconcile, review, human_conn, tmp_path, first
):
    """Before: the second Resend (from a listing taken before the first) applied the upload a third time."""
    human_conn(max_retries=0)
    in_doubt_false_negative(case_db, fake_api, reconcile)
    reviews = dict(zip(("day3", "day4"), open_two_reviews(review), strict=True))
    second = "day4" if first == "day3" else "day3"

    one = finish(start_answer(tmp_path, first, reviews[first][1], person="alice"))
    assert "waits for a person (in_doubt: 1)" in one["error"], one  # applied, 503, unverifiable again
    assert effects(fake_api)[UPLOAD] == 2  # the person's Resend: their call, after checking the console
    row = case_db.ledger_rows()[0]
    assert (row["state"], row["answer"], row["answered_by"]) == ("needs_review", "resend", "alice (alice)")

    two = finish(start_answer(tmp_path, second, reviews[second][1], person="bob"))
    assert effects(fake_api)[UPLOAD] == 2, "a Resend from a stale listing sent the upload again"
    assert "changed since the request listed them" in two["error"], two
    assert "answered 'resend' by alice (alice)" in two["error"] and "waits again (in_doubt" in two["error"]
    assert case_db.ledger_rows()[0]["answered_by"] == "alice (alice)"  # bob's answer was not recorded

    _, _, body = review(DAY4)  # listed again, with what was answered before
    assert "| c1 | a1 |" in body and "resend by alice (alice)" in body and "1 item answered before" in body


@pytest.mark.parametrize("ahead", ["alice", "bob"])
def test_item3_two_answers_at_once_apply_once(case_db, fake_api, reconcile, review, human_conn, tmp_path, ahead):
    """Both review tasks resume at the same moment (a go file); whichever lands first is the one applied."""
    human_conn(max_retries=0)
    in_doubt_false_negative(case_db, fake_api, reconcile)
    (_, day3, _), (_, day4, _) = open_two_reviews(review)
    gate = tmp_path / "go"
    procs = {"alice": start_answer(tmp_path, "day3", day3, person="alice", gate=gate),
             "bob": start_answer(tmp_path, "day4", day4, person="bob", gate=gate)}  # fmt: skip
    behind = procs.pop("bob" if ahead == "alice" else "alice")
    gate.touch()
    results = [finish(procs[ahead])]
    results.append(finish(behind))
    assert effects(fake_api)[UPLOAD] == 2  # the first upload and exactly one Resend
    applied = [r for r in results if r["error"] is None or "changed since" not in r["error"]]
    stale = [r for r in results if r["error"] and "changed since" in r["error"]]
    assert len(applied) == 1 and len(stale) == 1, results


def test_item3_an_answer_applies_to_the_unchanged_items_and_lists_the_changed_again(
    case_db, fake_api, reconcile, review, human_conn
):
    """Two items listed; another answer moves one; this answer marks the other and names the moved one."""
    human_conn(max_retries=0)
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a2", "confirmed_fraud"))
    seed_states(fake_api, none=["a1", "a2"])
    fake_api.configure(after_apply="status", after_apply_status=503)
    reconcile(fail_on_review=False)
    fake_api.configure(after_apply=None)
    op3, ctx3, _ = review(DAY3)
    op4, ctx4, _ = review(DAY4)
    ids = {r["account_id"]: r["id"] for r in case_db.ledger_rows()}
    listed = ctx3["ti"].xcom[LISTED_KEY]
    ctx3["ti"].xcom[LISTED_KEY] = {str(ids["a1"]): listed[str(ids["a1"])]}  # day 3 listed only a1
    with pytest.raises(Exception, match="left for a person"):
        answer(op3, ctx3, "Leave for later", user=("carol", "u-3"))  # a1 changes: its last answer
    with pytest.raises(Exception, match=r"applied to 1\. 1 item changed since the request listed them") as info:
        answer(op4, ctx4, "Mark as applied", user=("dave", "u-4"))
    assert f"ledger id {ids['a1']} (case c1, account a1) was answered 'leave' by carol (u-3)" in str(info.value)
    rows = {r["account_id"]: (r["state"], r["answered_by"]) for r in case_db.ledger_rows()}
    assert rows == {"a1": ("needs_review", "carol (u-3)"), "a2": ("sent", "dave (u-4)")}
    assert effects(fake_api)[("a2", "ato", "resolved", "manually_identified_and_resolved")] == 1  # nothing resent


def test_item3_the_wait_after_a_resend_covers_the_verification_delay(case_db, fake_api, reconcile, review, human_conn):
    """Before: the review's own run waited 30 s whatever verify_after_seconds was (60 s by default).

    A rejected upload is resent; here verification needs 1.5 s and the Resend is answered in
    doubt (applied, then 503): the step waits for it,
    verifies the incident HUMAN opened, and finishes green with nothing sent twice.
    """
    human_conn(max_retries=0)
    case_db.add(outcome("c1", "a1", "suspected_fraud"))  # x none: manually_identified, a Pending incident
    seed_states(fake_api, none=["a1"])
    fake_api.configure(override_kinds=["feedback"], override_status=400)  # HUMAN refused it: for a person
    reconcile(fail_on_review=False)
    fake_api.configure(override_kinds=None)
    assert case_db.ledger_rows()[0]["state"] == "failed"
    op, context, _ = review(DAY3)
    op.verify_after_seconds = 1.5
    op.wait_for_others_seconds = HumanReconciliationReviewOperator(task_id="x", verify_after_seconds=1.5) \
        .wait_for_others_seconds  # fmt: skip
    assert op.wait_for_others_seconds == 31.5
    fake_api.configure(after_apply="status", after_apply_status=503)  # the Resend: applied, then 503
    result = answer(op, context, "Resend")
    assert result["moved"] == 1 and case_db.ledger_rows()[0]["state"] == "sent"
    assert effects(fake_api)[("a1", "ato", "resolved", "manually_identified")] == 1


def test_item3_a_wait_shorter_than_the_verification_delay_is_refused_naming_the_field(human_conn):
    with pytest.raises(HumanInputError, match=r"wait_for_others_seconds.*at least verify_after_seconds \(60\)"):
        HumanReconciliationReviewOperator(task_id="review", wait_for_others_seconds=30)


def test_item3_a_listing_without_versions_applies_to_nothing(case_db, fake_api, reconcile, review, human_conn):
    """A request opened by an earlier release (ids only): nothing is acted on blindly."""
    in_doubt_false_negative(case_db, fake_api, reconcile)
    op, context, _ = review(DAY3)
    context["ti"].xcom[LISTED_KEY] = {k: "" for k in context["ti"].xcom[LISTED_KEY]}
    with pytest.raises(Exception, match="changed since the request listed them"):
        answer(op, context, "Mark as applied")
    assert case_db.ledger_rows()[0]["state"] == "needs_review"
