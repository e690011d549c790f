"""One test per way the exactly-once promise was seen to break (issue 11, "Why"), judged by the
feedback effects the fake API applied, never by what the client believes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from airflow_provider_human.docs_links import DOCS_URL
from airflow_provider_human.exceptions import (
    ReconciliationAbortedError,
    ReconciliationIncompleteError,
    ReconciliationNeedsAttentionError,
)
from airflow_provider_human.reconciliation.ledger import Ledger, LedgerState
from airflow_provider_human.reconciliation.outcomes import FIELDS, parse_outcome
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states


def effects(fake_api) -> Counter:
    """(account, attackType, status, result) -> how many times HUMAN applied it."""
    return Counter((e["account_id"], e["attackType"], e["status"], e["result"]) for e in fake_api.effects())


def incidents(fake_api, account: str) -> int:
    return len(fake_api.account(account)["incidents"])


def tries(reconcile, n: int, **kwargs):
    """n tries of one task instance (same owner, a new holder each), errors collected, not raised."""
    return [reconcile(check=False, **kwargs)[1] for _ in range(n)]


# 1 ------------------------------------------------------------------------------------------------
def test_1_a_200_whose_body_is_not_json_is_applied_once_over_three_tries(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"))
    seed_states(fake_api, none=["a1"])
    fake_api.configure(after_apply="non_json")
    results = tries(reconcile, 3)
    assert incidents(fake_api, "a1") == 1 and len(fake_api.requests("feedback")) == 1
    assert all(r.ok for r in results) and case_db.ledger_rows()[0]["state"] == "sent"


# 2 ------------------------------------------------------------------------------------------------
def test_2_reprocess_on_a_retry_and_on_another_shard_resends_nothing(case_db, fake_api, reconcile):
    accounts = [f"acct-{i}" for i in range(12)]
    case_db.add(*[outcome(f"c{i}", a, "confirmed_fraud") for i, a in enumerate(accounts)])
    seed_states(fake_api, pending=accounts)  # true positives: once sent, HUMAN shows no Pending incident
    for index in (0, 1):
        reconcile(shard=(index, 2), owner=f"dag/run-1/reconcile/{index}")
    assert len(fake_api.effects()) == 12
    for _ in range(2):  # a reprocessing run of shard 1, and its retry
        reconcile(shard=(1, 2), owner="dag/run-2/reconcile/1", reprocess=True)
    # deciding a sent outcome again against today's state would send a false negative on top
    assert effects(fake_api) == {(a, "ato", "resolved", "resolved"): 1 for a in accounts}
    assert all(incidents(fake_api, a) == 1 for a in accounts)
    assert [r["state"] for r in case_db.ledger_rows()] == ["sent"] * 12  # shard 0's rows untouched


# 3 ------------------------------------------------------------------------------------------------
def test_3_two_tries_alive_at_once_send_each_upload_once(case_db, fake_api, reconcile):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "suspected_fraud") for i in range(3)])
    seed_states(fake_api, none=[f"a{i}" for i in range(3)])
    fake_api.configure(hold_feedback="before_apply")  # the first try's upload is in flight...
    first: dict = {}
    thread = threading.Thread(target=lambda: first.setdefault("result", reconcile(check=False, lease_seconds=1.0)[1]))
    thread.start()
    deadline = time.monotonic() + 30
    while not fake_api.held():
        assert time.monotonic() < deadline, "the first try never sent its upload"
        time.sleep(0.02)
    # ...when a second try of the same task instance starts (a zombie's retry), with the same owner
    second: dict = {}
    other = threading.Thread(
        target=lambda: second.setdefault(
            "result", reconcile(check=False, lease_seconds=1.0, wait_for_others_seconds=2.5)[1]
        )
    )
    other.start()
    other.join(timeout=20)  # a second try that overtook the first would be stuck in the same hold
    fake_api.release()
    for worker in (thread, other):
        worker.join(timeout=60)
    error = second["result"].error
    assert isinstance(error, ReconciliationIncompleteError) and "held by" in str(error)
    assert first["result"].ok
    assert effects(fake_api) == {(f"a{i}", "ato", "resolved", "manually_identified"): 1 for i in range(3)}
    assert len(fake_api.requests("feedback")) == 1


# 4 ------------------------------------------------------------------------------------------------
def test_4a_an_applied_manually_identified_and_resolved_is_never_resent(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    fake_api.configure(reset_rate=1.0, fault_kinds=["feedback"])  # applied, then the connection drops
    results = tries(reconcile, 3)
    assert incidents(fake_api, "a1") == 1 and len(fake_api.requests("feedback")) == 1
    assert all(isinstance(r.error, ReconciliationNeedsAttentionError) for r in results)
    row = case_db.ledger_rows()[0]
    assert row["state"] == "needs_review" and row["batch_id"] in str(results[-1].error)


def test_4b_an_unapplied_one_is_never_marked_sent_because_of_an_older_manual_incident(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    older = {"attack_type": "ato", "status": "resolved", "risk_score": 1.0, "is_manually_created": True}
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [older]}])
    fake_api.configure(failure_rate=1.0, failure_status=502, fault_kinds=["feedback"])  # HUMAN never saw it
    _, result = reconcile(check=False)
    assert fake_api.effects() == [] and case_db.ledger_rows()[0]["state"] == "needs_review"
    assert isinstance(result.error, ReconciliationNeedsAttentionError)
    assert f"{DOCS_URL}/reconciliation/#what-needs-a-person-and-how-to-answer" in str(result.error)
    assert all("exists" not in e["path"] for e in fake_api.requests())  # and v1 was never asked
    assert fake_api.requests("v1") == []


# 5 ------------------------------------------------------------------------------------------------
def test_5_a_503_after_the_upload_was_applied_is_not_resent(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "a2", "legitimate"))
    seed_states(fake_api, none=["a1"], pending=["a2"])
    fake_api.configure(after_apply="status", after_apply_status=503)
    results = tries(reconcile, 2)
    assert results[0].ok and results[1].ok
    assert effects(fake_api) == {("a1", "ato", "resolved", "manually_identified"): 1,
                                 ("a2", "ato", "resolved", "no_attack"): 1}  # fmt: skip
    assert len(fake_api.requests("feedback")) == 2 and incidents(fake_api, "a1") == 1


# 6 ------------------------------------------------------------------------------------------------
def _crashed_run(case_db, rows, lease_seconds):
    """What a SIGKILLed run leaves: its outcomes claimed, nothing sent, a lease nobody renews."""
    dead = Ledger(case_db.engine, lease_seconds=lease_seconds)
    dead.ensure_schema()
    dead.register("dag/crashed-run/reconcile/-1")
    claimed = [(parse_outcome(dict(zip(FIELDS, r, strict=True))), LedgerState.CLAIMED, None) for r in rows]
    dead.claim(claimed, owner="dag/crashed-run/reconcile/-1", interval=("2026-11-18", "2026-11-19"))
    return dead


def test_6a_a_new_run_after_a_crash_finishes_the_work_instead_of_reporting_success(case_db, fake_api, reconcile):
    rows = [outcome(f"c{i}", f"a{i}", "suspected_fraud") for i in range(5)]
    case_db.add(*rows)
    seed_states(fake_api, none=[f"a{i}" for i in range(5)])
    _crashed_run(case_db, rows, lease_seconds=1.5)
    report, result = reconcile(owner="dag/manual-rerun/reconcile/-1", wait_for_others_seconds=10)
    assert result.ok and report.counts["adopted"] == 5
    assert effects(fake_api) == {(f"a{i}", "ato", "resolved", "manually_identified"): 1 for i in range(5)}


def test_6b_a_crashed_runs_rows_make_a_new_run_fail_for_retry_not_succeed(case_db, fake_api, reconcile):
    rows = [outcome("c1", "a1", "suspected_fraud")]
    case_db.add(*rows)
    seed_states(fake_api, none=["a1"])
    _crashed_run(case_db, rows, lease_seconds=60)
    _, result = reconcile(check=False, owner="dag/manual-rerun/reconcile/-1", wait_for_others_seconds=0.3)
    assert isinstance(result.error, ReconciliationIncompleteError)
    assert "1 outcome held by dag/crashed-run/reconcile/-1 until" in str(result.error)


def test_6c_a_failed_run_releases_its_rows_so_a_reprocessing_rerun_goes_at_once(
    case_db, fake_api, reconcile, make_client
):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "suspected_fraud") for i in range(4)])
    seed_states(fake_api, none=[f"a{i}" for i in range(4)])
    fake_api.configure(revoke_after_feedback=1)
    tries(reconcile, 3, batch_size=1)  # token revoked mid-run, every retry spent
    fake_api.set_tokens("rotated")
    fake_api.configure(revoke_after_feedback=0)
    began = time.monotonic()
    reconcile(client=make_client(token="rotated"), owner="dag/rerun/reconcile/-1", reprocess=True,
                          wait_for_others_seconds=60, lease_seconds=3600)  # fmt: skip
    assert time.monotonic() - began < 30  # nothing left to wait out
    assert effects(fake_api) == {(f"a{i}", "ato", "resolved", "manually_identified"): 1 for i in range(4)}


# 7 ------------------------------------------------------------------------------------------------
def test_7a_ids_the_ledger_cannot_hold_are_rejects_and_the_rest_is_sent(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a" * 300, "suspected_fraud"), outcome("c2", "bad\x00id", "suspected_fraud"),
                *[outcome(f"ok{i}", f"a{i}", "suspected_fraud") for i in range(40)])  # fmt: skip
    seed_states(fake_api, none=[f"a{i}" for i in range(40)])
    report, _ = reconcile()
    assert dict(report.rejected) == {"invalid_account_id": 2} and len(fake_api.effects()) == 40


def test_7b_a_permanently_failing_lookup_is_skipped_after_bounded_tries_and_blocks_no_other_day(
    case_db, fake_api, reconcile
):
    case_db.add(outcome("c1", "refused", "confirmed_fraud"), outcome("c2", "a2", "suspected_fraud"),
                outcome("next-day", "a3", "suspected_fraud", "2026-11-19T09:00:00Z"))  # fmt: skip
    seed_states(fake_api, none=["a2", "a3"])
    fake_api.configure(lookup_status={"refused": 404})
    results = tries(reconcile, 1, max_lookup_failures=3)
    # the next day runs while this day's row is still stuck: it neither adopts it nor fails for it
    day2, result = reconcile(start=NEXT_DAY, end=datetime(2026, 11, 20, tzinfo=UTC), owner="day-2")
    assert result.ok and day2.counts["adopted"] == 0 and day2.ledger_states == {"sent": 1}
    results += tries(reconcile, 2, max_lookup_failures=3)
    assert [type(r.error).__name__ for r in results] == ["ReconciliationIncompleteError"] * 2 + ["NoneType"]
    assert "1 outcome not decided yet" in str(results[0].error)
    row = case_db.ledger_rows("case_id = 'c1'")[0]
    assert (row["state"], row["reason"], row["lookup_failures"]) == ("noop", "lookup_failed", 2)
    assert len(fake_api.effects()) == 2


def test_7c_an_undated_row_is_a_reject_once_and_counts_against_every_day_reading_it(case_db, fake_api, reconcile):
    """Recorded once however many days read it; since issue 25 (item 8) it counts against each
    day's max_reject_ratio, and a day with nothing else dated fails instead of going green."""
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("undated", "a9", "suspected_fraud", closed_at=None))
    seed_states(fake_api, none=["a1"])
    _, quiet = reconcile(start=datetime(2026, 11, 17, tzinfo=UTC), end=DAY, owner="day-17", check=False,
                         max_reject_ratio=0.5)  # fmt: skip
    assert isinstance(quiet.error, ReconciliationAbortedError) and "none of them has a closed_at" in str(quiet.error)
    _, strict = reconcile(owner="day-18", check=False)  # 1 of 2 rows is above the default 5%
    assert isinstance(strict.error, ReconciliationAbortedError) and not fake_api.effects()
    report, result = reconcile(owner="day-18", max_reject_ratio=0.5)
    assert result.ok and report.counts["undated"] == 1 and report.rejected_total == 0
    assert [r["case_id"] for r in case_db.rejects()] == ["undated"]
    assert len(fake_api.effects()) == 1


# 8 ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("closed_at", ["2026-11-18T10:00:00+0000", "20261118T100000Z", "2026-11-18T12:00:00+0200"])
def test_8_text_timestamps_sqlite_cannot_parse_are_decided_by_their_own_day(case_db, fake_api, reconcile, closed_at):
    case_db.add(outcome("c1", "a1", "suspected_fraud", closed_at=closed_at))
    seed_states(fake_api, none=["a1"])
    for day in (17, 19):  # the days around it: not theirs
        start = datetime(2026, 11, day, tzinfo=UTC)
        reconcile(start=start, end=start.replace(day=day + 1), owner=f"day-{day}")
    assert case_db.ledger_rows() == [] and fake_api.effects() == []
    reconcile(start=DAY, end=NEXT_DAY, owner="day-18")
    assert case_db.ledger_rows()[0]["interval_start"].startswith("2026-11-18") and len(fake_api.effects()) == 1


# 9 ------------------------------------------------------------------------------------------------
def test_9_a_token_pasted_with_a_trailing_newline_works_and_never_shows(human_conn, fake_api, token, caplog,
                                                                       monkeypatch):  # fmt: skip
    import json
    import os

    from airflow_provider_human.hooks.human import HumanHook

    conn = json.loads(os.environ["AIRFLOW_CONN_HUMAN_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_DEFAULT", json.dumps({**conn, "password": token + "\n"}))
    hook = HumanHook()
    ok, message = hook.test_connection()
    assert ok, message
    assert hook.client.get_account_info_v2("a1").account_id == "a1"
    assert token not in caplog.text and token not in message
