"""One real Airflow for the end-to-end module(s): started once, provisioned through REST, stopped by PID.

Run with `make e2e` (part of `make test`). The fake HUMAN API runs in this process on
127.0.0.1; the case database is a SQLite file every Airflow task reads through the
`human_case_db` connection.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from airflow_provider_human.testing.fake_api import FakeHumanAPI
from tests.conftest import TOKEN
from tests.debian import PackageUnavailable, apt_install
from tests.support.demo_cases import build_case_db
from tests.support.local_airflow import AirflowStack, stop_on_sigterm

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "human_case_reconciliation"
REVIEW_DAG_ID = "human_case_review"  # triggered by the reconciliation's review-requests asset
REST_DAYS = ["2026-11-10", "2026-11-11", "2026-11-12"]  # backfilled through POST /api/v2/backfills
UI_DAYS = ["2026-11-14", "2026-11-15"]  # backfilled from the "Run Backfill" form in the browser
ALL_DAYS = REST_DAYS + UI_DAYS
CHROMIUM = "/usr/bin/chromium"
DIALOG = "[data-scope=dialog][data-part=content]"


@pytest.fixture(scope="session")
def e2e_fake_api():
    with FakeHumanAPI(token=TOKEN) as api:
        yield api


@pytest.fixture(scope="session")
def case_db(tmp_path_factory, e2e_fake_api):
    path = tmp_path_factory.mktemp("cases") / "cases.sqlite"
    e2e_fake_api.seed_accounts(build_case_db(path, ALL_DAYS))
    return path


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory):
    # The HUMAN page's plugin from this checkout's provider info, whether or not the installed package's
    # metadata has its airflow.plugins entry point yet (an editable install made before the plugin existed).
    lazy = {"AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False"}
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-home"), dags_folder=ROOT / "dags", extra_env=lazy)
    # A SIGTERM (a CI time-out, a kill) must still run the teardown below instead of orphaning Airflow.
    previous = stop_on_sigterm()
    try:
        stack.start()
        yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop_and_check()


@pytest.fixture(scope="session")
def provisioned(airflow_stack, e2e_fake_api, case_db):
    """What a user does first, through the REST API: connections, the pool, unpause the DAG."""
    stack = airflow_stack
    created = stack.provision_demo(e2e_fake_api.url, TOKEN, case_db, requests_per_second=200)
    for dag_id in (DAG_ID, REVIEW_DAG_ID):
        stack.wait_for(
            f"{dag_id} to be parsed",
            lambda dag_id=dag_id: (
                stack.api.get(f"{stack.base_url}/api/v2/dags/{dag_id}", timeout=10).status_code == 200
            ),
            timeout=180,
        )
        stack.rest("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    return created


# Headless Chromium (Debian's package) driven by Playwright, for the browser tests.


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        try:
            apt_install("chromium")
        except PackageUnavailable as exc:
            if os.environ.get("HUMAN_REQUIRE_BROWSER") == "1":
                pytest.fail(f"Chromium is required here (HUMAN_REQUIRE_BROWSER=1) but unavailable: {exc}")
            pytest.skip(f"browser tests skipped: {exc}")
    return CHROMIUM


@pytest.fixture(scope="session")
def page(chromium):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="UTC")
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    folder = Path(os.environ.get("HUMAN_SCREENSHOT_DIR", ROOT / ".e2e" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
