"""HumanClient: one method per HUMAN endpoint, typed requests in, typed results out.

Plain Python (no Airflow): the hook builds one from a connection, tests and scripts can
build one from :class:`ClientSettings` directly. Input is built and checked in
``builders``, sent through the ``transport``, and read back with ``responses``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import requests

from airflow_provider_human.client import builders
from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import (
    FeedbackGroupKey,
    FeedbackRequest,
    IdentityUpdate,
    identity_update,
    path_segment,
    validate_account_id,
)
from airflow_provider_human.client.coerce import to_int
from airflow_provider_human.client.concurrency import bounded_map
from airflow_provider_human.client.feedback import chunks
from airflow_provider_human.client.responses import AccountInfoV1, AccountInfoV2, IdentityDetails, parse_response
from airflow_provider_human.client.results import (
    AccountLookupResult,
    FeedbackBatchResult,
    FeedbackUploadResult,
    IdentityUpdateResult,
)
from airflow_provider_human.client.settings import ClientSettings
from airflow_provider_human.client.transport import Limiter, Transport
from airflow_provider_human.exceptions import (
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
)
from airflow_provider_human.words import counted

log = logging.getLogger(__name__)

V1_ACCOUNT_PATH = "/api/v1/account_defender/account/{account_id}"
V2_ACCOUNT_PATH = "/api/v2/account_defender/account/{account_id}"
FEEDBACK_PATH = "/api/v1/account_defender/account/update_status"
IDENTITY_PATH = "/api/v1/identity/{identity_id}"
CONNECTION_TEST_ACCOUNT = "airflow-connection-test"


class HumanClient:
    """The HUMAN Account Defender and identity APIs, over one :class:`Transport`.

    :param settings: connection settings, including the server token.
    :param session: an existing session to use (one is built otherwise).
    :param sleep: how to wait for retries and the rate limiter (tests pass a recorder).
    :param rate_limiter: the account's shared budget; default: a limiter of this client's own.
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
        self.transport = Transport(settings, session=session, sleep=sleep, rate_limiter=rate_limiter)

    def __repr__(self) -> str:
        return f"HumanClient(base_url={self.settings.base_url!r})"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> HumanClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ account lookups

    def get_account_info(self, account_id: str, attack_types: Iterable[object] | None = None) -> AccountInfoV1:
        """v1 lookup (the vendor will deprecate it; prefer :meth:`get_account_info_v2`)."""
        account_id = validate_account_id(account_id)
        params = self._v1_query(builders.v1_attack_types(attack_types))
        path = V1_ACCOUNT_PATH.format(account_id=path_segment(account_id))
        body = self.transport.request("GET", path, idempotent=True, params=params)
        return parse_response(AccountInfoV1, body, method="GET", path=path)

    def get_account_info_v2(self, account_id: str, days_range: int = 30) -> AccountInfoV2:
        """v2 lookup: attack status, Pending incidents and aggregates (contains personal data)."""
        account_id = validate_account_id(account_id)
        days = builders.days_range(days_range)
        path = V2_ACCOUNT_PATH.format(account_id=path_segment(account_id))
        body = self.transport.request("GET", path, idempotent=True, params={"days_range": days})
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
        days = builders.days_range(days_range) if api_version == 2 else None
        attack_list = builders.v1_attack_types(attack_types) if api_version == 1 else None
        if attack_list is not None:
            self._v1_query(attack_list)  # an encoding that cannot say it fails before any request
        workers = self._workers(max_workers)

        def lookup(raw_id: object) -> AccountLookupResult:
            shown = raw_id if isinstance(raw_id, str) else repr(raw_id)
            try:
                account_id = validate_account_id(raw_id)
                if days is not None:  # v2
                    return AccountLookupResult(account_id, info=self.get_account_info_v2(account_id, days))
                return AccountLookupResult(account_id, info=self.get_account_info(account_id, attack_list))
            except (HumanAuthError, HumanConfigError):  # every other item would meet it too
                raise
            except HumanError as exc:
                return AccountLookupResult(shown, error=exc)

        yield from bounded_map(lookup, account_ids, max_workers=workers, thread_name_prefix="human-lookup")

    # ------------------------------------------------------------ feedback

    def send_feedback(self, batch: FeedbackRequest) -> int:
        """Send one ``update_status`` request; returns the 2xx status HUMAN answered (applied).

        Retried only when HUMAN cannot have acted on it; otherwise raises
        :class:`HumanFeedbackInDoubtError` carrying ``batch``.
        """
        if not batch.account_ids:
            raise HumanInputError("account_ids", [], "a feedback batch needs at least one account id")
        try:
            answer = self.transport.request("POST", FEEDBACK_PATH, idempotent=False, json_body=batch.to_body())
            return answer.status_code
        except HumanInDoubtError as exc:
            raise HumanFeedbackInDoubtError(
                exc.message + "; the feedback may or may not have been applied",
                batch=batch,
                http_status=exc.http_status,
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
        ids, submitted = builders.account_ids(account_ids)
        if not ids:
            raise HumanInputError("account_ids", account_ids, "must contain at least one account id")
        return self.upload_group(key, ids, batch_size=batch_size, submitted=submitted)

    def upload_group(
        self, key: FeedbackGroupKey, account_ids: Sequence[str], *, batch_size: int | None = None, submitted: int = 0
    ) -> FeedbackUploadResult:
        """Send ids already built and de-duplicated (:func:`builders.account_ids`) that share ``key``."""
        size = self._batch_size(batch_size)
        count = submitted or len(account_ids)
        outcome = FeedbackUploadResult(accounts_submitted=count, duplicates_dropped=count - len(account_ids))
        for number, chunk in enumerate(chunks(account_ids, size), start=1):
            batch = key.request(chunk)
            try:
                code = self.send_feedback(batch)
            except HumanError as exc:
                exc.upload_result = outcome  # type: ignore[attr-defined]
                raise
            outcome.batches.append(
                FeedbackBatchResult(number, key.attack_type, key.status, key.result, len(batch.account_ids), code)
            )
            shown = f"{key.attack_type.feedback_code}/{key.status.value}/{key.result.value if key.result else '-'}"
            log.info("HUMAN feedback batch %d: %s, %s", number, counted(len(batch.account_ids), "account"), shown)
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
        """Apply many identity updates concurrently; one result (details or error) each.

        Items are :class:`IdentityUpdate`\\ s (built once, e.g. by :func:`builders.identity_updates`)
        or mappings ``{identity_id, factors, metadata}``, built here.
        """

        def apply(raw: object) -> IdentityUpdateResult:
            ident = raw.identity_id if isinstance(raw, IdentityUpdate) else raw.get("identity_id") if isinstance(
                raw, dict) else None  # fmt: skip
            shown = ident if isinstance(ident, str) else repr(ident)
            try:
                update = identity_update(raw)
                return IdentityUpdateResult(update.identity_id, details=self._put_identity(update))
            except (HumanAuthError, HumanConfigError):  # every other item would meet it too
                raise
            except HumanError as exc:
                return IdentityUpdateResult(shown, error=exc)

        workers = self._workers(max_workers)
        yield from bounded_map(apply, updates, max_workers=workers, thread_name_prefix="human-identity")

    def _put_identity(self, update: IdentityUpdate) -> IdentityDetails:
        path = IDENTITY_PATH.format(identity_id=path_segment(update.identity_id, "identity_id"))
        try:
            body = self.transport.request("PUT", path, idempotent=True, json_body=update.to_body(),
                                          base_url=self.settings.identity_base_url)  # fmt: skip
        except HumanAPIError as exc:  # the body's code says more than the status (bad_authtoken on a 400...)
            code = (exc.api_message or "").split(":", 1)[0].strip()
            kind = error_for_identity_code(code)
            if kind is None or isinstance(exc, kind):
                raise
            raise kind(f"identity update refused: {code}", http_status=exc.http_status, api_message=exc.api_message,
                       method="PUT", path=path) from None  # fmt: skip
        if isinstance(body, dict) and body.get("status") == "error":  # an error answered with a 2xx
            said, message = body.get("code"), body.get("message")
            kind = error_for_identity_code(said) or HumanAPIError
            api_message = ": ".join(str(x) for x in (said, message) if x is not None) or None
            raise kind(f"identity update refused: {said}", http_status=200, api_message=api_message, method="PUT",
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
            self.transport.request("GET", path, idempotent=True, params={"days_range": 1}, max_retries=0)
        except HumanAuthError as exc:
            return False, (
                f"HUMAN refused the server token (HTTP {exc.http_status}) at {base}: check that the "
                "connection's Server token field holds a valid, unexpired server token for this application."
            )
        except HumanConnectionError as exc:
            return False, exc.message
        except HumanConfigError as exc:
            return False, str(exc)
        except HumanAPIError as exc:
            return False, f"HUMAN at {base} answered an unexpected error: {exc}"
        return True, f"Connected to HUMAN at {base}: the server token was accepted."

    # ------------------------------------------------------------ helpers

    def _v1_query(self, attack_types: list[AttackType] | None) -> list[tuple[str, str]] | None:
        """The v1 ``attack_types`` query in the connection's encoding (the vendor page shows ``['ato']``)."""
        if attack_types is None:
            return None
        names = [a.v1_query for a in attack_types]
        encoding = self.settings.v1_attack_types_encoding
        if encoding == "python_list":
            return [("attack_types", "[" + ", ".join(f"'{n}'" for n in names) + "]")]
        if encoding == "json":
            return [("attack_types", json.dumps(names))]
        if not names:
            raise HumanInputError("attack_types", [], "an empty list cannot be sent with v1_attack_types_encoding="
                                  "'repeated' (it would read as 'absent'); use 'python_list' or 'json'")  # fmt: skip
        return [("attack_types", n) for n in names]

    def _workers(self, max_workers: object) -> int:
        return self.settings.max_workers if max_workers is None else to_int(max_workers, "max_workers")

    def _batch_size(self, batch_size: object) -> int:
        return self.settings.feedback_batch_size if batch_size is None else to_int(batch_size, "batch_size")
