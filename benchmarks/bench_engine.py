"""Engine benchmark: 1,000,000 outcome rows in SQLite, read, deduplicated, decided and grouped.

Lookups come from a pre-seeded state (see _seeded_client.py); the figure is the engine's
own cost. Two modes are timed, each in a fresh process so peak RSS is the run's own:
``plan`` (dry run: read, stage, deduplicate, decide, group — no ledger writes) and
``ledger`` (the real run: the same plus claiming every outcome in the ledger, recording
decisions, and grouping uploads into batches, with the upload itself counted, not sent).
Goal (issues 4 and 11): < 60 s and < 300 MB peak RSS on SQLite. ``--postgres`` runs the
ledger mode against a throwaway PostgreSQL server instead (tests/pg_server.py; Debian's
``postgresql``), the export in a ``timestamptz`` table.

    .venv/bin/python benchmarks/bench_engine.py [--rows 1000000] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests.pg_server

VERDICTS = ["confirmed_fraud", "legitimate", "suspected_fraud"]


def build_db(path: str, rows: int) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE case_outcomes (case_id TEXT, account_id TEXT, attack_type TEXT, verdict TEXT,"
               " closed_at TEXT, comment TEXT)")  # fmt: skip
    accounts = int(rows * 0.9)  # ~10% of outcomes are superseded by a later one on the same account
    batch = []
    for i in range(rows):
        account = i % accounts
        batch.append((f"case-{i}", f"acct-{account}", "ato" if account % 3 else "fa", VERDICTS[i % 3],
                      f"2026-11-18T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z", None))  # fmt: skip
        if len(batch) == 50_000:
            db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", batch)
    db.commit()
    db.close()


def build_pg(url: str, rows: int) -> None:
    """The same rows in PostgreSQL, loaded with COPY."""
    import io

    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE case_outcomes (case_id text, account_id text, attack_type text,"
                             " verdict text, closed_at timestamptz, comment text)")  # fmt: skip
    accounts = int(rows * 0.9)
    buffer = io.StringIO()
    for i in range(rows):
        account = i % accounts
        buffer.write(f"case-{i}\tacct-{account}\t{'ato' if account % 3 else 'fa'}\t{VERDICTS[i % 3]}\t"
                     f"2026-11-18T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z\t\\N\n")  # fmt: skip
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        raw.cursor().copy_expert("COPY case_outcomes FROM STDIN", buffer)
        raw.commit()
    finally:
        raw.close()
    engine.dispose()


def peak_rss_mb() -> float:
    """This process's own peak RSS: ``VmHWM`` where Linux has it.

    Not ``ru_maxrss``: on Linux a child starts with its parent's high-water mark from the
    fork (kept across exec), so a child of a parent that once held a big buffer reports the
    parent's peak. That made the PostgreSQL figure read 361 MB while the run itself never
    went above 160 MB (sampled every 20 ms).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_mode(path: str, mode: str) -> dict:
    import sqlalchemy as sa
    from _seeded_client import SeededLookupClient

    from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
    from airflow_provider_human.reconciliation.ledger import Ledger
    from airflow_provider_human.reconciliation.sources import SqlOutcomeSource

    url = path if "://" in path else f"sqlite:///{path}"
    engine = sa.create_engine(url, connect_args={"timeout": 120} if url.startswith("sqlite") else {})
    client = SeededLookupClient(batch_size=1000)
    settings = ReconcileSettings(dry_run=(mode == "plan"), lookup_chunk=5000)
    reconciler = Reconciler(client, SqlOutcomeSource(engine=engine, chunk_size=20_000), Ledger(engine),
                            settings=settings)  # fmt: skip
    started = time.perf_counter()
    result = reconciler.run(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC), f"bench/{mode}")
    elapsed = time.perf_counter() - started
    result.raise_for_outcome()
    report = result.report
    return {
        "mode": mode,
        "seconds": round(elapsed, 1),
        "peak_rss_mb": peak_rss_mb(),
        "rows_read": report.counts["rows_read"],
        "superseded": report.counts["superseded"],
        "decided": report.counts["decided"],
        "requests": report.counts["requests_planned"] if mode == "plan" else len(client.uploads),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["plan", "ledger"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", action="store_true", help="the ledger mode on a throwaway PostgreSQL server")
    args = parser.parse_args()
    if args.mode:  # child process: one measured run
        print(json.dumps(run_mode(args.db, args.mode)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        started = time.perf_counter()
        if args.postgres:
            from tests.pg_server import ThrowawayPostgres

            server = ThrowawayPostgres().start()
            target, modes = server.url, ("ledger",)
            build_pg(target, args.rows)
            where = "PostgreSQL"
        else:
            target, modes = os.path.join(tmp, "cases.sqlite"), ("plan", "ledger")
            build_db(target, args.rows)
            where = "SQLite"
        print(f"built {args.rows:,} outcome rows in {where} in {time.perf_counter() - started:.1f} s")
        ok = True
        try:
            for mode in modes:
                out = subprocess.run([sys.executable, __file__, "--mode", mode, "--db", target], capture_output=True,
                                     text=True, check=True).stdout  # fmt: skip
                result = json.loads(out.strip().splitlines()[-1])
                met = result["seconds"] < 60 and result["peak_rss_mb"] < 300
                ok &= met
                print(f"{where} {mode:6s}: {result['seconds']:6.1f} s, peak RSS {result['peak_rss_mb']:6.1f} MB, "
                      f"{result['rows_read']:,} rows read, {result['superseded']:,} superseded, "
                      f"{result['decided']:,} decided, {result['requests']:,} upload requests "
                      f"(goal < 60 s and < 300 MB: {'met' if met else 'MISSED'})")  # fmt: skip
        finally:
            if server is not None:
                server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
