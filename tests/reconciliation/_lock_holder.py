"""Takes the ledger's decision lock and stays inside it: ``python -m tests.reconciliation._lock_holder URL READY``.

Writes ``<os pid> <PostgreSQL backend pid>`` to READY once it holds the lock; the test then
stops it (SIGSTOP), as a paused VM or a debugger would, and kills it at the end.
"""

from __future__ import annotations

import os
import sys
import time

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger import Ledger

if __name__ == "__main__":
    url, ready = sys.argv[1:3]
    ledger = Ledger(sa.create_engine(url))
    with ledger.deciding() as decider:
        backend = decider.conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
        with open(ready + ".tmp", "w") as handle:
            handle.write(f"{os.getpid()} {backend}")
        os.replace(ready + ".tmp", ready)
        time.sleep(3600)
