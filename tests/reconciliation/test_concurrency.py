"""Several processes reconciling the same interval at once: every feedback goes out exactly once."""

from __future__ import annotations

from collections import Counter

from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states, uploads
from tests.reconciliation.workers import run_gated_workers


def test_four_concurrent_processes_send_each_feedback_exactly_once(case_db, fake_api, tmp_path):
    accounts = [f"acct-{i:03d}" for i in range(120)]
    case_db.add(*[outcome(f"case-{i}", a, "confirmed_fraud" if i % 2 else "suspected_fraud")
                  for i, a in enumerate(accounts)])  # fmt: skip
    seed_states(fake_api, pending=accounts[::3], none=[a for a in accounts if a not in accounts[::3]])
    fake_api.configure(latency_ms=5)
    jobs = [(f"backfill/run-{n}/reconcile/-1", DAY, NEXT_DAY) for n in range(4)]
    summaries = run_gated_workers(case_db.url, fake_api, jobs, tmp_path, batch="7")
    assert [s["error"] for s in summaries] == [None] * 4  # each waited for the others, then saw the day done
    sent = uploads(fake_api)
    expected = {
        a for i, a in enumerate(accounts) if not (i % 2 == 0 and a in accounts[::3])
    }  # suspected+pending: nothing
    assert {key[0] for key in sent} == expected
    assert set(sent.values()) == {1}, [k for k, n in sent.items() if n > 1]
    assert sum(s["requests_sent"] for s in summaries) == len(fake_api.requests("feedback"))
    rows = case_db.ledger_rows()
    assert len(rows) == 120 and Counter(r["state"] for r in rows).keys() <= {"sent", "noop"}
    claimed = [120 - s["already_decided"] for s in summaries]  # what each worker claimed for itself
    assert sum(claimed) == 120, claimed
    # the four runs were truly simultaneous: each started before any of them finished
    assert max(s["started"] for s in summaries) < min(s["finished"] for s in summaries)
