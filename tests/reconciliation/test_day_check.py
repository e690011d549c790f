"""The day check: a reconciliation run is green only when its day is done, and never waits for a person."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_human.operators.day_check import HumanReconciliationDayCheckOperator
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states


@pytest.fixture
def check(case_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", case_db.url)

    def run(start=DAY, end=NEXT_DAY, **kwargs):
        op = HumanReconciliationDayCheckOperator(task_id="day_done", **kwargs)
        return op.execute({"data_interval_start": start, "data_interval_end": end})

    return run


def test_a_done_day_is_green_with_its_truth(case_db, fake_api, reconcile, check):
    case_db.add(outcome("c1", "a1", "suspected_fraud"))
    seed_states(fake_api, none=["a1"])
    reconcile()
    truth = check()
    assert truth["sent_by_result"] == {"manually_identified": 1} and truth["needing_review"] == 0


def test_a_day_with_items_for_a_person_fails_at_once_naming_them_and_the_review_dag(
    case_db, fake_api, reconcile, check
):
    case_db.add(
        outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a1", "legitimate", closed_at="2026-11-19T10:00:00Z")
    )
    seed_states(fake_api, none=["a1"])
    reconcile()
    day2 = datetime(2026, 11, 20, tzinfo=UTC)
    reconcile(NEXT_DAY, day2, owner="dag/day-2", fail_on_review=False)  # a reversal, handed over
    assert check()["needing_review"] == 0  # day 1 is done: not held by day 2's item
    with pytest.raises(AirflowFailException, match=r"1 item of 2026-11-19 wait for a person: .*DAG human_case_review"):
        check(NEXT_DAY, day2)


def test_unfinished_outcomes_fail_for_retry_and_a_dry_run_checks_nothing(case_db, fake_api, reconcile, check):
    case_db.add(outcome("c1", "a1", "suspected_fraud"))
    seed_states(fake_api, none=["a1"])
    fake_api.configure(override_kinds=["feedback"], override_status=429)
    reconcile(check=False, wait_for_others_seconds=0)
    with pytest.raises(AirflowException, match=r"1 outcome.* not finished yet") as info:
        check()
    assert not isinstance(info.value, AirflowFailException)
    assert check(dry_run="True")["dry_run"] is True


def test_no_ledger_yet_is_a_done_day(case_db, check):
    assert check()["dry_run"] is False
