"""`make demo`: the daily reconciliation DAG against the local fake HUMAN API and a SQLite case database.

Builds a throwaway Airflow home in .demo/, a SQLite database of closed cases for three
days (every decision-table cell, a superseded outcome, two broken rows), starts the fake
HUMAN API on a free 127.0.0.1 port with matching account states, then runs
`airflow dags test human_case_reconciliation` for each day, runs one day again to show
that nothing is sent twice, and prints the reports. Stops the fake API by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from tests.support.demo_cases import build_case_db

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
TOKEN = "demo-server-token-not-secret"
DAYS = ["2026-11-17", "2026-11-18", "2026-11-19"]


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    home = DEMO / "airflow"
    home.mkdir(parents=True)
    accounts = build_case_db(DEMO / "cases.sqlite", DAYS)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW_CONN_HUMAN_CASE_DB": json.dumps({"conn_type": "sqlite", "host": str(DEMO / "cases.sqlite")}),
    }
    port_file = DEMO / "fake_api.port"
    fake = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_human.testing.fake_api", "--port", "0", "--token", TOKEN,
         "--port-file", str(port_file), "--latency-ms", "5"],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{_wait_for_port(port_file, fake)}"
        _post(base + "/_fake/accounts", {"accounts": accounts})
        env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": base, "password": TOKEN})
        print(f"==> case database .demo/cases.sqlite, fake HUMAN API at {base} ({len(accounts)} accounts seeded)")
        print("==> airflow db migrate (throwaway home: .demo/airflow)", flush=True)
        _airflow(env, "db", "migrate")
        _airflow(env, "pools", "set", "human_api", "4", "Every task that calls HUMAN")
        failed = 0
        for day in DAYS:
            failed += _run_day(env, day, "")
        print("\n==> the same day again, as a re-run or an overlapping backfill would: nothing may be sent twice")
        failed += _run_day(env, DAYS[1], "-again")
        log = json.loads(urllib.request.urlopen(base + "/_fake/requests", timeout=10).read())["requests"]  # noqa: S310
        print("==> the fake HUMAN API received, in all:")
        received = Counter((e["method"], e["kind"], e["status"]) for e in log)
        for (method, kind, status), count in sorted(received.items()):
            print(f"    {count:4d} x {method:4s} {kind:8s} -> {status}")
        print(f"==> reports: {home / 'reports' / 'human'}; ledger: table human_feedback_ledger in .demo/cases.sqlite")
        print(
            "==> next: `make ui` opens the same DAG in Airflow's UI on http://127.0.0.1:8080, with seven days of "
            "cases to backfill (docs/getting-started.md)"
        )
        return 1 if failed else 0
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=10)


def _run_day(env: dict, day: str, suffix: str) -> int:
    # `dags test D` makes a manual run: its data interval is the last whole one before D, [D - 1 day, D).
    # (A scheduled or backfill run whose logical date is D covers [D, D + 1 day): see the DAG's doc.)
    next_day = time.strftime("%Y-%m-%d", time.gmtime(time.mktime(time.strptime(day, "%Y-%m-%d")) + 86400))
    print(f"\n==> airflow dags test human_case_reconciliation {next_day}   (cases closed on {day})", flush=True)
    run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "human_case_reconciliation", next_day],
                         env=env, capture_output=True, text=True)  # fmt: skip
    log_name = f"dags_test_{day}{suffix}.log"
    (DEMO / log_name).write_text(run.stdout + run.stderr)
    table = _report_table(run.stdout + run.stderr)
    print(table or "    (no report found; see the log)")
    report = _report_file(run.stdout + run.stderr)
    if report:
        print(f"    report: {report}")
    print(f"    run {'succeeded' if run.returncode == 0 else 'FAILED'}; log: .demo/{log_name}")
    return run.returncode != 0


def _report_file(output: str) -> str:
    """The Markdown report the run wrote, relative to the project (from the operator's "Reports written" line)."""
    for line in output.splitlines():
        if "Reports written: " in line:
            for path in line.split("Reports written: ", 1)[1].split(" [airflow.task")[0].split(", "):
                if path.endswith(".md"):
                    return os.path.relpath(path)
    return ""


def _report_table(output: str) -> str:
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "HUMAN reconciliation report:" in line:
            body = []
            for row in lines[i + 1 : i + 30]:
                body.append(row.split(" [airflow.task")[0])
                if row.lstrip().startswith("duration"):
                    break
            errors = [line for line in lines if "Error: " in line and line.startswith("airflow_provider_human")]
            return "\n".join(body + [f"    {e}" for e in errors[-1:]])
    return ""


def _wait_for_port(port_file: Path, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the fake HUMAN API exited during start-up")
        if port_file.exists() and port_file.read_text().strip():
            return port_file.read_text().strip()
        time.sleep(0.05)
    raise SystemExit("the fake HUMAN API did not start within 30 s")


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).read()  # noqa: S310


def _airflow(env: dict, *args: str) -> None:
    """An airflow command whose output matters only when it fails: then it is shown, and the demo stops."""
    run = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        output = (run.stdout + run.stderr).strip().splitlines()
        raise SystemExit(f"`airflow {' '.join(args)}` failed (exit {run.returncode}):\n" + "\n".join(output[-40:]))


if __name__ == "__main__":
    sys.exit(main())
