"""What requests refuses before a byte leaves (issue 25 item 9): a proxy or URL it cannot use.

Such an upload was not applied: never in doubt, never retried (the setting must change), and the
error names the setting without quoting it (a proxy URL may hold a password). Judged by what the
fake API received over real HTTP on 127.0.0.1: nothing, in one attempt.
"""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_human.client import ClientSettings, HumanConfigError, HumanFeedbackInDoubtError
from airflow_provider_human.hooks.human import HumanHook
from tests.conftest import TOKEN

SECRET = "pr0xy-s3cret"
#: proxies requests cannot use; PySocks is not installed in the test environment (checked below)
BAD_PROXIES = {
    "socks5 without PySocks": f"socks5://user:{SECRET}@127.0.0.1:1080",
    "socks5h without PySocks": f"socks5h://user:{SECRET}@127.0.0.1:1080",
    "ftp scheme": f"ftp://user:{SECRET}@127.0.0.1:21",
    "port out of range": f"http://user:{SECRET}@127.0.0.1:99999",
    "port not a number": f"http://user:{SECRET}@127.0.0.1:80a",
    "no host": "http://",
    "not a url": f"not a {SECRET} url",
}
WHY = {
    "socks5 without PySocks": "SOCKS support is not installed",
    "socks5h without PySocks": "SOCKS support is not installed",
    "ftp scheme": "scheme 'ftp'",
    "port out of range": "valid host and port",
    "port not a number": "valid host and port",
    "no host": "no host",
    "not a url": "valid host and port",
}


def _count_attempts(client, monkeypatch) -> list[int]:
    """Counts the attempts on the wire (calls into the session) of each request, in the last entry."""
    attempts = [0]
    real = client.transport.session.request

    def counted(*args, **kwargs):
        attempts[-1] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(client.transport.session, "request", counted)
    return attempts


def test_pysocks_is_not_installed_here():
    import importlib.util

    assert importlib.util.find_spec("socks") is None, "the SOCKS cases need an environment without PySocks"


@pytest.mark.parametrize("kind", sorted(BAD_PROXIES))
def test_a_proxy_in_the_environment_requests_cannot_use_is_a_config_error_sent_once_never(
    kind, make_client, fake_api, monkeypatch, caplog
):
    """Before: every upload was HumanFeedbackInDoubtError ("failed mid-request"), with 0 requests sent."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", BAD_PROXIES[kind])  # the worker's environment; the fake is plain HTTP
    client = make_client(max_retries=3)
    attempts = _count_attempts(client, monkeypatch)
    for call in (
        lambda: client.upload_feedback(["a1"], attack_type="ato", status="resolved", result="resolved"),
        lambda: client.get_account_info_v2("a1"),
    ):
        with caplog.at_level(logging.WARNING), pytest.raises(HumanConfigError) as raised:
            call()
        assert not isinstance(raised.value, HumanFeedbackInDoubtError)
        message = str(raised.value)
        assert "HTTP_PROXY" in message and WHY[kind] in message and "nothing was sent" in message
        assert SECRET not in message and TOKEN not in message
        attempts.append(0)
    attempts.pop()
    assert attempts == [1, 1] and not [r for r in caplog.records if "retry" in r.getMessage()]  # never retried
    assert fake_api.requests() == [] and fake_api.effects() == []


@pytest.mark.parametrize("kind", sorted(BAD_PROXIES))
def test_the_connections_proxy_extra_is_refused_before_any_request_naming_the_field(kind, human_conn, fake_api):
    """Before: the hook built a client, and every upload it made was in doubt."""
    human_conn(proxy=BAD_PROXIES[kind])
    hook = HumanHook()
    with pytest.raises(HumanConfigError) as raised:
        hook.upload_feedback(["a1"], attack_type="ato", status="resolved", result="resolved")
    message = str(raised.value)
    assert "Connection 'human_default'" in message and "proxy" in message and WHY[kind] in message
    assert SECRET not in message and TOKEN not in message
    ok, said = hook.test_connection()
    assert not ok and "proxy" in said and SECRET not in said
    assert fake_api.requests() == []


@pytest.mark.parametrize("proxy", ["http://127.0.0.1:3128", "127.0.0.1:3128", "https://p.internal:443", "socks4://h:1"])
def test_proxies_requests_can_use_are_accepted(proxy, monkeypatch):
    if proxy.startswith("socks"):
        monkeypatch.setattr("airflow_provider_human.client.settings.socks_support", lambda: True)
    assert ClientSettings(token=TOKEN, proxy=proxy).proxy == proxy


@pytest.mark.parametrize(("host", "why"), [("127.0.0.1:99999", "port"), ("127.0.0.1:8o", "port"), ("[::1", "host")])
def test_a_host_with_a_bad_port_is_refused_before_any_request_naming_the_field(host, why, human_conn, fake_api,
                                                                               monkeypatch):  # fmt: skip
    """Before: host 127.0.0.1:99999 passed, and every upload it made was in doubt."""
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_DEFAULT", json.dumps({"conn_type": "human", "host": f"http://{host}",
                                                                 "password": TOKEN}))  # fmt: skip
    with pytest.raises(HumanConfigError, match=rf"Connection 'human_default': host.*{why}") as raised:
        HumanHook().upload_feedback(["a1"], attack_type="ato", status="resolved", result="resolved")
    assert TOKEN not in str(raised.value) and fake_api.requests() == []


def test_a_request_url_requests_cannot_parse_is_a_config_error_naming_it(make_client, fake_api, monkeypatch):
    """Defence in depth below the settings' checks: the transport names the URL's field, never in doubt."""
    client = make_client(max_retries=3)
    attempts = _count_attempts(client, monkeypatch)
    with pytest.raises(HumanConfigError, match=r"identity_base_url.*nothing was sent") as raised:
        client.transport.request("PUT", "/x", idempotent=False, base_url="http://127.0.0.1:99999")
    assert not isinstance(raised.value, HumanFeedbackInDoubtError) and attempts == [1]
    assert fake_api.requests() == []
