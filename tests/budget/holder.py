"""One budget holder as its own process (a task on some worker): lookups through a shared budget.

    python -m tests.budget.holder --store URL --api URL --rps R [--seconds S] [--per-task]

``--store`` is a SQLAlchemy URL or ``redis://127.0.0.1:PORT``. Prints one JSON line when done
(lookups that succeeded, failed); a SIGKILL mid-run is what the crash test does to it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

from airflow_provider_human.budget.shares import SharedBudget, account_key
from airflow_provider_human.client import ClientSettings, HumanClient


def make_store(url: str):
    if url.startswith("redis://"):
        from airflow_provider_human.budget.redis_store import RedisBudgetStore, redis_client

        host, port = url.removeprefix("redis://").split(":")
        return RedisBudgetStore(redis_client(host=host, port=int(port)))
    import sqlalchemy as sa

    from airflow_provider_human.budget.sql import SqlBudgetStore

    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    return SqlBudgetStore(sa.create_engine(url, **kwargs))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default="")
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rps", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--per-task", action="store_true", help="today's per-task limiter instead of the budget")
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch time to start at (aligns processes)")
    parser.add_argument("--start-on-stdin", action="store_true",
                        help="print 'ready' once imported, then start at the epoch time read from stdin")  # fmt: skip
    args = parser.parse_args()
    settings = ClientSettings(token=args.token, base_url=args.api, requests_per_second=args.rps,
                              max_workers=args.workers, max_retries=8, backoff_initial=0.05)  # fmt: skip
    budget = None if args.per_task else SharedBudget(args.rps, make_store(args.store),
                                                     account_key(settings.base_url, settings.token))  # fmt: skip
    client = HumanClient(settings, rate_limiter=budget)
    start_at = args.start_at
    if args.start_on_stdin:  # every process imported before the clock starts, however loaded the machine
        print("ready", flush=True)
        start_at = float(sys.stdin.readline())
    if start_at:
        time.sleep(max(start_at - time.time(), 0.0))
    deadline = time.monotonic() + args.seconds
    ids = (f"acct-{i}" for i in itertools.count())
    ok = failed = 0
    started = time.time()
    stream = client.iter_account_info(ids, max_workers=args.workers)
    for result in stream:
        if result.error is None:
            ok += 1
        else:
            failed += 1
        if time.monotonic() >= deadline:
            break
    stream.close()
    ended = time.time()
    client.close()
    print(json.dumps({"ok": ok, "failed": failed, "started": started, "ended": ended}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
