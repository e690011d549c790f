"""The candidates for the account-wide budget, measured the same way (issue 28: measure before choosing).

- pyrate-limiter's SQLite, PostgreSQL and Redis buckets (one shared bucket, a store round trip per acquire);
- ``limits`` on Redis (moving window; ``hit`` does not wait, so the caller polls);
- membership shares (``budget.shares.SharedBudget``: a lease per holder, local pacing, no round trip per acquire).

Per candidate: the cost of one unthrottled acquire (one process), and with N processes sharing one
limit for a few seconds: the aggregate rate, and the most acquires any sliding 1 s window saw
(above the limit = the API would have answered 429).

    .venv/bin/python benchmarks/bench_budget_candidates.py [--limit 50] [--processes 4] [--seconds 6]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def acquirer(candidate: str, url: str, limit: float, key: str):
    """A blocking ``acquire()`` for the candidate (and what to close after)."""
    if candidate.startswith("pyrate"):
        from pyrate_limiter import Duration, Limiter, Rate

        rates = [Rate(int(limit), Duration.SECOND)]
        if candidate == "pyrate-sqlite":
            from pyrate_limiter import SQLiteBucket

            bucket = SQLiteBucket.init_from_file(rates, db_path=url.removeprefix("sqlite:///"), use_file_lock=True)
        elif candidate == "pyrate-postgresql":
            from psycopg_pool import ConnectionPool
            from pyrate_limiter import PostgresBucket

            pool = ConnectionPool(url.replace("postgresql+psycopg2://", "postgresql://"), min_size=1, max_size=2)
            bucket = PostgresBucket(pool, f"bucket_{key}", rates)
        else:
            import redis
            from pyrate_limiter import RedisBucket

            bucket = RedisBucket.init(rates, redis.Redis.from_url(url), f"bucket_{key}")
        limiter = Limiter(bucket)
        return lambda: limiter.try_acquire(key), lambda: None
    if candidate == "limits-redis":
        from limits import RateLimitItemPerSecond, storage, strategies

        strategy = strategies.MovingWindowRateLimiter(storage.RedisStorage(url))
        item = RateLimitItemPerSecond(int(limit))

        def hit() -> None:
            while not strategy.hit(item, key):
                stats = strategy.get_window_stats(item, key)
                time.sleep(max(stats.reset_time - time.time(), 0.001))

        return hit, lambda: None
    from airflow_provider_human.budget.shares import SharedBudget
    from tests.budget.holder import make_store

    budget = SharedBudget(limit, make_store(url), key)
    return budget.acquire, budget.close


def worker(args: argparse.Namespace) -> int:
    acquire, close = acquirer(args.worker, args.url, args.limit, args.key)
    acquire()  # connected, tables made
    time.sleep(max(args.start_at - time.time(), 0.0))
    times: list[float] = []
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        acquire()
        times.append(time.time())
    close()
    print(json.dumps(times))
    return 0


def per_acquire_us(candidate: str, url: str) -> float:
    acquire, close = acquirer(candidate, url, 1e6, f"cost{uuid.uuid4().hex[:8]}")
    acquire()
    started = time.perf_counter()
    for _ in range(2000):
        acquire()
    spent = time.perf_counter() - started
    close()
    return spent * 1e6 / 2000


def shared_run(candidate: str, url: str, args: argparse.Namespace) -> tuple[float, int]:
    key = f"k{uuid.uuid4().hex[:8]}"
    start_at = time.time() + 4.0
    command = [sys.executable, __file__, "--worker", candidate, "--url", url, "--limit", str(args.limit),
               "--key", key, "--seconds", str(args.seconds), "--start-at", str(start_at)]  # fmt: skip
    procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(args.processes)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    times = sorted(t for out in outputs for t in json.loads(out.strip().splitlines()[-1]))
    worst = max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    return len(times) / args.seconds, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=50.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--worker")
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--only", help="comma-separated candidate names")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    from tests.pg_server import ThrowawayPostgres

    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        pg = stack.enter_context(ThrowawayPostgres())
        port = 6390
        redis_dir = tempfile.mkdtemp()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", redis_dir], stdout=subprocess.DEVNULL)  # fmt: skip
        stack.callback(lambda: (proc.send_signal(signal.SIGTERM), proc.wait(10), shutil.rmtree(redis_dir)))
        time.sleep(0.5)
        redis_url = f"redis://127.0.0.1:{port}/0"
        sqlite_url = f"sqlite:///{tmp}/budget.sqlite"
        pg_url = pg.create_database("candidates")
        candidates = [
            ("pyrate-sqlite", sqlite_url), ("pyrate-postgresql", pg_url), ("pyrate-redis", redis_url),
            ("limits-redis", redis_url),
            ("shares-sqlite", sqlite_url), ("shares-postgresql", pg_url),
            ("shares-redis", redis_url.removesuffix("/0")),
        ]  # fmt: skip
        print(f"limit {args.limit:g}/s shared by {args.processes} processes for {args.seconds:g} s\n")
        print("| candidate | one acquire (µs) | aggregate rate | % of limit | most in any 1 s |")
        print("|---|---|---|---|---|")
        for name, url in candidates:
            if args.only and name not in args.only.split(","):
                continue
            try:
                cost = per_acquire_us(name, url)
                rate, worst = shared_run(name, url, args)
            except Exception as exc:  # a candidate that cannot run says why
                print(f"| {name} | failed: {type(exc).__name__}: {str(exc)[:120]} | | | |", flush=True)
                continue
            print(f"| {name} | {cost:.0f} | {rate:.1f}/s | {100 * rate / args.limit:.0f}% | {worst} |", flush=True)
    os.environ.pop("PGPASSWORD", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
