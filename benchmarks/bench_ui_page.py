"""The HUMAN page (``/human``) on a 1,000,000-row ledger: a real api-server, real JWTs, HTTP timings.

Builds the ledger's tables with its own schema (``Ledger.ensure_schema``: every index of
the head revision, ``ix_<ledger>_day`` included), fills them with ``--rows`` rows in the
shapes a month of daily runs leaves (sent by result, nothing to send, waiting, in doubt,
for a person; upload batches of 500 rows; one run per day; a few rejects per day), starts Airflow's
api-server alone on 127.0.0.1 (tests/support/local_airflow.py) with the simple auth manager
and a viewer, and times each page and API route over HTTP, several requests after a
warm-up: median and p95 in ms. ``--days 1`` puts every row in one day (the engine
benchmark's million-outcome day), the heaviest day page there is. Goal (issue 29): < 300 ms.

    .venv/bin/python benchmarks/bench_ui_page.py [--rows 1000000] [--days 30] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.local_airflow, and this checkout's package

import sqlalchemy as sa  # noqa: E402

from airflow_provider_human.reconciliation.ledger import Ledger  # noqa: E402

FIRST_DAY = date(2026, 10, 1)
BATCH = 500  # the connection's default feedback_batch_size
RESULTS = ["resolved", "no_attack", "manually_identified", "manually_identified_and_resolved"]
# share of rows per state, as a month of runs leaves them: mostly done, a few for a person or unfinished
STATES = [("sent", 60), ("noop", 33), ("needs_review", 2), ("failed", 1), ("in_doubt", 1), ("claimed", 2),
          ("planned", 1)]  # fmt: skip
COLUMNS = ("case_id", "account_id", "attack_type", "closed_at", "fingerprint", "verdict", "state", "decision",
           "feedback_status", "feedback_result", "interval_start", "interval_end", "owner", "holder", "batch_id",
           "review", "reason", "created_at", "updated_at")  # fmt: skip


def build_ledger(path: str, rows: int, days: int) -> None:
    Ledger(sa.create_engine(f"sqlite:///{path}")).ensure_schema()
    db = sqlite3.connect(path)
    pick = random.Random(29)
    weights = [w for _, w in STATES]
    names = [s for s, _ in STATES]
    insert = f"INSERT INTO human_feedback_ledger ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608 (our names)
    batch: list[tuple] = []
    filled: dict[tuple, int] = {}
    for i in range(rows):
        day = FIRST_DAY + timedelta(days=i % days)
        start, end = f"{day}T00:00:00.000000Z", f"{day + timedelta(days=1)}T00:00:00.000000Z"
        state = pick.choices(names, weights)[0]
        result = RESULTS[i % 4] if state in ("sent", "in_doubt", "needs_review", "failed", "planned") else None
        batch_id = None
        if state in ("sent", "in_doubt", "failed"):  # one upload request per 500 rows of a (day, state, result)
            group = (day, state, result)
            filled[group] = filled.get(group, 0) + 1
            batch_id = f"{day}-{state}-{result}-{filled[group] // BATCH}"
        owner = f"human_case_reconciliation/scheduled__{day}T00:00:00+00:00/reconcile/-1"
        review = "reversal" if state == "needs_review" else None
        batch.append((f"case-{i}", f"acct-{i}", "ato" if i % 3 else "fake_account", f"{day}T12:00:00.000000Z", "fp",
                      "confirmed_fraud", state, "true_positive" if result else "consistent",
                      "resolved" if result else None, result, start, end, owner, "", batch_id, review,
                      "history" if review else None, start, start))  # fmt: skip
        if len(batch) == 50_000:
            db.executemany(insert, batch)
            batch.clear()
    db.executemany(insert, batch)
    rejects = [(f"h{d}-{k}", "bad_verdict", None, None, None, None, f"{FIRST_DAY + timedelta(days=d)}T00:00:00.000000Z",
                "x", "bench", "x") for d in range(days) for k in range(3)]  # fmt: skip
    columns = "row_hash, reason, detail, case_id, account_id, raw, interval_start, interval_end, owner, created_at"
    db.executemany(f"INSERT INTO human_feedback_rejects ({columns}) VALUES ({', '.join('?' * 10)})", rejects)  # noqa: S608
    db.commit()
    db.execute("ANALYZE")
    db.close()


def timed(session, url: str, token: str, n: int) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):  # warm-up: the api-server's first request builds the app's engines and templates
        session.get(url, headers=headers, timeout=120).raise_for_status()
    times = []
    size = 0
    for _ in range(n):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        size = len(response.content)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)], size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    import requests

    from tests.support.local_airflow import AirflowStack

    with tempfile.TemporaryDirectory() as tmp:
        ledger = os.path.join(tmp, "ledger.sqlite")
        started = time.perf_counter()
        build_ledger(ledger, args.rows, args.days)
        print(f"built a ledger of {args.rows:,} rows over {args.days} day(s) in {time.perf_counter() - started:.1f} s"
              f" ({os.path.getsize(ledger) / 2**20:.0f} MB)")  # fmt: skip
        passwords = Path(tmp, "passwords.json")
        passwords.write_text(json.dumps({"bench": "bench-password"}))
        dags = Path(tmp, "dags")
        dags.mkdir()
        stack = AirflowStack(Path(tmp, "home"), dags, components=("api-server",), extra_env={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bench:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False",  # the provider info's plugins (no reinstall needed)
            "AIRFLOW_CONN_HUMAN_CASE_DB": json.dumps({"conn_type": "sqlite", "host": ledger}),
        })  # fmt: skip
        try:
            stack.start()
            session = requests.Session()
            login = {"username": "bench", "password": "bench-password"}
            auth = session.post(f"{stack.base_url}/auth/token", json=login)
            auth.raise_for_status()
            token = auth.json()["access_token"]
            busiest = FIRST_DAY + timedelta(days=args.days - 1)
            routes = {
                "overview page  /human/": "/human/",
                "day page       /human/ledger/…/days/{day}": f"/human/ledger/human_case_db/days/{busiest}",
                "days API       /human/api/ledger/…/days": "/human/api/ledger/human_case_db/days",
                "day API        /human/api/ledger/…/days/{day}": f"/human/api/ledger/human_case_db/days/{busiest}",
            }
            ok = True
            per_day = args.rows // args.days
            print(f"{args.requests} requests each after 2 warm-ups; {per_day:,} rows in the day shown")
            for name, path in routes.items():
                median, p95, size = timed(session, stack.base_url + path, token, args.requests)
                met = p95 < 300
                ok &= met
                print(f"{name:48s} median {median:7.1f} ms  p95 {p95:7.1f} ms  {size / 1024:6.1f} KiB"
                      f"  (goal < 300 ms: {'met' if met else 'MISSED'})")  # fmt: skip
        finally:
            stack.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
