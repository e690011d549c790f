"""When to retry a request, and how long to wait.

GET and PUT are idempotent, so any transient failure is retried. The feedback POST is
retried only when HUMAN cannot have acted on it (429, or a connection that never opened);
every other failure after the body may have arrived is reported as *in doubt* so the
caller can verify instead of resending. docs/errors.md gives the table and its reasons.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
import tenacity
from urllib3.exceptions import NewConnectionError, ProxyError

RETRYABLE_STATUSES_IDEMPOTENT = frozenset({429, 500, 502, 503, 504})
# Answers that come before HUMAN acts on a request (auth, rate limit, validation): a
# non-idempotent request that got one was not applied. Every other non-2xx may come after.
NOT_APPLIED_STATUSES = frozenset({400, 401, 403, 429})
# Of those, the one worth waiting out: resending after a 429 cannot apply anything twice.
RETRYABLE_STATUSES_NOT_APPLIED = frozenset({429})


@dataclass(frozen=True)
class RawAnswer:
    """A 2xx answer to a non-idempotent request: applied, whatever the body says (or fails to say)."""

    status_code: int
    content: bytes


def parse_retry_after(value: str | None, *, cap: float, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def failed_before_sending(exc: BaseException) -> bool:
    """True when the connection never opened, so no byte of the request reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    return _unopened(exc) is not None


def why_unopened(exc: BaseException) -> str | None:
    """The operating system's words for a connection that never opened ("[Errno 111] Connection
    refused", "[Errno -2] Name or service not known"), from under requests' and urllib3's
    wrappers, whose own text is mostly object reprs; ``None`` when there are none."""
    unopened = _unopened(exc)
    if unopened is None:
        return None
    error, via_proxy = unopened
    cause = error.__cause__ or error.__context__
    if not isinstance(cause, OSError) or not str(cause):
        return None
    return f"the proxy: {cause}" if via_proxy else str(cause)


def _unopened(exc: BaseException) -> tuple[NewConnectionError, bool] | None:
    """urllib3's error for a connection that never opened, and whether it was the proxy's."""
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return None
    reason = getattr(exc.args[0], "reason", None)
    via_proxy = False
    if isinstance(reason, ProxyError):
        via_proxy = True
        # urllib3 (2.x) wraps an error as ProxyError only while the connection to the proxy is
        # not established; a refused or unreachable proxy is its NewConnectionError. Any other
        # proxy failure (a tunnel the proxy refused, TLS to the proxy) stays in doubt.
        reason = reason.original_error
    return (reason, via_proxy) if isinstance(reason, NewConnectionError) else None


@dataclass
class RetryableOutcome(Exception):
    """Raised inside the retry loop to ask for another attempt; carries the final error."""

    error: Exception
    retry_after: float | None = None


class _RetryAfterOrBackoff(tenacity.wait.wait_base):
    """Honour the server's Retry-After when it gave one, else exponential backoff with jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._backoff = tenacity.wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RetryableOutcome) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(retry_state)


def make_retrying(
    *,
    max_retries: int,
    backoff_initial: float,
    backoff_max: float,
    before_sleep: object = None,
    sleep: object = time.sleep,
) -> tenacity.Retrying:
    """A tenacity loop that retries :class:`RetryableOutcome` up to ``max_retries`` times."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=_RetryAfterOrBackoff(backoff_initial, backoff_max),
        retry=tenacity.retry_if_exception_type(RetryableOutcome),
        before_sleep=before_sleep,  # type: ignore[arg-type]
        sleep=sleep,  # type: ignore[arg-type]
        reraise=True,
    )
