"""The connection form on Airflow 3.3.2: what its Test button sends, and the extras it shows.

Both issues are Airflow UI behaviour (docs/connection.md); these tests pin what the provider
does about them: the Port field tells the user what to fill, filling it makes the UI's
request succeed, and the documented all-extras workaround is complete and means "defaults".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from airflow_provider_human.defaults import DEFAULT_MAX_WORKERS, DEFAULT_TIMEOUT
from airflow_provider_human.get_provider_info import CONN_FIELDS, get_provider_info

DOCS = Path(__file__).resolve().parents[1] / "docs" / "connection.md"


def _behaviour() -> dict:
    [conn] = get_provider_info()["connection-types"]
    return conn["ui-field-behaviour"]


def test_empty_port_field_says_what_to_fill_for_the_test_button():
    placeholder = _behaviour()["placeholders"]["port"]
    assert "443" in placeholder and "Test" in placeholder, placeholder


def test_port_stays_visible_because_a_hidden_port_is_always_saved_empty():
    assert "port" not in _behaviour()["hidden-fields"]


def _documented_full_extra() -> dict:
    """The JSON block in docs/connection.md that lists every extra (the form workaround)."""
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOCS.read_text(), flags=re.S)]
    found = [b for b in blocks if isinstance(b, dict) and "proxy" in b and "timeout" in b]
    assert len(found) == 1, "docs/connection.md should show one JSON extra with every key"
    return found[0]


def test_documented_workaround_lists_every_extra_of_the_form():
    assert list(_documented_full_extra()) == list(CONN_FIELDS)


def test_documented_workaround_nulls_mean_the_defaults(human_conn):
    from airflow_provider_human.hooks.human import HumanHook

    extra = _documented_full_extra()
    human_conn(**extra)
    settings = HumanHook().settings
    assert settings.timeout == extra["timeout"] != DEFAULT_TIMEOUT
    assert settings.max_workers == DEFAULT_MAX_WORKERS and settings.verify_ssl is True
    assert settings.proxy is None and settings.identity_base_url == settings.base_url


# What the connection list's "Test Connection" button posts (Airflow 3.3.2's UI bundle): the row
# as listed, `port: Number(row.port)` (0 for an empty port) and the masked password.


@pytest.fixture
def api_client(monkeypatch, airflow_db):
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app())


def _ui_test_body(row: dict) -> dict:
    body = {k: row[k] or "" for k in ("conn_type", "connection_id", "description", "host", "login", "schema")}
    return {**body, "password": row["password"] or "", "extra": row["extra"] or "{}", "port": row["port"] or 0}


def _airflow_treats_port_0_as_empty() -> bool:
    from airflow.api_fastapi.core_api.routes.public import connections

    same = getattr(connections, "_same_endpoint", None)
    return same is None or same(0, None)


@pytest.mark.parametrize("port", [None, 443])
def test_the_row_test_button_needs_a_stored_port(api_client, fake_api, token, port):
    conn_id = f"human_row_test_{port}"
    created = api_client.post("/api/v2/connections", json={
        "connection_id": conn_id, "conn_type": "human", "host": fake_api.url, "password": token, "port": port,
        "extra": json.dumps({"timeout": 5}),
    })  # fmt: skip
    assert created.status_code == 201, created.text
    try:
        row = api_client.get(f"/api/v2/connections/{conn_id}").json()
        assert row["password"] == "***"
        answer = api_client.post("/api/v2/connections/test", json=_ui_test_body(row))
        if port is None and not _airflow_treats_port_0_as_empty():
            # apache/airflow#73298: the toast says only "Bad Request"; the placeholder says what to fill.
            assert answer.status_code == 400 and "host or port to test differs" in answer.text
        else:
            assert answer.status_code == 200 and answer.json()["status"] is True, answer.text
            assert f"Connected to HUMAN at {fake_api.url}" in answer.json()["message"]
        assert token not in answer.text
    finally:
        api_client.delete(f"/api/v2/connections/{conn_id}")
