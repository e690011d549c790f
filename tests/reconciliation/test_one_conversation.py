"""One conversation per (account, attack type), across days, runs and processes (issue 25, items 1, 2, 4).

Each test is judged by what the fake API *applied* (its effects and the incidents it holds),
and the concurrent ones run the days in real processes, in both orders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from airflow_provider_human.client.builders import FeedbackGroupKey
from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome

A = "acct-conv"
DAY2 = NEXT_DAY
DAY3 = NEXT_DAY + timedelta(days=1)


def start_worker(case_db, fake_api, owner, start, end, **settings):
    """One reconciliation of [start, end) in its own process (tests/reconciliation/_worker.py)."""
    env = {
        **os.environ,
        "HUMAN_TEST_LEASE_SECONDS": "30",
        "HUMAN_TEST_SETTINGS": json.dumps({"verify_after_seconds": 0, **settings}),
        "HUMAN_TEST_CLIENT": json.dumps({"max_retries": 0, "backoff_initial": 0.01}),
    }
    command = [sys.executable, "-m", "tests.reconciliation._worker", case_db.url, fake_api.url, TOKEN, owner,
               start.isoformat(), end.isoformat(), "50"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc) -> dict:
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def run_worker(case_db, fake_api, owner, start, end, **settings) -> dict:
    return finish(start_worker(case_db, fake_api, owner, start, end, **settings))


def wait_until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def applied(fake_api, account=A) -> list[str]:
    """The feedback HUMAN applied for the account, in order, as status/result."""
    return [f"{e['status']}/{e['result'] or '-'}" for e in fake_api.effects() if e["account_id"] == account]


def pending_incidents(fake_api, account=A) -> list[dict]:
    return [i for i in fake_api.account(account)["incidents"] if i["status"] == "pending"]


def opened_incidents(fake_api, account=A) -> int:
    return sum(1 for i in fake_api.account(account)["incidents"] if i["is_manually_created"])


def states(case_db) -> list[str]:
    """The ledger's row states, oldest first ([] until a worker created the ledger)."""
    try:
        return [r["state"] for r in case_db.ledger_rows()]
    except Exception:
        return []


def two_days(case_db, first="suspected_fraud", second="confirmed_fraud"):
    case_db.add(
        outcome("case-1", A, first, closed_at="2026-11-18T10:00:00Z"),
        outcome("case-2", A, second, closed_at="2026-11-19T10:00:00Z"),
    )


# ---------------------------------------------------------------- item 1: no decision on an unlanded upload


def test_item1_a_day_waits_while_the_earlier_upload_of_its_pair_was_refused_with_429(case_db, fake_api, tmp_path):
    """Day 1 plans manually_identified and meets 429; day 2 (another process) runs before day 1's retry.

    Before: day 2 was decided already_reported/our_incident_closed_in_ad on top of the unlanded
    upload, then day 1's retry opened an incident that stayed Pending for good, both green.
    """
    fake_api.seed_accounts([{"account_id": A}])
    two_days(case_db)
    fake_api.configure(override_kinds=["feedback"], override_status=429)
    day1 = run_worker(case_db, fake_api, "dag/day1/reconcile/-1", DAY, DAY2, wait_for_others_seconds=0)
    assert day1["error"] and applied(fake_api) == []  # refused before HUMAN acted: left planned
    fake_api.configure(override_kinds=None)

    day2 = run_worker(case_db, fake_api, "dag/day2/reconcile/-1", DAY2, DAY3, wait_for_others_seconds=1)
    assert day2["error"] and "for an earlier upload" in day2["error"], day2["error"]
    assert "case-1" in day2["error"] and applied(fake_api) == []

    assert run_worker(case_db, fake_api, "dag/day1/reconcile/-1", DAY, DAY2)["error"] is None  # day 1's retry
    assert run_worker(case_db, fake_api, "dag/day2/reconcile/-1", DAY2, DAY3)["error"] is None  # day 2's retry
    assert applied(fake_api) == ["resolved/manually_identified", "resolved/resolved"]
    assert pending_incidents(fake_api) == []  # the confirmation closed the incident day 1 opened


@pytest.mark.parametrize("first", ["day1", "day2"])
def test_item1_concurrent_days_with_an_upload_in_flight_in_both_orders(case_db, fake_api, first):
    """Day 1's upload is in flight (held by HUMAN) while day 2 runs in another process, and the reverse."""
    fake_api.seed_accounts([{"account_id": A}])
    two_days(case_db)
    fake_api.configure(hold_feedback="before_apply")
    days = {"day1": (DAY, DAY2), "day2": (DAY2, DAY3)}
    second = "day2" if first == "day1" else "day1"
    a = start_worker(case_db, fake_api, f"dag/{first}/reconcile/-1", *days[first], wait_for_others_seconds=30)
    b = None
    try:
        wait_until(lambda: fake_api.held(), what=f"{first}'s upload to be in flight")
        b = start_worker(case_db, fake_api, f"dag/{second}/reconcile/-1", *days[second], wait_for_others_seconds=30)
        wait_until(lambda: len(states(case_db)) == 2, what=f"{second} to claim its outcome")
        time.sleep(1.0)  # the second day has decided (or waits) while the first upload is still in flight
        fake_api.configure(hold_feedback=None)
        fake_api.release()
        results = [finish(a), finish(b)]
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert [r["error"] for r in results] == [None, None]
    if first == "day1":  # the confirmation waited for the incident day 1 opened, then closed it
        assert applied(fake_api) == ["resolved/manually_identified", "resolved/resolved"]
    else:  # day 2 decided first (nothing told yet): day 1 is superseded by it
        assert applied(fake_api) == ["resolved/manually_identified_and_resolved"]
    assert pending_incidents(fake_api) == [] and opened_incidents(fake_api) == 1


# ---------------------------------------------------------------- item 2: verification and newer rows


@pytest.mark.parametrize("first", ["day1", "day2"])
def test_item2_an_upload_applied_but_answered_503_is_not_resent_after_a_concurrent_day(case_db, fake_api, first):
    """Day 1's manually_identified is applied, answered 503; day 2 (a concurrent backfill run) runs meanwhile.

    Before: day 2 closed the incident with resolved/resolved, then day 1 verified, found no
    Pending manual incident and sent again: two incidents, the second Pending, both runs green.
    """
    fake_api.seed_accounts([{"account_id": A}])
    two_days(case_db)
    fake_api.configure(after_apply="status", after_apply_status=503, after_apply_limit=1)
    days = {"day1": (DAY, DAY2), "day2": (DAY2, DAY3)}
    second = "day2" if first == "day1" else "day1"
    timing = {"verify_after_seconds": 3, "wait_for_others_seconds": 30}
    a = start_worker(case_db, fake_api, f"dag/{first}/reconcile/-1", *days[first], **timing)
    b = None
    try:
        wait_until(lambda: states(case_db) == ["in_doubt"],
                   what=f"{first}'s upload to be in doubt")  # fmt: skip
        b = start_worker(case_db, fake_api, f"dag/{second}/reconcile/-1", *days[second], **timing)
        results = [finish(a), finish(b)]
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert opened_incidents(fake_api) == 1, applied(fake_api)
    if first == "day1":
        assert [r["error"] for r in results] == [None, None]
        assert applied(fake_api) == ["resolved/manually_identified", "resolved/resolved"]
        assert pending_incidents(fake_api) == []
    else:  # day 2's manually_identified_and_resolved in doubt cannot be verified: a person, never resent
        assert applied(fake_api) == ["resolved/manually_identified_and_resolved"]
        assert "for a person" in results[0]["error"] and results[1]["error"] is None


def test_item2_verification_never_resends_after_a_newer_row_of_the_pair_was_sent(
    case_db, fake_api, reconcile, make_client
):
    """An in-doubt row whose pair has a newer row sent since: "not applied" goes to a person, not out again.

    The engine no longer decides a newer outcome on top of an in-doubt one; this guards the
    verification itself, for a ledger written otherwise (an older release, a manual fix).
    """
    fake_api.seed_accounts([{"account_id": A}])
    two_days(case_db)
    fake_api.configure(after_apply="status", after_apply_status=503, after_apply_limit=1)
    _, day1 = reconcile(check=False, verify_after_seconds=3600, wait_for_others_seconds=0)
    assert "in doubt" in str(day1.error)
    # Day 2's confirmation reached HUMAN (closing the incident day 1 opened) and is in the ledger as sent.
    with case_db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO human_feedback_ledger (case_id, account_id, attack_type, closed_at, fingerprint, verdict, "
            "state, decision, feedback_status, feedback_result, interval_start, interval_end, owner, holder, "
            "lookup_failures, created_at, updated_at) SELECT 'case-2', account_id, attack_type, "
            "'2026-11-19T10:00:00.000000Z', 'x', 'confirmed_fraud', 'sent', 'true_positive', 'resolved', 'resolved', "
            "'2026-11-19T00:00:00.000000Z', '2026-11-20T00:00:00.000000Z', 'day2', 'gone', 0, created_at, updated_at "
            "FROM human_feedback_ledger WHERE case_id = 'case-1'"
        )
    key = FeedbackGroupKey.build(attack_type="ato", status="resolved", result="resolved", comment=None)
    make_client().send_feedback(key.request([A]))
    assert pending_incidents(fake_api) == []

    _, retry = reconcile(check=False, verify_after_seconds=0, wait_for_others_seconds=0)
    assert opened_incidents(fake_api) == 1, applied(fake_api)  # before: sent again, a second incident
    row = case_db.ledger_rows("case_id = 'case-1'")[0]
    assert row["state"] == "needs_review" and "newer" in row["error"], row
    assert "for a person" in str(retry.error)


# ---------------------------------------------------------------- item 4: what was told meets AD now


@pytest.mark.parametrize(
    ("verdict", "seed_pending", "first_result", "then"),
    [
        ("confirmed_fraud", False, "resolved/manually_identified_and_resolved", "resolved/resolved"),
        ("legitimate", True, "resolved/no_attack", "resolved/no_attack"),
    ],
)
def test_item4_a_new_incident_after_our_feedback_is_answered_by_the_table(
    case_db, fake_api, reconcile, verdict, seed_pending, first_result, then
):
    """Told once (closing feedback); weeks later HUMAN opens a new Pending incident; a new case, same verdict.

    Before: decided already_reported with no lookup; the new incident stayed Pending.
    """
    incidents = [{"attack_type": "ato"}] if seed_pending else []
    fake_api.seed_accounts([{"account_id": A, "incidents": incidents}])
    case_db.add(outcome("case-1", A, verdict, closed_at="2026-11-18T10:00:00Z"))
    reconcile()
    assert applied(fake_api) == [first_result]
    time.sleep(0.01)
    fake_api.open_incident(A, "ato")  # HUMAN's own detection, after our feedback ("weeks later": skew 0)
    case_db.add(outcome("case-2", A, verdict, closed_at="2026-11-19T10:00:00Z"))
    reconcile(DAY2, DAY3, owner="test/day2/reconcile/-1", clock_skew_seconds=0)
    assert applied(fake_api) == [first_result, then]
    assert pending_incidents(fake_api) == []
    row = case_db.ledger_rows("case_id = 'case-2'")[0]
    assert row["reason"] == "new_incident_since_feedback" and row["state"] == "sent", row


def test_item4_a_pending_incident_older_than_our_feedback_goes_to_a_person(case_db, fake_api, reconcile):
    """A Pending incident created before our closing feedback: the pages cannot say why it is still open."""
    fake_api.seed_accounts([{"account_id": A}])
    case_db.add(outcome("case-1", A, "confirmed_fraud", closed_at="2026-11-18T10:00:00Z"))
    reconcile()
    fake_api.open_incident(A, "ato", at="2026-11-01T10:00:00.000Z")
    case_db.add(outcome("case-2", A, "confirmed_fraud", closed_at="2026-11-19T10:00:00Z"))
    _, result = reconcile(DAY2, DAY3, owner="test/day2/reconcile/-1", check=False)
    assert applied(fake_api) == ["resolved/manually_identified_and_resolved"]  # nothing more sent
    row = case_db.ledger_rows("case_id = 'case-2'")[0]
    assert row["state"] == "needs_review" and row["reason"] == "incident_older_than_feedback", row
    assert "for a person" in str(result.error)


def test_item4_no_incident_since_our_feedback_is_still_already_reported(case_db, fake_api, reconcile):
    """The same verdict again while AD shows nothing new: nothing is sent (the cell that did not change)."""
    fake_api.seed_accounts([{"account_id": A}])
    case_db.add(outcome("case-1", A, "confirmed_fraud", closed_at="2026-11-18T10:00:00Z"))
    reconcile()
    case_db.add(outcome("case-2", A, "confirmed_fraud", closed_at="2026-11-19T10:00:00Z"))
    reconcile(DAY2, DAY3, owner="test/day2/reconcile/-1")
    assert applied(fake_api) == ["resolved/manually_identified_and_resolved"]
    assert case_db.ledger_rows("case_id = 'case-2'")[0]["decision"] == "already_reported"
