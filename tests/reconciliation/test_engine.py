"""The reconciliation engine end to end: SQLite case database and ledger, fake HUMAN API over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from airflow_provider_human.client import HumanAuthError, HumanInputError
from airflow_provider_human.exceptions import (
    ReconciliationAbortedError,
    ReconciliationIncompleteError,
    ReconciliationNeedsAttentionError,
)
from airflow_provider_human.reconciliation.ledger import Ledger
from tests.reconciliation.conftest import outcome

PENDING = [{"attack_type": "ato", "risk_score": 0.8}]


def seed_states(fake_api, pending=(), none=(), unknown=()):
    """unknown accounts are simply not seeded (v2 answers exists=false)."""
    fake_api.seed_accounts(
        [{"account_id": a, "incidents": PENDING} for a in pending] + [{"account_id": a} for a in none]
    )


def uploads(fake_api) -> Counter:
    """(account, attackType, status, result) -> how many times HUMAN accepted it."""
    seen = Counter()
    for entry in fake_api.requests("feedback"):
        if entry["status"] == 200:
            body = entry["body"]
            for account in body["accountIds"]:
                seen[(account, body["attackType"], body["status"], body.get("result"))] += 1
    return seen


# verdict, AD state -> expected (decision, state, result sent or None)
CELLS = [
    ("confirmed_fraud", "pending", "true_positive", "sent", "resolved"),
    ("confirmed_fraud", "none", "false_negative", "sent", "manually_identified_and_resolved"),
    ("confirmed_fraud", "unknown", "skip", "noop", None),
    ("legitimate", "pending", "false_positive", "sent", "no_attack"),
    ("legitimate", "none", "consistent", "noop", None),
    ("legitimate", "unknown", "skip", "noop", None),
    ("suspected_fraud", "pending", "consistent", "noop", None),
    ("suspected_fraud", "none", "false_negative", "sent", "manually_identified"),
    ("suspected_fraud", "unknown", "skip", "noop", None),
]


def test_every_decision_table_cell(case_db, fake_api, reconcile):
    for n, (verdict, state, *_rest) in enumerate(CELLS):
        case_db.add(outcome(f"case-{n}", f"acct-{verdict}-{state}", verdict))
    seed_states(
        fake_api,
        pending=[f"acct-{v}-pending" for v, *_ in CELLS],
        none=[f"acct-{v}-none" for v, *_ in CELLS],
    )
    report, _ = reconcile()
    rows = {r["account_id"]: r for r in case_db.ledger_rows()}
    sent = uploads(fake_api)
    for verdict, state, decision, ledger_state, result in CELLS:
        row = rows[f"acct-{verdict}-{state}"]
        assert (row["decision"], row["state"], row["ad_state"], row["feedback_result"]) == (
            decision, ledger_state, state, result,
        ), (verdict, state)  # fmt: skip
        if result:
            assert sent[(f"acct-{verdict}-{state}", "ato", "resolved", result)] == 1
        if decision == "skip":
            assert row["reason"] == "unknown_account"
    assert sum(sent.values()) == 4 and len(fake_api.requests("feedback")) == 4
    c = report.counts
    assert (c["true_positive"], c["false_positive"], c["false_negative"]) == (1, 1, 2)
    assert (c["consistent"], report.skipped["unknown_account"], c["requests_sent"]) == (2, 3, 4)


def test_latest_outcome_per_account_and_attack_type_wins(case_db, fake_api, reconcile):
    case_db.add(
        outcome("old", "a1", "legitimate", "2026-11-18T08:00:00Z"),
        outcome("new", "a1", "confirmed_fraud", "2026-11-18T17:00:00Z"),
        outcome("fa-case", "a1", "legitimate", "2026-11-18T09:00:00Z", attack_type="fa"),
    )
    seed_states(fake_api, pending=["a1"])
    report, _ = reconcile()
    rows = {r["case_id"]: r for r in case_db.ledger_rows()}
    assert rows["old"]["decision"] == "superseded" and rows["old"]["state"] == "noop"
    assert rows["new"]["decision"] == "true_positive" and rows["fa-case"]["decision"] == "consistent"
    assert report.counts["superseded"] == 1
    assert set(uploads(fake_api)) == {("a1", "ato", "resolved", "resolved")}


def test_rerun_and_overlapping_backfill_send_nothing_again(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a2", "suspected_fraud"))
    seed_states(fake_api, pending=["a1"], none=["a2"])
    reconcile()
    again, _ = reconcile(owner="test/run-2/reconcile/-1")
    assert again.counts["already_decided"] == 2 and again.counts["requests_sent"] == 0
    case_db.add(outcome("c3", "a3", "confirmed_fraud", "2026-11-19T05:00:00Z"))
    seed_states(fake_api, none=["a3"])
    wide, _ = reconcile(start=datetime(2026, 11, 17, tzinfo=UTC), end=datetime(2026, 11, 20, tzinfo=UTC),
                        owner="backfill/wide")  # fmt: skip
    assert wide.counts["already_decided"] == 2 and wide.counts["requests_sent"] == 1
    assert all(n == 1 for n in uploads(fake_api).values()) and len(uploads(fake_api)) == 3


def test_interval_is_half_open_in_utc(case_db, fake_api, reconcile):
    case_db.add(
        outcome("start-edge", "a1", "suspected_fraud", "2026-11-18T00:00:00Z"),
        outcome("end-edge", "a2", "suspected_fraud", "2026-11-19T00:00:00Z"),
        outcome("offset", "a3", "suspected_fraud", "2026-11-18T23:30:00-02:00"),  # 01:30 UTC next day
        outcome("naive", "a4", "suspected_fraud", "2026-11-18 23:59:59"),
    )
    seed_states(fake_api, none=["a1", "a2", "a3", "a4"])
    reconcile()
    assert {r["case_id"] for r in case_db.ledger_rows()} == {"start-edge", "naive"}


def test_bad_rows_go_to_rejects_and_do_not_stop_valid_ones(case_db, fake_api, reconcile):
    case_db.add(
        outcome("ok", "a1", "confirmed_fraud"),
        outcome("no-account", None, "confirmed_fraud"),
        outcome("bad-verdict", "a2", "maybe_fraud"),
        outcome("bad-type", "a3", "legitimate", attack_type="bot"),
        outcome("bad-date", "a4", "legitimate", closed_at="yesterday-ish"),
    )
    seed_states(fake_api, pending=["a1"])
    report, _ = reconcile(max_reject_ratio=0.9)
    assert dict(report.rejected) == {"missing_account_id": 1, "unknown_verdict": 1, "unknown_attack_type": 1}
    assert report.counts["undated"] == 1 and report.counts["rows_read"] == 4  # undated rows are in no interval
    assert {(r["case_id"], r["reason"]) for r in case_db.rejects()} == {
        ("no-account", "missing_account_id"), ("bad-verdict", "unknown_verdict"),
        ("bad-type", "unknown_attack_type"), ("bad-date", "unparseable_closed_at"),
    }  # fmt: skip
    assert report.counts["requests_sent"] == 1


def test_too_many_rejects_fail_before_anything_is_decided_or_sent(case_db, fake_api, reconcile):
    case_db.add(outcome("ok", "a1", "confirmed_fraud"), *[outcome(f"bad-{i}", "a2", "unsure") for i in range(3)])
    seed_states(fake_api, pending=["a1"])
    with pytest.raises(
        ReconciliationAbortedError, match=r"3 of 4 rows rejected.*unknown_verdict: 3 \(e\.g\. case bad-"
    ):
        reconcile()
    assert fake_api.requests() == [] and case_db.ledger_rows() == []


def test_dry_run_plans_without_sending_or_writing(case_db, fake_api, reconcile):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "confirmed_fraud") for i in range(5)])
    seed_states(fake_api, pending=[f"a{i}" for i in range(5)])
    report, _ = reconcile(dry_run=True, batch_size=2)
    c = report.counts
    assert (c["true_positive"], c["requests_planned"], c["requests_sent"]) == (5, 3, 0)
    assert fake_api.requests("feedback") == []
    import sqlalchemy as sa

    assert not sa.inspect(case_db.engine).has_table("human_feedback_ledger")


def test_batches_are_as_large_as_allowed_and_comment_names_the_interval(case_db, fake_api, reconcile):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "confirmed_fraud", comment=f"case note {i}") for i in range(7)])
    seed_states(fake_api, pending=[f"a{i}" for i in range(7)])
    report, _ = reconcile(batch_size=3)
    posts = fake_api.requests("feedback")
    assert [len(p["body"]["accountIds"]) for p in posts] == [3, 3, 1] and report.counts["requests_sent"] == 3
    assert {p["body"]["comment"] for p in posts} == {
        "Airflow reconciliation of cases closed in [2026-11-18T00:00:00.000000Z, 2026-11-19T00:00:00.000000Z)"
    }


def test_per_case_comments_trade_requests_for_detail(case_db, fake_api, reconcile):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "confirmed_fraud", comment=f"note {i % 2}") for i in range(4)])
    seed_states(fake_api, pending=[f"a{i}" for i in range(4)])
    reconcile(per_case_comments=True)
    assert sorted(p["body"]["comment"] for p in fake_api.requests("feedback")) == ["note 0", "note 1"]


def test_policy_is_data(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "never-seen", "confirmed_fraud"))
    reconcile(policy={"confirmed_fraud": {"unknown": "resolved/manually_identified"}})
    assert uploads(fake_api) == {("never-seen", "ato", "resolved", "manually_identified"): 1}
    with pytest.raises(HumanInputError, match=r"policy\.legitimate\.none"):
        reconcile(policy={"legitimate": {"none": "resolved/whatever"}})


def test_reprocess_decides_again_what_was_not_sent_and_never_resends(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "later-known", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])  # later-known is unknown to HUMAN today: skipped
    reconcile()
    seed_states(fake_api, none=["later-known"])
    report, _ = reconcile(owner="o2", reprocess=True)
    # the skip is decided again (HUMAN knows the account now); the sent upload stays sent
    assert report.counts["reprocessed"] == 1 and report.counts["false_negative"] == 1
    assert uploads(fake_api) == {
        ("a1", "ato", "resolved", "manually_identified"): 1,
        ("later-known", "ato", "resolved", "manually_identified_and_resolved"): 1,
    }
    again, _ = reconcile(owner="o2", reprocess=True)  # a retry of the same reprocessing run
    assert again.counts["reprocessed"] == 0 and again.counts["requests_sent"] == 0


def test_in_doubt_uploads_are_verified_by_result(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "a2", "confirmed_fraud"),
                outcome("c3", "a3", "legitimate"))  # fmt: skip
    seed_states(fake_api, none=["a1", "a2"], pending=["a3"])
    # HUMAN applies every upload, then the connection drops before the answer
    fake_api.configure(reset_rate=1.0, fault_kinds=["feedback"])
    with pytest.raises(
        ReconciliationNeedsAttentionError,
        match=r"1 item waits for a person \(in_doubt: 1\).*account a2 ato manually_iden",
    ):
        reconcile()
    rows = {r["account_id"]: r for r in case_db.ledger_rows()}
    assert (rows["a1"]["state"], rows["a2"]["state"], rows["a3"]["state"]) == ("sent", "needs_review", "sent")
    assert "verified applied" in rows["a1"]["error"] and "no lookup shows" in rows["a2"]["error"]
    assert len(fake_api.effects()) == 3 and len(fake_api.requests("feedback")) == 3  # nothing resent


def test_in_doubt_upload_that_was_not_applied_is_sent_once(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "a2", "legitimate"))
    seed_states(fake_api, none=["a1"], pending=["a2"])
    # A 502 that came before HUMAN acted (the client cannot know that): in doubt, looked up, sent again
    fake_api.configure(failure_rate=1.0, failure_status=502, fault_kinds=["feedback"])
    first, result = reconcile(check=False)
    assert isinstance(result.error, ReconciliationIncompleteError) and first.counts["in_doubt"] >= 2
    assert fake_api.effects() == []
    fake_api.configure(failure_rate=0.0)
    retry, _ = reconcile()
    assert retry.counts["verified_not_applied"] == 2 and retry.counts["requests_sent"] == 2
    assert uploads(fake_api) == {("a1", "ato", "resolved", "manually_identified"): 1,
                                 ("a2", "ato", "resolved", "no_attack"): 1}  # fmt: skip


def test_token_revoked_mid_run_then_next_run_finishes(case_db, fake_api, reconcile, make_client):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "confirmed_fraud") for i in range(5)])
    seed_states(fake_api, pending=[f"a{i}" for i in range(5)])
    fake_api.configure(revoke_after_feedback=2)
    with pytest.raises(HumanAuthError):
        reconcile(batch_size=1)
    rows = case_db.ledger_rows()
    assert Counter(r["state"] for r in rows) == {"sent": 2, "planned": 3}
    assert all(r["batch_id"] is None for r in rows if r["state"] == "planned")
    assert holder_leases(case_db) == [0.0]  # the failed run released what it held
    fake_api.set_tokens("new-token-after-rotation")
    fake_api.configure(revoke_after_feedback=0)
    report, _ = reconcile(batch_size=1, client=make_client(token="new-token-after-rotation"), owner="manual-rerun")
    assert report.counts["requests_sent"] == 3 and report.counts["adopted"] == 3
    assert len(uploads(fake_api)) == 5 and set(uploads(fake_api).values()) == {1}


def test_lookup_failure_leaves_the_outcome_for_the_next_try(case_db, fake_api, reconcile, make_client):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, pending=["a1"])
    fake_api.configure(failure_rate=1.0, failure_status=503)
    with pytest.raises(ReconciliationIncompleteError, match="1 outcome not decided yet"):
        reconcile(client=make_client(max_retries=0))
    assert case_db.ledger_rows()[0]["state"] == "claimed"
    fake_api.configure(failure_rate=0.0)
    retry, _ = reconcile()  # the same task's next try: a new holder adopts the released row
    assert retry.counts["true_positive"] == 1 and retry.counts["requests_sent"] == 1


def test_a_live_holder_is_never_overtaken_and_the_waiting_run_says_who_holds_what(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, pending=["a1"])
    live = Ledger(case_db.engine, lease_seconds=60)
    live.ensure_schema()
    from airflow_provider_human.reconciliation.outcomes import parse_outcome

    held = parse_outcome(dict(zip(("case_id", "account_id", "attack_type", "verdict", "closed_at", "comment"),
                                  outcome("c1", "a1", "confirmed_fraud"), strict=True)))  # fmt: skip
    from airflow_provider_human.reconciliation.ledger import LedgerState

    live.register("dag/other-run/reconcile/-1")
    live.claim([(held, LedgerState.CLAIMED, None)], owner="dag/other-run/reconcile/-1", interval=("a", "z"))
    with pytest.raises(ReconciliationIncompleteError, match=r"1 outcome held by dag/other-run/reconcile/-1 until"):
        reconcile(owner="dag/this-run/reconcile/-1", wait_for_others_seconds=0.5)
    assert fake_api.requests("feedback") == [] and case_db.ledger_rows()[0]["holder"] == live.holder
    live.release()  # the other run ended: its rows can be taken at once
    report, _ = reconcile(owner="dag/this-run/reconcile/-1")
    assert report.counts["adopted"] == 1 and report.counts["requests_sent"] == 1


def test_reports_are_written_as_json_and_markdown(case_db, fake_api, reconcile, tmp_path):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, pending=["a1"])
    report, _ = reconcile()
    paths = report.write(str(tmp_path / "reports"))
    data = json.loads(open(paths[0]).read())
    assert data["counts"]["true_positive"] == 1 and data["counts"]["requests_sent"] == 1
    assert data["ledger_states"] == {"sent": 1} and data["left"] == []
    markdown = open(paths[1]).read()
    assert "| true positives | 1 |" in markdown and "| left to do | nothing: the interval is done |" in markdown
    assert report.summary()["report_paths"] == paths


def holder_leases(case_db) -> list[float]:
    with case_db.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT lease_until FROM human_feedback_ledger_holders")]


def test_the_heartbeat_keeps_a_live_runs_lease_and_release_ends_it(case_db, fake_api):
    import time

    ledger = Ledger(case_db.engine, lease_seconds=0.4)
    ledger.ensure_schema()
    ledger.register("o")
    with ledger.heartbeat():
        time.sleep(1.2)  # three leases long
        assert holder_leases(case_db)[0] > ledger.clock()
    time.sleep(0.5)
    assert holder_leases(case_db)[0] <= ledger.clock()  # no heartbeat: it expires
    ledger.renew()
    assert holder_leases(case_db)[0] > ledger.clock()
    ledger.release()
    assert holder_leases(case_db) == [0.0]


def test_a_done_interval_is_not_read_again_for_open_rows(case_db, fake_api, reconcile, monkeypatch):
    """The verdict reads the interval's open rows only when its breakdown shows some: each read took about 0.8 s of a 1,000,000-row day."""
    calls = []
    real = Ledger.open_rows
    monkeypatch.setattr(Ledger, "open_rows", lambda self, *a, **k: calls.append(a) or real(self, *a, **k))
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    report, _ = reconcile()
    assert report.counts["requests_sent"] == 1 and report.left == []
    assert len(calls) == 1  # _settle's; the verdict trusted the breakdown


def test_a_claim_stores_each_rows_own_state_and_columns_and_counts_only_new_rows(case_db):
    """SQLite's claim (one executemany of value lists, decision columns shared per columns dict): rows
    sharing one columns dict with different states, rows with no columns and rows with their own
    keep every value, and rows already claimed are not counted again."""
    from airflow_provider_human.client.attack_types import AttackType
    from airflow_provider_human.reconciliation.ledger import LedgerState
    from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict

    ledger = Ledger(case_db.engine)
    ledger.ensure_schema()
    ledger.register("claims/-1")
    when = datetime(2026, 11, 18, 10, tzinfo=UTC)
    outcomes = [CaseOutcome(f"c{i}", f"a{i}", AttackType.ATO, Verdict.LEGITIMATE, when, f"note {i}") for i in range(9)]
    shared = {"decision": "false_positive", "feedback_status": "resolved", "feedback_result": "no_attack"}
    items = [(o, LedgerState.PLANNED if i % 2 else LedgerState.NOOP, shared) for i, o in enumerate(outcomes[:4])]
    items += [(o, LedgerState.CLAIMED, None) for o in outcomes[4:6]]
    items += [(o, LedgerState.CLAIMED, {"error": f"lookup {o.case_id} failed", "lookup_failures": 2})
              for o in outcomes[6:]]  # fmt: skip
    assert ledger.claim(items[:5], owner="run/one", interval=("2026-11-18", "2026-11-19")) == 5
    assert ledger.claim(items, owner="run/two", interval=("2026-11-18", "2026-11-19")) == 4

    stored = {r["case_id"]: r for r in case_db.ledger_rows()}
    for i, (o, state, columns) in enumerate(items):
        row = stored[o.case_id]
        assert (row["account_id"], row["attack_type"], row["verdict"], row["comment"], row["closed_at"]) == (
            o.account_id, "ato", "legitimate", o.comment, o.closed_at_key)  # fmt: skip
        assert row["state"] == state.value and row["holder"] == ledger.holder
        assert row["owner"] == ("run/one" if i < 5 else "run/two")
        assert (row["interval_start"], row["interval_end"]) == ("2026-11-18", "2026-11-19")
        expected = {"decision": None, "feedback_result": None, "error": None, "lookup_failures": 0, **(columns or {})}
        assert {k: row[k] for k in ("decision", "feedback_result", "error", "lookup_failures")} == {
            k: expected[k] for k in ("decision", "feedback_result", "error", "lookup_failures")}  # fmt: skip
