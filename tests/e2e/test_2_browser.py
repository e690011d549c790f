"""What a user does in the Airflow UI, in headless Chromium (Debian's package) driven by Playwright.

Creates a HUMAN connection in the form, tests it from the connection list, backfills two
days from the "Run Backfill" form and waits until both runs show success. Screenshots go
to $HUMAN_SCREENSHOT_DIR (default .e2e/screenshots); `make screenshots` refreshes the ones
in docs/img.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from airflow_provider_human.get_provider_info import CONN_FIELDS
from tests.conftest import TOKEN
from tests.e2e.conftest import DAG_ID, DIALOG, UI_DAYS
from tests.e2e.expected import every_upload_accepted, expected_for, ledger, uploads

OPEN_POPOVER = "[data-scope=popover][data-part=content][data-state=open]"

pytestmark = pytest.mark.e2e


def test_connection_form_shows_the_human_fields_and_the_test_succeeds(
    provisioned, airflow_stack, e2e_fake_api, page, shots
):
    page.goto(f"{airflow_stack.base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.locator(DIALOG)
    dialog.locator("input[name=connection_id]").fill("human_ui")
    dialog.get_by_role("combobox").fill("HUMAN")
    page.get_by_role("option", name="HUMAN Security").click()

    # Standard fields, relabelled for HUMAN; login and schema hidden.
    host = dialog.locator("input[name=host]")
    host.wait_for()
    labels = [text.strip() for text in dialog.locator("label").all_inner_texts()]
    assert {"Base URL", "Server token", "Port", "Description"} <= set(labels), labels
    assert not {"Host", "Password", "Login", "Schema"} & set(labels), labels
    assert host.get_attribute("placeholder") == "https://console.humansecurity.com"
    assert "Platform Settings" in dialog.locator("input[name=password]").get_attribute("placeholder")
    host.fill("http://127.0.0.1")  # the port goes in its own field; the hook joins the two
    dialog.locator("input[name=port]").fill(str(e2e_fake_api.port))
    dialog.locator("input[name=password]").fill(TOKEN)
    assert dialog.locator("input[name=password]").get_attribute("type") == "password"  # masked in the screenshot
    page.screenshot(path=shots / "connection-form.png")

    # Extras: every field with its label and its description.
    dialog.get_by_text("Extra Fields", exact=True).click()
    for name, field in CONN_FIELDS.items():
        assert dialog.get_by_text(field["label"], exact=True).is_visible(), name
        assert dialog.get_by_text(field["description"], exact=True).is_visible(), name
    dialog.locator("input[name=element_requests_per_second]").fill("20")
    page.screenshot(path=shots / "connection-extras.png")
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="detached")

    saved = airflow_stack.rest("GET", "/connections/human_ui")
    assert saved["conn_type"] == "human" and saved["host"] == "http://127.0.0.1" and saved["port"] == e2e_fake_api.port
    assert json.loads(saved["extra"])["requests_per_second"] in (20, "20")

    # Airflow 3.3 puts "Test Connection" on the connection's row.
    row = page.get_by_role("row").filter(has_text="human_ui")
    row.get_by_role("button", name="Test Connection").click()
    toast = page.get_by_text("Test Connection Successful")
    toast.wait_for()
    assert (
        f"Connected to HUMAN at {e2e_fake_api.url}: the server token was accepted"
        in toast.locator("xpath=..").inner_text()
    )
    assert TOKEN not in page.content()
    page.wait_for_timeout(1000)  # only for the picture: let the toast finish sliding in
    page.screenshot(path=shots / "connection-tested.png")


def test_backfill_two_days_from_the_run_backfill_form(provisioned, airflow_stack, e2e_fake_api, case_db, page, shots):
    stack = airflow_stack
    page.goto(f"{stack.base_url}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").click()
    dialog = page.locator(DIALOG)
    dialog.get_by_text("Backfill", exact=True).click()
    # From / To are logical dates: the start of each day whose closed cases the run reconciles.
    for index, day in enumerate([UI_DAYS[0], UI_DAYS[-1]]):
        page.get_by_test_id("datetime-input").nth(index).click()
        popover = page.locator(OPEN_POPOVER)
        popover.get_by_placeholder("YYYY/MM/DD").fill(day.replace("-", "/"))
        popover.get_by_placeholder("HH:mm").fill("00:00")
        page.keyboard.press("Escape")
    page.get_by_text(f"{len(UI_DAYS)} runs will be triggered.").wait_for()
    page.screenshot(path=shots / "backfill-form.png")
    for _attempt in range(3):
        dialog.get_by_role("button", name="Run Backfill").click()
        answer = page.get_by_text(re.compile("Backfill generated|Database is locked|Database error")).first
        answer.wait_for()
        if "Backfill generated" in answer.inner_text():
            break
        stack.cancel_unfinished_backfills(DAG_ID)  # SQLite only: see AirflowStack.create_backfill
        page.wait_for_timeout(2000)
    else:
        raise AssertionError(f"Run Backfill was refused three times:\n{page.inner_text('body')[:1500]}")

    # The runs list names backfill runs after their run-after instant: the end of the day covered.
    run_ids = [f"backfill__{_next_day(day)}T00:00:00+00:00" for day in UI_DAYS]

    def both_succeeded() -> bool:
        page.goto(f"{stack.base_url}/dags/{DAG_ID}/runs")
        page.get_by_role("row").nth(1).wait_for()
        rows = {run_id: page.get_by_role("row").filter(has_text=run_id) for run_id in run_ids}
        states = {run_id: row.get_by_test_id("state-badge").all_inner_texts() for run_id, row in rows.items()}
        failed = [run_id for run_id, state in states.items() if state and state[0].strip() == "Failed"]
        assert not failed, f"backfill runs failed in the UI: {failed}\n{stack.tails()}"
        return all(state and state[0].strip() == "Success" for state in states.values())

    stack.wait_for("both backfill runs to show Success in the UI", both_succeeded, timeout=420, every=5)
    stack.wait_for(  # the scheduler closes a backfill a moment after its last run: then its banner goes
        "the backfill to be marked complete",
        lambda: all(b["completed_at"] for b in stack.rest("GET", "/backfills", params={"dag_id": DAG_ID})["backfills"]),
    )
    page.goto(f"{stack.base_url}/dags/{DAG_ID}/runs")
    page.get_by_role("row").filter(has_text=run_ids[-1]).wait_for()
    page.screenshot(path=shots / "backfill-runs.png")
    page.goto(f"{stack.base_url}/dags/{DAG_ID}")
    page.get_by_text("shard_indexes").first.wait_for()
    _widen_grid(page)
    page.screenshot(path=shots / "backfill-grid.png")

    # What the two runs did, checked outside the UI.
    expected = expected_for(UI_DAYS)
    assert every_upload_accepted(e2e_fake_api)
    sent = uploads(e2e_fake_api)
    assert {key: count for key, count in sent.items() if key[0] in expected.accounts} == expected.uploads
    decided = {case: row["decision"] for case, row in ledger(case_db).items() if case in expected.decisions}
    assert decided == expected.decisions


def _widen_grid(page, by: int = 300) -> None:
    """Drag the grid's resize handle to the right so every run's column shows in the screenshot."""
    box = page.locator("[data-panel-resize-handle-id]").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 200
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + by, y, steps=10)
    page.mouse.up()


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
