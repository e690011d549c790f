"""HUMAN_RETRY_POLICY on what a real reconciliation try raises: in doubt is retried, so the retry verifies it."""

from __future__ import annotations

from airflow.sdk import RetryAction

from airflow_provider_human.exceptions import HumanAuthError, ReconciliationIncompleteError
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY
from tests.reconciliation.conftest import outcome
from tests.reconciliation.test_engine import seed_states, uploads


def _decision(error):
    return HUMAN_RETRY_POLICY.evaluate(error, try_number=1, max_tries=3)


def test_a_try_that_leaves_uploads_in_doubt_is_retried_and_the_retry_verifies_them(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "suspected_fraud"), outcome("c2", "a2", "legitimate"))
    seed_states(fake_api, none=["a1"], pending=["a2"])
    fake_api.configure(failure_rate=1.0, failure_status=502, fault_kinds=["feedback"])  # in doubt, not applied
    first, result = reconcile(check=False)
    assert isinstance(result.error, ReconciliationIncompleteError) and first.counts["in_doubt"] >= 2
    decision = _decision(result.error)
    assert decision.action is RetryAction.RETRY and "in doubt" in str(result.error) and "in doubt" in decision.reason
    fake_api.configure(failure_rate=0.0)
    retry, _ = reconcile()  # the retry the policy asked for
    assert retry.counts["verified_not_applied"] == 2
    assert uploads(fake_api) == {("a1", "ato", "resolved", "manually_identified"): 1,
                                 ("a2", "ato", "resolved", "no_attack"): 1}  # fmt: skip


def test_rate_limited_lookups_leave_the_day_for_a_retry(case_db, fake_api, reconcile, make_client):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, pending=["a1"])
    fake_api.configure(rate_limit_rps=0.001, rate_limit_burst=1, retry_after=30)
    make_client().get_account_info_v2("spend-the-one-token")
    _, result = reconcile(check=False, client=make_client(max_retries=0))
    assert isinstance(result.error, ReconciliationIncompleteError)
    assert _decision(result.error).action is RetryAction.RETRY
    assert fake_api.effects() == []


def test_a_revoked_token_fails_the_try_at_once_with_nothing_in_doubt(case_db, fake_api, reconcile):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "confirmed_fraud") for i in range(3)])
    seed_states(fake_api, pending=[f"a{i}" for i in range(3)])
    fake_api.configure(revoke_after_feedback=1)
    _, result = reconcile(check=False, batch_size=1)
    assert isinstance(result.error, HumanAuthError)
    assert _decision(result.error).action is RetryAction.FAIL
    assert {r["state"] for r in case_db.ledger_rows()} == {"sent", "planned"}  # planned: never sent, a rerun sends
