"""Delivery: the uploads a try holds, sent or verified through the fenced ledger, one batch at a time.

A batch is marked ``sending`` (committed) before its request leaves, and moved by the
answer: applied, not applied (planned again), refused (for a person) or in doubt. An
in-doubt upload is looked up once it is old enough and judged by :mod:`.verify`: marked
sent, planned again, or handed to a person. Never resent blindly.
"""

from __future__ import annotations

import logging
import uuid

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import FeedbackGroupKey, FeedbackResult, FeedbackStatus
from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.exceptions import (
    HumanAuthError,
    HumanBadRequestError,
    HumanConfigError,
    HumanError,
    HumanFeedbackInDoubtError,
)
from airflow_provider_human.reconciliation.ad_state import IncidentNames
from airflow_provider_human.reconciliation.ledger import Ledger, LedgerRow, LedgerState
from airflow_provider_human.reconciliation.ledger.states import IN_FLIGHT
from airflow_provider_human.reconciliation.lookups import Lookups
from airflow_provider_human.reconciliation.policy import ReviewKind
from airflow_provider_human.reconciliation.report import ReconciliationReport
from airflow_provider_human.reconciliation.run import LOGGER
from airflow_provider_human.reconciliation.settings import ReconcileSettings
from airflow_provider_human.reconciliation.verify import Applied, was_applied
from airflow_provider_human.words import counted

log = logging.getLogger(LOGGER)

IN_DOUBT = tuple(sorted(IN_FLIGHT))  # verified by lookup, never resent blindly


class Delivery:
    """Verifies and sends what one try holds; counts into the run's report."""

    def __init__(
        self,
        client: HumanClient,
        ledger: Ledger,
        settings: ReconcileSettings,
        batch_size: int,
        names: IncidentNames,
        lookups: Lookups,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.settings = settings
        self.batch_size = batch_size
        self.incident_names = names
        self.lookups = lookups

    def verify_in_doubt(self, report: ReconciliationReport) -> int:
        """Uploads whose fate is unknown: look, then mark sent, queue again, or hand to a person.

        Returns how many rounds of lookups it made (a try makes only a few: see the engine).
        """
        rounds = 0
        cutoff = self.ledger.clock() - self.settings.verify_after_seconds
        for rows in self.ledger.iter_mine(IN_DOUBT, chunk=self.settings.lookup_chunk):
            rows = [r for r in rows if r.marked_at is None or r.marked_at <= cutoff]
            if not rows:
                continue
            rounds += 1
            infos, _errors = self.lookups.fetch({r.account_id for r in rows})  # failures: the next round looks again
            judged: dict[tuple[Applied, str], list[LedgerRow]] = {}
            for row in rows:
                info = infos.get(row.account_id)
                if info is None:
                    continue
                status = FeedbackStatus(row.feedback_status or "")  # set on every row that was sent
                result = FeedbackResult(row.feedback_result) if row.feedback_result else None
                answer = was_applied(AttackType(row.attack_type), status, result, info, marked_at=row.marked_at,
                                     names=self.incident_names,
                                     clock_skew_seconds=self.settings.clock_skew_seconds)  # fmt: skip
                judged.setdefault(answer, []).append(row)
            for (applied, why), group in judged.items():
                if applied is Applied.NO:
                    group = self._not_after_newer(group, why, report)
                    if not group:
                        continue
                self._apply_verification(applied, why, group, report)
        return rounds

    def _not_after_newer(self, rows: list[LedgerRow], why: str, report: ReconciliationReport) -> list[LedgerRow]:
        """Of rows verified not applied, those that may be sent again; the rest go to a person.

        AD's state alone misleads once a newer outcome of the pair was decided on top of this
        upload (its confirmation may have closed the very incident this one opened): sending
        again then could contradict it or open a second incident. The engine no longer decides
        on top of an unlanded upload; this guards a ledger written otherwise.
        """
        histories = self.ledger.read_history({(r.account_id, r.attack_type) for r in rows})
        resend: list[LedgerRow] = []
        for row in rows:
            history = histories.get((row.account_id, row.attack_type))
            newer = history.newer_told(row.closed_at) if history else None
            if newer is None:
                resend.append(row)
                continue
            detail = f"{why}, but a newer outcome of the pair was decided since: {newer.describe()}"
            moved = self.ledger.move([row.id], IN_DOUBT, LedgerState.NEEDS_REVIEW, review=ReviewKind.IN_DOUBT.value,
                                     error=f"needs review: {detail}"[:1000])  # fmt: skip
            report.count("needs_review", moved)
            log.error("NEEDS REVIEW: account %s, %s, %s/%s, batch %s: %s; not resent", row.account_id,
                      row.attack_type, row.feedback_status, row.feedback_result or "-", row.batch_id,
                      detail)  # fmt: skip
        return resend

    def _apply_verification(
        self, applied: Applied, why: str, rows: list[LedgerRow], report: ReconciliationReport
    ) -> None:
        ids = [r.id for r in rows]
        if applied is Applied.YES:
            moved = self.ledger.mark_sent(ids, None, note=f"in doubt, verified applied by lookup: {why}")
            report.count("verified_applied", moved)
            log.warning("%d in-doubt uploads verified applied by lookup (%s); marked sent", moved, why)
        elif applied is Applied.NO:
            moved = self.ledger.move(ids, IN_DOUBT, LedgerState.PLANNED, batch_id=None, marked_at=None,
                                     error=f"in doubt, verified not applied by lookup: {why}")  # fmt: skip
            report.count("verified_not_applied", moved)
            log.warning("%d in-doubt uploads verified NOT applied by lookup (%s); they are sent again", moved, why)
        else:
            moved = self.ledger.move(ids, IN_DOUBT, LedgerState.NEEDS_REVIEW, review=ReviewKind.IN_DOUBT.value,
                                     error=f"needs review: {why}")  # fmt: skip
            report.count("needs_review", moved)
            for row in rows:
                log.error("NEEDS REVIEW: account %s, %s, %s/%s, batch %s: %s; not resent, not marked sent",
                          row.account_id, row.attack_type, row.feedback_status, row.feedback_result or "-",
                          row.batch_id, why)  # fmt: skip

    def upload(self, report: ReconciliationReport) -> None:
        """Every upload group this try holds planned, in batches; each batch marked before it is sent."""
        groups = self.ledger.planned_groups()
        if groups:
            log.info("Uploading feedback in %s, up to %s per request", counted(len(groups), "group"),
                     counted(self.batch_size, "account"))  # fmt: skip
        for group in groups:
            key = FeedbackGroupKey.build(attack_type=group[0], status=group[1], result=group[2], comment=group[3])
            after_id = 0
            while True:
                batch_id = uuid.uuid4().hex
                rows = self.ledger.take_batch(group, self.batch_size, batch_id, after_id)
                if not rows or not self._send(key, batch_id, rows, report):
                    break  # the group is done, or HUMAN refused a batch before acting: the rest waits
                after_id = max(row_id for row_id, _ in rows)

    def _send(
        self, key: FeedbackGroupKey, batch_id: str, rows: list[tuple[int, str]], report: ReconciliationReport
    ) -> bool:
        """One request for rows this try really moved to ``sending``; False when HUMAN refused it unapplied."""
        accounts = list(dict.fromkeys(account for _, account in rows))
        label = f"{key.attack_type.feedback_code}/{key.status.value}/{key.result.value if key.result else '-'}"
        size = counted(len(accounts), "account")
        try:
            status_code = self.client.send_feedback(key.request(accounts))
        except HumanFeedbackInDoubtError as exc:
            moved = self.ledger.finish_batch(batch_id, LedgerState.IN_DOUBT, http_status=exc.http_status,
                                             error=str(exc)[:1000])  # fmt: skip
            report.count("in_doubt", moved)
            log.error("Batch %s (%s, %s) is IN DOUBT: verified by lookup before anything is resent: %s",
                      batch_id, label, size, exc)  # fmt: skip
            return True
        except HumanBadRequestError as exc:
            moved = self.ledger.finish_batch(batch_id, LedgerState.FAILED, http_status=exc.http_status,
                                             review=ReviewKind.REJECTED.value,
                                             error=str(exc)[:1000])  # fmt: skip
            report.count("failed", moved)
            log.error("Batch %s (%s, %s) was rejected by HUMAN: %s", batch_id, label, size, exc)
            return True
        except HumanError as exc:  # answered before HUMAN acted (401/403, 429 after retries, never sent)
            moved = self.ledger.finish_batch(batch_id, LedgerState.PLANNED, clear_batch=True,
                                             error=str(exc)[:1000])  # fmt: skip
            if isinstance(exc, HumanAuthError | HumanConfigError):  # every batch would meet it: the run stops
                raise
            report.count("not_applied", moved)
            log.error("Batch %s (%s, %s) was not applied; left planned for a later try: %s",
                      batch_id, label, size, exc)  # fmt: skip
            return False
        marked = self.ledger.finish_batch(batch_id, LedgerState.SENT, http_status=status_code)
        if marked < len(rows):
            log.warning("Batch %s was applied, but %d of its outcomes were adopted meanwhile; their new holder "
                        "verifies them by lookup", batch_id, len(rows) - marked)  # fmt: skip
        report.count("requests_sent")
        report.count("accounts_sent", len(accounts))
        report.uploaded(key.result.value if key.result else key.status.value, len(accounts))
        log.info("Sent batch %s: %s, %s", batch_id, size, label)
        return True
