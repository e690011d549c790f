"""One reconciliation in its own process (used by the concurrency and crash tests)."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from airflow_provider_human.client import ClientSettings, HumanClient
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource


class SlowLedger(Ledger):
    """Claims in small, slightly slow steps so that concurrent workers really interleave."""

    def _claim(self, conn, outcomes, **kwargs):
        time.sleep(0.02)
        return super()._claim(conn, outcomes, **kwargs)


def main() -> None:
    db_url, api_url, token, owner, start, end, batch_size = sys.argv[1:8]
    if len(sys.argv) > 8:  # start line: say ready, then wait for the go file so all workers overlap
        gate = Path(sys.argv[8])
        (gate.parent / f"ready-{owner.replace('/', '_')}").touch()
        while not gate.exists():
            time.sleep(0.01)
    engine = sa.create_engine(db_url, connect_args={"timeout": 120} if db_url.startswith("sqlite") else {})
    client = HumanClient(
        ClientSettings(
            token=token, base_url=api_url, requests_per_second=500, max_workers=4,
            **json.loads(os.environ.get("HUMAN_TEST_CLIENT", "{}")),
        )
    )  # fmt: skip
    reconciler = Reconciler(
        client,
        SqlOutcomeSource(engine=engine),
        # a killed worker's rows are free 2 s after it died (longer where no worker is killed: workers.py)
        SlowLedger(engine, lease_seconds=float(os.environ.get("HUMAN_TEST_LEASE_SECONDS", "2.0"))),
        settings=ReconcileSettings(
            **{
                "batch_size": int(batch_size),
                "lookup_chunk": 5,
                "poll_seconds": 0.1,
                "wait_for_others_seconds": 60,
                **json.loads(os.environ.get("HUMAN_TEST_SETTINGS", "{}")),  # a test's own timings
            }
        ),  # fmt: skip
    )
    started = time.time()
    result = reconciler.run(datetime.fromisoformat(start), datetime.fromisoformat(end), owner)
    error = None if result.ok else f"{type(result.error).__name__}: {result.error}"
    print(json.dumps({**result.report.summary(), "error": error, "started": started, "finished": time.time()}))


if __name__ == "__main__":
    main()
