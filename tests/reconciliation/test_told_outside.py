"""Feedback sent by the plain operator, known to the reconciliation through the ledger (issue 26).

Judged by what the fake API applied: before, a reconciliation after the operator's
``resolved/resolved`` found no Pending incident, no history, and opened a new one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_human.operators.feedback import HumanUploadFeedbackOperator
from tests.reconciliation.conftest import outcome
from tests.reconciliation.test_review_step import FakeTI
from tests.reconciliation.test_why import effects


@pytest.fixture
def send(case_db, human_conn, monkeypatch):
    human_conn(max_retries=0)
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", case_db.url)

    def run(ledger=True, **kwargs):
        op = HumanUploadFeedbackOperator(task_id="feedback", ledger_conn_id="human_case_db" if ledger else None,
                                         **{"account_ids": ["a1"], "attack_type": "ato", "status": "resolved",
                                            "result": "resolved", **kwargs})  # fmt: skip
        return op.execute({"ti": FakeTI()})

    return run


def _then_reconcile(case_db, fake_api, reconcile):
    """The fraud team's export has the case the operator already answered: confirmed fraud."""
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    reconcile(check=False)


def test_the_reconciliation_knows_what_the_operator_sent_and_opens_nothing(case_db, fake_api, reconcile, send):
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    summary = send()
    assert summary["requests"] == 1 and summary["ledger"] == {"sent": 1}
    _then_reconcile(case_db, fake_api, reconcile)
    assert effects(fake_api) == {("a1", "ato", "resolved", "resolved"): 1}  # no manually_identified_and_resolved
    rows = {r["case_id"][:9]: (r["state"], r["decision"]) for r in case_db.ledger_rows()}
    assert rows["operator:"] == ("sent", "true_positive") and rows["c1"][0] == "noop"


def test_without_the_ledger_the_reconciliation_cannot_know(case_db, fake_api, reconcile, send):
    """What the docs warn of: off by default, a second incident is opened."""
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    send(ledger=False)
    _then_reconcile(case_db, fake_api, reconcile)
    assert effects(fake_api)[("a1", "ato", "resolved", "manually_identified_and_resolved")] == 1


def test_an_answer_lost_after_the_effect_fails_without_retry_and_the_days_run_verifies_it(
    case_db, fake_api, reconcile, send
):
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    fake_api.configure(after_apply="status", after_apply_status=503)
    with pytest.raises(AirflowFailException, match="1 upload in doubt"):
        send()
    fake_api.configure(after_apply=None)
    [row] = case_db.ledger_rows()
    assert row["state"] == "in_doubt"
    day = datetime.fromisoformat(row["interval_start"].replace("Z", "+00:00"))
    reconcile(day, day + timedelta(days=1), owner="dag/today/reconcile/-1")  # today's run: adopts, looks up
    assert case_db.ledger_rows()[0]["state"] == "sent"  # verified applied: no Pending ato incident is left
    assert effects(fake_api) == {("a1", "ato", "resolved", "resolved"): 1}


def test_refused_before_acting_is_recorded_not_sent_and_nobody_sends_it_later(case_db, fake_api, reconcile, send):
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    fake_api.configure(override_kinds=["feedback"], override_status=429)
    with pytest.raises(AirflowException, match="1 upload was not applied") as info:
        send()
    assert not isinstance(info.value, AirflowFailException)  # a retry sends them again
    fake_api.configure(override_kinds=None)
    assert case_db.ledger_rows() == []  # told nothing: no row stands for it
    _then_reconcile(case_db, fake_api, reconcile)  # its own decision: confirmed x pending = resolved/resolved
    assert effects(fake_api) == {("a1", "ato", "resolved", "resolved"): 1}
