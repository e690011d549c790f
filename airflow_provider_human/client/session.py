"""The pooled ``requests.Session`` every client request goes through."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_human import __version__
from airflow_provider_human.client.settings import ClientSettings

USER_AGENT = f"airflow-provider-human/{__version__}"


class BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <token>``; its ``repr`` never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def build_session(settings: ClientSettings) -> requests.Session:
    """One session per client, its pool large enough for every worker thread."""
    session = requests.Session()
    session.auth = BearerAuth(settings.token)
    session.headers.update(
        {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
    )
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(settings.max_workers, 4), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = settings.verify_ssl
    if settings.proxy:
        session.proxies = {"http": settings.proxy, "https": settings.proxy}
    return session
