"""A process that brings a ledger to head once released: ``python -m ... <db url> <gate> <ready file>``.

Prints the revisions it applied itself, as JSON (the race test adds them up across processes).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.migrations import LedgerTables, upgrade


def main(url: str, gate: str, ready: str) -> None:
    engine = sa.create_engine(url, connect_args={"timeout": 120} if url.startswith("sqlite") else {})
    with engine.connect():
        pass  # connected before the gate opens: both processes start their upgrade at the same moment
    Path(ready).touch()
    while not Path(gate).exists():
        time.sleep(0.005)
    applied = upgrade(engine, LedgerTables.of("human_feedback_ledger", "human_feedback_rejects"))
    print(json.dumps(applied))


if __name__ == "__main__":
    main(*sys.argv[1:4])
