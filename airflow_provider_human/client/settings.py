"""Client settings, their defaults, and the checks that make a bad value fail early."""

from __future__ import annotations

import importlib.util
import ipaddress
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from requests.utils import prepend_scheme_if_needed
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from airflow_provider_human.client.coerce import to_bool, to_int, to_number
from airflow_provider_human.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_FEEDBACK_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_MAX_WORKERS,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)
from airflow_provider_human.exceptions import HumanConfigError, HumanInputError

V1_ATTACK_TYPES_ENCODINGS = ("python_list", "json", "repeated")
#: The proxy schemes requests can use (the socks ones only with PySocks, ``requests[socks]``).
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


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
    proxy: str | None = field(default=None, repr=False)  # may hold proxy credentials
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: How the v1 lookup's ``attack_types`` list goes in the query: ``python_list`` (the vendor
    #: page's own example, ``attack_types=['ato']``), ``json`` (``["ato"]``) or ``repeated``
    #: (``attack_types=ato&attack_types=fake_account``; cannot say ``[]``). The page shows only the first.
    v1_attack_types_encoding: str = "python_list"

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
        try:
            object.__setattr__(self, "timeout", to_number(self.timeout, "timeout", minimum=0.001))
            object.__setattr__(self, "max_retries", to_int(self.max_retries, "max_retries", minimum=0))
            rate = to_number(self.requests_per_second, "requests_per_second", minimum=0.001)
            object.__setattr__(self, "requests_per_second", rate)
            object.__setattr__(self, "max_workers", to_int(self.max_workers, "max_workers"))
            object.__setattr__(self, "feedback_batch_size", to_int(self.feedback_batch_size, "feedback_batch_size"))
            object.__setattr__(self, "max_retry_after", to_number(self.max_retry_after, "max_retry_after"))
            object.__setattr__(self, "verify_ssl", to_bool(self.verify_ssl, "verify_ssl"))
        except HumanInputError as exc:
            raise HumanConfigError(str(exc)) from None
        problem = proxy_problem(self.proxy) if self.proxy else None
        if problem:  # requests would refuse it on every request, after the run had decided its day
            raise HumanConfigError(f"proxy: the proxy {problem} (the value is not shown: it may hold a password)")
        if self.v1_attack_types_encoding not in V1_ATTACK_TYPES_ENCODINGS:
            raise HumanConfigError(f"v1_attack_types_encoding={self.v1_attack_types_encoding!r}: must be one of "
                                   f"{list(V1_ATTACK_TYPES_ENCODINGS)}")  # fmt: skip

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
    try:
        parts = urlsplit(text)
        port = parts.port  # raises for a port that is not a number in 0-65535
    except ValueError:
        raise HumanConfigError(
            f"{field_name}: is not a URL with a valid host and port (the value is not shown)"
        ) from None
    scheme = parts.scheme.lower()
    if parts.username is not None or parts.password is not None:  # not echoed: it holds a secret
        raise HumanConfigError(
            f"{field_name}: must not carry credentials (user:password@); HUMAN takes the server token only "
            "(the value is not shown)"
        )
    if not parts.hostname:
        raise HumanConfigError(f"{field_name}={url!r}: has no host name")
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise HumanConfigError(
            f"{field_name}={url!r}: HUMAN's APIs are HTTPS only (plain HTTP requests fail); "
            "http:// is allowed only for loopback hosts such as the local fake API"
        )
    if scheme not in ("http", "https"):
        raise HumanConfigError(f"{field_name}={url!r}: scheme must be https")
    if port == 0:
        raise HumanConfigError(f"{field_name}={url!r}: port must be 1-65535")
    if parts.query or parts.fragment:
        raise HumanConfigError(f"{field_name}={url!r}: must not carry a query or fragment")
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")


def socks_support() -> bool:
    """PySocks is importable: without it requests refuses every socks proxy, on every request."""
    return importlib.util.find_spec("socks") is not None


def proxy_problem(url: str) -> str | None:
    """Why requests cannot use ``url`` as a proxy, in words that never quote it; ``None`` when it can.

    Read the way requests reads it (a URL without a scheme is ``http://``), so what passes
    here is what requests will take.
    """
    try:
        parts = parse_url(prepend_scheme_if_needed(url.strip(), "http"))
    except (LocationParseError, ValueError):
        return "is not a URL with a valid host and port"
    scheme = (parts.scheme or "").lower()
    if scheme not in PROXY_SCHEMES:  # "localhost:3128" reads as the scheme localhost, for requests too
        return f"has the scheme {scheme!r}; requests takes {', '.join(PROXY_SCHEMES)}"
    if not parts.host:
        return "has no host"
    if scheme.startswith("socks") and not socks_support():
        return f"is a {scheme} proxy and SOCKS support is not installed (PySocks: pip install 'requests[socks]')"
    return None
