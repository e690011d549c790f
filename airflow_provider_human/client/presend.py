"""What requests raises before a byte of a request leaves: nothing was sent, and another try cannot help.

A proxy or URL requests cannot use, a header it cannot send, a body it cannot encode: each is
raised while the request is built or its connection chosen, so a feedback upload that met one
was not applied (never in doubt), and it is not retried: a setting must change first. The
error names the setting and never quotes it (a proxy URL may hold a password, a header the token).
"""

from __future__ import annotations

import os

import requests
from requests.exceptions import InvalidHeader, InvalidJSONError, InvalidSchema, InvalidURL, MissingSchema, URLRequired
from requests.utils import get_environ_proxies, select_proxy
from urllib3.exceptions import LocationParseError, ProxySchemeUnknown
from urllib3.util import parse_url

from airflow_provider_human.client.settings import proxy_problem
from airflow_provider_human.exceptions import HumanConfigError, HumanError, HumanInputError

# InvalidProxyURL is an InvalidURL; the urllib3 ones are what requests lets through unwrapped.
URL_ERRORS = (InvalidSchema, InvalidURL, MissingSchema, URLRequired, LocationParseError, ProxySchemeUnknown)
PRE_SEND_ERRORS = (*URL_ERRORS, InvalidHeader, InvalidJSONError)

_NOT_SENT = "nothing was sent to HUMAN, and it is not retried: fix the setting first"


def refused_before_sending(
    exc: BaseException, url: str, url_field: str, proxy: str | None, session: requests.Session
) -> HumanError:
    """The typed error for ``exc``, one of :data:`PRE_SEND_ERRORS`, naming the setting at fault."""
    if isinstance(exc, InvalidHeader):  # its text quotes the header value: the token would show
        return HumanConfigError(f"A header value (such as the server token) holds characters HTTP does not allow; "
                                f"the value is not shown; {_NOT_SENT}")  # fmt: skip
    if isinstance(exc, InvalidJSONError):
        return HumanInputError("request body", "<not shown>", f"cannot be encoded as JSON; {_NOT_SENT}")
    where, problem = _culprit(url, url_field, proxy, session)
    return HumanConfigError(f"{where}: {problem}; {_NOT_SENT}")


def _culprit(url: str, url_field: str, proxy: str | None, session: requests.Session) -> tuple[str, str]:
    """(the setting, what is wrong with it): the proxy the request would go through, else its URL."""
    chosen, source = (proxy, "proxy (the connection's proxy extra)") if proxy else _environment_proxy(url, session)
    if chosen:
        problem = proxy_problem(chosen)
        if problem:
            return source, f"the proxy {problem} (the value is not shown: it may hold a password)"
    problem = _url_problem(url)
    if problem or not chosen:
        return url_field, problem or "requests refused the URL"
    return source, "requests refused the proxy (the value is not shown: it may hold a password)"


def _environment_proxy(url: str, session: requests.Session) -> tuple[str | None, str]:
    """The proxy requests takes from the worker's environment for ``url``, and the variable that set it."""
    if not session.trust_env:
        return None, ""
    try:
        chosen = select_proxy(url, get_environ_proxies(url))
    except ValueError:
        return None, ""
    names = [n for n in os.environ if n.lower().endswith("_proxy") and os.environ[n] == chosen]
    return chosen, f"{'/'.join(sorted(names)) or 'a proxy'} (the worker's environment)"


def _url_problem(url: str) -> str | None:
    try:
        parts = parse_url(url)
    except (LocationParseError, ValueError):
        return "is not a URL with a valid host and port"
    if (parts.scheme or "").lower() not in ("http", "https"):
        return "must be an https URL"
    return None if parts.host else "has no host"
