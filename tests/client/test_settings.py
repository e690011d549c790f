from __future__ import annotations

import pytest

from airflow_provider_human.client import ClientSettings, HumanConfigError
from airflow_provider_human.client.settings import is_loopback_host
from airflow_provider_human.defaults import DEFAULT_BASE_URL


def test_defaults_are_https_console_and_documented_values():
    s = ClientSettings(token="t" * 12)
    assert s.base_url == DEFAULT_BASE_URL == "https://console.humansecurity.com"
    assert s.identity_base_url == s.base_url
    assert (s.timeout, s.verify_ssl) == (30.0, True)


@pytest.mark.parametrize("url", ["http://example.com", "http://console.humansecurity.com", "http://10.0.0.1:8080"])
def test_plain_http_to_a_remote_host_is_refused(url):
    with pytest.raises(HumanConfigError, match="HTTPS only") as err:
        ClientSettings(token="secret-token", base_url=url)
    assert url in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "http://127.9.9.9", "http://localhost:1", "http://[::1]:80"])
def test_plain_http_to_loopback_is_allowed(url):
    assert ClientSettings(token="secret-token", base_url=url).base_url == url


def test_host_without_scheme_becomes_https_and_trailing_slash_goes():
    assert ClientSettings(token="x" * 8, base_url="console.humansecurity.com/").base_url == DEFAULT_BASE_URL


def test_identity_url_is_checked_too():
    with pytest.raises(HumanConfigError, match="identity_base_url"):
        ClientSettings(token="x" * 8, identity_base_url="http://identity.example.com")


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout", 0), ("max_retries", -1), ("max_workers", 0), ("feedback_batch_size", 0), ("requests_per_second", 0)],
)
def test_bad_numbers_name_the_field_and_value(field, value):
    with pytest.raises(HumanConfigError, match=f"{field}={value}"):
        ClientSettings(token="x" * 8, **{field: value})


def test_token_required_and_never_in_repr():
    with pytest.raises(HumanConfigError, match="token"):
        ClientSettings(token="")
    assert "s3cr3t-value" not in repr(ClientSettings(token="s3cr3t-value"))


def test_loopback_detection():
    assert is_loopback_host("127.0.0.1") and is_loopback_host("LOCALHOST") and is_loopback_host("::1")
    assert not is_loopback_host("128.0.0.1") and not is_loopback_host("localhost.example.com")


@pytest.mark.parametrize("url", ["https://user:s3cret-pw@console.example.com", "https://user@console.example.com"])
def test_credentials_in_a_base_url_are_refused_without_being_shown(url):
    with pytest.raises(HumanConfigError, match="must not carry credentials") as caught:
        ClientSettings(token="t", base_url=url)
    assert "s3cret-pw" not in str(caught.value) and "user" not in str(caught.value).split("credentials")[0]


def test_the_proxy_is_kept_out_of_repr_it_may_hold_credentials():
    settings = ClientSettings(token="t", proxy="http://me:pr0xy-pw@proxy.internal:3128")
    assert "pr0xy-pw" not in repr(settings)
