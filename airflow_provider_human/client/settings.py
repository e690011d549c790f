"""Client settings, their defaults, and the checks that make a bad value fail early."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_human.client.errors import HumanConfigError
from airflow_provider_human.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_FEEDBACK_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_MAX_WORKERS,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)


@dataclass(frozen=True)
class ClientSettings:
    """Everything a :class:`HumanClient` needs; the token is kept out of ``repr``."""

    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    identity_base_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    max_workers: int = DEFAULT_MAX_WORKERS
    feedback_batch_size: int = DEFAULT_FEEDBACK_BATCH_SIZE
    verify_ssl: bool = True
    proxy: str | None = None
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token.strip():
            raise HumanConfigError("A HUMAN server token is required (the connection's Server token field).")
        # Tokens pasted from a console or made with `echo` often end in a newline: strip it. Anything
        # else unprintable cannot be a token, and requests would echo it in its header error.
        object.__setattr__(self, "token", self.token.strip())
        if any(not ch.isprintable() or ch.isspace() for ch in self.token):
            raise HumanConfigError(
                "The HUMAN server token contains whitespace or control characters inside it "
                f"({len(self.token)} characters; not shown): paste the token again."
            )
        object.__setattr__(self, "base_url", validate_base_url(self.base_url, "host"))
        ident = self.identity_base_url or self.base_url
        object.__setattr__(self, "identity_base_url", validate_base_url(ident, "identity_base_url"))
        _check_number("timeout", self.timeout, minimum=0.001)
        _check_number("max_retries", self.max_retries, minimum=0, integer=True)
        _check_number("requests_per_second", self.requests_per_second, minimum=0.001)
        _check_number("max_workers", self.max_workers, minimum=1, integer=True)
        _check_number("feedback_batch_size", self.feedback_batch_size, minimum=1, integer=True)
        _check_number("max_retry_after", self.max_retry_after, minimum=0)
        if not isinstance(self.verify_ssl, bool):
            raise HumanConfigError(f"verify_ssl={self.verify_ssl!r}: must be true or false")

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only places plain HTTP is allowed (the local fake API)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_base_url(url: object, field_name: str) -> str:
    """Normalise a base URL; refuse anything but HTTPS, except plain HTTP on loopback."""
    if not isinstance(url, str) or not url.strip():
        raise HumanConfigError(f"{field_name}={url!r}: must be a URL such as {DEFAULT_BASE_URL}")
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if not parts.hostname:
        raise HumanConfigError(f"{field_name}={url!r}: has no host name")
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise HumanConfigError(
            f"{field_name}={url!r}: HUMAN's APIs are HTTPS only (plain HTTP requests fail); "
            "http:// is allowed only for loopback hosts such as the local fake API"
        )
    if scheme not in ("http", "https"):
        raise HumanConfigError(f"{field_name}={url!r}: scheme must be https")
    if parts.query or parts.fragment:
        raise HumanConfigError(f"{field_name}={url!r}: must not carry a query or fragment")
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _check_number(name: str, value: Any, *, minimum: float, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
        what = "an integer" if integer else "a number"
        raise HumanConfigError(f"{name}={value!r}: must be {what} >= {minimum}")
