"""Lookups: HumanHook.iter_account_info vs what a user would write instead, in one run.

2,000 accounts against the fake HUMAN API (its own process) with 50 ms injected latency:

- ``iter_account_info`` (max_workers=32, requests_per_second=500);
- a serial ``requests.get`` loop;
- an ``HttpHook`` loop (apache-airflow-providers-http), one ``run()`` per account;
- the theoretical bound min(requests_per_second, max_workers / latency).

Goals (issue 4): >= 90% of the bound and >= 20x the serial loop.

    .venv/bin/python benchmarks/bench_lookups.py [--ids 2000] [--latency-ms 50] [--serial-ids N]

``--serial-ids`` times the two serial loops on fewer ids and scales their rate to the full
count (stated in the output); by default they run over all ids.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _fake_server import TOKEN, fake_api_process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--rps", type=float, default=500.0)
    parser.add_argument("--serial-ids", type=int, default=None)
    args = parser.parse_args()
    ids = [f"bench-{i}" for i in range(args.ids)]
    serial_ids = ids[: args.serial_ids or args.ids]

    import requests

    from airflow_provider_human.hooks.human import HumanHook

    with fake_api_process("--latency-ms", str(args.latency_ms)) as url:
        host, port = url.removeprefix("http://").split(":")
        os.environ["AIRFLOW_CONN_HUMAN_BENCH"] = json.dumps(
            {"conn_type": "human", "host": url, "password": TOKEN,
             "extra": {"max_workers": args.workers, "requests_per_second": args.rps}}
        )  # fmt: skip
        os.environ["AIRFLOW_CONN_HTTP_BENCH"] = json.dumps(
            {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
        )
        headers = {"Authorization": f"Bearer {TOKEN}"}

        hook = HumanHook("human_bench")
        hook.get_account_info_v2("warm-up")
        started = time.perf_counter()
        results = list(hook.iter_account_info(ids))
        ours = time.perf_counter() - started
        failed = sum(not r.ok for r in results)

        started = time.perf_counter()
        for account_id in serial_ids:
            requests.get(f"{url}/api/v2/account_defender/account/{account_id}", headers=headers, timeout=30).json()
        serial = (time.perf_counter() - started) * len(ids) / len(serial_ids)

        from airflow.providers.http.hooks.http import HttpHook

        http = HttpHook(method="GET", http_conn_id="http_bench")
        started = time.perf_counter()
        for account_id in serial_ids:
            http.run(f"/api/v2/account_defender/account/{account_id}", headers=headers).json()
        http_loop = (time.perf_counter() - started) * len(ids) / len(serial_ids)

    bound = min(args.rps, args.workers / (args.latency_ms / 1000.0))
    rate = len(ids) / ours
    scaled = "" if len(serial_ids) == len(ids) else f" (timed on {len(serial_ids)} ids, scaled)"
    print(f"{len(ids)} ids, {args.latency_ms:g} ms latency, max_workers={args.workers}, "
          f"requests_per_second={args.rps:g}")  # fmt: skip
    print(f"iter_account_info      : {ours:7.2f} s  {rate:7.1f} req/s  (failed: {failed})")
    print(f"serial requests loop   : {serial:7.2f} s  {len(ids) / serial:7.1f} req/s{scaled}")
    print(f"HttpHook loop          : {http_loop:7.2f} s  {len(ids) / http_loop:7.1f} req/s{scaled}")
    print(f"theoretical bound      : {bound:7.1f} req/s -> iter_account_info reaches {rate / bound:.1%}")
    print(f"speed-up vs serial     : {serial / ours:6.1f}x   vs HttpHook loop: {http_loop / ours:6.1f}x")
    met = rate / bound >= 0.9 and serial / ours >= 20 and failed == 0
    print(f"goals (>= 90% of bound, >= 20x serial): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
