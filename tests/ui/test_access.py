"""Only a signed-in user allowed to read the reconciliation DAG's runs sees the page or its API (Airflow's auth)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import READER

PATHS = ["/human/", "/human/ledger/human_case_db/days/2026-11-18", "/human/api/ledger/human_case_db/days",
         "/human/api/ledger/human_case_db/days/2026-11-18"]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
def test_an_anonymous_request_is_refused(client_as, path):
    response = client_as(None).get(path)
    assert response.status_code == 401, response.text
    assert "2026-11-18" not in response.text.replace(path, "")


@pytest.mark.parametrize("path", PATHS)
def test_a_user_who_may_not_read_the_dag_is_refused(client_as, path):
    response = client_as("reads:some_other_dag").get(path)
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("path", PATHS)
def test_a_user_without_a_role_is_refused_as_airflows_own_api_refuses_them(client_as, path):
    """Airflow's own tests' unauthorized client: the simple auth manager's user "dummy" without a role."""
    assert client_as("dummy", role=None).get(path).status_code == 403


def test_a_forged_token_is_refused(client_as):
    from fastapi.testclient import TestClient

    client = client_as(READER)
    forged = TestClient(
        client.app, headers={"Authorization": "Bearer " + client.headers["Authorization"][7:-4] + "AAAA"}
    )
    assert forged.get(PATHS[2]).status_code in (401, 403)


@pytest.mark.parametrize("path", PATHS)
def test_a_reader_of_the_dag_gets_the_page(client_as, path):
    assert client_as(READER).get(path).status_code == 200


def test_the_dag_that_grants_access_is_a_setting(client_as, monkeypatch):
    monkeypatch.setenv("AIRFLOW__HUMAN__UI_DAG_ID", "fraud_reconciliation")
    assert client_as(READER).get(PATHS[2]).status_code == 403
    assert client_as("reads:fraud_reconciliation").get(PATHS[2]).status_code == 200


def test_a_ledger_connection_not_in_the_setting_is_never_opened(client_as, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_DB", "sqlite:////nonexistent/never-opened.sqlite")
    response = client_as(READER).get("/human/api/ledger/other_db/days")
    assert response.status_code == 404 and "ui_ledger_conn_ids" in response.json()["detail"]


def test_the_cookie_the_airflow_ui_sets_is_accepted(client_as, token_for):
    """In the UI the page is an iframe of the same origin: its requests carry the UI's _token cookie."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    client = client_as(None)
    client.cookies.set(COOKIE_NAME_JWT_TOKEN, token_for(READER))
    assert client.get("/human/").status_code == 200
