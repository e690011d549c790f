"""The HUMAN page in a real Airflow: after a real backfill its figures equal the ledger's, in the API and in
the Airflow UI (headless Chromium, light and dark), and an anonymous request is refused by an api-server
whose auth is on. Screenshots go to $HUMAN_SCREENSHOT_DIR (`make screenshots`: docs/img)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess

import pytest
import requests

from tests.e2e.conftest import DAG_ID
from tests.support.local_airflow import free_port

pytestmark = pytest.mark.e2e

DAYS = ["2026-10-20", "2026-10-21"]  # no other end-to-end test touches these days
EMAIL = "jane.doe@example.com"  # a case comment carries it: no page may show it
# (case, account, verdict, Account Defender) per day: sent with each result, nothing to send, unknown, a person
CELLS = [("cf-p", "confirmed_fraud", "pending"), ("cf-n", "confirmed_fraud", "none"), ("lg-p", "legitimate", "pending"),
         ("lg-n", "legitimate", "none"), ("sf-n", "suspected_fraud", "none"), ("cf-u", "confirmed_fraud", "unknown"),
         ("cf-odd", "confirmed_fraud", "odd")]  # fmt: skip
PER_CELL = 3  # 21 outcomes a day and one broken row: under the 5 % that fails a run before deciding
API = "/human/api/ledger/human_case_db/days"


def _add_cases(case_db, e2e_fake_api) -> None:
    rows, accounts = [], []
    for d, day in enumerate(DAYS):
        for n, (cell, verdict, state) in enumerate(CELLS):
            for k in range(PER_CELL):
                account = f"acct-ui-{d}-{cell}-{k}"
                rows.append((f"ui-{d}-{cell}-{k}", account, "ato", verdict, f"{day}T1{n}:0{k}:00Z", f"by {EMAIL}"))
                incidents = {"pending": [{"attack_type": "ato"}], "odd": [{"attack_type": "bot_scraping"}]}.get(
                    state, []
                )
                if state != "unknown":
                    accounts.append({"account_id": account, "email": EMAIL, "incidents": incidents})
        rows.append((f"ui-{d}-broken", f"acct-ui-{d}-broken", "ato", "probably_fraud", f"{day}T20:00:00Z", None))
    db = sqlite3.connect(case_db)
    try:
        db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()
    e2e_fake_api.seed_accounts(accounts)


#: The day's rows and rejects, counted straight from the ledger file (fixed text; the day's bounds are parameters).
ROWS = "FROM human_feedback_ledger WHERE interval_start >= ? AND interval_start < ?"
REJECTS = "SELECT count(*) FROM human_feedback_rejects WHERE interval_start >= ? AND interval_start < ?"


def _ledger_truth(case_db, day: str) -> dict:
    """The day's figures counted from the ledger file itself, not through the page's code."""
    db = sqlite3.connect(f"file:{case_db}?mode=ro", uri=True)
    bounds = (day, f"{day}T99")
    try:

        def one(sql: str) -> int:
            return db.execute(sql, bounds).fetchone()[0]

        count = {
            "outcomes": "1=1", "decided": "state <> 'claimed'", "nothing_to_send": "state = 'noop'",
            "waiting": "state IN ('claimed', 'planned')", "in_doubt": "state IN ('sending', 'in_doubt')",
            "needs_review": "state IN ('needs_review', 'failed')",
        }  # fmt: skip
        truth = {name: one(f"SELECT count(*) {ROWS} AND {where}") for name, where in count.items()}
        by_result = f"SELECT feedback_result, count(*) {ROWS} AND state = 'sent' GROUP BY feedback_result"
        truth["sent"] = dict(db.execute(by_result, bounds).fetchall())
        truth["requests"] = one(f"SELECT count(DISTINCT batch_id) {ROWS}")
        truth["rejected"] = one(REJECTS)
        return truth
    finally:
        db.close()


def _runs_ended(stack) -> dict | None:
    runs = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 200})["dag_runs"]
    mine = {r["data_interval_start"][:10]: r for r in runs if r["data_interval_start"][:10] in DAYS}
    return mine if len(mine) == len(DAYS) and all(r["state"] in ("success", "failed") for r in mine.values()) else None


@pytest.fixture(scope="module")
def backfilled(provisioned, airflow_stack, e2e_fake_api, case_db):
    _add_cases(case_db, e2e_fake_api)
    airflow_stack.create_backfill({"dag_id": DAG_ID, "from_date": f"{DAYS[0]}T00:00:00Z",
                                   "to_date": f"{DAYS[-1]}T00:00:00Z", "max_active_runs": 1})  # fmt: skip
    return airflow_stack.wait_for("both days' runs to end", lambda: _runs_ended(airflow_stack), timeout=600, every=2)


def test_the_api_gives_the_ledgers_figures_and_links_the_runs_that_wrote_them(backfilled, airflow_stack, case_db):
    for day in DAYS:
        body = airflow_stack.api.get(f"{airflow_stack.base_url}{API}/{day}", timeout=30).json()
        truth = _ledger_truth(case_db, day)
        assert {k: body[k] for k in truth} == truth, day
        assert truth["needs_review"] == PER_CELL and truth["rejected"] == 1 and len(truth["sent"]) == 4  # the scenario
        [run] = body["runs"]
        assert run["run_id"] == backfilled[day]["dag_run_id"] and run["dag_id"] == DAG_ID
        assert airflow_stack.api.get(f"{airflow_stack.base_url}{run['link']}", timeout=30).status_code == 200
        odd = {f"acct-ui-{DAYS.index(day)}-cf-odd-{k}" for k in range(PER_CELL)}
        assert {i["account_id"] for i in body["items"]} == odd
        assert {i["kind"] for i in body["items"]} == {"ambiguous_ad_state"}
        assert EMAIL not in json.dumps(body)


def test_the_page_in_the_airflow_ui_shows_the_same_figures_light_and_dark(backfilled, airflow_stack, case_db, page,
                                                                          shots):  # fmt: skip
    page.goto(f"{airflow_stack.base_url}/")
    page.get_by_role("button", name="Browse").click()  # the plugin's navigation entry, as a user finds it
    page.get_by_role("menuitem", name="HUMAN").click()
    page.wait_for_url("**/plugin/human")
    frame = page.frame_locator("iframe")
    row = frame.locator(f'[data-ledger="human_case_db"] tr[data-day="{DAYS[-1]}"]')
    row.wait_for()
    truth = _ledger_truth(case_db, DAYS[-1])
    for figure in ("outcomes", "decided", "requests", "nothing_to_send", "waiting", "in_doubt", "needs_review",
                   "rejected"):  # fmt: skip
        assert int(row.locator(f'[data-figure="{figure}"]').inner_text().replace(",", "")) == truth[figure], figure
    assert row.locator('[data-figure="sent_total"]').inner_text().startswith(str(sum(truth["sent"].values())))
    assert EMAIL not in page.content() and EMAIL not in frame.locator("body").inner_html()
    page.screenshot(path=shots / "ui-overview-light.png")

    frame.get_by_role("link", name=DAYS[-1]).first.click()
    frame.locator(f'.tiles[data-day="{DAYS[-1]}"]').wait_for()
    assert frame.get_by_text("ambiguous_ad_state").first.is_visible()
    page.screenshot(path=shots / "ui-day-light.png")

    page.evaluate("localStorage.setItem('theme', 'dark')")  # the Airflow UI's own colour-mode switch
    try:
        page.goto(f"{airflow_stack.base_url}/plugin/human")
        page.frame_locator("iframe").locator(f'tr[data-day="{DAYS[-1]}"]').wait_for()
        page.wait_for_function(
            "document.querySelector('iframe').contentDocument.documentElement.dataset.theme === 'dark'"
        )
        background = page.evaluate(
            "getComputedStyle(document.querySelector('iframe').contentDocument.body).backgroundColor"
        )
        assert background != "rgb(255, 255, 255)", background
        page.screenshot(path=shots / "ui-overview-dark.png")
    finally:
        page.evaluate("localStorage.removeItem('theme')")


def test_an_anonymous_request_is_refused_once_auth_is_on(backfilled, airflow_stack, tmp_path):
    # This stack runs with [core] simple_auth_manager_all_admins: Airflow itself then makes every request an
    # admin (a middleware adds a token), for its own API as for the page. Seen here, not assumed:
    anonymous = requests.get(f"{airflow_stack.base_url}{API}", timeout=30)
    assert anonymous.status_code == 200 and requests.get(f"{airflow_stack.base_url}/api/v2/dags", timeout=30).ok

    # The same Airflow (home, database, plugin) through a second api-server with auth on and one viewer.
    port = free_port()
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"viewer1": "viewer-password"}))
    server = airflow_stack.spawn("api-server-auth", "api-server", env={
        "AIRFLOW__API__PORT": str(port), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer1:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    })  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        airflow_stack.wait_for("the second api-server", lambda: _up(base), timeout=180, every=1)
        for path in (f"{API}", f"{API}/{DAYS[-1]}", "/human/", f"/human/ledger/human_case_db/days/{DAYS[-1]}"):
            refused = requests.get(f"{base}{path}", timeout=30)
            assert refused.status_code == 401, (path, refused.status_code, refused.text[:300])
            assert DAYS[-1] not in refused.text.replace(path, "")
        token = requests.post(f"{base}/auth/token", json={"username": "viewer1", "password": "viewer-password"},
                              timeout=30).json()["access_token"]  # fmt: skip
        allowed = requests.get(f"{base}{API}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert allowed.status_code == 200 and DAYS[-1] in [d["day"] for d in allowed.json()["days"]]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        airflow_stack.processes.pop("api-server-auth", None)


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/api/v2/monitor/health", timeout=5).ok
    except requests.RequestException:
        return False
