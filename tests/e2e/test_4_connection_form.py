"""The connection form against a real api-server and Chromium (issue 13, docs/connection.md).

Only the api-server runs (no scheduler or DAGs), so this module is quick on its own:
`.venv/bin/python -m pytest tests/e2e/test_4_connection_form.py`.
"""

from __future__ import annotations

import json
import signal

import pytest
import requests

from airflow_provider_human.get_provider_info import CONN_FIELDS, PORT_PLACEHOLDER
from tests.conftest import TOKEN
from tests.e2e.conftest import DIALOG
from tests.support.local_airflow import AirflowStack, stop_on_sigterm

pytestmark = pytest.mark.e2e

LABELS = [field["label"] for field in CONN_FIELDS.values()]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-form-home"), dags_folder=tmp_path_factory.mktemp("no-dags"))
    previous = stop_on_sigterm()
    try:
        stack.airflow("db", "migrate")
        stack.spawn("api-server", "api-server")
        stack.wait_for("the api-server", lambda: _answers(stack), timeout=180, every=1)
        yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop()
        assert not stack.alive()


def _answers(stack: AirflowStack) -> bool:
    try:
        return stack.api.get(f"{stack.base_url}/api/v2/version", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _open_edit_form(page, stack: AirflowStack, conn_id: str):
    page.goto(f"{stack.base_url}/connections")  # fresh page: no tooltip left over a row's buttons
    page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.locator(DIALOG)
    dialog.locator("input[name=host]").wait_for()
    return dialog


def _extra_labels(page, dialog) -> list[str]:
    dialog.get_by_text("Extra Fields", exact=True).click()
    page.wait_for_timeout(500)  # the accordion's content renders after the click
    return [label for label in LABELS if dialog.get_by_text(label, exact=True).is_visible()]


def _test_from_row(page, stack: AirflowStack, conn_id: str) -> str:
    page.goto(f"{stack.base_url}/connections")
    page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Test Connection").click()
    toast = page.locator("[data-scope=toast][data-part=root]").first
    toast.wait_for()
    return toast.inner_text()


def _airflow_treats_port_0_as_empty() -> bool:
    from airflow.api_fastapi.core_api.routes.public import connections

    same = getattr(connections, "_same_endpoint", None)
    return same is None or same(0, None)


def test_rest_connection_with_one_extra_shows_all_extras_after_the_workaround(api_server, e2e_fake_api, page):
    stack = api_server
    stack.rest("POST", "/connections", expect=201, json={
        "connection_id": "human_rest_one_extra", "conn_type": "human", "host": e2e_fake_api.url,
        "password": TOKEN, "port": 443, "extra": json.dumps({"timeout": 5}),
    })  # fmt: skip

    # Our side: the endpoint the form is built from offers every extra.
    meta = stack.api.get(f"{stack.base_url}/ui/connections/hook_meta", timeout=30).json()
    [human] = [m for m in meta if m["connection_type"] == "human"]
    assert list(human["extra_fields"]) == list(CONN_FIELDS)

    # Airflow 3.3.2's form keeps only the declared fields whose key is in the stored extra.
    dialog = _open_edit_form(page, stack, "human_rest_one_extra")
    shown = _extra_labels(page, dialog)
    assert shown == ["Timeout (seconds)"], f"the UI now shows {shown}: update docs/connection.md#extras"

    # Workaround 1 (docs): keys typed into the Extra Fields JSON box appear as their fields.
    dialog.get_by_text("Extra Fields JSON", exact=True).click()
    dialog.locator(".monaco-editor .view-lines").click()  # the box is a Monaco editor
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(json.dumps({"timeout": 5, "max_workers": None, "proxy": None}))
    page.keyboard.press("Shift+Control+End")  # what Monaco auto-closed after the text
    page.keyboard.press("Delete")
    dialog.get_by_text("Edit Connection", exact=True).click()  # blur: the form re-reads the JSON
    assert _extra_labels(page, dialog) == ["Timeout (seconds)", "Max workers", "Proxy URL"]
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    # Workaround 2 (docs): PATCH every key, null meaning the default; the form shows all of them.
    every_key = {**dict.fromkeys(CONN_FIELDS), "timeout": 5}
    stack.rest("PATCH", "/connections/human_rest_one_extra", params={"update_mask": "extra"}, json={
        "connection_id": "human_rest_one_extra", "conn_type": "human", "extra": json.dumps(every_key),
    })  # fmt: skip
    assert json.loads(stack.rest("GET", "/connections/human_rest_one_extra")["extra"]) == every_key
    dialog = _open_edit_form(page, stack, "human_rest_one_extra")
    assert _extra_labels(page, dialog) == LABELS
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    # The nulls are defaults to the hook: the row's Test reaches HUMAN with the stored token.
    toast = _test_from_row(page, stack, "human_rest_one_extra")
    assert "Test Connection Successful" in toast and f"Connected to HUMAN at {e2e_fake_api.url}" in toast, toast
    assert TOKEN not in page.content()


def test_row_test_with_port_empty_and_after_filling_what_the_form_says(api_server, e2e_fake_api, page):
    stack = api_server
    stack.rest("POST", "/connections", expect=201, json={
        "connection_id": "human_no_port", "conn_type": "human", "host": e2e_fake_api.url, "password": TOKEN,
    })  # fmt: skip

    toast = _test_from_row(page, stack, "human_no_port")
    if _airflow_treats_port_0_as_empty():  # apache/airflow#73298 is in this Airflow
        assert "Test Connection Successful" in toast, toast
    else:
        assert "Test Connection Failed" in toast and "Bad Request" in toast, toast

    # The empty Port field says what to fill; the Base URL has its own port, so 443 changes nothing.
    dialog = _open_edit_form(page, stack, "human_no_port")
    port = dialog.locator("input[name=port]")
    assert port.input_value() == "" and port.get_attribute("placeholder") == PORT_PLACEHOLDER
    assert port.is_visible()
    port.fill("443")
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="detached")
    assert stack.rest("GET", "/connections/human_no_port")["port"] == 443

    toast = _test_from_row(page, stack, "human_no_port")
    assert "Test Connection Successful" in toast and f"Connected to HUMAN at {e2e_fake_api.url}" in toast, toast
    assert TOKEN not in page.content()
