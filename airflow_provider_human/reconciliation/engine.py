"""The reconciliation engine: the run's steps in order, and what it waits for before its verdict.

Plain Python around a :class:`HumanClient`, an :class:`OutcomeSource` and a :class:`Ledger`;
the Airflow operator only supplies the interval and the run's identity. Each step is its own
module: :mod:`.reading` (source to staging), :mod:`.claiming` (new outcomes decided and
claimed; the dry run's plan), :mod:`.undecided` (held rows decided now), :mod:`.delivery`
(verify and upload), :mod:`.verdict` (what is left); they decide through :mod:`.deciding` and
look up through :mod:`.lookups`. :meth:`Reconciler.run` returns a :class:`RunResult`: the
report, and the error to raise when the interval is not done. A run succeeds only when every
outcome of its interval (and shard) is in a final state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.reconciliation.ad_state import IncidentNames
from airflow_provider_human.reconciliation.claiming import Claiming
from airflow_provider_human.reconciliation.collector import frozen_heap
from airflow_provider_human.reconciliation.deciding import Columns, DecideCore
from airflow_provider_human.reconciliation.delivery import IN_DOUBT, Delivery
from airflow_provider_human.reconciliation.history import WAITS_FOR_EARLIER
from airflow_provider_human.reconciliation.ledger import UNFINISHED, Ledger, LedgerState, OpenRow
from airflow_provider_human.reconciliation.lookups import Lookups
from airflow_provider_human.reconciliation.outcomes import as_utc, format_utc
from airflow_provider_human.reconciliation.policy import DecisionPolicy
from airflow_provider_human.reconciliation.reading import Reading
from airflow_provider_human.reconciliation.report import ReconciliationReport
from airflow_provider_human.reconciliation.run import LOGGER, Run
from airflow_provider_human.reconciliation.settings import ReconcileSettings
from airflow_provider_human.reconciliation.sources import OutcomeSource
from airflow_provider_human.reconciliation.staging import OutcomeStaging
from airflow_provider_human.reconciliation.undecided import Undecided
from airflow_provider_human.reconciliation.verdict import verdict
from airflow_provider_human.words import counted

__all__ = ["ReconcileSettings", "Reconciler", "RunResult"]

log = logging.getLogger(LOGGER)

_VERIFY_ROUNDS = 2  # in-doubt verifications per try before leaving the rest to the next try


@dataclass
class RunResult:
    """What a run did (``report``) and, when the interval is not done, the error that says what is left."""

    report: ReconciliationReport
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_outcome(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class _Steps:
    """One run's step objects, sharing its lookups, decide core and decision columns."""

    lookups: Lookups
    claiming: Claiming
    undecided: Undecided
    delivery: Delivery


class Reconciler:
    """Reconciles one interval of case outcomes into Account Defender, exactly once per outcome."""

    def __init__(
        self,
        client: HumanClient,
        source: OutcomeSource,
        ledger: Ledger,
        *,
        policy: DecisionPolicy | None = None,
        settings: ReconcileSettings | None = None,
    ) -> None:
        self.client = client
        self.source = source
        self.ledger = ledger
        self.policy = policy or DecisionPolicy()
        self.settings = settings or ReconcileSettings()
        ledger.decision_lock_seconds = self.settings.decision_lock_seconds  # the run's bound on the lock wait
        self.batch_size = self.settings.batch_size or client.settings.feedback_batch_size
        names = self.settings.v2_incident_names
        self.incident_names = IncidentNames(names) if names is not None else IncidentNames()
        self.core = DecideCore(self.policy, self.incident_names, self.settings.clock_skew_seconds)
        #: True while the run holds leases and may be stopped (the operator's ``on_kill``); False once it releases
        self.stoppable = False

    # ------------------------------------------------------------------ the run

    def run(self, start: datetime, end: datetime, owner: str, *, read_source: bool = True) -> RunResult:
        """Reconcile ``[start, end)``; never raises for what happens after the arguments were accepted.

        ``owner`` names the run (and shard) for people and for ``reprocess``: every try of one
        task instance passes the same owner, each try still holds its rows alone.
        ``read_source=False`` finishes what the ledger already holds for the interval (the
        review step, after a person answered) without reading the export again. A stop from
        outside (a ``BaseException`` such as Airflow's ``AirflowTaskTerminated``, raised by the
        operator's ``on_kill``) releases the try's rows and propagates.
        """
        if start.tzinfo is None or end.tzinfo is None or not start < end:
            raise HumanInputError("interval", (start, end), "must be timezone-aware with start < end")
        start, end = as_utc(start), as_utc(end)  # a source compares in UTC: any offset or zone is the same moment
        began = time.monotonic()
        interval = (format_utc(start), format_utc(end))
        shard = self.settings.shard
        report = ReconciliationReport(
            interval[0], interval[1], owner, self.source.describe(), self.settings.dry_run,
            shard=f"{shard[0]}/{shard[1]}" if shard and shard[1] > 1 else None,
        )  # fmt: skip
        run = Run(interval, (start, end), owner,
                  self.settings.comment_template.format(start=interval[0], end=interval[1]), report)  # fmt: skip
        log.info("Reconciling case outcomes closed in [%s, %s)%s from %s%s", *interval,
                 f", shard {report.shard}" if report.shard else "", report.source,
                 " (DRY RUN: nothing is written or sent)" if self.settings.dry_run else "")  # fmt: skip
        result = RunResult(report)
        with frozen_heap():  # a day's million objects would set off full collections again and again
            try:
                steps = self._steps(run)
                if self.settings.dry_run:
                    with OutcomeStaging(self.settings.staging_dir) as staging:
                        Reading(self.source, self.ledger, self.settings).stage(staging, run)
                        steps.claiming.plan_dry(staging, run, self.batch_size)
                else:
                    self.ledger.ensure_schema()
                    self.ledger.register(owner)
                    self._hold_and_reconcile(run, steps, read_source)
                    result.error = verdict(self.ledger, report, interval, shard,
                                           fail_on_review=self.settings.fail_on_review)  # fmt: skip
            except Exception as exc:
                result.error = exc
                report.failed(exc)
            finally:
                report.took(time.monotonic() - began)
        return result

    def _steps(self, run: Run) -> _Steps:
        lookups = Lookups(self.client, self.settings, run.report)
        columns = Columns(run.comment, self.settings.per_case_comments)
        chunk = self.settings.lookup_chunk
        return _Steps(
            lookups,
            Claiming(self.ledger, self.core, columns, lookups, chunk),
            Undecided(self.ledger, self.core, columns, lookups, chunk),
            Delivery(self.client, self.ledger, self.settings, self.batch_size, self.incident_names, lookups),
        )

    def _hold_and_reconcile(self, run: Run, steps: _Steps, read_source: bool) -> None:
        """The work, under this try's lease; the lease released at the end, however the work ended.

        The heartbeat stops before the release, so no renewal can land after it. ``stoppable``
        is cleared first thing after the work: a stop arriving later cannot cut the heartbeat's
        stop or the release short.
        """
        try:
            with self.ledger.heartbeat():
                try:
                    self.stoppable = True
                    self._reconcile(run, steps, read_source)
                finally:
                    self.stoppable = False
        finally:
            released = self.ledger.release()
            if released:
                log.info("Released %d unfinished outcomes: the next try or run takes them at once", released)

    def _reconcile(self, run: Run, steps: _Steps, read_source: bool) -> None:
        if read_source:
            with OutcomeStaging(self.settings.staging_dir) as staging:
                Reading(self.source, self.ledger, self.settings).stage(staging, run)
                if self.settings.reprocess:
                    reopened = self.ledger.reopen_for_reprocess(run.interval, run.owner, run.owner, self.settings.shard)
                    run.report.count("reprocessed", reopened)
                    log.warning("reprocess: %d decided-but-unsent outcomes of this interval are decided again "
                                "(sent ones stay sent)", reopened)  # fmt: skip
                self._adopt(run)
                steps.claiming.claim_and_decide(staging, run)
        else:
            self._adopt(run)
        self._drive(run, steps)
        self._settle(run, steps)

    def _adopt(self, run: Run) -> int:
        adopted = self.ledger.adopt(run.interval, run.owner, self.settings.shard)
        if adopted:
            run.report.count("adopted", adopted)
            log.warning("Adopted %d unfinished outcomes of this interval from an ended or crashed run", adopted)
        return adopted

    def _drive(self, run: Run, steps: _Steps) -> None:
        """Everything this try holds, to a final state where it can: verify, decide, upload."""
        run.verify_rounds += steps.delivery.verify_in_doubt(run.report)
        steps.undecided.decide(run.report)
        steps.delivery.upload(run.report)

    # ------------------------------------------------------------------ is the interval done?

    def _settle(self, run: Run, steps: _Steps) -> None:
        """Wait (bounded) for what others hold and for in-doubt uploads to be old enough to verify."""
        deadline = time.monotonic() + self.settings.wait_for_others_seconds
        while True:
            now = self.ledger.clock()
            rows = self.ledger.open_rows(run.interval, self.settings.shard)
            if any(self._adoptable(r, now) for r in rows) and self._adopt(run):
                self._drive(run, steps)
                continue
            waiting = [r for r in rows if self._worth_waiting_for(r, now, run)]
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                return
            log.info("Waiting for %s of this interval (held by another live run, or in doubt and "
                     "verified %s s after sending); up to %.0f s more", counted(len(waiting), "outcome"),
                     self.settings.verify_after_seconds, left)  # fmt: skip
            time.sleep(min(self.settings.poll_seconds, left))
            self._drive(run, steps)

    def _adoptable(self, row: OpenRow, now: float) -> bool:
        return row.state in UNFINISHED and row.holder != self.ledger.holder and row.lease_until <= now

    def _worth_waiting_for(self, row: OpenRow, now: float, run: Run) -> bool:
        if row.state not in UNFINISHED:
            return False
        if row.holder != self.ledger.holder:
            return row.lease_until > now
        if row.state is LedgerState.CLAIMED and row.reason == WAITS_FOR_EARLIER:
            return True  # an earlier upload of its pair (another day's, maybe in flight) may land meanwhile
        # Mine and in doubt: verified once old enough (and sent again if not applied), for a few rounds
        # only: while HUMAN keeps failing, the next try (after Airflow's retry delay) goes on.
        return row.state in IN_DOUBT and run.verify_rounds < _VERIFY_ROUNDS
