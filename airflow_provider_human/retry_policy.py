"""An Airflow ``retry_policy`` for HUMAN tasks: wait out what HUMAN asks, never retry what a try cannot fix.

Airflow 3.3 asks a task's ``retry_policy`` what to do with the exception that ended a try.
This one retries rate limits after HUMAN's ``Retry-After`` (which the client has already
waited out ``max_retries`` times inside the try), retries outages and the reconciliation's
"not done yet" (its next try verifies uploads in doubt by lookup), and fails at once on
what only a person can fix: the token, the input, the settings, and a feedback upload in
doubt that a retry would resend blindly. Everything else keeps the task's own ``retries``
and ``retry_delay``. docs/operators.md ("Retries") has the table.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryDecision, RetryRule

from airflow_provider_human.exceptions import (
    HumanAPIError,
    HumanAuthError,
    HumanBadRequestError,
    HumanConnectionError,
    HumanInDoubtError,
    HumanNonRetryableError,
    HumanNotFoundError,
    HumanPartialFailureError,
    HumanRateLimitError,
    HumanServerError,
    ReconciliationIncompleteError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk.definitions.context import Context

__all__ = ["HUMAN_RETRY_POLICY", "HumanRetryPolicy", "human_retry_policy", "human_retry_rules"]

RATE_LIMIT_DELAY = timedelta(minutes=1)  # a 429 that named no Retry-After
TRANSIENT_DELAY = timedelta(minutes=2)  # an outage the client's own backoff (about a minute) did not outlast
MAX_DELAY = timedelta(hours=1)  # the longest Retry-After honoured; a longer ask waits this long
MIN_DELAY = timedelta(seconds=1)


def human_retry_rules(
    *, rate_limit_delay: timedelta = RATE_LIMIT_DELAY, transient_delay: timedelta = TRANSIENT_DELAY
) -> list[RetryRule]:
    """The rules, in the order they are tried (first match wins); a ``Retry-After`` replaces a rule's delay."""
    return [
        RetryRule(
            exception=ReconciliationIncompleteError,
            action=RetryAction.RETRY,
            reason="The interval is not done yet (held, waiting or in doubt): the next try finishes it and "
            "verifies uploads in doubt by lookup",
        ),
        RetryRule(
            exception=HumanRateLimitError,
            action=RetryAction.RETRY,
            retry_delay=rate_limit_delay,
            reason="HUMAN rate limit (429)",
        ),
        RetryRule(
            exception=HumanAuthError,
            action=RetryAction.FAIL,
            reason="HUMAN refused the server token (401/403): fix the connection's token, then clear the task",
        ),
        RetryRule(
            exception=[HumanBadRequestError, HumanNotFoundError],
            action=RetryAction.FAIL,
            reason="HUMAN rejected the request (400/404): another try sends the same; fix the input",
        ),
        RetryRule(
            exception=HumanInDoubtError,
            action=RetryAction.FAIL,
            reason="A feedback upload outside the ledger is in doubt (HUMAN may have applied it): a retry would "
            "resend it blindly; look the accounts up, or upload with ledger_conn_id",
        ),
        RetryRule(
            exception=HumanNonRetryableError,
            action=RetryAction.FAIL,
            reason="Input, settings or the ledger need a person first",
        ),
        RetryRule(
            exception=[HumanServerError, HumanConnectionError],
            action=RetryAction.RETRY,
            retry_delay=transient_delay,
            reason="HUMAN unavailable (5xx before acting, or no answer)",
        ),
    ]


class HumanRetryPolicy(ExceptionRetryPolicy):
    """:class:`~airflow.sdk.ExceptionRetryPolicy` whose retry waits what HUMAN asked (``retry_after``).

    :param rules: the rules (see :func:`human_retry_rules`); unmatched exceptions get the task's default.
    :param max_delay: the longest wait a ``Retry-After`` may ask for.
    """

    def __init__(self, rules: list[RetryRule], *, max_delay: timedelta = MAX_DELAY) -> None:
        super().__init__(rules=rules, default=RetryAction.DEFAULT)
        self.max_delay = max_delay

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Context | None = None
    ) -> RetryDecision:
        if isinstance(exception, HumanPartialFailureError) and exception.errors:
            return self._items(exception, try_number, max_tries, context)
        return self._one(exception, try_number, max_tries, context)

    def _items(
        self, exception: HumanPartialFailureError, try_number: int, max_tries: int, context: Context | None
    ) -> RetryDecision:
        """Some items failed: fail when none of their errors is worth a retry, else wait the longest ask."""
        distinct = {(type(e), getattr(e, "retry_after", None)): e for e in exception.errors}
        decisions = [self._one(e, try_number, max_tries, context) for e in distinct.values()]
        retries = [d for d in decisions if d.action is RetryAction.RETRY]
        if retries:
            delays = [d.retry_delay for d in retries if d.retry_delay is not None]
            reasons = sorted({d.reason or "" for d in retries})
            return RetryDecision.retry(
                max(delays) if delays else None, f"Some items may pass on retry: {'; '.join(reasons)}"
            )
        if all(d.action is RetryAction.FAIL for d in decisions):
            return RetryDecision.fail(
                f"Every failed item failed for good: {'; '.join(sorted({d.reason or '' for d in decisions}))}"
            )
        return RetryDecision.default()

    def _one(self, exception: BaseException, try_number: int, max_tries: int, context: Context | None) -> RetryDecision:
        decision = super().evaluate(exception, try_number, max_tries, context)
        asked = exception.retry_after if isinstance(exception, HumanAPIError) else None
        delay = decision.retry_delay
        if decision.action is RetryAction.RETRY and asked is not None:
            delay = timedelta(seconds=asked)
            decision = replace(decision, reason=f"{decision.reason}; HUMAN's Retry-After asked for {asked:g} s")
        if delay is not None:
            decision = replace(decision, retry_delay=min(max(delay, MIN_DELAY), self.max_delay))
        return decision

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "__type": "HumanRetryPolicy", "max_delay": self.max_delay.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> HumanRetryPolicy:
        rules = [RetryRule.deserialize(r) for r in data["rules"]]
        return cls(rules, max_delay=timedelta(seconds=data.get("max_delay", MAX_DELAY.total_seconds())))


def human_retry_policy(
    *,
    rules: Sequence[RetryRule] = (),
    rate_limit_delay: timedelta = RATE_LIMIT_DELAY,
    transient_delay: timedelta = TRANSIENT_DELAY,
    max_delay: timedelta = MAX_DELAY,
) -> HumanRetryPolicy:
    """The policy with other delays, and ``rules`` of your own tried before HUMAN's."""
    human = human_retry_rules(rate_limit_delay=rate_limit_delay, transient_delay=transient_delay)
    return HumanRetryPolicy([*rules, *human], max_delay=max_delay)


#: The policy the example DAGs use: ``default_args={"retry_policy": HUMAN_RETRY_POLICY, "retries": 2}``.
HUMAN_RETRY_POLICY = human_retry_policy()
