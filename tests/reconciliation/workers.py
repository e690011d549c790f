"""Start reconciliation worker processes behind one gate, so they really run at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.conftest import TOKEN


def run_gated_workers(db_url, fake_api, jobs, tmp_path, batch="5", lease_seconds=30.0):
    """Start one worker process per (owner, start, end), release them together, return their summaries.

    No worker is killed here, so each gets a lease long enough that a heartbeat kept waiting
    for SQLite's write lock by the other three (seconds, on a loaded machine) cannot let its
    live rows be adopted: with the crash tests' 2-s lease that happened, correctly fenced,
    and the run that was overtaken then reported the row it no longer held.
    """
    command = [sys.executable, "-m", "tests.reconciliation._worker", db_url, fake_api.url, TOKEN]
    env = {**os.environ, "HUMAN_TEST_LEASE_SECONDS": str(lease_seconds)}
    procs = [
        subprocess.Popen(
            [*command, owner, start.isoformat(), end.isoformat(), batch, str(tmp_path / "go")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for owner, start, end in jobs
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < len(procs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    (tmp_path / "go").touch()
    summaries = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries
