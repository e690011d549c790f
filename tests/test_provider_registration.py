"""The provider is discoverable by Airflow and declares its connection form as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from airflow_provider_human.get_provider_info import CONN_FIELDS, get_provider_info


def test_entry_point_points_at_get_provider_info():
    [ep] = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_human")]
    assert ep.load() is get_provider_info
    assert get_provider_info()["package-name"] == "airflow-provider-human"


def test_every_extra_of_the_form_has_a_label_a_description_and_a_json_type():
    for field in CONN_FIELDS.values():
        assert field["schema"]["type"][0] in {"string", "number", "integer", "boolean"}
        assert field["description"] and field["label"]


def test_connection_type_behaviour():
    [conn] = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "human" and conn["hook-name"] == "HUMAN Security"
    assert conn["hook-class-name"] == "airflow_provider_human.hooks.human.HumanHook"
    behaviour = conn["ui-field-behaviour"]
    assert set(behaviour["hidden-fields"]) == {"schema", "login"}
    assert behaviour["relabeling"]["password"] == "Server token"
    assert behaviour["placeholders"]["host"] == "https://console.humansecurity.com"


def test_airflow_providers_list_shows_the_package():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "json"],
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    ).stdout  # fmt: skip
    [listing] = [line for line in out.splitlines() if line.startswith("[{")]
    packages = {p["package_name"]: p for p in json.loads(listing)}
    assert "airflow-provider-human" in packages


@pytest.fixture
def api_client(monkeypatch, airflow_db):
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app())


def test_api_server_hook_meta_returns_the_form(api_client):
    response = api_client.get("/ui/connections/hook_meta")
    assert response.status_code == 200
    [meta] = [h for h in response.json() if h["connection_type"] == "human"]
    assert meta["hook_name"] == "HUMAN Security"
    fields = meta["standard_fields"]
    assert fields["password"]["title"] == "Server token"
    assert fields["login"]["hidden"] and fields["url_schema"]["hidden"] and not fields["port"]["hidden"]
    assert fields["host"]["placeholder"] == "https://console.humansecurity.com"
    extras = meta["extra_fields"]
    assert set(extras) == set(CONN_FIELDS)
    assert extras["timeout"]["value"] == 30.0 and extras["timeout"]["schema"]["title"] == "Timeout (seconds)"
    assert "rate limit" in extras["requests_per_second"]["description"]


def test_api_server_connection_test_uses_test_connection(api_client, monkeypatch, fake_api, token):
    """POST /api/v2/connections/test (what the form's Test button calls) reaches HumanHook.test_connection."""
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    body = {"connection_id": "human_ui_test", "conn_type": "human", "host": fake_api.url, "password": token}
    good = api_client.post("/api/v2/connections/test", json=body)
    assert good.status_code == 200 and good.json()["status"] is True, good.text
    assert "server token was accepted" in good.json()["message"]
    bad = api_client.post("/api/v2/connections/test", json={**body, "password": "revoked-token-77"})
    assert bad.json()["status"] is False and "refused the server token" in bad.json()["message"]
    assert "revoked-token-77" not in bad.text and token not in good.text


def test_every_operator_module_is_registered():
    """Each module under operators/ that defines an operator is listed, so Airflow's provider views show it."""
    import pkgutil

    import airflow_provider_human.operators as operators

    [entry] = get_provider_info()["operators"]
    modules = {f"{operators.__name__}.{m.name}" for m in pkgutil.iter_modules(operators.__path__) if m.name != "base"}
    assert set(entry["python-modules"]) == modules


def test_the_day_notifier_is_registered_and_importable():
    from airflow.sdk.module_loading import import_string

    [path] = get_provider_info()["notifications"]
    assert import_string(path).__name__ == "HumanDayNotifier"
