"""5,000 outcomes against a hostile fake HUMAN API: nothing lost, nothing repeated, counts that add up."""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from tests.reconciliation.conftest import DAY, FAST, NEXT_DAY, CaseDB, outcome

N = 5000
VERDICTS = ["confirmed_fraud", "legitimate", "suspected_fraud"]


@pytest.fixture
def big_day(tmp_path, fake_api):
    db = CaseDB(tmp_path / "cases.sqlite")
    rows = [outcome(f"case-{i}", f"acct-{i}", VERDICTS[i % 3], f"2026-11-18T{i % 24:02d}:{i % 60:02d}:00Z",
                    attack_type="ato" if i % 5 else "fa") for i in range(N)]  # fmt: skip
    db.add(*rows)
    accounts = []
    for i in range(N):
        kind = i % 4  # 0,1: pending incident of the outcome's type; 2: none; 3: unknown (not seeded)
        if kind < 2:
            accounts.append({"account_id": f"acct-{i}", "incidents": [{"attack_type": "ato" if i % 5 else "fa"}]})
        elif kind == 2:
            accounts.append({"account_id": f"acct-{i}"})
    fake_api.seed_accounts(accounts)
    return db


def _reconcile(db, client, owner="daily/run-1/reconcile/-1"):
    reconciler = Reconciler(client, SqlOutcomeSource(engine=db.engine), Ledger(db.engine),
                            settings=ReconcileSettings(batch_size=250, lookup_chunk=1000, **FAST))  # fmt: skip
    return reconciler.run(DAY, NEXT_DAY, owner).report


def test_5000_outcomes_under_503s_429s_latency_spikes_and_resets(big_day, fake_api, make_client):
    fake_api.configure(
        failure_rate=0.3, failure_status=503,  # 30% of requests answered 503 before acting
        # a server-side limit with Retry-After; a burst of half the 16 workers keeps 429s coming on a slow machine
        rate_limit_rps=400, rate_limit_burst=8, retry_after=1,
        latency_spike_ms=2000, latency_spike_rate=0.002,  # occasional 2 s stalls
        reset_rate=0.03,  # connections reset mid-response, after the server acted
        seed=20261121,
    )  # fmt: skip
    client = make_client(real_sleep=True, max_workers=16, requests_per_second=600, max_retries=10,
                         backoff_initial=0.05, backoff_max=2.0, timeout=10)  # fmt: skip
    reports = [_reconcile(big_day, client)]
    fake_api.configure(failure_rate=0.0, reset_rate=0.0, latency_spike_rate=0.0, rate_limit_rps=0)
    for _ in range(3):  # follow-up runs (Airflow retries of the same task) until nothing is left
        if not set(Counter(r["state"] for r in big_day.ledger_rows())) & {"claimed", "planned", "sending", "in_doubt"}:
            break
        reports.append(_reconcile(big_day, client))

    log = fake_api.requests()
    statuses = Counter(e["status"] for e in log)
    # the faults really happened. 429s come only when this machine outruns the fake's 400 rps: on a slow,
    # shared one they may not (a clean-clone CI run saw none), so they are not required here; the
    # client's 429 handling is pinned by tests/client (Retry-After, rate limiter, exhausted retries).
    assert statuses[503] > 1000
    assert sum(1 for e in log if e.get("reset")) > 0
    assert sum(1 for e in log if e["time"] and e.get("kind") == "v2") >= N

    rows = big_day.ledger_rows()
    states = Counter(r["state"] for r in rows)
    assert set(states) <= {"sent", "noop", "needs_review"}, states
    assert len(rows) == N
    # only an in-doubt manually_identified_and_resolved may wait for a person: nothing documented shows it
    assert {r["feedback_result"] for r in rows if r["state"] == "needs_review"} <= {"manually_identified_and_resolved"}

    # exactly once: every upload HUMAN applied, once per decided outcome; a person's items at most once
    applied = Counter((e["account_id"], e["result"]) for e in fake_api.effects())
    sent_rows = {(r["account_id"], r["feedback_result"]) for r in rows if r["state"] == "sent"}
    review_rows = {(r["account_id"], r["feedback_result"]) for r in rows if r["state"] == "needs_review"}
    assert set(applied.values()) == {1}
    assert sent_rows <= set(applied) <= sent_rows | review_rows

    # the reports add up to what the API's log shows
    total = Counter()
    for report in reports:
        for key, value in report.summary().items():
            if isinstance(value, int):
                total[key] += value
    answered = [
        e for e in fake_api.requests("feedback") if e.get("applied") and e["status"] == 200 and not e.get("reset")
    ]
    assert total["requests_sent"] == len(answered)
    decided = Counter(r["decision"] for r in rows)
    assert (total["true_positive"], total["false_positive"], total["false_negative"]) == (
        decided["true_positive"], decided["false_positive"], decided["false_negative"],
    )  # fmt: skip
    # every account whose upload was applied but whose answer was lost was verified, or handed to a person
    lost_answers = {a for e in fake_api.requests("feedback") if e.get("reset") for a in e["body"]["accountIds"]}
    reviewed_applied = {a for a, _ in review_rows & set(applied)}
    assert total["verified_applied"] + len(reviewed_applied) == len(lost_answers)
