"""One account's limit shared by concurrent tasks: today's per-task limiter vs the shared budget, in one run.

N task processes (1, 2, 4, 8) look accounts up on one connection whose ``requests_per_second``
equals the fake API's limit (which answers 429 past it, as HUMAN does). For each limiter the
aggregate rate of answered lookups over the run's window and the fake's 429 count are printed;
then the budget's own cost per request.

Goals (issue 28): shared budget >= 90% of the limit and zero 429s at 1, 2, 4, 8 tasks; one task
alone >= 95% of min(limit, workers / latency).

    .venv/bin/python benchmarks/bench_rate_budget.py [--limit 50] [--seconds 10] [--latency-ms 50]
        [--workers 8] [--stores sqlite,postgresql,redis]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(ROOT))

from _fake_server import TOKEN, fake_api_process  # noqa: E402


def fake(url: str, method: str, path: str) -> dict:
    request = urllib.request.Request(url + path, method=method)  # noqa: S310 - the local fake
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local fake
        return json.loads(answer.read() or b"{}")


def run_tasks(api: str, store: str, tasks: int, args: argparse.Namespace) -> tuple[float, int, float]:
    """``tasks`` holder processes started together: the answered lookups per second in the window, the 429s,
    and how late the last process began (a loaded machine can make it miss the window's start)."""
    fake(api, "DELETE", "/_fake/requests")
    command = [sys.executable, "-m", "tests.budget.holder", "--api", api, "--token", TOKEN, "--rps", str(args.limit),
               "--seconds", str(args.seconds), "--workers", str(args.workers), "--start-on-stdin"]  # fmt: skip
    command += ["--per-task"] if store == "per-task" else ["--store", store]
    procs = [subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(tasks)]  # fmt: skip
    for proc in procs:  # every process imported: then they start together
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start_at!r}\n")
        proc.stdin.flush()
    began = []
    for proc in procs:
        out, _ = proc.communicate(timeout=args.seconds + 120)  # (stdin closes: it was read once)
        if proc.returncode:
            raise RuntimeError(f"a task failed ({proc.returncode})")
        began.append(json.loads(out.strip().splitlines()[-1])["started"])
    log = [e for e in fake(api, "GET", "/_fake/requests")["requests"] if e.get("kind") == "v2"]
    window = [e for e in log if start_at + 1.0 <= e["time"] < start_at + args.seconds - 0.5]
    span = args.seconds - 1.5  # the first second and the last half are starts and stops, not the steady rate
    ok = sum(1 for e in window if e.get("status") == 200)
    return ok / span, sum(1 for e in log if e.get("status") == 429), max(began) - start_at


def overhead(stores: dict[str, str]) -> list[tuple[str, float, float]]:
    """Per store: microseconds an unthrottled ``acquire`` costs, and milliseconds one heartbeat costs."""
    from airflow_provider_human.budget.shares import SharedBudget
    from airflow_provider_human.client.rate_limit import RateLimiter
    from tests.budget.holder import make_store

    rows = []
    local = RateLimiter(1e9)
    started = time.perf_counter()
    for _ in range(100_000):
        local.acquire()
    rows.append(("per-task RateLimiter", (time.perf_counter() - started) * 1e6 / 100_000, 0.0))
    for name, url in stores.items():
        store = make_store(url)
        budget = SharedBudget(1e9, store, f"bench-overhead-{uuid.uuid4().hex[:8]}")
        budget.acquire()
        started = time.perf_counter()
        for _ in range(100_000):
            budget.acquire()
        per_acquire = (time.perf_counter() - started) * 1e6 / 100_000
        started = time.perf_counter()
        for _ in range(200):
            store.beat(budget.key, "bench-beat", 3.0)
        per_beat = (time.perf_counter() - started) * 1e3 / 200
        budget.close()
        rows.append((f"shared budget on {name}", per_acquire, per_beat))
    return rows


@contextmanager
def redis_server():
    import socket

    if not shutil.which("redis-server"):
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=50.0, help="the account's limit = requests_per_second")
    parser.add_argument("--seconds", type=float, default=10.0, help="each run's length")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tasks", default="1,2,4,8")
    parser.add_argument("--stores", default="sqlite,postgresql,redis")
    args = parser.parse_args()
    counts = [int(n) for n in args.tasks.split(",")]
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        stores: dict[str, str] = {}
        for name in args.stores.split(","):
            if name == "sqlite":
                stores[name] = f"sqlite:///{tmp}/budget.sqlite"
            elif name == "postgresql":
                from tests.pg_server import PostgresUnavailable, ThrowawayPostgres

                try:
                    server = stack.enter_context(ThrowawayPostgres())
                except PostgresUnavailable as exc:
                    print(f"(postgresql left out: {exc})")
                    continue
                stores[name] = server.create_database("bench_budget")
            elif name == "redis":
                url = stack.enter_context(redis_server())
                if url is None:
                    print("(redis left out: no redis-server)")
                    continue
                stores[name] = url
        api = stack.enter_context(fake_api_process("--latency-ms", str(args.latency_ms),
                                                   "--rate-limit-rps", str(args.limit)))  # fmt: skip
        bound = min(args.limit, args.workers / (args.latency_ms / 1000.0)) if args.latency_ms else args.limit
        print(f"limit {args.limit:g}/s = requests_per_second; latency {args.latency_ms:g} ms; {args.workers} "
              f"workers per task; {args.seconds:g} s per run; one task's bound {bound:g}/s\n")  # fmt: skip
        print(f"| limiter | {' | '.join(f'{n} task' + ('s' if n > 1 else '') for n in counts)} |")
        print(f"|---|{'---|' * len(counts)}")
        for label, store in [("per-task (today)", "per-task"), *((f"shared, {k}", v) for k, v in stores.items())]:
            cells = []
            for n in counts:
                rate, throttled, late = run_tasks(api, store, n, args)
                cell = f"{rate:.1f}/s = {100 * rate / args.limit:.0f}%, {throttled} x 429"
                cells.append(cell + (f" (a task began {late:.1f} s late)" if late > 0.5 else ""))
            print(f"| {label} | {' | '.join(cells)} |", flush=True)
        print("\n| budget overhead | per request (acquire, unthrottled) | per heartbeat (every 0.5 s) |")
        print("|---|---|---|")
        for name, micro, milli in overhead(stores):
            print(f"| {name} | {micro:.2f} µs | {milli:.2f} ms |" if milli else f"| {name} | {micro:.2f} µs | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
