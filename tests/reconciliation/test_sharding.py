"""Sharded reconciliation (one mapped task per account-hash shard) equals the unsharded run."""

from __future__ import annotations

from airflow_provider_human.reconciliation.sharding import in_shard, shard_of
from tests.reconciliation.conftest import CaseDB, outcome
from tests.reconciliation.test_engine import CELLS, seed_states, uploads


def _rows():
    rows = []
    for n in range(60):
        verdict, state = CELLS[n % len(CELLS)][:2]
        rows.append(outcome(f"case-{n}", f"acct-{n}-{state}", verdict, f"2026-11-18T{n % 24:02d}:00:00Z"))
    rows.append(outcome("case-early", "acct-0-pending", "legitimate", "2026-11-18T00:00:00Z"))  # superseded
    rows.append(outcome("case-bad", None, "legitimate"))  # a reject, seen by every shard
    return rows


def _seed(fake_api):
    seed_states(fake_api, pending=[f"acct-{n}-pending" for n in range(60)], none=[f"acct-{n}-none" for n in range(60)])


def _ledger(db):
    return {
        (r["case_id"], r["account_id"]): (r["decision"], r["state"], r["feedback_result"]) for r in db.ledger_rows()
    }


def test_three_shards_equal_one_run(tmp_path, fake_api, make_client):
    from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
    from airflow_provider_human.reconciliation.ledger import Ledger
    from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
    from tests.reconciliation.conftest import DAY, NEXT_DAY

    def run(db, shard, owner):
        settings = ReconcileSettings(shard=shard, batch_size=4, max_reject_ratio=0.5)
        reconciler = Reconciler(make_client(), SqlOutcomeSource(engine=db.engine), Ledger(db.engine), settings=settings)
        result = reconciler.run(DAY, NEXT_DAY, owner)
        result.raise_for_outcome()
        return result.report

    whole = CaseDB(tmp_path / "whole.sqlite")
    whole.add(*_rows())
    _seed(fake_api)
    whole_report = run(whole, None, "plain")
    expected_uploads, expected_ledger = uploads(fake_api), _ledger(whole)

    fake_api.state.reset()
    fake_api.set_tokens(make_client().settings.token)
    _seed(fake_api)
    sharded = CaseDB(tmp_path / "sharded.sqlite")
    sharded.add(*_rows())
    reports = [run(sharded, (i, 3), f"dag/run/reconcile/{i}") for i in range(3)]
    assert uploads(fake_api) == expected_uploads and _ledger(sharded) == expected_ledger
    assert all(r.counts["outcomes_valid"] > 0 for r in reports)  # every shard had work
    assert sum(r.counts["outcomes_valid"] for r in reports) == whole_report.counts["outcomes_valid"]
    assert all(r.rejected_total == 1 for r in reports) and len(sharded.rejects()) == 1


def test_shards_are_stable_and_cover_every_account():
    accounts = [f"a{i}" for i in range(1000)] + ["ünïcødé", "a/b?c"]
    for count in (1, 2, 7):
        owners = [[i for i in range(count) if in_shard(a, i, count)] for a in accounts]
        assert all(len(o) == 1 for o in owners)
    assert shard_of("acct-42", 8) == 1  # crc32 of the UTF-8 id: the same on every worker and Python version
