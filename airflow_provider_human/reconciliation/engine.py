"""The reconciliation engine: read outcomes, claim them in the ledger, decide, upload, report.

Plain Python around a :class:`HumanClient`, an :class:`OutcomeSource` and a :class:`Ledger`;
the Airflow operator only supplies the interval and the run's identity.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.client.errors import (
    HumanAuthError,
    HumanBadRequestError,
    HumanError,
    HumanFeedbackInDoubtError,
    HumanInputError,
    HumanNonRetryableError,
)
from airflow_provider_human.client.feedback import requests_needed
from airflow_provider_human.client.models import (
    AccountInfoV1,
    AccountInfoV2,
    FeedbackGroupKey,
    FeedbackResult,
    FeedbackStatus,
)
from airflow_provider_human.reconciliation.ledger import (
    CLAIMED,
    FAILED,
    IN_DOUBT,
    NOOP,
    PLANNED,
    SENT,
    Ledger,
    now_iso,
)
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Rejected, Verdict, format_utc, parse_outcome
from airflow_provider_human.reconciliation.policy import ADState, Category, Decision, DecisionPolicy, ad_state
from airflow_provider_human.reconciliation.report import ReconciliationReport
from airflow_provider_human.reconciliation.sharding import in_shard
from airflow_provider_human.reconciliation.sources import OutcomeSource
from airflow_provider_human.reconciliation.staging import OutcomeStaging
from airflow_provider_human.reconciliation.verify import is_reflected, needs_v1

log = logging.getLogger(__name__)

DEFAULT_COMMENT = "Airflow reconciliation of cases closed in [{start}, {end})"


class ReconciliationAbortedError(HumanNonRetryableError):
    """Too many rows of the export were rejected: nothing was decided or uploaded (not retried)."""


class ReconciliationIncompleteError(HumanError):
    """The run finished but left work for the next try (lookup failures, failed or in-doubt uploads)."""


@dataclass(frozen=True)
class ReconcileSettings:
    """Knobs of one run; the DAG's params map onto these.

    :param batch_size: account ids per upload (default: the connection's ``feedback_batch_size``).
    :param max_reject_ratio: share of rejected rows above which the run fails before deciding anything.
    :param dry_run: plan and report, upload nothing, write nothing.
    :param reprocess: forget earlier decisions of outcomes closed in the interval, then decide again.
    :param per_case_comments: send each case's own comment (more requests) instead of one per run.
    :param comment_template: the per-run comment; ``{start}`` and ``{end}`` name the interval.
    :param lookup_chunk: outcomes looked up, decided and claimed per round (one ledger transaction).
    :param shard: ``(index, count)``: only accounts whose stable hash falls in this shard.
    """

    batch_size: int | None = None
    max_reject_ratio: float = 0.05
    dry_run: bool = False
    reprocess: bool = False
    per_case_comments: bool = False
    comment_template: str = DEFAULT_COMMENT
    lookup_chunk: int = 2000
    days_range: int = 30
    shard: tuple[int, int] | None = None
    staging_dir: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_reject_ratio, bool) or not 0 <= float(self.max_reject_ratio) <= 1:
            raise HumanInputError("max_reject_ratio", self.max_reject_ratio, "must be between 0 and 1")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or int(self.batch_size) < 1):
            raise HumanInputError("batch_size", self.batch_size, "must be an integer >= 1")
        if self.shard is not None:
            index, count = self.shard
            if not (isinstance(count, int) and count >= 1 and isinstance(index, int) and 0 <= index < count):
                raise HumanInputError("shard", self.shard, "must be (index, count) with 0 <= index < count")
        try:
            self.comment_template.format(start="s", end="e")
        except (KeyError, IndexError, ValueError) as exc:
            raise HumanInputError("comment_template", self.comment_template, f"bad placeholder: {exc}") from None


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
        self.batch_size = self.settings.batch_size or client.settings.feedback_batch_size

    # ------------------------------------------------------------------ the run

    def run(self, start: datetime, end: datetime, owner: str) -> ReconciliationReport:
        if start.tzinfo is None or end.tzinfo is None or not start < end:
            raise HumanInputError("interval", (start, end), "must be timezone-aware with start < end")
        began = time.monotonic()
        interval = (format_utc(start), format_utc(end))
        self.comment = self.settings.comment_template.format(start=interval[0], end=interval[1])
        report = ReconciliationReport(interval[0], interval[1], owner, self.source.describe(), self.settings.dry_run)
        self.report = report  # visible to the caller even if the run raises half-way
        self._examples: dict[str, str] = {}  # one example detail per reject reason, for the abort message
        dry = self.settings.dry_run
        log.info("Reconciling case outcomes closed in [%s, %s) from %s%s", *interval, report.source,
                 " (DRY RUN: nothing is written or sent)" if dry else "")  # fmt: skip
        if not dry:
            self.ledger.ensure_schema()
            if self.settings.reprocess:
                report.reprocessed_rows = self.ledger.forget_interval(interval, owner)
                log.warning("reprocess: forgot %d earlier decisions in this interval", report.reprocessed_rows)
        try:
            with OutcomeStaging(self.settings.staging_dir) as staging:
                self._stage(start, end, staging, report, owner, interval)
                self._check_reject_ratio(report)
                if dry:
                    self._plan_dry(staging, report)
                else:
                    adopted = self.ledger.take_over(owner)
                    if adopted:
                        log.warning("Adopted %d unfinished ledger rows of an earlier try or an expired run", adopted)
                    self._verify_in_doubt(report)  # adopted uploads whose fate is unknown
                    self._decide_claimed(report)  # adopted outcomes whose lookup had failed
                    self._claim_and_decide(staging, report, owner, interval)
            if not dry:
                self._upload(report)
        finally:
            report.duration_seconds = time.monotonic() - began
        return report

    # ------------------------------------------------------------------ read and stage

    def _stage(self, start, end, staging: OutcomeStaging, report, owner, interval) -> None:
        rejects: list[Rejected] = []
        shard = self.settings.shard
        for raw in self.source.iter_rows(start, end):
            report.rows_read += 1
            parsed = parse_outcome(raw)
            if isinstance(parsed, Rejected):
                report.rejected[parsed.reason.value] += 1
                rejects.append(parsed)
                if len(rejects) >= 1000:
                    self._flush_rejects(rejects, owner, interval)
                continue
            if shard is None or in_shard(parsed.account_id, *shard):
                staging.add(parsed)
                report.outcomes_valid += 1
        self._flush_rejects(rejects, owner, interval)
        log.info("Read %d rows: %d valid outcomes%s, %d rejected %s", report.rows_read, report.outcomes_valid,
                 f" in shard {shard[0]}/{shard[1]}" if shard else "", report.rejected_total,
                 dict(report.rejected) or "")  # fmt: skip

    def _flush_rejects(self, rejects: list[Rejected], owner: str, interval) -> None:
        for r in rejects:
            self._examples.setdefault(r.reason.value, r.detail)
        if rejects and not self.settings.dry_run:
            self.ledger.record_rejects(rejects, owner=owner, interval=interval)
        rejects.clear()

    def _check_reject_ratio(self, report: ReconciliationReport) -> None:
        if not report.rows_read:
            return
        ratio = report.rejected_total / report.rows_read
        if ratio > self.settings.max_reject_ratio:
            worst = "; ".join(
                f"{reason}: {n} (e.g. {self._examples.get(reason, '')})" for reason, n in report.rejected.most_common(3)
            )
            raise ReconciliationAbortedError(
                f"{report.rejected_total} of {report.rows_read} rows rejected ({ratio:.1%} > max_reject_ratio "
                f"{self.settings.max_reject_ratio:.1%}); nothing was decided or uploaded. Worst reasons: {worst}"
            )

    # ------------------------------------------------------------------ claim

    def _claim_and_decide(self, staging: OutcomeStaging, report, owner, interval) -> None:
        """Per chunk: skip outcomes already in the ledger, look the rest up, decide, claim with the decision.

        The claim is the ledger's unique key: if a concurrent run inserted some of the same
        outcomes first, ours are not inserted and count as already decided. An outcome whose
        lookup failed is claimed undecided, for the next try to decide.
        """
        for fresh, superseded in self._fresh_chunks(staging, report):
            decided = self._decide_outcomes(fresh, report)
            items = [(o, CLAIMED, None) if d is None else (o, *self._columns(o.comment, s, d)) for o, s, d in decided]
            inserted = self.ledger.claim(items, owner=owner, interval=interval)
            mine = None
            if inserted != len(items):  # a concurrent run claimed some of them between our check and our insert
                mine = self.ledger.keys_of_mine([o for o, _, _ in decided])
                report.already_decided += len(items) - inserted
            for outcome, _, decision in decided:
                if decision is not None and (mine is None or _key(outcome) in mine):
                    self._count(decision, report)
            self.ledger.claim([(o, NOOP, _SUPERSEDED) for o in superseded], owner=owner, interval=interval)
        log.info("Claimed and decided in %s: %d new, %d already decided by earlier runs, %d superseded within the run",
                 self.ledger.table.name, report.decided, report.already_decided, report.superseded)  # fmt: skip
        self._log_decisions(report)

    def _fresh_chunks(
        self, staging: OutcomeStaging, report: ReconciliationReport
    ) -> Iterator[tuple[list[CaseOutcome], list[CaseOutcome]]]:
        """Chunks of ``lookup_chunk`` (account, attack type) groups: (latest outcomes not yet in the
        ledger, the outcomes they supersede). Already-decided ones are counted and cost no lookup."""
        ledger_exists = self.ledger.exists()
        winners: list[CaseOutcome] = []
        losers: list[CaseOutcome] = []

        def chunk() -> tuple[list[CaseOutcome], list[CaseOutcome]]:
            existing = self.ledger.existing_keys(winners) if ledger_exists else set()
            fresh = [o for o in winners if _key(o) not in existing]
            report.already_decided += len(winners) - len(fresh)
            result = (fresh, list(losers))
            winners.clear()
            losers.clear()
            return result

        for winner, superseded in staging.grouped():
            winners.append(winner)
            losers.extend(superseded)
            report.superseded += len(superseded)
            if len(winners) >= self.settings.lookup_chunk:
                yield chunk()
        yield chunk()

    def _decide_outcomes(
        self, outcomes: list[CaseOutcome], report: ReconciliationReport
    ) -> list[tuple[CaseOutcome, ADState | None, Decision | None]]:
        infos = self._lookup({o.account_id for o in outcomes}, report)
        decided: list[tuple[CaseOutcome, ADState | None, Decision | None]] = []
        for outcome in outcomes:
            info = infos.get(outcome.account_id)
            if info is None:
                decided.append((outcome, None, None))
                continue
            state = ad_state(info, outcome.attack_type)
            decided.append((outcome, state, self.policy.decide(outcome.verdict, state)))
        return decided

    def _columns(self, comment: str | None, state: ADState, decision: Decision) -> tuple[str, dict[str, Any]]:
        """(ledger state, decision columns) for one decided outcome."""
        return PLANNED if decision.uploads else NOOP, {
            "ad_state": state.value,
            "decision": decision.category.value,
            "reason": decision.reason,
            "feedback_status": decision.status.value if decision.status else None,
            "feedback_result": decision.result.value if decision.result else None,
            "feedback_comment": self._comment_for(comment) if decision.uploads else None,
        }

    def _decide_claimed(self, report: ReconciliationReport) -> None:
        """Rows claimed undecided (a lookup failed in an earlier try): decide them now."""
        for rows in self.ledger.iter_mine([CLAIMED], chunk=self.settings.lookup_chunk):
            self.ledger.renew_lease()
            infos = self._lookup({r.account_id for r in rows}, report)
            updates = []
            for row in rows:
                info = infos.get(row.account_id)
                if info is None:
                    continue  # stays claimed: the next try decides it
                state = ad_state(info, AttackType(row.attack_type))
                decision = self.policy.decide(Verdict(row.verdict), state)
                self._count(decision, report)
                new_state, columns = self._columns(row.comment, state, decision)
                updates.append({"row_id": row.id, "new_state": new_state, **columns})
            self.ledger.record_decisions(updates)

    def _log_decisions(self, report: ReconciliationReport) -> None:
        log.info("Decided %d outcomes: %d true positives, %d false positives, %d false negatives, %d consistent, "
                 "%d skipped %s", report.decided, report.true_positives, report.false_positives,
                 report.false_negatives, report.consistent, sum(report.skipped.values()),
                 dict(report.skipped) or "")  # fmt: skip

    def _comment_for(self, case_comment: str | None) -> str:
        return case_comment if self.settings.per_case_comments and case_comment else self.comment

    def _count(self, decision: Decision, report: ReconciliationReport) -> None:
        report.decided += 1
        if decision.category is Category.TRUE_POSITIVE:
            report.true_positives += 1
        elif decision.category is Category.FALSE_POSITIVE:
            report.false_positives += 1
        elif decision.category is Category.FALSE_NEGATIVE:
            report.false_negatives += 1
        elif decision.category is Category.PENDING:
            report.pending_uploads += 1
        elif decision.category is Category.CONSISTENT:
            report.consistent += 1
        else:
            report.skipped[decision.reason or "unspecified"] += 1

    def _lookup(self, account_ids: Iterable[str], report: ReconciliationReport) -> dict[str, AccountInfoV2]:
        """v2 lookups for a chunk, concurrently; failed accounts are missing from the result."""
        infos: dict[str, AccountInfoV2] = {}
        for result in self.client.iter_account_info(sorted(account_ids), days_range=self.settings.days_range):
            report.lookups += 1
            if result.ok:
                infos[result.account_id] = result.info  # type: ignore[assignment]
            else:
                report.lookup_failures += 1
                log.warning("Lookup of account %s failed: %s", result.account_id, result.error)
        return infos

    # ------------------------------------------------------------------ dry run

    def _plan_dry(self, staging: OutcomeStaging, report: ReconciliationReport) -> None:
        groups: Counter[tuple] = Counter()
        for fresh, _ in self._fresh_chunks(staging, report):
            for outcome, _, decision in self._decide_outcomes(fresh, report):
                if decision is None:
                    continue
                self._count(decision, report)
                if decision.uploads:
                    comment = self._comment_for(outcome.comment)
                    groups[(outcome.attack_type, decision.status, decision.result, comment)] += 1
        report.requests_planned = requests_needed(groups.values(), self.batch_size)
        for (_, status, result, _), n in groups.items():
            report.uploads_by_result[result.value if result else status.value] += n
        log.info("DRY RUN: would send %d requests for %d accounts", report.requests_planned, sum(groups.values()))

    # ------------------------------------------------------------------ recover in-doubt

    def _verify_in_doubt(self, report: ReconciliationReport) -> None:
        """Resolve rows whose upload may have happened: look, then mark sent or queue for resending."""
        doubtful = [IN_DOUBT, PLANNED]
        for rows in self.ledger.iter_mine(doubtful, chunk=self.settings.lookup_chunk):  # adopted rows only, so far
            rows = [r for r in rows if r.state == IN_DOUBT or r.batch_id is not None]
            if not rows:
                continue
            infos = self._lookup({r.account_id for r in rows}, report)
            v1_needed = {r.account_id for r in rows if needs_v1(_result(r.feedback_result))}
            v1_infos = self._lookup_v1(rows, v1_needed, report)
            verified, resend = [], []
            for row in rows:
                info = infos.get(row.account_id)
                if info is None or (row.account_id in v1_needed and (row.account_id, row.attack_type) not in v1_infos):
                    continue
                reflected = is_reflected(
                    AttackType(row.attack_type),
                    FeedbackStatus(row.feedback_status),
                    _result(row.feedback_result),
                    info,
                    v1_infos.get((row.account_id, row.attack_type)),
                )
                (verified if reflected else resend).append(row.id)
            if verified:
                self.ledger.set_state(
                    verified, state=SENT, http_status=None, error="verified by lookup after in-doubt upload"
                )
            if resend:
                self.ledger.set_state(resend, state=PLANNED, batch_id=None, error="not reflected after in-doubt upload")
            report.recovered_verified += len(verified)
            report.recovered_resent += len(resend)
        if report.recovered_verified or report.recovered_resent:
            log.warning("In-doubt uploads resolved by lookup: %d already applied (marked sent), %d to send again",
                        report.recovered_verified, report.recovered_resent)  # fmt: skip

    def _lookup_v1(self, rows, accounts: set[str], report) -> dict[tuple[str, str], AccountInfoV1]:
        found: dict[tuple[str, str], AccountInfoV1] = {}
        for row in rows:
            if row.account_id not in accounts or (row.account_id, row.attack_type) in found:
                continue
            report.lookups += 1
            try:
                found[(row.account_id, row.attack_type)] = self.client.get_account_info(
                    row.account_id, attack_types=[row.attack_type]
                )
            except HumanAuthError:
                raise
            except HumanError as exc:
                report.lookup_failures += 1
                log.warning("v1 lookup of account %s failed: %s", row.account_id, exc)
        return found

    # ------------------------------------------------------------------ upload

    def _upload(self, report: ReconciliationReport) -> None:
        groups = self.ledger.planned_groups()
        if groups:
            log.info("Uploading feedback in %d groups, up to %d accounts per request", len(groups), self.batch_size)
        for attack_type, status, result, comment in groups:
            key = FeedbackGroupKey.build(attack_type=attack_type, status=status, result=result, comment=comment)
            batch: dict[str, list[int]] = {}
            filters = {"batch_id": None, "attack_type": attack_type, "feedback_status": status,
                       "feedback_result": result, "feedback_comment": comment}  # fmt: skip
            for rows in self.ledger.iter_mine([PLANNED], chunk=self.batch_size, **filters):
                for row in rows:
                    batch.setdefault(row.account_id, []).append(row.id)
                    if len(batch) >= self.batch_size:
                        self._send(key, batch, report)
                        batch = {}
            if batch:
                self._send(key, batch, report)
        self._finish(report)

    def _send(self, key: FeedbackGroupKey, batch: dict[str, list[int]], report: ReconciliationReport) -> None:
        batch_id = uuid.uuid4().hex
        row_ids = [i for ids in batch.values() for i in ids]
        self.ledger.renew_lease()
        self.ledger.mark_batch(row_ids, batch_id)
        label = f"{key.attack_type.feedback_code}/{key.status.value}/{key.result.value if key.result else '-'}"
        try:
            self.client.send_feedback(key.request(batch))
        except HumanFeedbackInDoubtError as exc:
            self.ledger.set_state(row_ids, state=IN_DOUBT, error=str(exc)[:1000])
            report.in_doubt += len(row_ids)
            log.error("Batch %s (%s, %d accounts) is IN DOUBT; the next run verifies it by lookup: %s",
                      batch_id, label, len(batch), exc)  # fmt: skip
            return
        except HumanAuthError:
            self.ledger.set_state(row_ids, batch_id=None)  # refused: nothing was applied
            raise
        except HumanBadRequestError as exc:
            self.ledger.set_state(row_ids, state=FAILED, http_status=exc.status_code, error=str(exc)[:1000])
            report.failures += len(row_ids)
            log.error("Batch %s (%s, %d accounts) was rejected by HUMAN: %s", batch_id, label, len(batch), exc)
            return
        except HumanError as exc:
            self.ledger.set_state(row_ids, batch_id=None, error=str(exc)[:1000])  # not applied: retry later
            report.failures += len(row_ids)
            log.error("Batch %s (%s, %d accounts) was not accepted, left for the next try: %s",
                      batch_id, label, len(batch), exc)  # fmt: skip
            return
        self.ledger.set_state(row_ids, state=SENT, http_status=200, sent_at=now_iso())
        report.requests_sent += 1
        report.accounts_sent += len(batch)
        report.uploads_by_result[key.result.value if key.result else key.status.value] += len(batch)
        log.info("Sent batch %s: %d accounts, %s", batch_id[:8], len(batch), label)

    def _finish(self, report: ReconciliationReport) -> None:
        leftover = self.ledger.counts(claim_token=self.ledger.token)
        unfinished = {s: leftover.get(s, 0) for s in (CLAIMED, PLANNED, IN_DOUBT) if leftover.get(s)}
        report.in_doubt = leftover.get(IN_DOUBT, 0)
        if unfinished or report.failures:
            self._incomplete = (
                f"work left for the next try: {unfinished or 'none'}; failed uploads: {report.failures}; "
                f"lookup failures: {report.lookup_failures}"
            )
        else:
            self._incomplete = None

    def raise_if_incomplete(self) -> None:
        if getattr(self, "_incomplete", None):
            raise ReconciliationIncompleteError(f"Reconciliation incomplete: {self._incomplete}")


_SUPERSEDED = {"decision": Category.SUPERSEDED.value}


def _result(value: str | None) -> FeedbackResult | None:
    return FeedbackResult(value) if value else None


def _key(outcome: CaseOutcome) -> tuple[str, str, str, str]:
    return (outcome.case_id, outcome.account_id, outcome.attack_type.value, outcome.closed_at_key)
