"""Reports tell the day's truth (issue 12): the interval from the ledger, every try kept, ids named."""

from __future__ import annotations

import json

import pytest

from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states


def test_after_an_in_doubt_try_and_its_retry_the_report_gives_the_days_real_counts(case_db, fake_api, reconcile):
    accounts = [f"a{i}" for i in range(4)]
    case_db.add(*[outcome(f"c{i}", a, "confirmed_fraud") for i, a in enumerate(accounts)])
    seed_states(fake_api, pending=accounts)  # true positives: resolved/resolved
    fake_api.configure(reset_rate=1.0, fault_kinds=["feedback"])  # applied, then the connection drops
    first, _ = reconcile(check=False, verify_after_seconds=3600, wait_for_others_seconds=0)
    assert first.counts["in_doubt"] == 4 and first.interval["in_doubt"] == 4
    fake_api.configure(reset_rate=0.0)
    retry, _ = reconcile(owner="test/run-1/reconcile/-1")  # the retry verifies them by lookup
    assert retry.counts["true_positive"] == 0 and retry.counts["verified_applied"] == 4  # what this try did
    assert retry.interval["sent_by_result"] == {"resolved": 4} and retry.interval["decided"] == 4  # the day
    assert retry.interval["in_doubt"] == 0 and retry.interval["needing_review"] == 0
    [line] = [x for x in retry.as_table().splitlines() if "interval: accounts sent by result" in x]
    assert line.endswith(" 4 (resolved: 4)")
    assert len(fake_api.effects()) == 4


def test_every_try_keeps_its_report_files(case_db, fake_api, reconcile, tmp_path):
    case_db.add(outcome("c1", "a1", "suspected_fraud"))
    seed_states(fake_api, none=["a1"])
    first, _ = reconcile()
    again, _ = reconcile()  # a Clear: the same task instance, the next try
    paths = first.write(str(tmp_path), try_number=1) + again.write(str(tmp_path), try_number=2)
    assert len(set(paths)) == 4 and all("__try" in p for p in paths)
    assert json.loads(open(paths[0]).read())["counts"]["accounts_sent"] == 1
    assert json.loads(open(paths[2]).read())["counts"]["accounts_sent"] == 0
    assert json.loads(open(paths[2]).read())["interval"]["sent_by_result"] == {"manually_identified": 1}


def test_rejects_name_their_case_ids(case_db, fake_api, reconcile):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "legitimate") for i in range(40)])
    case_db.add(outcome("bad-1", "a-x", "maybe_fraud"), outcome("bad-2", None, "legitimate"))
    seed_states(fake_api, none=[f"a{i}" for i in range(40)])
    report, _ = reconcile()
    assert sorted(report.rejected_cases) == [("missing_account_id", "bad-2"), ("unknown_verdict", "bad-1")]
    assert "bad-1 (unknown_verdict)" in report.as_table() and report.interval["rejected"] == {
        "missing_account_id": 1, "unknown_verdict": 1,
    }  # fmt: skip


def test_a_dry_run_report_says_would_send_and_nothing_written(case_db, fake_api, reconcile):
    """Issue 26: a dry run's report said "sent by result 4" and "the interval is done" with 0 requests sent."""
    case_db.add(*[outcome(f"c{i}", f"a{i}", "confirmed_fraud") for i in range(4)])
    seed_states(fake_api, pending=["a0", "a1"], none=["a2", "a3"])
    report, _ = reconcile(dry_run=True)
    table = report.as_table()
    assert fake_api.requests("feedback") == []
    assert "would send by result (dry run)" in table and "\n  sent by result" not in table
    assert table.splitlines()[-2].split("  ")[-1].strip() == "dry run: nothing written or sent"
    assert "interval is done" not in table and "feedback requests sent" not in table
    [planned] = [line for line in table.splitlines() if "feedback requests planned (dry run)" in line]
    assert planned.split()[-1] == "2"  # resolved/resolved and manually_identified_and_resolved
    assert report.as_markdown().startswith("# HUMAN reconciliation report (DRY RUN: nothing written or sent)")


def test_a_try_that_stops_on_a_database_error_reports_what_is_left_not_done(case_db, fake_api, tmp_path):
    """Issue 26: a try whose ledger could not be created reported "left to do: nothing: the interval is done"."""
    import sqlalchemy as sa

    from airflow_provider_human.client import ClientSettings, HumanClient
    from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
    from airflow_provider_human.reconciliation.ledger import Ledger
    from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
    from tests.conftest import TOKEN

    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    read_only = sa.create_engine(f"sqlite:///file:{case_db.path}?mode=ro&uri=true")  # no ledger can be created
    client = HumanClient(ClientSettings(token=TOKEN, base_url=fake_api.url, requests_per_second=1000))
    try:
        result = Reconciler(client, SqlOutcomeSource(engine=case_db.engine), Ledger(read_only),
                            settings=ReconcileSettings()).run(DAY, NEXT_DAY, "test/run-1/reconcile/-1")  # fmt: skip
    finally:
        client.close()
    assert result.error is not None and fake_api.requests("feedback") == []
    report = result.report
    assert not report.complete and "readonly database" in report.error
    table = report.as_table()
    assert "interval is done" not in table
    assert "left to do" in table and "the try stopped before finishing the interval (OperationalError" in table
    with pytest.raises(Exception, match="readonly database"):
        result.raise_for_outcome()
    paths = report.write(str(tmp_path), try_number=1)
    assert json.loads(open(paths[0]).read())["error"].startswith("OperationalError")
