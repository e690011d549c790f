"""A bulk operator's partial failure carries its items' errors, and the policy decides from them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk import RetryAction

from airflow_provider_human.exceptions import HumanIdentityUpdateFailedError, HumanLookupFailedError
from airflow_provider_human.operators.account import HumanAccountInfoOperator
from airflow_provider_human.operators.identity import HumanUpdateIdentityOperator
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY


def _decision(exc):
    return HUMAN_RETRY_POLICY.evaluate(exc, try_number=1, max_tries=3)


def test_lookups_refused_for_good_fail_the_task_at_once(human_conn, fake_api):
    fake_api.configure(lookup_status={"gone": 404, "bad": 400})
    with pytest.raises(HumanLookupFailedError) as err:
        HumanAccountInfoOperator(task_id="t", account_ids=["ok", "gone", "bad"]).execute({})
    assert len(err.value.errors) == 2
    assert _decision(err.value).action is RetryAction.FAIL


def test_rate_limited_lookups_retry_after_humans_ask(human_conn, fake_api):
    human_conn(max_retries=0)
    fake_api.configure(rate_limit_rps=0.001, rate_limit_burst=1, retry_after=45)
    with pytest.raises(HumanLookupFailedError) as err:
        HumanAccountInfoOperator(task_id="t", account_ids=["a1", "a2", "a3"], max_workers=1).execute({})
    decision = _decision(err.value)
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, timedelta(seconds=45))


def test_identity_updates_that_hit_an_outage_retry(human_conn, fake_api):
    human_conn(max_retries=0)
    fake_api.seed_identities([{"id": "id-1"}])
    fake_api.configure(failure_rate=1.0, failure_status=503, fault_kinds=["identity"])
    with pytest.raises(HumanIdentityUpdateFailedError) as err:
        HumanUpdateIdentityOperator(task_id="t", identity_id="id-1", metadata={"tier": "gold"}).execute({})
    assert (_decision(err.value).action, _decision(err.value).retry_delay) == (RetryAction.RETRY, timedelta(minutes=2))
