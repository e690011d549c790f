"""HumanHook: turns an Airflow ``human`` connection into a :class:`HumanClient`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from airflow_provider_human.assets import ACCOUNTS, FEEDBACK, IDENTITIES, human_uri
from airflow_provider_human.budget.resolve import store_for_conn
from airflow_provider_human.budget.shares import SharedBudget, account_key
from airflow_provider_human.client import (
    AccountInfoV1,
    AccountInfoV2,
    AccountLookupResult,
    ClientSettings,
    FeedbackUploadResult,
    HumanClient,
    HumanConfigError,
    IdentityDetails,
    IdentityUpdateResult,
)
from airflow_provider_human.client.coerce import to_bool, to_int, to_number
from airflow_provider_human.defaults import DEFAULT_BASE_URL, DEFAULT_CONSOLE_URL
from airflow_provider_human.docs_links import docs_link
from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.get_provider_info import CONN_FIELDS
from airflow_provider_human.lineage import Touched

# extra key -> Python type, read from the connection form's own table: one list of extras, not two.
_JSON_TYPES: dict[str, type] = {"string": str, "number": float, "integer": int, "boolean": bool}
_EXTRA_TYPES: dict[str, type] = {key: _JSON_TYPES[field["schema"]["type"][0]] for key, field in CONN_FIELDS.items()}
#: The extras the client reads; the hook keeps the others (where the rate budget lives).
_CLIENT_EXTRAS = {key: kind for key, kind in _EXTRA_TYPES.items() if key in ClientSettings.field_names()}


class HumanHook(BaseHook):
    """Holds the ``human`` connection and the server token, and talks to HUMAN through one client.

    Every setting comes from the connection (host, password = server token, extras) and can
    be overridden by the matching constructor argument.

    :param human_conn_id: the Airflow connection to use.
    :param host: base URL, default ``https://console.humansecurity.com``.
    :param token: server token; normally the connection's password.
    :param identity_base_url: base URL of the identity API (defaults to ``host``).
    :param timeout: seconds per request.
    :param max_retries: retries for transient failures.
    :param requests_per_second: the account's rate limit, shared through the rate budget (docs/scaling.md).
    :param max_workers: threads for concurrent lookups and identity updates.
    :param feedback_batch_size: account ids per feedback upload.
    :param verify_ssl: verify TLS certificates.
    :param proxy: proxy URL for every request.
    :param v1_attack_types_encoding: how v1 lookups send ``attack_types`` (``python_list``, ``json``, ``repeated``).
    :param rate_budget_conn_id: Airflow connection (SQL or redis) where tasks share ``requests_per_second``.
    :param console_url: the HUMAN console the tasks' links open (default ``https://console.humansecurity.com``).

    What it reads and writes at HUMAN (``human://<host>/accounts``, ``/feedback``, ``/identities``) is
    told to Airflow's hook lineage collector and kept in :attr:`touched`.
    """

    conn_name_attr = "human_conn_id"
    default_conn_name = "human_default"
    conn_type = "human"
    hook_name = "HUMAN Security"

    def __init__(
        self,
        human_conn_id: str = default_conn_name,
        *,
        host: str | None = None,
        token: str | None = None,
        identity_base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        requests_per_second: float | None = None,
        max_workers: int | None = None,
        feedback_batch_size: int | None = None,
        verify_ssl: bool | None = None,
        proxy: str | None = None,
        v1_attack_types_encoding: str | None = None,
        rate_budget_conn_id: str | None = None,
        console_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.human_conn_id = human_conn_id
        self._rate_budget_conn_id = rate_budget_conn_id
        self._console_url = console_url
        self._default_budget: Any = None  # a store a caller offers when the connection names none
        self.touched = Touched()
        self._overrides = {
            "base_url": host,
            "token": token,
            "identity_base_url": identity_base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "requests_per_second": requests_per_second,
            "max_workers": max_workers,
            "feedback_batch_size": feedback_batch_size,
            "verify_ssl": verify_ssl,
            "proxy": proxy,
            "v1_attack_types_encoding": v1_attack_types_encoding,
        }

    @cached_property
    def settings(self) -> ClientSettings:
        """Connection values, extras and overrides, validated (errors name the connection)."""
        conn = self.get_connection(self.human_conn_id)
        values: dict[str, Any] = {"base_url": _base_url(conn.host, conn.port) or DEFAULT_BASE_URL}
        if conn.password:
            values["token"] = conn.password
        extras = conn.extra_dejson or {}
        for key, kind in _CLIENT_EXTRAS.items():
            if key in extras and extras[key] not in (None, ""):
                values[key] = _coerce(self.human_conn_id, key, extras[key], kind)
        values.update({k: v for k, v in self._overrides.items() if v is not None})
        if not values.get("token"):
            raise HumanConfigError(
                f"Connection {self.human_conn_id!r} has no server token: put the HUMAN server token "
                "in the connection's password (shown as 'Server token' in the UI)."
            )
        try:
            return ClientSettings(**values)
        except HumanConfigError as exc:
            raise HumanConfigError(f"Connection {self.human_conn_id!r}: {exc}") from None

    @cached_property
    def rate_budget_conn_id(self) -> str | None:
        """The connection's extra ``rate_budget_conn_id`` (or the constructor's): where the budget lives."""
        if self._rate_budget_conn_id:
            return self._rate_budget_conn_id
        value = (self.get_connection(self.human_conn_id).extra_dejson or {}).get("rate_budget_conn_id")
        if value in (None, ""):
            return None
        return _coerce(self.human_conn_id, "rate_budget_conn_id", value, str) or None

    @cached_property
    def console_url(self) -> str:
        """The connection's extra ``console_url`` (default: the HUMAN console), checked to be a plain web address."""
        value = self._console_url or (self.get_connection(self.human_conn_id).extra_dejson or {}).get("console_url")
        text = DEFAULT_CONSOLE_URL if value in (None, "") else _coerce(self.human_conn_id, "console_url", value, str)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise HumanConfigError(
                f"Connection {self.human_conn_id!r}: extra console_url must be an http(s) address without user or "
                "password, e.g. https://console.humansecurity.com"
            )
        return text.rstrip("/")

    def lineage(self, resource: str, *, written: bool) -> None:
        """Tell the hook lineage collector this hook read (or wrote) ``resource`` of its HUMAN endpoint."""
        uri = human_uri(self.settings.base_url, resource)
        (self.touched.wrote if written else self.touched.read)(uri, self)

    def share_budget_in(self, store: Any) -> None:
        """Share the budget in ``store`` (a budget store) unless the connection names its own place."""
        if "client" in self.__dict__:
            raise RuntimeError("share_budget_in must come before the client is built")
        self._default_budget = store

    @cached_property
    def client(self) -> HumanClient:
        return HumanClient(self.settings, rate_limiter=self._rate_budget())

    def _rate_budget(self) -> SharedBudget | None:
        settings = self.settings
        conn_id = self.rate_budget_conn_id
        store = store_for_conn(conn_id) if conn_id else self._default_budget
        if store is None:
            self.log.info(
                "HUMAN connection %r names no rate_budget_conn_id: requests_per_second=%g limits this task alone, "
                "not shared with other tasks (%s)",
                self.human_conn_id, settings.requests_per_second, docs_link("scaling", "one-budget-per-account"),
            )  # fmt: skip
            return None
        return SharedBudget(settings.requests_per_second, store, account_key(settings.base_url, settings.token))

    def get_conn(self) -> HumanClient:
        """The :class:`HumanClient` for this connection (one pooled session per hook)."""
        return self.client

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    # ------------------------------------------------------------------ API

    def get_account_info(self, account_id: str, attack_types: Iterable[object] | None = None) -> AccountInfoV1:
        self.lineage(ACCOUNTS, written=False)
        return self.client.get_account_info(account_id, attack_types)

    def get_account_info_v2(self, account_id: str, days_range: int = 30) -> AccountInfoV2:
        self.lineage(ACCOUNTS, written=False)
        return self.client.get_account_info_v2(account_id, days_range)

    def iter_account_info(
        self,
        account_ids: Iterable[object],
        *,
        api_version: int = 2,
        days_range: int = 30,
        attack_types: Iterable[object] | None = None,
        max_workers: int | None = None,
    ) -> Iterator[AccountLookupResult]:
        self.lineage(ACCOUNTS, written=False)
        return self.client.iter_account_info(
            account_ids,
            api_version=api_version,
            days_range=days_range,
            attack_types=attack_types,
            max_workers=max_workers,
        )

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
        self.lineage(FEEDBACK, written=True)
        return self.client.upload_feedback(
            account_ids,
            attack_type=attack_type,
            status=status,
            result=result,
            comment=comment,
            batch_size=batch_size,
        )

    def update_identity(
        self,
        identity_id: str,
        *,
        factors: Iterable[object] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> IdentityDetails:
        self.lineage(IDENTITIES, written=True)
        return self.client.update_identity(identity_id, factors=factors, metadata=metadata)

    def iter_update_identity(
        self, updates: Iterable[object], *, max_workers: int | None = None
    ) -> Iterator[IdentityUpdateResult]:
        self.lineage(IDENTITIES, written=True)
        return self.client.iter_update_identity(updates, max_workers=max_workers)

    def test_connection(self) -> tuple[bool, str]:
        """Called by the UI's "Test" button and ``airflow connections test``; never raises."""
        try:
            client = HumanClient(self.settings)
        except HumanConfigError as exc:
            return False, str(exc)
        with client:
            return client.check_connection()


def _base_url(host: str | None, port: int | None) -> str | None:
    if not host:
        return None
    text = host.strip()
    if "://" not in text:
        text = "https://" + text
    if port and urlsplit(text).port is None:
        parts = urlsplit(text)
        text = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return text


def _coerce(conn_id: str, key: str, value: Any, kind: type) -> Any:
    """Extras typed in the UI may arrive as strings: converted the one way the whole provider does."""
    try:
        if kind is bool:
            return to_bool(value, key)
        if kind is int:
            return to_int(value, key, minimum=None)  # ranges are ClientSettings' to check
        if kind is float:
            return to_number(value, key, minimum=None)
        if isinstance(value, str):
            return value.strip()
        raise HumanInputError(key, value, "must be text")
    except HumanInputError as exc:
        raise HumanConfigError(f"Connection {conn_id!r}: extra {exc}") from None
