"""iter_account_info vs a serial loop of get_account_info_v2, same run, same fake API.

Prints wall times, throughput, the theoretical bound min(requests_per_second,
max_workers / latency) and the speed-up. Goal (issue 2): at least 10x over the serial loop
for 1,000 ids at 20 ms server latency.

    .venv/bin/python benchmarks/bench_lookup_speedup.py [--ids 1000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _fake_server import TOKEN, fake_api_process

from airflow_provider_human.client import ClientSettings, HumanClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--rps", type=float, default=1000.0)
    args = parser.parse_args()
    ids = [f"bench-{i}" for i in range(args.ids)]

    with fake_api_process("--latency-ms", str(args.latency_ms)) as url:
        settings = ClientSettings(token=TOKEN, base_url=url, requests_per_second=args.rps, max_workers=args.workers)
        with HumanClient(settings) as client:
            client.get_account_info_v2("warm-up")
            started = time.perf_counter()
            for account_id in ids:
                client.get_account_info_v2(account_id)
            serial = time.perf_counter() - started

        with HumanClient(settings) as client:
            client.get_account_info_v2("warm-up")
            started = time.perf_counter()
            results = list(client.iter_account_info(ids))
            concurrent = time.perf_counter() - started
            failed = sum(not r.ok for r in results)

    bound = min(args.rps, args.workers / (args.latency_ms / 1000.0))
    speedup = serial / concurrent
    print(f"ids={args.ids} latency={args.latency_ms:g} ms workers={args.workers} requests_per_second={args.rps:g}")
    print(f"serial get_account_info_v2 loop : {serial:7.2f} s  {args.ids / serial:8.1f} req/s")
    rate = args.ids / concurrent
    print(f"iter_account_info               : {concurrent:7.2f} s  {rate:8.1f} req/s  (failed: {failed})")
    print(f"theoretical bound               : {bound:8.1f} req/s -> {rate / bound:5.1%} of it")
    print(f"speed-up                        : {speedup:6.1f}x  (goal >= 10x: {'met' if speedup >= 10 else 'MISSED'})")
    return 0 if speedup >= 10 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
