"""A worker stopped inside the decision lock (issue 25 item 10), on a real PostgreSQL server.

Before: ``pg_advisory_xact_lock`` waited for ever, so every other run of the ledger hung for as
long as the holder stayed stopped. Judged by the run's error and by what the fake API applied.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from airflow_provider_human.exceptions import (
    DecisionLockTimeoutError,
    HumanInputError,
    HumanNonRetryableError,
    ReconciliationIncompleteError,
)
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from tests.reconciliation.conftest import DAY, FAST, NEXT_DAY
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_postgres import PgCaseDB, row
from tests.reconciliation.test_why import effects

ACCOUNTS = [f"a{i}" for i in range(6)]


def run(db, client, **settings):
    reconciler = Reconciler(client, SqlOutcomeSource(engine=db.engine), Ledger(db.engine),
                            settings=ReconcileSettings(**{**FAST, **settings}))  # fmt: skip
    return reconciler.run(DAY, NEXT_DAY, "pg/run-2/reconcile/-1")


def stopped_holder(db, tmp_path) -> tuple[subprocess.Popen, int]:
    """A real process holding the decision lock, then stopped; (process, its backend pid)."""
    ready = tmp_path / "holder.ready"
    holder = subprocess.Popen([sys.executable, "-m", "tests.reconciliation._lock_holder", db.url, str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert holder.poll() is None and time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.05)
    os.kill(holder.pid, signal.SIGSTOP)
    return holder, int(ready.read_text().split()[1])


def test_item10_a_stopped_holder_fails_the_run_for_retry_naming_it_and_the_retry_sends_once(
    postgres, fake_api, make_client, tmp_path
):
    db = PgCaseDB(postgres)
    db.add(*[row(f"c{i}", a, "confirmed_fraud") for i, a in enumerate(ACCOUNTS)])
    seed_states(fake_api, none=ACCOUNTS)
    Ledger(db.engine).ensure_schema()
    holder, backend = stopped_holder(db, tmp_path)
    outcome: dict = {}
    try:
        waiting = threading.Thread(target=lambda: outcome.setdefault("result", run(db, make_client(),
                                                                                   decision_lock_seconds=1.0)))  # fmt: skip
        waiting.start()
        waiting.join(timeout=60)
        assert not waiting.is_alive(), "the run is still waiting for the stopped holder"
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()
    error = outcome["result"].error
    assert isinstance(error, DecisionLockTimeoutError) and isinstance(error, ReconciliationIncompleteError)
    assert not isinstance(error, HumanNonRetryableError)  # Airflow retries it
    message = str(error)
    assert f"backend pid {backend}" in message and f"human-reconcile pid {holder.pid} on " in message
    assert "idle in transaction" in message and "within 1 s (decision_lock_seconds)" in message
    assert effects(fake_api) == {} and db.ledger() == []  # nothing decided, nothing sent
    retry = run(db, make_client())  # the holder is gone: the retry decides and sends every outcome once
    assert retry.error is None
    assert effects(fake_api) == {(a, "ato", "resolved", "manually_identified_and_resolved"): 1 for a in ACCOUNTS}
    assert {r["state"] for r in db.ledger()} == {"sent"}
    db.engine.dispose()


@pytest.mark.parametrize("value", [0, -1, "soon", float("nan")])
def test_decision_lock_seconds_is_checked_naming_the_field(value):
    with pytest.raises(HumanInputError, match="decision_lock_seconds"):
        ReconcileSettings(decision_lock_seconds=value)
