"""The HTTP transport: one pooled session, the rate limiter, retries, and what each answer means.

It knows nothing of accounts, feedback or identities: every call says whether it is
idempotent, and that flag alone decides what a failure means. An idempotent call returns
the decoded JSON body and is retried on any transient failure; a non-idempotent one returns
a :class:`RawAnswer` (any 2xx means applied, whatever its body) and is retried only on
answers that come before the server acts. docs/errors.md has the table and its reasons.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import tenacity

from airflow_provider_human.client.presend import PRE_SEND_ERRORS, refused_before_sending
from airflow_provider_human.client.rate_limit import RateLimiter
from airflow_provider_human.client.retry import (
    NOT_APPLIED_STATUSES,
    RETRYABLE_STATUSES_IDEMPOTENT,
    RETRYABLE_STATUSES_NOT_APPLIED,
    RawAnswer,
    RetryableOutcome,
    failed_before_sending,
    make_retrying,
    parse_retry_after,
    why_unopened,
)
from airflow_provider_human.client.session import build_session
from airflow_provider_human.client.settings import ClientSettings
from airflow_provider_human.exceptions import (
    HumanAPIError,
    HumanConfigError,
    HumanConnectionError,
    HumanInDoubtError,
    HumanResponseError,
    error_for_status,
)

log = logging.getLogger(__name__)


class Limiter(Protocol):
    """What the transport asks of a rate limiter: this task's :class:`RateLimiter` or a shared budget."""

    def acquire(self) -> None: ...

    def notify_rate_limited(self, retry_after: float | None = None) -> None: ...


class Transport:
    """Sends one logical request at a time (threads share it): rate limited, retried, errors typed.

    :param settings: connection settings, including the server token.
    :param session: an existing session to use (one is built otherwise).
    :param sleep: how to wait for retries and the rate limiter (tests pass a recorder).
    :param rate_limiter: a shared budget (``budget.shares.SharedBudget``); default: this client's own limiter.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rate_limiter: Limiter | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or build_session(settings)
        self.rate_limiter: Limiter = rate_limiter or RateLimiter(settings.requests_per_second, sleep=sleep)
        self._sleep = sleep

    def close(self) -> None:
        self.session.close()
        close = getattr(self.rate_limiter, "close", None)
        if close is not None:  # a shared budget: give this task's share back now
            close()

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        base_url: str | None = None,
        max_retries: int | None = None,
    ) -> Any:
        """One logical request: the decoded JSON body (idempotent) or a :class:`RawAnswer` (not).

        A non-idempotent request that failed after its body may have arrived raises
        :class:`HumanInDoubtError`; it is never retried blindly.
        """
        url = (base_url or self.settings.base_url) + path
        url_field = "host" if base_url in (None, self.settings.base_url) else "identity_base_url"
        retries = self.settings.max_retries if max_retries is None else max_retries

        def announce(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            cause = exc.error if isinstance(exc, RetryableOutcome) else exc
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("HUMAN %s %s failed (%s); retry %d/%d in %.2f s", method, path, _short(cause),
                        state.attempt_number, retries, wait)  # fmt: skip

        retrying = make_retrying(
            max_retries=retries,
            backoff_initial=self.settings.backoff_initial,
            backoff_max=self.settings.backoff_max,
            before_sleep=announce,
            sleep=self._sleep,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._exchange(method, url, url_field, path, params, json_body, idempotent)
                    self._judge(response, method, path, idempotent)
                    if not idempotent:
                        return RawAnswer(response.status_code, response.content)
                    return self._decode(response, method, path)
        except RetryableOutcome as final:
            raise final.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(
        self, method: str, url: str, url_field: str, path: str, params: Any, json_body: Any, idempotent: bool
    ) -> requests.Response:
        """One attempt on the wire, rate limited; a failure without an answer becomes a typed error."""
        self.rate_limiter.acquire()
        try:
            return self.session.request(
                method, url, params=params, json=json_body, timeout=self.settings.timeout, allow_redirects=False
            )
        except PRE_SEND_ERRORS as exc:  # refused while the request was built: not applied, not retried
            raise refused_before_sending(exc, url, url_field, self.settings.proxy, self.session) from None
        except requests.exceptions.RequestException as exc:
            raise self._no_answer(exc, method, url, path, idempotent) from None
        except ValueError:
            # requests refuses header values it cannot send and quotes them: the token would show.
            raise HumanConfigError(
                "The request could not be built (a header value, such as the server token, holds characters "
                "HTTP does not allow); the value is not shown"
            ) from None

    def _judge(self, response: requests.Response, method: str, path: str, idempotent: bool) -> None:
        """What a non-2xx answer means: retry, in doubt (not idempotent), or a final typed error."""
        status = response.status_code
        if 200 <= status < 300:
            return
        api_message = self._api_message(response)
        retry_after = asked = None
        if status == 429:
            header = response.headers.get("Retry-After")
            retry_after = parse_retry_after(header, cap=self.settings.max_retry_after)
            asked = parse_retry_after(header, cap=math.inf)  # the error keeps HUMAN's own ask, for a task retry
            self.rate_limiter.notify_rate_limited(retry_after)
        if not idempotent and status not in NOT_APPLIED_STATUSES:
            raise HumanInDoubtError(
                f"HUMAN answered {status} to a request it may already have acted on",
                http_status=status, api_message=api_message, method=method, path=path,
            )  # fmt: skip
        error = error_for_status(status)(
            _describe(status), http_status=status, api_message=api_message, method=method, path=path,
            retry_after=asked,
        )  # fmt: skip
        if status in (RETRYABLE_STATUSES_IDEMPOTENT if idempotent else RETRYABLE_STATUSES_NOT_APPLIED):
            raise RetryableOutcome(error, retry_after)
        raise error

    def _no_answer(
        self, exc: requests.exceptions.RequestException, method: str, url: str, path: str, idempotent: bool
    ) -> Exception:
        """A failure without an HTTP answer: retryable when safe, else in doubt (never carries headers)."""
        before = failed_before_sending(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            message = f"TLS verification failed for {_host(url)}: {self.scrub(_short(exc))}"
            return HumanConnectionError(message, method=method, path=path)  # the handshake came first: nothing sent
        if isinstance(exc, requests.exceptions.Timeout) and not before:
            message = f"HUMAN did not answer within {self.settings.timeout} s"
        elif before:
            message = f"Could not reach HUMAN at {_host(url)} ({self.scrub(why_unopened(exc) or _short(exc))})"
        else:
            message = f"Connection to HUMAN at {_host(url)} failed mid-request ({self.scrub(_short(exc))})"
        if not idempotent and not before:
            return HumanInDoubtError(message, method=method, path=path)
        return RetryableOutcome(HumanConnectionError(message, method=method, path=path))

    @staticmethod
    def _decode(response: requests.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise HumanResponseError(
                f"HUMAN answered {response.status_code} with a body that is not JSON",
                http_status=response.status_code,
                method=method,
                path=path,
            ) from None

    def _api_message(self, response: requests.Response) -> str | None:
        """The API's own error text: ``content`` (Account Defender) or ``code: message`` (identity)."""
        text: str | None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "content" in body:
            text = str(body["content"])
        elif isinstance(body, dict) and ("message" in body or "code" in body):
            text = ": ".join(str(body[k]) for k in ("code", "message") if body.get(k) is not None)
        else:
            text = response.text[:300] if response.text else None
        return self.scrub(text) if text else None

    def scrub(self, text: str) -> str:
        """Remove the token from any text that might be shown (defence in depth)."""
        token = self.settings.token
        return text.replace(token, "***") if token and token in text else text


def _describe(status: int) -> str:
    return {
        400: "HUMAN rejected the request (bad request)",
        401: "HUMAN refused the server token (unauthorized)",
        403: "HUMAN refused the server token (forbidden)",
        404: "Not found at HUMAN",
        429: "HUMAN rate limit still exceeded after retries",
    }.get(status, f"HUMAN answered HTTP {status}")


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _short(exc: object) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, HumanAPIError):
        return exc.message if exc.http_status is None else f"HTTP {exc.http_status}"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:200] + "..."
