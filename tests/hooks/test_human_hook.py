from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_human.client import HumanConfigError
from airflow_provider_human.hooks.human import HumanHook
from tests.conftest import TOKEN


def test_settings_come_from_the_connection_json(human_conn, fake_api):
    human_conn(timeout="12.5", max_retries="2", max_workers=3, feedback_batch_size=250, verify_ssl="false")
    settings = HumanHook().settings
    assert settings.base_url == fake_api.url and settings.token == TOKEN
    assert (settings.timeout, settings.max_retries, settings.max_workers) == (12.5, 2, 3)
    assert (settings.feedback_batch_size, settings.verify_ssl, settings.identity_base_url) == (250, False, fake_api.url)


def test_constructor_arguments_override_the_connection(human_conn):
    human_conn(timeout=12)
    hook = HumanHook(timeout=3, requests_per_second=7, identity_base_url="https://identity.example.com")
    assert (hook.settings.timeout, hook.settings.requests_per_second) == (3, 7)
    assert hook.settings.identity_base_url == "https://identity.example.com"


def test_default_host_is_the_humansecurity_console(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_PROD", json.dumps({"conn_type": "human", "password": "p-123456"}))
    assert HumanHook("human_prod").settings.base_url == "https://console.humansecurity.com"


def test_missing_token_names_the_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_NOTOKEN", json.dumps({"conn_type": "human", "host": "https://x.example"}))
    with pytest.raises(HumanConfigError, match="'human_notoken' has no server token"):
        _ = HumanHook("human_notoken").settings


def test_bad_extra_names_connection_field_and_value(human_conn):
    human_conn(max_workers="lots")
    with pytest.raises(HumanConfigError, match=r"'human_default'.*max_workers='lots'"):
        _ = HumanHook().settings


def test_plain_http_remote_host_refused_with_connection_name(monkeypatch):
    conn = {"conn_type": "human", "host": "http://example.com", "password": "p-123456"}
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_HTTP", json.dumps(conn))
    with pytest.raises(HumanConfigError, match=r"'human_http'.*HTTPS only"):
        _ = HumanHook("human_http").settings


def test_hook_methods_reach_the_api(human_conn, fake_api):
    fake_api.seed_accounts([{"account_id": "a1", "incidents": [{"attack_type": "ato"}]}])
    fake_api.seed_identities([{"id": "i1"}])
    hook = HumanHook()
    assert hook.get_account_info("a1").is_under_attack
    assert hook.get_account_info_v2("a1", days_range=5).is_under_attack
    assert [r.account_id for r in hook.iter_account_info(["a1"], api_version=1)] == ["a1"]
    assert hook.upload_feedback(["a1"], attack_type="ato", status="resolved", result="resolved").requests == 1
    assert hook.update_identity("i1", metadata={"k": "v"}).metadata == {"k": "v"}
    assert hook.get_conn() is hook.client
    hook.close()


def test_test_connection_good_and_bad_token(human_conn, fake_api, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    assert HumanHook().test_connection()[0] is True
    bad = {"conn_type": "human", "host": fake_api.url, "password": "revoked-token-0000"}
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_BAD", json.dumps(bad))
    ok, message = HumanHook("human_bad").test_connection()
    assert (
        not ok
        and "refused the server token" in message
        and "Server token field" in message
        and "password" not in message
    )
    assert "revoked-token-0000" not in message + caplog.text


def test_test_connection_reports_config_errors_instead_of_raising(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_EMPTY", json.dumps({"conn_type": "human"}))
    ok, message = HumanHook("human_empty").test_connection()
    assert not ok and "no server token" in message


def test_port_field_is_honoured_when_host_has_none(monkeypatch, fake_api):
    conn = {"conn_type": "human", "host": "http://127.0.0.1", "port": fake_api.port, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_PORT", json.dumps(conn))
    assert HumanHook("human_port").settings.base_url == fake_api.url


def test_uri_form_with_port_and_extras(monkeypatch):
    """The URI form users put in secrets backends: bare host, port, extras as query parameters."""
    uri = "human://:tok%2Fwith%2Bslash@console.humansecurity.com:443/?requests_per_second=15&max_workers=4"
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_URI", uri)
    settings = HumanHook("human_uri").settings
    assert settings.base_url == "https://console.humansecurity.com:443"
    assert settings.token == "tok/with+slash"
    assert (settings.requests_per_second, settings.max_workers) == (15, 4)


def test_every_extra_of_the_form_can_be_overridden_by_a_hook_argument(human_conn):
    """docs/connection.md promises it; the form and the hook's arguments are two lists kept in step."""
    import inspect

    from airflow_provider_human.get_provider_info import CONN_FIELDS

    assert set(CONN_FIELDS) <= set(inspect.signature(HumanHook.__init__).parameters)
    human_conn(v1_attack_types_encoding="repeated")
    assert HumanHook(v1_attack_types_encoding="json").settings.v1_attack_types_encoding == "json"
    assert HumanHook().settings.v1_attack_types_encoding == "repeated"


def test_every_extra_of_the_form_reaches_the_settings_even_typed_as_text(human_conn):
    """The UI form may hand every value over as text; each extra is read with its form's type."""
    from airflow_provider_human.get_provider_info import CONN_FIELDS

    given = {
        "identity_base_url": (" http://127.0.0.1:9 ", "http://127.0.0.1:9"),
        "timeout": ("2.5", 2.5),
        "max_retries": ("3", 3),
        "requests_per_second": ("7.5", 7.5),
        "max_workers": ("2", 2),
        "feedback_batch_size": ("250", 250),
        "verify_ssl": ("false", False),
        "proxy": ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
        "v1_attack_types_encoding": ("json", "json"),
        "rate_budget_conn_id": (" human_budget ", "human_budget"),  # the hook's, not the client's
        "console_url": (" https://portal.example.test/ad/ ", "https://portal.example.test/ad"),  # links only
    }
    assert set(given) == set(CONN_FIELDS)  # a new extra in the form needs a line here
    human_conn(**{key: text for key, (text, _) in given.items()})
    hook = HumanHook()
    settings = hook.settings
    read = {key: getattr(settings if hasattr(settings, key) else hook, key) for key in given}
    assert read == {key: value for key, (_, value) in given.items()}
