"""HUMAN_RETRY_POLICY: for each exception class, the decision and the delay Airflow is told."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowException

from airflow_provider_human import exceptions as E
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY, HumanRetryPolicy, human_retry_policy

RETRY, FAIL, DEFAULT = RetryAction.RETRY, RetryAction.FAIL, RetryAction.DEFAULT
API = {"method": "GET", "path": "/api/v2/account_defender/account/a"}


def _decide(exc, policy=HUMAN_RETRY_POLICY):
    decision = policy.evaluate(exc, try_number=1, max_tries=3)
    return decision.action, decision.retry_delay


@pytest.mark.parametrize(
    ("exc", "action", "delay"),
    [
        # rate limits: after what HUMAN asked (Retry-After), else one minute
        (E.HumanRateLimitError("429", http_status=429, retry_after=42, **API), RETRY, timedelta(seconds=42)),
        (E.HumanRateLimitError("429", http_status=429, retry_after=0.2, **API), RETRY, timedelta(seconds=1)),
        (E.HumanRateLimitError("429", http_status=429, retry_after=86400, **API), RETRY, timedelta(hours=1)),
        (E.HumanRateLimitError("429", http_status=429, **API), RETRY, timedelta(minutes=1)),
        # transient: HUMAN failed before acting, or no answer came (the client has already retried)
        (E.HumanServerError("503", http_status=503, **API), RETRY, timedelta(minutes=2)),
        (E.HumanConnectionError("refused", **API), RETRY, timedelta(minutes=2)),
        # the reconciliation's "not done yet": the next try verifies what is in doubt, adopts, finishes
        (E.ReconciliationIncompleteError("1 upload in doubt, verified by lookup on the next try"), RETRY, None),
        (E.DecisionLockTimeoutError("lock held by pid 4242"), RETRY, None),
        # another try cannot fix these: a person acts first
        (E.HumanAuthError("401", http_status=401, **API), FAIL, None),
        (E.HumanAuthError("403", http_status=403, **API), FAIL, None),
        (E.HumanBadRequestError("400", http_status=400, **API), FAIL, None),
        (E.HumanNotFoundError("404", http_status=404, **API), FAIL, None),
        (E.HumanInDoubtError("503 after the body", http_status=503, **API), FAIL, None),
        (E.HumanFeedbackInDoubtError("reset", batch=None, **API), FAIL, None),
        (E.HumanInputError("account_ids", [], "must contain at least one account id"), FAIL, None),
        (E.HumanConfigError("no server token"), FAIL, None),
        (E.ReconciliationAbortedError("too many rejects"), FAIL, None),
        (E.ReconciliationNeedsAttentionError("a reversal"), FAIL, None),
        (E.LedgerSchemaError("no version table"), FAIL, None),
        (E.LedgerNewerThanCodeError("rev 9"), FAIL, None),
        (E.LedgerUpgradeRequiredError("run the upgrade"), FAIL, None),
        # the task's own retries and retry_delay
        (E.HumanResponseError("field 'exists'", **API), DEFAULT, None),
        # some items of a bulk call failed: decided by what their errors are
        (E.HumanLookupFailedError("2 of 5 lookups failed"), DEFAULT, None),  # errors unknown
        (
            E.HumanLookupFailedError(
                "2 failed",
                errors=[
                    E.HumanBadRequestError("400", http_status=400, **API),
                    E.HumanNotFoundError("404", http_status=404, **API),
                ],
            ),
            FAIL,
            None,
        ),
        (
            E.HumanLookupFailedError(
                "2 failed",
                errors=[
                    E.HumanBadRequestError("400", http_status=400, **API),
                    E.HumanRateLimitError("429", retry_after=20, **API),
                    E.HumanServerError("503", http_status=503, **API),
                ],
            ),
            RETRY,
            timedelta(minutes=2),
        ),  # the longest wait any of them asks
        (
            E.HumanIdentityUpdateFailedError("1 failed", errors=[E.HumanRateLimitError("429", retry_after=20, **API)]),
            RETRY,
            timedelta(seconds=20),
        ),
        (E.HumanIdentityUpdateFailedError("1 of 3 identity updates failed"), DEFAULT, None),
        (
            E.HumanIdentityUpdateFailedError(
                "2 failed", errors=[E.HumanResponseError("shape", **API), E.HumanNotFoundError("404", **API)]
            ),
            DEFAULT,
            None,
        ),
        (E.HumanAPIError("HTTP 418", http_status=418, **API), DEFAULT, None),
        (AirflowException("3 items changed since the request listed them"), DEFAULT, None),
        (RuntimeError("database is locked"), DEFAULT, None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_each_exception_class_gets_its_decision_and_delay(exc, action, delay):
    assert _decide(exc) == (action, delay)


def test_every_exception_class_of_the_provider_is_decided_on_purpose():
    """A new exception class must be placed in the table above (or knowingly left to the default)."""
    classes = {c for c in vars(E).values() if isinstance(c, type) and issubclass(c, E.HumanError)}
    covered = {
        E.HumanError, E.HumanNonRetryableError, E.HumanInputError, E.HumanConfigError, E.HumanAPIError,
        E.HumanAuthError, E.HumanBadRequestError, E.HumanNotFoundError, E.HumanRateLimitError,
        E.HumanServerError, E.HumanConnectionError, E.HumanResponseError, E.HumanInDoubtError,
        E.HumanFeedbackInDoubtError, E.HumanPartialFailureError, E.HumanLookupFailedError,
        E.HumanIdentityUpdateFailedError,
        E.ReconciliationAbortedError, E.ReconciliationIncompleteError, E.DecisionLockTimeoutError,
        E.ReconciliationNeedsAttentionError, E.LedgerSchemaError, E.LedgerNewerThanCodeError,
        E.LedgerUpgradeRequiredError,
    }  # fmt: skip
    assert classes == covered


def test_the_reason_says_why_and_names_humans_ask_never_a_token():
    decision = HUMAN_RETRY_POLICY.evaluate(
        E.HumanRateLimitError("HUMAN rate limit", http_status=429, retry_after=30, **API), try_number=1, max_tries=3
    )
    assert "Retry-After" in decision.reason and "30" in decision.reason
    fail = HUMAN_RETRY_POLICY.evaluate(E.HumanAuthError("401", http_status=401, **API), try_number=1, max_tries=3)
    assert "token" in fail.reason and "clear" in fail.reason


def test_the_factory_tunes_the_delays_and_puts_a_users_rules_first():
    from airflow.sdk import RetryRule

    policy = human_retry_policy(
        rate_limit_delay=timedelta(seconds=5), transient_delay=timedelta(seconds=30), max_delay=timedelta(minutes=10),
        rules=[RetryRule(exception=E.HumanServerError, action=RetryAction.FAIL, reason="ours")],
    )  # fmt: skip
    assert _decide(E.HumanRateLimitError("429", http_status=429, **API), policy) == (RETRY, timedelta(seconds=5))
    assert _decide(E.HumanRateLimitError("429", retry_after=3600, **API), policy) == (RETRY, timedelta(minutes=10))
    assert _decide(E.HumanConnectionError("refused", **API), policy) == (RETRY, timedelta(seconds=30))
    assert _decide(E.HumanServerError("503", http_status=503, **API), policy) == (FAIL, None)


def test_the_policy_serializes_and_survives_a_copy():
    data = HUMAN_RETRY_POLICY.serialize()
    assert data["__type"] == "HumanRetryPolicy"
    again = HumanRetryPolicy.deserialize(data)
    exc = E.HumanRateLimitError("429", http_status=429, retry_after=42, **API)
    assert _decide(exc, again) == _decide(exc) == _decide(exc, copy.deepcopy(HUMAN_RETRY_POLICY))
