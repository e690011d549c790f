"""HumanClient: typed calls to HUMAN Account Defender and the identity API.

Plain Python (no Airflow): the hook builds one from a connection, tests and scripts can
build one from :class:`ClientSettings` directly.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import tenacity

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.concurrency import bounded_map
from airflow_provider_human.client.errors import (
    HumanAPIError,
    HumanAuthError,
    HumanConfigError,
    HumanConnectionError,
    HumanError,
    HumanFeedbackInDoubtError,
    HumanInDoubtError,
    HumanInputError,
    HumanResponseError,
    error_for_identity_code,
    error_for_status,
)
from airflow_provider_human.client.feedback import chunks
from airflow_provider_human.client.models import (
    AccountInfoV1,
    AccountInfoV2,
    AccountLookupResult,
    FeedbackBatchResult,
    FeedbackGroupKey,
    FeedbackRequest,
    FeedbackUploadResult,
    IdentityDetails,
    IdentityUpdate,
    IdentityUpdateResult,
    parse_response,
    refuse_dot_segment,
    validate_account_id,
)
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
)
from airflow_provider_human.client.session import build_session
from airflow_provider_human.client.settings import ClientSettings

log = logging.getLogger(__name__)

V1_ACCOUNT_PATH = "/api/v1/account_defender/account/{account_id}"
V2_ACCOUNT_PATH = "/api/v2/account_defender/account/{account_id}"
FEEDBACK_PATH = "/api/v1/account_defender/account/update_status"
IDENTITY_PATH = "/api/v1/identity/{identity_id}"
CONNECTION_TEST_ACCOUNT = "airflow-connection-test"


def path_segment(value: str, field: str = "account_id") -> str:
    """Percent-encode an id as exactly one path segment (``/ ? #`` and ``%`` included).

    ``.`` and ``..`` are refused: they are dot-segments, which URL normalisation removes
    (``requests`` itself turns ``%2E`` back into ``.``), so no encoding reaches HUMAN intact.
    """
    return quote(refuse_dot_segment(value, field), safe="")


class HumanClient:
    """Sessions, retries, rate limiting and typed models for the HUMAN APIs.

    :param settings: connection settings, including the server token.
    :param session: an existing session to use (one is built otherwise).
    :param sleep: how to wait for retries and the rate limiter (tests pass a recorder).
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.session = session or build_session(settings)
        self.rate_limiter = RateLimiter(settings.requests_per_second, sleep=sleep)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"HumanClient(base_url={self.settings.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HumanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ account lookups

    def get_account_info(self, account_id: str, attack_types: Iterable[object] | None = None) -> AccountInfoV1:
        """v1 lookup (the vendor will deprecate it; prefer :meth:`get_account_info_v2`)."""
        account_id = validate_account_id(account_id)
        params = _v1_params(attack_types)
        path = V1_ACCOUNT_PATH.format(account_id=path_segment(account_id))
        body = self.request("GET", path, params=params)
        return parse_response(AccountInfoV1, body, method="GET", path=path)

    def get_account_info_v2(self, account_id: str, days_range: int = 30) -> AccountInfoV2:
        """v2 lookup: attack status, Pending incidents and aggregates (contains personal data)."""
        account_id = validate_account_id(account_id)
        _check_days_range(days_range)
        path = V2_ACCOUNT_PATH.format(account_id=path_segment(account_id))
        body = self.request("GET", path, params={"days_range": days_range})
        return parse_response(AccountInfoV2, body, method="GET", path=path)

    def iter_account_info(
        self,
        account_ids: Iterable[object],
        *,
        api_version: int = 2,
        days_range: int = 30,
        attack_types: Iterable[object] | None = None,
        max_workers: int | None = None,
    ) -> Iterator[AccountLookupResult]:
        """Look up many accounts concurrently, streaming: one result (info or error) per id.

        Results come in completion order. Memory stays flat however many ids come in. An
        auth error stops the iteration (every further call would fail the same way);
        other per-account failures are yielded as results.
        """
        if api_version not in (1, 2):
            raise HumanInputError("api_version", api_version, "must be 1 or 2")
        if api_version == 2:
            _check_days_range(days_range)
        else:
            _v1_params(attack_types)  # validate once, before any request
        workers = self._workers(max_workers)
        attack_list = list(attack_types) if attack_types is not None else None

        def lookup(raw_id: object) -> AccountLookupResult:
            shown = raw_id if isinstance(raw_id, str) else repr(raw_id)
            try:
                account_id = validate_account_id(raw_id)
                if api_version == 2:
                    return AccountLookupResult(account_id, info=self.get_account_info_v2(account_id, days_range))
                return AccountLookupResult(account_id, info=self.get_account_info(account_id, attack_list))
            except HumanAuthError:
                raise
            except HumanError as exc:
                return AccountLookupResult(shown, error=exc)

        yield from bounded_map(lookup, account_ids, max_workers=workers, thread_name_prefix="human-lookup")

    # ------------------------------------------------------------ feedback

    def send_feedback(self, batch: FeedbackRequest) -> int:
        """Send one ``update_status`` request; returns the HTTP status (200).

        Retried only when HUMAN cannot have acted on it; otherwise raises
        :class:`HumanFeedbackInDoubtError` carrying ``batch``.
        """
        if not batch.account_ids:
            raise HumanInputError("account_ids", [], "a feedback batch needs at least one account id")
        try:
            return self.request("POST", FEEDBACK_PATH, json_body=batch.to_body(), idempotent=False).status_code
        except HumanInDoubtError as exc:
            raise HumanFeedbackInDoubtError(
                exc.message + "; the feedback may or may not have been applied",
                batch=batch,
                status_code=exc.status_code,
                api_message=exc.api_message,
                method=exc.method,
                path=exc.path,
            ) from None

    def upload_feedback(
        self,
        account_ids: Iterable[object],
        *,
        attack_type: object,
        status: object,
        result: object = None,
        comment: object = None,
        batch_size: int | None = None,
    ) -> FeedbackUploadResult:
        """Validate everything, drop duplicate ids, then send in batches (one request each).

        If a batch fails, the exception carries ``upload_result`` with the batches already sent.
        """
        key = FeedbackGroupKey.build(attack_type=attack_type, status=status, result=result, comment=comment)
        size = self._batch_size(batch_size)
        ids, submitted = dedupe_account_ids(account_ids)
        if not ids:
            raise HumanInputError("account_ids", account_ids, "must contain at least one account id")
        outcome = FeedbackUploadResult(accounts_submitted=submitted, duplicates_dropped=submitted - len(ids))
        for number, chunk in enumerate(chunks(ids, size), start=1):
            batch = key.request(chunk)
            try:
                code = self.send_feedback(batch)
            except HumanError as exc:
                exc.upload_result = outcome  # type: ignore[attr-defined]
                raise
            outcome.batches.append(
                FeedbackBatchResult(number, key.attack_type, key.status, key.result, len(batch.account_ids), code)
            )
            log.info(
                "HUMAN feedback batch %d: %d accounts, %s/%s/%s",
                number,
                len(batch.account_ids),
                key.attack_type.feedback_code,
                key.status.value,
                key.result.value if key.result else "-",
            )
        return outcome

    # ------------------------------------------------------------ identities

    def update_identity(
        self, identity_id: str, *, factors: Iterable[object] | None = None, metadata: dict[str, str] | None = None
    ) -> IdentityDetails:
        """PUT an identity's factors and/or metadata on the identity service."""
        return self._put_identity(IdentityUpdate.build(identity_id, factors, metadata))

    def iter_update_identity(
        self, updates: Iterable[object], *, max_workers: int | None = None
    ) -> Iterator[IdentityUpdateResult]:
        """Apply many identity updates concurrently; one result (details or error) each."""

        def apply(raw: object) -> IdentityUpdateResult:
            ident = raw.get("identity_id") if isinstance(raw, dict) else None
            shown = ident if isinstance(ident, str) else repr(ident)
            try:
                if not isinstance(raw, dict):
                    raise HumanInputError("updates[]", raw, "each update must be an object with identity_id")
                unknown = set(raw) - {"identity_id", "factors", "metadata"}
                if unknown:
                    raise HumanInputError("updates[]", sorted(unknown), "unknown keys in an identity update")
                update = IdentityUpdate.build(raw.get("identity_id"), raw.get("factors"), raw.get("metadata"))
                return IdentityUpdateResult(update.identity_id, details=self._put_identity(update))
            except HumanAuthError:
                raise
            except HumanError as exc:
                return IdentityUpdateResult(shown, error=exc)

        workers = self._workers(max_workers)
        yield from bounded_map(apply, updates, max_workers=workers, thread_name_prefix="human-identity")

    def _put_identity(self, update: IdentityUpdate) -> IdentityDetails:
        path = IDENTITY_PATH.format(identity_id=path_segment(update.identity_id, "identity_id"))
        try:
            body = self.request("PUT", path, json_body=update.to_body(), base_url=self.settings.identity_base_url)
        except HumanAPIError as exc:  # the body's code says more than the status (bad_authtoken on a 400...)
            code = (exc.api_message or "").split(":", 1)[0].strip()
            kind = error_for_identity_code(code)
            if kind is None or isinstance(exc, kind):
                raise
            raise kind(f"identity update refused: {code}", status_code=exc.status_code, api_message=exc.api_message,
                       method="PUT", path=path) from None  # fmt: skip
        if isinstance(body, dict) and body.get("status") == "error":  # an error answered with a 2xx
            code, message = body.get("code"), body.get("message")
            kind = error_for_identity_code(code) or HumanAPIError
            api_message = ": ".join(str(x) for x in (code, message) if x is not None) or None
            raise kind(f"identity update refused: {code}", status_code=200, api_message=api_message, method="PUT",
                       path=path)  # fmt: skip
        if not isinstance(body, dict) or body.get("status") != "success" or "details" not in body:
            raise HumanResponseError(
                "identity update did not answer {status: success, details}", method="PUT", path=path
            )
        return parse_response(IdentityDetails, body["details"], method="PUT", path=path)

    # ------------------------------------------------------------ connection test

    def check_connection(self) -> tuple[bool, str]:
        """A side-effect-free GET that tells a refused token from an unreachable host or TLS failure."""
        base = self.settings.base_url
        path = V2_ACCOUNT_PATH.format(account_id=CONNECTION_TEST_ACCOUNT)
        try:
            self.request("GET", path, params={"days_range": 1}, max_retries=0)
        except HumanAuthError as exc:
            return False, (
                f"HUMAN refused the server token (HTTP {exc.status_code}) at {base}: check that the "
                "connection's Server token field holds a valid, unexpired server token for this application."
            )
        except HumanConnectionError as exc:
            return False, exc.message
        except HumanConfigError as exc:
            return False, str(exc)
        except HumanAPIError as exc:
            return False, f"HUMAN at {base} answered an unexpected error: {exc}"
        return True, f"Connected to HUMAN at {base}: the server token was accepted."

    # ------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        base_url: str | None = None,
        idempotent: bool = True,
        max_retries: int | None = None,
    ) -> Any:
        """Send one logical request with rate limiting and retries.

        Idempotent requests return the decoded JSON body and are retried on any transient
        failure. A non-idempotent request (the feedback POST) returns a :class:`RawAnswer`:
        any 2xx means applied, whatever its body; it is retried only on answers that come
        before HUMAN acts (429, or a connection that never opened); every other failure after
        the body may have arrived raises :class:`HumanInDoubtError` (docs/errors.md has the table).
        """
        url = (base_url or self.settings.base_url) + path
        retries = self.settings.max_retries if max_retries is None else max_retries

        def announce(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            cause = exc.error if isinstance(exc, RetryableOutcome) else exc
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "HUMAN %s %s failed (%s); retry %d/%d in %.2f s",
                method,
                path,
                _short(cause),
                state.attempt_number,
                retries,
                wait,
            )

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
                    response = self._send_once(method, url, path, params, json_body, idempotent)
                    if not idempotent:
                        return RawAnswer(response.status_code, response.content)
                    return self._decode(response, method, path)
        except RetryableOutcome as final:
            raise final.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self, method: str, url: str, path: str, params: Any, json_body: Any, idempotent: bool
    ) -> requests.Response:
        """One attempt: a 2xx response, or the exception that says what the failure means."""
        self.rate_limiter.acquire()
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, timeout=self.settings.timeout, allow_redirects=False
            )
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(exc, method, url, path, idempotent) from None
        except ValueError:
            # requests refuses header values it cannot send and quotes them: the token would show.
            raise HumanConfigError(
                "The request could not be built (a header value, such as the server token, holds characters "
                "HTTP does not allow); the value is not shown"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        api_message = self._api_message(response)
        retry_after = None
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), cap=self.settings.max_retry_after)
            self.rate_limiter.notify_rate_limited(retry_after)
        description = _describe(status)
        if not idempotent and status not in NOT_APPLIED_STATUSES:
            raise HumanInDoubtError(
                f"HUMAN answered {status} to a request it may already have acted on",
                status_code=status, api_message=api_message, method=method, path=path,
            )  # fmt: skip
        error = error_for_status(status)(
            description, status_code=status, api_message=api_message, method=method, path=path
        )
        if status in (RETRYABLE_STATUSES_IDEMPOTENT if idempotent else RETRYABLE_STATUSES_NOT_APPLIED):
            raise RetryableOutcome(error, retry_after)
        raise error

    def _transport_error(
        self, exc: requests.exceptions.RequestException, method: str, url: str, path: str, idempotent: bool
    ) -> Exception:
        """Map a failure without an HTTP answer: retryable when safe, else in doubt (never carries headers)."""
        before = failed_before_sending(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            message = f"TLS verification failed for {_host(url)}: {self.scrub(_short(exc))}"
            return HumanConnectionError(message, method=method, path=path)  # the handshake came first: nothing sent
        if isinstance(exc, requests.exceptions.Timeout) and not before:
            message = f"HUMAN did not answer within {self.settings.timeout} s"
        elif before:
            message = f"Could not reach HUMAN at {_host(url)} ({self.scrub(_short(exc))})"
        else:
            message = f"Connection to HUMAN at {_host(url)} failed mid-request ({self.scrub(_short(exc))})"
        if not idempotent and not before:
            return HumanInDoubtError(message, method=method, path=path)
        return RetryableOutcome(HumanConnectionError(message, method=method, path=path))

    def _decode(self, response: requests.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError):
            raise HumanResponseError(
                f"HUMAN answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
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

    def _workers(self, max_workers: int | None) -> int:
        if max_workers is None:
            return self.settings.max_workers
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise HumanInputError("max_workers", max_workers, "must be an integer >= 1")
        return max_workers

    def _batch_size(self, batch_size: int | None) -> int:
        if batch_size is None:
            return self.settings.feedback_batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise HumanInputError("batch_size", batch_size, "must be an integer >= 1")
        return batch_size


def dedupe_account_ids(account_ids: Iterable[object]) -> tuple[list[str], int]:
    """Validate every id and drop repeats (order kept); returns (unique ids, how many came in)."""
    if isinstance(account_ids, str | bytes) or not isinstance(account_ids, Iterable):
        raise HumanInputError("account_ids", account_ids, "must be a list of account ids")
    seen: set[str] = set()
    unique: list[str] = []
    count = 0
    for index, raw in enumerate(account_ids):
        account_id = validate_account_id(raw, f"account_ids[{index}]")
        count += 1
        if account_id not in seen:
            seen.add(account_id)
            unique.append(account_id)
    return unique, count


def _v1_params(attack_types: Iterable[object] | None) -> list[tuple[str, str]] | None:
    if attack_types is None:
        return None
    if isinstance(attack_types, str | AttackType):
        attack_types = [attack_types]
    return [("attack_types", AttackType.parse(a, "attack_types").v1_query) for a in attack_types]


def _check_days_range(days_range: object) -> None:
    if isinstance(days_range, bool) or not isinstance(days_range, int) or days_range < 1:
        raise HumanInputError("days_range", days_range, "must be a positive integer number of days")


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
        return exc.message if exc.status_code is None else f"HTTP {exc.status_code}"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:200] + "..."
