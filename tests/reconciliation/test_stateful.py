"""A hypothesis state machine: runs, retries, crashes and API faults in any order, against the fake API.

Invariants, judged by what HUMAN applied: no feedback is ever applied twice; no run reports
success while its interval has unfinished rows. After the storm, plain runs finish the work:
every expected feedback is applied exactly once, or waits for a person (``needs_review``)
having been applied at most once.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from airflow_provider_human.client import ClientSettings, HumanClient
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from airflow_provider_human.testing.fake_api import FakeHumanAPI
from tests.conftest import TOKEN
from tests.reconciliation.conftest import CaseDB, outcome

DAYS = [datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC)]
# per day: (verdict, AD state) -> the result the decision table sends
CELLS = {
    ("confirmed_fraud", "pending"): "resolved",
    ("legitimate", "pending"): "no_attack",
    ("suspected_fraud", "none"): "manually_identified",
    ("confirmed_fraud", "none"): "manually_identified_and_resolved",
    ("legitimate", "none"): None,
}
FAULTS = ("none", "applied_then_503", "non_json_200", "reset_after_apply", "502_before_apply", "revoke_token")
CRASH_POINTS = ("after_claim", "after_mark", "after_answer")


class SimulatedCrash(BaseException):
    """A process killed at this point: nothing after it runs, and nothing is released."""


class CrashingLedger(Ledger):
    def __init__(self, *args, crash_at: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.crash_at = crash_at
        self.crashed = False

    def _maybe_crash(self, point: str) -> None:
        if self.crash_at == point:
            self.crashed = True
            raise SimulatedCrash(point)

    def _claim(self, conn, outcomes, **kwargs):
        inserted = super()._claim(conn, outcomes, **kwargs)
        self.inserted = getattr(self, "inserted", 0) + inserted
        return inserted

    @contextmanager
    def deciding(self):
        with super().deciding() as decider:
            yield decider
        if getattr(self, "inserted", 0):  # after the commit of decisions and claims
            self._maybe_crash("after_claim")

    def take_batch(self, group, limit, batch_id, after_id=0):
        rows = super().take_batch(group, limit, batch_id, after_id)
        if rows:
            self._maybe_crash("after_mark")
        return rows

    def finish_batch(self, batch_id, to, **values):
        if to.value == "sent":
            self._maybe_crash("after_answer")
        return super().finish_batch(batch_id, to, **values)

    def release(self) -> int:
        return 0 if self.crashed else super().release()


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory(prefix="human-stateful-")
        self.db = CaseDB(Path(self.dir.name) / "cases.sqlite")
        self.api = FakeHumanAPI(token=TOKEN).start()
        self.expected: dict[str, str] = {}
        pending, none = [], []
        for day in DAYS:
            for n, ((verdict, state), result) in enumerate(CELLS.items()):
                account = f"{day.day}-{n}"
                self.db.add(outcome(f"case-{account}", account, verdict, (day + timedelta(hours=n + 1)).isoformat()))
                (pending if state == "pending" else none).append(account)
                if result:
                    self.expected[account] = result
        self.api.seed_accounts([{"account_id": a, "incidents": [{"attack_type": "ato"}]} for a in pending])
        self.api.seed_accounts([{"account_id": a} for a in none])
        self.client = HumanClient(ClientSettings(token=TOKEN, base_url=self.api.url, requests_per_second=1000,
                                                 max_retries=1, backoff_initial=0.001, timeout=2))  # fmt: skip
        self.runs = 0

    def teardown(self) -> None:
        try:
            self._finish_everything()
        finally:
            self.client.close()
            self.api.stop()
            self.db.engine.dispose()
            self.dir.cleanup()

    # ------------------------------------------------------------------ helpers

    def _reconcile(self, day: datetime, owner: str, crash_at: str | None = None):
        ledger = CrashingLedger(self.db.engine, lease_seconds=30, crash_at=crash_at)
        reconciler = Reconciler(
            self.client, SqlOutcomeSource(engine=self.db.engine), ledger,
            settings=ReconcileSettings(batch_size=2, verify_after_seconds=0, wait_for_others_seconds=0.2,
                                       poll_seconds=0.05, lookup_chunk=3),
        )  # fmt: skip
        self.runs += 1
        try:
            result = reconciler.run(day, day + timedelta(days=1), owner)
        except SimulatedCrash:
            return None
        if result.ok:  # a green run: its interval must be done, now
            open_rows = ledger.open_rows((result.report.interval_start, result.report.interval_end))
            assert open_rows == [], f"{owner} reported success with {open_rows}"
        return result

    def _fault(self, fault: str) -> None:
        if fault == "applied_then_503":
            self.api.configure(after_apply="status", after_apply_status=503, after_apply_limit=1)
        elif fault == "non_json_200":
            self.api.configure(after_apply="non_json")
        elif fault == "reset_after_apply":
            self.api.configure(reset_rate=1.0, fault_kinds=["feedback"])
        elif fault == "502_before_apply":
            self.api.configure(failure_rate=1.0, failure_status=502, fault_kinds=["feedback"])
        elif fault == "revoke_token":
            self.api.configure(revoke_after_feedback=self.api.state.feedback_accepted + 1)

    def _clear_faults(self) -> None:
        self.api.configure(after_apply=None, after_apply_limit=0, reset_rate=0.0, failure_rate=0.0,
                           fault_kinds=None, revoke_after_feedback=0)  # fmt: skip
        self.api.state.after_apply_done = 0
        self.api.set_tokens(TOKEN)

    def _expire_crashed_leases(self) -> None:
        with self.db.engine.begin() as conn:
            if sa.inspect(conn).has_table("human_feedback_ledger_holders"):
                conn.exec_driver_sql("UPDATE human_feedback_ledger_holders SET lease_until = 0")

    def _finish_everything(self) -> None:
        self._clear_faults()
        self._expire_crashed_leases()
        for day in DAYS:
            result = self._reconcile(day, f"final/{day.day}")
            assert result.error is None or type(result.error).__name__ == "ReconciliationNeedsAttentionError", (
                result.error
            )
        applied = self._applied()
        rows = {r["account_id"]: r for r in self.db.ledger_rows()}
        for account, result in self.expected.items():
            times, state = applied[(account, result)], rows[account]["state"]
            if state == "needs_review":
                assert result == "manually_identified_and_resolved" and times <= 1, (account, times)
            else:
                assert (state, times) == ("sent", 1), (account, state, times)

    def _applied(self) -> Counter:
        return Counter((e["account_id"], e["result"]) for e in self.api.effects())

    # ------------------------------------------------------------------ rules

    @rule(day=st.sampled_from(DAYS), same_task=st.booleans(), fault=st.sampled_from(FAULTS))
    def run(self, day, same_task, fault):
        self._fault(fault)
        try:
            self._reconcile(day, f"dag/{'run-1' if same_task else f'run-{self.runs}'}/reconcile/-1")
        finally:
            self._clear_faults()

    @rule(day=st.sampled_from(DAYS), point=st.sampled_from(CRASH_POINTS), fault=st.sampled_from(FAULTS))
    def crash(self, day, point, fault):
        self._fault(fault)
        try:
            self._reconcile(day, "dag/run-1/reconcile/-1", crash_at=point)
        finally:
            self._clear_faults()

    @precondition(lambda self: self.runs > 0)
    @rule()
    def time_passes(self):
        """Crashed runs' leases run out."""
        self._expire_crashed_leases()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def nothing_applied_twice_or_unexpected(self):
        applied = self._applied()
        assert all(n == 1 for n in applied.values()), applied
        assert all(self.expected.get(account) == result for account, result in applied), applied


DeliveryMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=8, deadline=None)
test_delivery_state_machine = DeliveryMachine.TestCase
