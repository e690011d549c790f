"""The review step decides a Resend with what the day's reconciliation decided with (issue 27).

Judged by what the fake API applied: the policy table, the v2 incident names and the lease
of the reconciliation task, passed to the review task as the same objects.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_human.operators import review as review_module
from airflow_provider_human.operators.review import HumanReconciliationReviewOperator
from tests.reconciliation.conftest import NEXT_DAY, outcome
from tests.reconciliation.test_review_step import ON_DAY_2, FakeTI, answer
from tests.reconciliation.test_why import effects

DAY_3 = datetime(2026, 11, 20, tzinfo=UTC)
#: the team's table: a confirmed fraud on an account AD already flags is not told again
TEAM_POLICY = {"confirmed_fraud": {"pending": "skip:team_rule"}}
#: the team's HUMAN tenant names its account-takeover incidents otherwise
TEAM_NAMES = {"ato": ["credential_abuse"], "fake_account": ["fake_account"]}


@pytest.fixture
def open_review(case_db, human_conn, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", case_db.url)
    monkeypatch.setattr(review_module.HITLOperator, "execute", lambda self, context: None)

    def run(**deciding):
        op = HumanReconciliationReviewOperator(task_id="review", reports_dir=str(tmp_path / "reports"),
                                               interval_end=DAY_3.isoformat(), **deciding)  # fmt: skip
        context = {"ti": FakeTI(), "data_interval_end": DAY_3}
        op.execute(context)
        return op, context

    return run


def a_reversal(case_db, fake_api, reconcile, **deciding):
    """Day 1 told AD "legitimate" (no_attack); day 2 says confirmed fraud while AD flags it again."""
    case_db.add(outcome("c1", "a1", "legitimate"), outcome("c2", "a1", "confirmed_fraud", closed_at=ON_DAY_2))
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    reconcile(**deciding)
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    reconcile(NEXT_DAY, DAY_3, owner="dag/day-2", fail_on_review=False, **deciding)
    assert effects(fake_api) == {("a1", "ato", "resolved", "no_attack"): 1}
    assert case_db.ledger_rows("case_id = 'c2'")[0]["review"] == "reversal"


def test_a_resend_decides_by_the_reconciliations_policy_not_the_default(case_db, fake_api, reconcile, open_review):
    a_reversal(case_db, fake_api, reconcile, policy=TEAM_POLICY)
    op, context = open_review(policy=TEAM_POLICY)
    answer(op, context, "Decide again by the table")
    # the default table would send resolved/resolved; the team's says skip
    assert effects(fake_api) == {("a1", "ato", "resolved", "no_attack"): 1}
    row = case_db.ledger_rows("case_id = 'c2'")[0]
    assert (row["state"], row["decision"], row["reason"]) == ("noop", "skip", "team_rule")


def test_a_resend_reads_ad_with_the_reconciliations_v2_incident_names(case_db, fake_api, reconcile, open_review):
    fake_api.configure(v2_incident_names={"ato": "credential_abuse"})
    a_reversal(case_db, fake_api, reconcile, v2_incident_names=TEAM_NAMES)
    op, context = open_review(v2_incident_names=TEAM_NAMES)
    answer(op, context, "Decide again by the table")
    # with the default names "credential_abuse" is unknown: ambiguous, back to a person, nothing sent
    assert effects(fake_api) == {("a1", "ato", "resolved", "no_attack"): 1, ("a1", "ato", "resolved", "resolved"): 1}
    assert case_db.ledger_rows("case_id = 'c2'")[0]["state"] == "sent"


def test_the_review_holds_its_rows_with_the_reconciliations_lease(case_db, human_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", case_db.url)
    op = HumanReconciliationReviewOperator(task_id="review", lease_seconds=600)
    assert op._ledger().lease_seconds == 600.0


def test_the_example_dags_pass_the_review_the_reconciliations_objects(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.test_example_dags import DAGS

    bag = DagBag(dag_folder=str(DAGS))
    reconcile = bag.dags["human_case_reconciliation"].get_task("reconcile_case_outcomes")
    review = bag.dags["human_case_review"].get_task("review")
    for name in ("policy", "v2_incident_names", "lease_seconds", "per_case_comments"):
        assert getattr(review, name) == reconcile.partial_kwargs.get(name, getattr(reconcile, name, None)), name
