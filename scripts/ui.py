"""`make ui`: the reconciliation DAG in a real Airflow UI, against the local fake HUMAN API and SQLite.

Starts the same stack as the end-to-end tests (api-server, scheduler, dag-processor,
triggerer; LocalExecutor; everything on 127.0.0.1) under `.ui/`, with closed cases for the
last seven days, the connections `human_default` and `human_case_db` and the pool
`human_api`. Runs until Ctrl-C, then stops every process by its PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_provider_human.testing.fake_api import FakeHumanAPI
from tests.support.demo_cases import build_case_db
from tests.support.local_airflow import AirflowStack, stop_on_sigterm

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".ui"
TOKEN = "demo-server-token-not-secret"
PREFERRED_PORT = 8080


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir()
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
    stop_on_sigterm()  # a kill stops Airflow too, like Ctrl-C
    (HOME / "ui.pid").write_text(f"{os.getpid()}\n")  # what to kill when this runs in the background
    with FakeHumanAPI(token=TOKEN) as fake:
        accounts = build_case_db(HOME / "cases.sqlite", days)
        fake.seed_accounts(accounts)
        stack = AirflowStack(HOME / "airflow", dags_folder=ROOT / "dags", port=_port())
        try:
            print(f"==> starting Airflow under {stack.home} (about 20 s) ...", flush=True)
            stack.start()
            stack.provision_demo(fake.url, TOKEN, HOME / "cases.sqlite", requests_per_second=50)
            # The review DAG runs when a day hands items over: unpaused, so its request opens.
            stack.wait_for(
                "human_case_review to be parsed",
                lambda: stack.api.get(f"{stack.base_url}/api/v2/dags/human_case_review", timeout=10).status_code == 200,
                timeout=180,
            )
            stack.rest("PATCH", "/dags/human_case_review", json={"is_paused": False})
            print(
                f"""
==> Airflow UI: {stack.base_url}   (every user is an admin; nothing listens beyond 127.0.0.1)
    fake HUMAN API: {fake.url} ({len(accounts)} accounts); cases closed {days[0]} .. {days[-1]} in .ui/cases.sqlite
    Try: Dags -> human_case_reconciliation -> Trigger -> Backfill, From {days[0]} To {days[-1]}.
    Items for a person open a request in the DAG human_case_review (unpaused): Browse -> Required Actions.
    Admin -> Connections -> human_default -> Test Connection checks the token.
    Component logs: .ui/airflow/*.out. Ctrl-C (or kill {os.getpid()}, also in .ui/ui.pid) stops everything.""",
                flush=True,
            )
            while True:
                time.sleep(1)
                stack.check_running()  # raises with the log tails if a component died
        except KeyboardInterrupt:
            print("\n==> stopping", flush=True)
        finally:
            stack.stop()
    return 0


def _port() -> int | None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", PREFERRED_PORT))
        except OSError:
            return None  # taken: a free one instead
    return PREFERRED_PORT


if __name__ == "__main__":
    sys.exit(main())
