"""Feedback batching: 100,000 decided outcomes -> requests actually sent vs the minimum.

The engine decides 100,000 outcomes (lookups from a pre-seeded state) into several
(attack type, status, result) groups and uploads them over HTTP to the fake HUMAN API
(its own process, max batch size enforced). The minimum is sum(ceil(group size / batch
size)). Goal (issue 4): equal.

    .venv/bin/python benchmarks/bench_feedback_batching.py [--outcomes 100000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime

sys.path.insert(0, os.path.dirname(__file__))

from _fake_server import TOKEN, fake_api_process
from _seeded_client import SeededLookupClient
from bench_engine import build_db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    import sqlalchemy as sa

    from airflow_provider_human.client import ClientSettings, HumanClient
    from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
    from airflow_provider_human.reconciliation.ledger import Ledger
    from airflow_provider_human.reconciliation.sources import SqlOutcomeSource

    with tempfile.TemporaryDirectory() as tmp, fake_api_process("--max-batch-size", str(args.batch_size)) as url:
        path = os.path.join(tmp, "cases.sqlite")
        build_db(path, args.outcomes)
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 120})
        http = HumanClient(ClientSettings(token=TOKEN, base_url=url, requests_per_second=1000))
        client = SeededLookupClient(batch_size=args.batch_size, upload_client=http)
        reconciler = Reconciler(client, SqlOutcomeSource(engine=engine), Ledger(engine),
                                settings=ReconcileSettings(lookup_chunk=5000))  # fmt: skip
        started = time.perf_counter()
        result = reconciler.run(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC), "bench")
        elapsed = time.perf_counter() - started
        result.raise_for_outcome()
        report = result.report
        log = json.loads(urllib.request.urlopen(url + "/_fake/requests", timeout=30).read())["requests"]  # noqa: S310
        posts = [e for e in log if e.get("kind") == "feedback"]
        db = sqlite3.connect(path)
        groups = Counter(
            {tuple(k): n for *k, n in db.execute(
                "SELECT attack_type, feedback_status, feedback_result, feedback_comment, count(*)"
                " FROM human_feedback_ledger WHERE state = 'sent' GROUP BY 1, 2, 3, 4")}
        )  # fmt: skip
    minimum = sum(math.ceil(n / args.batch_size) for n in groups.values())
    accepted = sum(1 for e in posts if e["status"] == 200)
    decided = report.counts["decided"]
    print(f"{args.outcomes:,} outcomes -> {decided:,} decided, {sum(groups.values()):,} feedback uploads "
          f"in {len(groups)} groups, batch size {args.batch_size}")  # fmt: skip
    for key, n in sorted(groups.items()):
        print(f"    {key[0]:12s} {key[1]}/{key[2]:34s} {n:7,} accounts -> {math.ceil(n / args.batch_size):4d} requests")
    print(f"requests sent: {len(posts)} ({accepted} accepted); minimum sum(ceil(group / batch)) = {minimum}; "
          f"engine run {elapsed:.1f} s")  # fmt: skip
    print(f"goal (sent == minimum): {'met' if len(posts) == minimum == accepted else 'MISSED'}")
    return 0 if len(posts) == minimum == accepted else 1


if __name__ == "__main__":
    sys.exit(main())
