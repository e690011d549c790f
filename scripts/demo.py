"""`make demo`: the example DAG against the local fake HUMAN API, in a throwaway Airflow home.

Starts the fake API on a free 127.0.0.1 port, seeds a few accounts and an identity, runs
`airflow dags test example_human_operators` (lookups, a mapped lookup, feedback, an
identity update), then prints what the fake API received. Stops the fake by its PID.
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

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
TOKEN = "demo-server-token-not-secret"


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    home = DEMO / "airflow"
    home.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    }
    port_file = DEMO / "fake_api.port"
    fake = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_human.testing.fake_api", "--port", "0", "--token", TOKEN,
         "--port-file", str(port_file), "--latency-ms", "20"],
        env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{_wait_for_port(port_file, fake)}"
        _post(base + "/_fake/accounts", {"accounts": [
            {"account_id": "acct-1001", "incidents": [{"attack_type": "ato", "risk_score": 0.82}]},
            {"account_id": "acct-1002", "incidents": [{"attack_type": "ato", "risk_score": 0.41}]},
        ]})  # fmt: skip
        _post(base + "/_fake/identities", {"identities": [{"id": "013xrzp12g3nqk8nfsf13ajhjnj5hjp5"}]})
        env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": base, "password": TOKEN})
        print("==> airflow db migrate (throwaway home: .demo/airflow)", flush=True)
        _airflow(env, "db", "migrate")
        _airflow(env, "pools", "set", "human_api", "4", "Every task that calls HUMAN")
        print("==> airflow dags test example_human_operators", flush=True)
        run = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "example_human_operators"],
                             env=env, capture_output=True, text=True)  # fmt: skip
        (DEMO / "dags_test.log").write_text(run.stdout + run.stderr)
        for line in (run.stdout + run.stderr).splitlines():
            if "HUMAN " in line and "[DAG TEST]" not in line:
                print("   ", line.split("] ", 1)[-1].split(" [airflow")[0])
        log = json.loads(urllib.request.urlopen(base + "/_fake/requests", timeout=10).read())["requests"]  # noqa: S310
        print("==> the fake HUMAN API received:")
        for (method, kind, status), count in sorted(
            Counter((e["method"], e["kind"], e["status"]) for e in log).items()
        ):
            print(f"    {count:3d} x {method:4s} {kind:8s} -> {status}")
        print(f"==> DAG run {'succeeded' if run.returncode == 0 else 'FAILED'}; full log: .demo/dags_test.log")
        return run.returncode
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=10)


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
    subprocess.run([sys.executable, "-m", "airflow", *args], env=env, check=True, capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
