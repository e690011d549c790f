"""Every exception this provider raises on purpose, in one module that imports nothing of ours.

Every error keeps what a caller needs to act on it (status code, the API's own message,
method and path) and never the token. When Airflow is installed the root class is an
``AirflowException`` so tasks treat these as Airflow errors, and the errors that another
try cannot fix are ``AirflowFailException``s (no retries); the client itself runs without
Airflow (this is its only touchpoint, and it is optional). docs/errors.md lists them all.
"""

from __future__ import annotations

from typing import Any

try:  # pragma: no cover - exercised by the "client without Airflow" test in a subprocess
    from airflow.sdk.exceptions import AirflowException as _Base
    from airflow.sdk.exceptions import AirflowFailException as _NoRetry
except ImportError:  # pragma: no cover
    _Base = Exception  # type: ignore[assignment,misc]
    _NoRetry = Exception  # type: ignore[assignment,misc]


class HumanError(_Base):  # type: ignore[misc,valid-type]
    """Root of every exception this provider raises on purpose."""


class HumanNonRetryableError(HumanError, _NoRetry):  # type: ignore[misc,valid-type]
    """Fails the task without Airflow retries: trying again in minutes cannot fix it."""


class Redacted:
    """A personal value (an e-mail address) in an error: named by its kind and size, never shown.

    Errors name the field and the value, and task logs keep them; for personal data the
    field and the item's position (or the file's line) find the row without copying it.
    """

    __slots__ = ("_kind", "_size")

    def __init__(self, value: object) -> None:
        self._kind = type(value).__name__
        self._size = len(value) if isinstance(value, str | bytes | list | tuple | dict) else None

    def __repr__(self) -> str:
        unit = "characters" if self._kind in ("str", "bytes") else "items"
        size = "" if self._size is None else f" of {self._size} {unit}"
        return f"<identity data not shown: {self._kind}{size}>"


class HumanInputError(HumanNonRetryableError, ValueError):
    """Bad input, found before any request was sent; names the field and the value (not retried)."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        shown = repr(value)
        if len(shown) > 200:
            shown = shown[:200] + "...'"
        super().__init__(f"Invalid {field}={shown}: {problem}")


class HumanConfigError(HumanNonRetryableError, ValueError):
    """The connection or hook settings cannot produce a working client (not retried: fix them first)."""


class HumanAPIError(HumanError):
    """An HTTP exchange with HUMAN failed.

    :param message: what went wrong, in words.
    :param http_status: HUMAN's HTTP status, or ``None`` when no response arrived (not
        ``status_code``: ``AirflowException`` uses that name for what Airflow's own API answers).
    :param api_message: the API's own error text, when it sent one.
    :param method: the HTTP method of the failed request.
    :param path: the URL path requested (never carries the token).
    :param retry_after: seconds HUMAN asked to wait (its ``Retry-After``, not capped by the
        client's ``max_retry_after``), or ``None``; an Airflow retry policy waits this long.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        api_message: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.http_status = http_status
        self.retry_after = retry_after
        self.api_message = api_message
        self.method = method
        self.path = path
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        where = " ".join(p for p in (self.method, self.path) if p)
        if where:
            parts.append(f"request: {where}")
        if self.http_status is not None:
            parts.append(f"status: {self.http_status}")
        if self.api_message:
            parts.append(f"API said: {self.api_message}")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g} s")
        return " | ".join(parts)


class HumanAuthError(HumanAPIError):
    """401 or 403: the server token is missing, wrong, expired or lacks permission."""


class HumanBadRequestError(HumanAPIError):
    """400: the API rejected the request's values."""


class HumanNotFoundError(HumanAPIError):
    """404: the resource (for example an identity) does not exist."""


class HumanRateLimitError(HumanAPIError):
    """429 persisted after every retry allowed by ``max_retries``; ``retry_after`` holds HUMAN's ask."""


class HumanServerError(HumanAPIError):
    """5xx persisted after every retry allowed for this request."""


class HumanConnectionError(HumanAPIError):
    """No HTTP response: the host is unreachable, refused, timed out or failed TLS."""


class HumanResponseError(HumanAPIError):
    """The API answered 2xx with a body that does not match the documented shape."""


class HumanInDoubtError(HumanAPIError):
    """A non-idempotent request failed after its body may have reached HUMAN: applied or not, nobody knows."""


class HumanFeedbackInDoubtError(HumanInDoubtError):
    """A feedback upload failed after its body may have reached HUMAN.

    The server may or may not have applied it, so it is not resent blindly: a repeated
    false-negative upload can open a second incident. ``batch`` holds what was sent so
    the caller can verify (for example by looking the accounts up) before resending.
    """

    def __init__(self, message: str, *, batch: Any, **kwargs: Any) -> None:  # a FeedbackRequest
        self.batch = batch
        super().__init__(message, **kwargs)


class HumanPartialFailureError(HumanError):
    """Some items of a bulk call failed and the rest went through; ``errors`` holds each item's error.

    A retry policy reads ``errors`` (never shown: the message names the first few) to tell
    failures another try can fix (429, 5xx) from those it cannot (400, 404).
    """

    def __init__(self, message: str, *, errors: Any = ()) -> None:
        self.errors: list[BaseException] = list(errors)
        super().__init__(message)


class HumanLookupFailedError(HumanPartialFailureError):
    """Some account lookups failed; the successful ones were still written out (retried by Airflow)."""


class HumanIdentityUpdateFailedError(HumanPartialFailureError):
    """Some identity updates failed; the others were applied (retried by Airflow)."""


class ReconciliationAbortedError(HumanNonRetryableError):
    """Too many rows of the export were rejected: nothing was decided or uploaded (not retried)."""


class ReconciliationIncompleteError(HumanError):
    """The interval is not done yet, and another try can finish it (held rows, lookups, in-doubt uploads)."""


class DecisionLockTimeoutError(ReconciliationIncompleteError):
    """PostgreSQL: the ledger's decision lock was not granted within ``decision_lock_seconds``; names its holder."""


class ReconciliationNeedsAttentionError(HumanNonRetryableError):
    """The interval has items no rule may finish (reversals, uploads in doubt with no way to tell): a person decides."""


class LedgerSchemaError(HumanNonRetryableError):
    """The ledger's tables are not at a schema this version can use; the message says which and what to do."""


class LedgerNewerThanCodeError(LedgerSchemaError):
    """The ledger records a schema revision this version does not know: a newer provider upgraded it."""


class LedgerUpgradeRequiredError(LedgerSchemaError):
    """The ledger is behind this version and ``[human] ledger_auto_upgrade`` is off: run the CLI upgrade."""


def error_for_identity_code(code: object) -> type[HumanAPIError] | None:
    """The identity API's error ``code`` (its page lists them) decides the class, whatever the status."""
    return _IDENTITY_CODES.get(code) if isinstance(code, str) else None


def error_for_status(status_code: int) -> type[HumanAPIError]:
    """Pick the exception class for a final (non-retried) HTTP error status."""
    if status_code in (401, 403):
        return HumanAuthError
    if status_code == 400:
        return HumanBadRequestError
    if status_code == 404:
        return HumanNotFoundError
    if status_code == 429:
        return HumanRateLimitError
    if status_code >= 500:
        return HumanServerError
    return HumanAPIError


_IDENTITY_CODES: dict[str, type[HumanAPIError]] = {
    "bad_authtoken": HumanAuthError,
    "not_authenticated": HumanAuthError,
    "not_permitted": HumanAuthError,
    "not_found": HumanNotFoundError,
    "bad_request": HumanBadRequestError,
    "invalid_value": HumanBadRequestError,
    "required_value": HumanBadRequestError,
    "invalid_action": HumanBadRequestError,
    "unexpected_ref_type": HumanBadRequestError,
    "not_implemented": HumanBadRequestError,
    "unexpected": HumanServerError,
    "unknown": HumanServerError,
}
