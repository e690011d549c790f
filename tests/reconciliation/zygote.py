"""A pre-imported process that forks reconciliation workers on demand.

Crash tests SIGKILL real worker processes at exact points of the delivery protocol. Starting
each worker from scratch costs Airflow's import time (about 3 s); forking from this process,
which imported everything once and runs no threads, costs milliseconds. Each job is a JSON
line on stdin; the zygote answers with the child's pid on the pipe named by its argument. A child runs one reconciliation,
writes its result to ``job["out"]``, and at its crash point (if any) writes
``<out>.at-<point>`` and waits to be killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from airflow_provider_human.client import ClientSettings, HumanClient
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource


class CrashingLedger(Ledger):
    """A ledger that stops dead (until SIGKILL) at one point of the protocol."""

    def __init__(self, engine, *, crash_at: str | None, crash_result: str | None, signal_path: str, **kwargs):
        super().__init__(engine, **kwargs)
        self.crash_at, self.crash_result, self.signal_path = crash_at, crash_result, signal_path

    def _stop_here(self, point: str) -> None:
        with open(f"{self.signal_path}.at-{point}", "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(3600)  # the test kills us now

    def _batch_result(self, batch_id: str) -> str | None:
        t = self.table
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.feedback_result).where(t.c.batch_id == batch_id).limit(1)).scalar()

    def _claim(self, conn, outcomes, **kwargs):
        inserted = super()._claim(conn, outcomes, **kwargs)
        self.inserted = getattr(self, "inserted", 0) + inserted
        return inserted

    @contextmanager
    def deciding(self):
        with super().deciding() as decider:
            yield decider
        if self.crash_at == "after_claim" and getattr(self, "inserted", 0):  # committed: decisions and claims
            self._stop_here("after_claim")

    def take_batch(self, group, limit, batch_id, after_id=0):
        rows = super().take_batch(group, limit, batch_id, after_id)
        if self.crash_at == "after_mark" and rows and group[2] == self.crash_result:
            self._stop_here("after_mark")
        return rows

    def finish_batch(self, batch_id, to, **values):
        if self.crash_at == "after_answer" and to.value == "sent" and self._batch_result(batch_id) == self.crash_result:
            self._stop_here("after_answer")
        return super().finish_batch(batch_id, to, **values)


def run_job(job: dict) -> None:
    engine = sa.create_engine(
        job["db_url"], connect_args={"timeout": 120} if job["db_url"].startswith("sqlite") else {}
    )
    client = HumanClient(
        ClientSettings(token=job["token"], base_url=job["api_url"], requests_per_second=500, max_workers=4, timeout=10)
    )
    ledger = CrashingLedger(
        engine,
        crash_at=job.get("crash_at"),
        crash_result=job.get("crash_result"),
        signal_path=job["out"],
        lease_seconds=job.get("lease_seconds", 1.0),
    )
    reconciler = Reconciler(
        client, SqlOutcomeSource(engine=engine), ledger, settings=ReconcileSettings(**job["settings"])
    )
    if job.get("gate"):
        while not os.path.exists(job["gate"]):
            time.sleep(0.01)
    result = reconciler.run(datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"]), job["owner"])
    summary = {
        "ok": result.ok,
        "error_type": type(result.error).__name__ if result.error else None,
        "error": str(result.error) if result.error else None,
        "counts": dict(result.report.counts),
        "holder": ledger.holder,
    }
    with open(job["out"] + ".tmp", "w") as handle:
        json.dump(summary, handle)
    os.replace(job["out"] + ".tmp", job["out"])


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    answers = os.fdopen(int(sys.argv[1]), "w")
    print("ready", file=answers, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            answers.close()
            code = 0
            try:
                run_job(job)
            except BaseException as exc:
                with open(job["out"], "w") as handle:
                    json.dump({"ok": False, "error_type": type(exc).__name__, "error": repr(exc)}, handle)
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        print(pid, file=answers, flush=True)


if __name__ == "__main__":
    main()
