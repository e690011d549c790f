"""One test per way deciding from today's lookup alone went wrong (issue 12, "Why"), judged by the
incidents and feedback the fake API applied, never by what the client believes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from airflow_provider_human.exceptions import ReconciliationNeedsAttentionError
from airflow_provider_human.reconciliation.ledger import Ledger
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_why import effects, incidents

DAY_2 = NEXT_DAY
DAY_3 = datetime(2026, 11, 20, tzinfo=UTC)
ON_DAY_2 = "2026-11-19T10:00:00Z"


def rows_of(case_db, account: str) -> list[dict]:
    return case_db.ledger_rows(f"account_id = '{account}'")


# re-closed -------------------------------------------------------------------------------------------
def test_a_case_closed_again_with_the_same_verdict_opens_no_second_incident(case_db, fake_api, reconcile):
    case_db.add(outcome("K", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    reconcile()  # day 1: a false negative, one Resolved manual incident
    case_db.add(outcome("K", "a1", "confirmed_fraud", closed_at=ON_DAY_2))  # reopened, closed again on day 2
    report, _ = reconcile(DAY_2, DAY_3, owner="dag/day-2")
    assert incidents(fake_api, "a1") == 1
    assert effects(fake_api) == {("a1", "ato", "resolved", "manually_identified_and_resolved"): 1}
    assert report.counts["already_reported"] == 1 and report.counts["requests_sent"] == 0
    assert rows_of(case_db, "a1")[-1]["reason"] == "same_meaning_sent"


# backfill order --------------------------------------------------------------------------------------
def test_an_older_verdict_decided_after_a_newer_one_is_superseded_in_any_run_order(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "a1", "legitimate", closed_at=ON_DAY_2))
    seed_states(fake_api, none=["a1"])
    reconcile(DAY_2, DAY_3, owner="backfill/day-2")  # newest first: legitimate x none = nothing
    report, _ = reconcile(DAY, DAY_2, owner="backfill/day-1")
    assert effects(fake_api) == {} and incidents(fake_api, "a1") == 0  # no Pending incident the newer verdict denies
    first = rows_of(case_db, "a1")[-1]
    assert (first["case_id"], first["decision"], first["state"]) == ("c1", "superseded", "noop")
    assert "c2" in first["detail"] and report.counts["superseded"] == 1


# reversal --------------------------------------------------------------------------------------------
def test_a_verdict_reversing_sent_feedback_is_a_reversal_for_a_person_never_forgotten(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a1", "legitimate", closed_at=ON_DAY_2))
    seed_states(fake_api, none=["a1"])
    reconcile()
    report, result = reconcile(DAY_2, DAY_3, owner="dag/day-2", check=False)
    assert isinstance(result.error, ReconciliationNeedsAttentionError)
    assert "reversal: 1" in str(result.error) and "account a1" in str(result.error)
    assert effects(fake_api) == {("a1", "ato", "resolved", "manually_identified_and_resolved"): 1}
    row = rows_of(case_db, "a1")[-1]
    assert (row["decision"], row["state"], row["review"]) == ("reversal", "needs_review", "reversal")
    assert report.counts["reversal"] == 1 and report.for_review[0]["kind"] == "reversal"


# edited in place -------------------------------------------------------------------------------------
def test_a_verdict_edited_in_place_is_listed_for_review_not_ignored(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "legitimate"))
    seed_states(fake_api, none=["a1"])
    reconcile()  # legitimate x none: nothing to send
    with case_db.engine.begin() as conn:  # the export corrects the verdict, keeping closed_at
        conn.exec_driver_sql("UPDATE case_outcomes SET verdict = 'confirmed_fraud' WHERE case_id = 'c1'")
    _, result = reconcile(owner="dag/manual-rerun", check=False)
    assert isinstance(result.error, ReconciliationNeedsAttentionError) and "edited: 1" in str(result.error)
    edited = rows_of(case_db, "a1")[-1]
    assert (edited["verdict"], edited["decision"], edited["reason"], edited["state"]) == (
        "confirmed_fraud", "edited", "verdict_changed", "needs_review",
    )  # fmt: skip
    assert "from legitimate to confirmed_fraud" in edited["detail"] and effects(fake_api) == {}


def test_a_comment_edited_in_place_is_recorded_and_sends_nothing(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud", comment="first"))
    seed_states(fake_api, none=["a1"])
    reconcile()
    with case_db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE case_outcomes SET comment = 'typo fixed' WHERE case_id = 'c1'")
    report, _ = reconcile(owner="dag/manual-rerun")
    assert report.counts["edited"] == 1 and report.counts["requests_sent"] == 0
    assert rows_of(case_db, "a1")[-1]["reason"] == "comment_changed"
    assert effects(fake_api) == {("a1", "ato", "resolved", "manually_identified"): 1}


# ambiguous AD state ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "seeded",
    [
        {"incidents": [{"attack_type": "credential_stuffing"}]},  # a Pending incident of a type we cannot map
        {"is_under_attack": True},  # under attack, and no incident of a known type
    ],
    ids=["unmapped-incident", "under-attack-without-incident"],
)
@pytest.mark.parametrize("verdict", ["legitimate", "confirmed_fraud"])
def test_an_ad_state_the_provider_cannot_read_is_ambiguous_never_none(case_db, fake_api, reconcile, seeded, verdict):
    case_db.add(outcome("c1", "a1", verdict))
    fake_api.seed_accounts([{"account_id": "a1", **seeded}])
    report, result = reconcile(check=False)
    assert effects(fake_api) == {}  # neither a missed false positive nor a duplicate incident
    assert report.skipped["ambiguous_ad_state"] == 1
    assert isinstance(result.error, ReconciliationNeedsAttentionError) and "ambiguous_ad_state: 1" in str(result.error)
    row = rows_of(case_db, "a1")[0]
    assert row["review"] == "ambiguous_ad_state" and row["state"] == "needs_review"
    if "incidents" in seeded:
        assert "credential_stuffing" in row["detail"]


def test_incident_names_are_a_setting(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "legitimate"))
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "credential_stuffing"}]}])
    reconcile(v2_incident_names={"ato": ["account_takeover", "credential_stuffing"], "fake_account": ["fake_account"]})
    assert effects(fake_api) == {("a1", "ato", "resolved", "no_attack"): 1}  # the false positive is reported


# concurrency -----------------------------------------------------------------------------------------
def test_two_days_decided_at_once_open_one_incident_per_account(case_db, fake_api, reconcile, monkeypatch):
    accounts = [f"a{i}" for i in range(20)]
    case_db.add(*[outcome(f"K{i}", a, "confirmed_fraud") for i, a in enumerate(accounts)])
    case_db.add(*[outcome(f"K{i}", a, "confirmed_fraud", closed_at=ON_DAY_2) for i, a in enumerate(accounts)])
    seed_states(fake_api, none=accounts)
    # Both runs try to read history at the same moment: each waits (up to 1 s) for the other at the
    # read. Without the decision lock both read an empty history and both upload; with it, the
    # second cannot reach the read until the first has committed its decisions.
    barrier = threading.Barrier(2, timeout=1.0)
    read_history = Ledger.read_history

    def meet_then_read(self, pairs, conn=None):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return read_history(self, pairs, conn)

    monkeypatch.setattr(Ledger, "read_history", meet_then_read)
    results: dict = {}
    runs = [
        threading.Thread(target=lambda s=s, e=e, o=o: results.setdefault(o, reconcile(s, e, owner=o, check=False)[1]))
        for s, e, o in ((DAY, DAY_2, "backfill/day-1"), (DAY_2, DAY_3, "backfill/day-2"))
    ]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(120)
    assert all(r.ok for r in results.values()), [str(r.error) for r in results.values()]
    assert all(incidents(fake_api, a) == 1 for a in accounts)
    assert len(fake_api.effects()) == len(accounts)
