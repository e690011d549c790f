"""The reconciliation engine: read outcomes, claim them in the ledger, decide, upload, verify, report.

Plain Python around a :class:`HumanClient`, an :class:`OutcomeSource` and a :class:`Ledger`;
the Airflow operator only supplies the interval and the run's identity. :meth:`Reconciler.run`
returns a :class:`RunResult`: the report, and the error to raise when the interval is not
done. A run succeeds only when every outcome of its interval (and shard) is in a final state.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.client.feedback import requests_needed
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.docs_links import docs_link
from airflow_provider_human.exceptions import (
    HumanBadRequestError,
    HumanError,
    HumanInputError,
    HumanNotFoundError,
    HumanResponseError,
    ReconciliationAbortedError,
    ReconciliationIncompleteError,
    ReconciliationNeedsAttentionError,
)
from airflow_provider_human.reconciliation.ad_state import ADState, IncidentNames, read_ad_state
from airflow_provider_human.reconciliation.collector import frozen_heap
from airflow_provider_human.reconciliation.delivery import IN_DOUBT as _IN_DOUBT
from airflow_provider_human.reconciliation.delivery import Delivery
from airflow_provider_human.reconciliation.history import (
    WAITS_FOR_EARLIER,
    History,
    decide_before_lookup,
    decide_with_state,
)
from airflow_provider_human.reconciliation.ledger import (
    DECISION_COLUMNS,
    NEEDS_A_PERSON,
    UNFINISHED,
    Answer,
    ClaimItem,
    Ledger,
    LedgerRow,
    LedgerState,
    OpenRow,
)
from airflow_provider_human.reconciliation.outcomes import (
    CaseOutcome,
    Rejected,
    RejectReason,
    Verdict,
    as_utc,
    escaped,
    format_utc,
    parse_outcome,
)
from airflow_provider_human.reconciliation.policy import Category, Decision, DecisionPolicy
from airflow_provider_human.reconciliation.report import MAX_LISTED, ReconciliationReport, interval_truth
from airflow_provider_human.reconciliation.settings import ReconcileSettings
from airflow_provider_human.reconciliation.sharding import in_shard
from airflow_provider_human.reconciliation.sources import OutcomeSource
from airflow_provider_human.reconciliation.staging import OutcomeStaging
from airflow_provider_human.words import counted

log = logging.getLogger(__name__)

# Lookup errors that another try cannot fix: counted toward max_lookup_failures.
_PERMANENT_LOOKUP_ERRORS = (HumanBadRequestError, HumanNotFoundError, HumanInputError, HumanResponseError)
_VERIFY_ROUNDS = 2  # in-doubt verifications per try before leaving the rest to the next try
_SHOWN = 20  # items named in an error message; the report file and the ledger hold them all


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
class _Claimed:
    """What one chunk's claim did: the decisions it recorded, and how many a concurrent run had claimed."""

    decisions: list[Decision]
    lost: int


@dataclass
class _Run:
    """The state of one run, passed along instead of kept on the reconciler."""

    interval: tuple[str, str]
    bounds: tuple[datetime, datetime]
    owner: str
    comment: str
    report: ReconciliationReport
    examples: dict[str, str] = field(default_factory=dict)  # one detail per reject reason
    decide_tried: set[int] = field(default_factory=set)  # claimed rows this try has looked up again
    # (ad state, decision) -> ledger columns: most of a day's rows share a few (built once each)
    columns: dict[tuple[Any, ...], tuple[LedgerState, dict[str, Any], Decision]] = field(default_factory=dict)
    verify_rounds: int = 0  # rounds of in-doubt verification in this try (bounded: see _settle)

    @property
    def counts(self) -> Counter[str]:
        return self.report.counts


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

    # ------------------------------------------------------------------ the run

    def run(self, start: datetime, end: datetime, owner: str, *, read_source: bool = True) -> RunResult:
        """Reconcile ``[start, end)``; never raises for what happens after the arguments were accepted.

        ``owner`` names the run (and shard) for people and for ``reprocess``: every try of one
        task instance passes the same owner, each try still holds its rows alone.
        ``read_source=False`` finishes what the ledger already holds for the interval (the
        review step, after a person answered) without reading the export again.
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
        run = _Run(
            interval, (start, end), owner, self.settings.comment_template.format(start=interval[0], end=interval[1]),
            report,
        )  # fmt: skip
        log.info("Reconciling case outcomes closed in [%s, %s)%s from %s%s", *interval,
                 f", shard {report.shard}" if report.shard else "", report.source,
                 " (DRY RUN: nothing is written or sent)" if self.settings.dry_run else "")  # fmt: skip
        result = RunResult(report)
        with frozen_heap():  # a day's million objects would set off full collections again and again
            try:
                if self.settings.dry_run:
                    with OutcomeStaging(self.settings.staging_dir) as staging:
                        self._stage(staging, run)
                        self._plan_dry(staging, run)
                else:
                    self.ledger.ensure_schema()
                    self.ledger.register(owner)
                    with self.ledger.heartbeat():
                        try:
                            self._reconcile(run, read_source)
                        finally:
                            released = self.ledger.release()
                            if released:
                                log.info("Released %d unfinished outcomes: the next try or run takes them at once",
                                         released)  # fmt: skip
                    result.error = self._verdict(run)
            except Exception as exc:
                result.error = exc
                report.failed(exc)
            finally:
                report.duration_seconds = time.monotonic() - began
        return result

    def _reconcile(self, run: _Run, read_source: bool = True) -> None:
        if not read_source:
            self._adopt(run)
            self._drive(run)
            self._settle(run)
            return
        with OutcomeStaging(self.settings.staging_dir) as staging:
            self._stage(staging, run)
            if self.settings.reprocess:
                reopened = self.ledger.reopen_for_reprocess(run.interval, run.owner, run.owner, self.settings.shard)
                run.counts["reprocessed"] += reopened
                log.warning("reprocess: %d decided-but-unsent outcomes of this interval are decided again "
                            "(sent ones stay sent)", reopened)  # fmt: skip
            self._adopt(run)
            self._claim_and_decide(staging, run)
        self._drive(run)
        self._settle(run)

    # ------------------------------------------------------------------ read and stage

    def _stage(self, staging: OutcomeStaging, run: _Run) -> None:
        rejects: list[Rejected] = []
        undated: list[Rejected] = []
        shard = self.settings.shard
        counts = run.counts
        read = valid = 0  # plain ints in the loop, added to the report after (a Counter costs per row)
        add, bounds = staging.add, run.bounds
        try:
            for raw in self.source.iter_rows(*bounds):
                parsed = parse_outcome(raw, within=bounds)
                if parsed is None:
                    continue  # dated in another interval (a source may hand over more than asked)
                if isinstance(parsed, Rejected):
                    if parsed.reason is RejectReason.UNPARSEABLE_CLOSED_AT:
                        counts["undated"] += 1  # every run reads it: recorded once, not held against any one day
                        undated.append(parsed)
                        self._flush_rejects(undated, run, limit=1000)
                        continue
                    read += 1
                    run.report.rejected[parsed.reason.value] += 1
                    if len(run.report.rejected_cases) < MAX_LISTED:
                        run.report.rejected_cases.append((parsed.reason.value, _case_of(parsed)))
                    rejects.append(parsed)
                    self._flush_rejects(rejects, run, limit=1000)
                    continue
                read += 1
                if shard is None or in_shard(parsed.account_id, *shard):
                    add(parsed)
                    valid += 1
        finally:
            counts["rows_read"] += read
            counts["outcomes_valid"] += valid
        self._flush_rejects(rejects, run)
        self._flush_rejects(undated, run)
        log.info("Read %s: %s%s, %d rejected %s", counted(counts["rows_read"], "row"),
                 counted(counts["outcomes_valid"], "valid outcome"),
                 f" in shard {run.report.shard}" if run.report.shard else "", run.report.rejected_total,
                 dict(run.report.rejected) or "")  # fmt: skip
        if counts["undated"]:
            log.warning("%s no usable closed_at: they belong to no interval and are listed once in "
                        "%s; fix them in the export", counted(counts["undated"], "row has", "rows have"),
                        self.ledger.rejects.name)  # fmt: skip
        self._check_dated(run)
        self._check_reject_ratio(run)

    def _flush_rejects(self, rejects: list[Rejected], run: _Run, limit: int = 0) -> None:
        if len(rejects) < limit:
            return
        for r in rejects:
            run.examples.setdefault(r.reason.value, r.detail)
        if rejects and not self.settings.dry_run:
            self.ledger.record_rejects(rejects, owner=run.owner, interval=run.interval)
        rejects.clear()

    def _check_dated(self, run: _Run) -> None:
        """An export with rows but none this run can place in time (a new date format) is not a quiet day."""
        undated = run.counts["undated"]
        if undated and not run.counts["rows_read"]:
            column = dict(getattr(self.source, "columns", None) or {}).get("closed_at", "closed_at")
            example = run.examples.get(RejectReason.UNPARSEABLE_CLOSED_AT.value, "")
            raise ReconciliationAbortedError(
                f"{undated} rows were read and none of them has a closed_at (column {column!r}) this run can "
                f"place in time: e.g. {example}. closed_at must be ISO 8601 (naive values are UTC); nothing "
                "was decided or uploaded"
            )

    def _check_reject_ratio(self, run: _Run) -> None:
        """Rejected and undated rows against every row read: an undated row is as broken as any other."""
        report, undated = run.report, run.counts["undated"]
        read = run.counts["rows_read"] + undated
        if not read:
            return
        rejected = report.rejected + Counter({RejectReason.UNPARSEABLE_CLOSED_AT.value: undated})
        total = report.rejected_total + undated
        ratio = total / read
        if ratio > self.settings.max_reject_ratio:
            worst = "; ".join(
                f"{reason}: {n} (e.g. {run.examples.get(reason, '')})" for reason, n in rejected.most_common(3)
            )
            raise ReconciliationAbortedError(
                f"{total} of {read} rows rejected ({ratio:.1%} > max_reject_ratio "
                f"{self.settings.max_reject_ratio:.1%}); nothing was decided or uploaded. Worst reasons: {worst}"
            )

    # ------------------------------------------------------------------ claim and decide

    def _adopt(self, run: _Run) -> int:
        adopted = self.ledger.adopt(run.interval, run.owner, self.settings.shard)
        if adopted:
            run.counts["adopted"] += adopted
            log.warning("Adopted %d unfinished outcomes of this interval from an ended or crashed run", adopted)
        return adopted

    def _claim_and_decide(self, staging: OutcomeStaging, run: _Run) -> None:
        """Per chunk: skip outcomes already in the ledger, look the rest up, then decide and claim.

        Deciding reads the ledger's history of each (account, attack type) and claims with the
        decision in one locked transaction (:meth:`Ledger.deciding`), so two runs never decide
        the same pair from the same stale history. The claim is the ledger's unique key: if a
        concurrent run inserted some of the same outcomes first, ours are not inserted and
        count as already decided. An outcome whose lookup failed is claimed undecided.
        """
        for fresh, superseded, seen in self._fresh_chunks(staging, run):
            infos, errors = self._lookup(self._needing_lookup(fresh, seen), run)
            claimed = self._decide_and_claim(fresh, superseded, infos, errors, run)
            run.counts["already_decided"] += claimed.lost
            self._count_all(claimed.decisions, run)
        log.info("Claimed and decided in %s: %d new, %d already decided by earlier runs, %d superseded within the run",
                 self.ledger.table.name, run.counts["decided"], run.counts["already_decided"],
                 run.counts["superseded"])  # fmt: skip

    def _decide_and_claim(
        self,
        fresh: list[CaseOutcome],
        superseded: list[CaseOutcome],
        infos: dict[str, AccountInfoV2],
        errors: dict[str, Exception],
        run: _Run,
    ) -> _Claimed:
        """One chunk's locked step: history, decisions, claims."""
        with self.ledger.deciding() as decider:
            histories = decider.history({(o.account_id, o.attack_type) for o in fresh})
            # One list per upload group (rows sharing one columns dict and attack type), so a
            # group's rows are claimed side by side and each batch touches few pages.
            groups: dict[tuple[int, AttackType], list[ClaimItem]] = {}
            decided: list[tuple[CaseOutcome, Decision]] = []
            for outcome in fresh:
                history = histories.get((outcome.account_id, outcome.attack_type), _NO_HISTORY)
                found = self._decide(outcome, history, infos.get(outcome.account_id), run)
                if found is None:
                    error = errors.get(outcome.account_id)
                    item = self._undecided(outcome, str(error) if error else _HISTORY_CHANGED)
                elif found[1].category is Category.WAITING:
                    run.counts["waits_for_earlier"] += 1
                    item = (outcome, LedgerState.CLAIMED, _waiting_columns(found[1]))
                else:
                    decided.append((outcome, found[1]))
                    item = (outcome, *self._columns(outcome.comment, *found, run))
                group = groups.get((id(item[2]), outcome.attack_type))
                if group is None:
                    group = groups[(id(item[2]), outcome.attack_type)] = []
                group.append(item)
            items = [item for group in sorted(groups.values(), key=lambda g: _upload_group(g[0])) for item in group]
            inserted = decider.claim(items, owner=run.owner, interval=run.interval)
            decider.claim([(o, LedgerState.NOOP, _SUPERSEDED) for o in superseded], owner=run.owner,
                          interval=run.interval)  # fmt: skip
        lost = len(items) - inserted
        if lost:  # a concurrent run claimed some of them between our check and our insert
            mine = self.ledger.claimed_by_me([o for o, _, _ in items])
            decided = [(o, d) for o, d in decided if _key(o) in mine]
        return _Claimed([d for _, d in decided], lost)

    @staticmethod
    def _needing_lookup(fresh: list[CaseOutcome], seen: dict[tuple[str, str], History]) -> set[str]:
        """Accounts whose decision depends on AD's state, as far as the history read so far tells."""
        return {
            o.account_id
            for o in fresh
            if decide_before_lookup(o, seen.get((o.account_id, o.attack_type), _NO_HISTORY)) is None
        }

    def _decide(
        self, outcome: CaseOutcome, history: History, info: AccountInfoV2 | None, run: _Run, *, table_only: bool = False
    ) -> tuple[ADState | None, Decision] | None:
        """(AD state, decision) from history, then AD's state; ``None`` when the lookup failed.

        ``table_only``: a person answered "Resend" on a review item: history is set aside.
        """
        if not table_only and history.rows:
            decision = decide_before_lookup(outcome, history)
            if decision is not None:
                return None, decision
        if info is None:
            return None
        state, unmapped = read_ad_state(info, outcome.attack_type, self.incident_names)
        if table_only and state is not ADState.AMBIGUOUS:
            return state, self.policy.decide(outcome.verdict, state)
        if table_only or not history.rows:
            return state, decide_with_state(outcome, state, unmapped, _NO_HISTORY, self.policy)
        pending = [i for i in info.active_incidents if self.incident_names.attack_of(i) is outcome.attack_type]
        return state, decide_with_state(outcome, state, unmapped, history, self.policy, pending,
                                        self.settings.clock_skew_seconds)  # fmt: skip

    @staticmethod
    def _undecided(outcome: CaseOutcome, why: str) -> tuple[CaseOutcome, LedgerState, dict[str, Any]]:
        """A fresh outcome whose lookup failed: claimed undecided; this try looks once more, then counts."""
        return outcome, LedgerState.CLAIMED, {"error": why[:1000]}

    def _fresh_chunks(
        self, staging: OutcomeStaging, run: _Run
    ) -> Iterator[tuple[list[CaseOutcome], list[CaseOutcome], dict[tuple[str, str], History]]]:
        """Chunks of ``lookup_chunk`` (account, attack type) groups: (latest outcomes not yet in the
        ledger, the outcomes they supersede, the pairs' history as read now, unlocked).

        Outcomes already in the ledger (same key and content) are counted and cost no lookup;
        the history read here only spares lookups: decisions read it again under the lock.
        """
        ledger_exists = self.ledger.exists()
        winners: list[CaseOutcome] = []
        losers: list[CaseOutcome] = []

        def chunk() -> tuple[list[CaseOutcome], list[CaseOutcome], dict[tuple[str, str], History]]:
            pairs = {(o.account_id, o.attack_type) for o in winners}
            histories = self.ledger.read_history(pairs) if ledger_exists else {}
            fresh = [o for o in winners if not _recorded(o, histories)] if histories else list(winners)
            run.counts["already_decided"] += len(winners) - len(fresh)
            run.counts["superseded"] += len(losers)
            result = (fresh, list(losers), histories)
            winners.clear()
            losers.clear()
            return result

        size = self.settings.lookup_chunk
        for winner, superseded in staging.grouped():
            winners.append(winner)
            if superseded:
                losers.extend(superseded)
            if len(winners) >= size:
                yield chunk()
        yield chunk()

    def _columns(
        self, comment: str | None, state: ADState | None, decision: Decision, run: _Run
    ) -> tuple[LedgerState, dict[str, Any]]:
        """(ledger state, decision columns) for one decided outcome; equal inputs share one dict (read-only)."""
        if decision.detail is not None or (self.settings.per_case_comments and comment):
            return self._build_columns(comment, state, decision, run)  # one row's own: caching would only grow
        key = (state, id(decision))  # identity: the policy's cells are shared objects (hashing costs per row)
        cached = run.columns.get(key)
        if cached is None:
            # the decision is kept in the entry, so its id cannot be reused by another object this run
            cached = run.columns[key] = (*self._build_columns(comment, state, decision, run), decision)
        return cached[0], cached[1]

    def _build_columns(
        self, comment: str | None, state: ADState | None, decision: Decision, run: _Run
    ) -> tuple[LedgerState, dict[str, Any]]:
        if decision.review is not None:
            new_state = LedgerState.NEEDS_REVIEW
        else:
            new_state = LedgerState.PLANNED if decision.uploads else LedgerState.NOOP
        return new_state, {
            "ad_state": state.value if state else None,
            "decision": decision.category.value,
            "reason": decision.reason,
            "detail": decision.detail,
            "review": decision.review.value if decision.review else None,
            "feedback_status": decision.status.value if decision.status else None,
            "feedback_result": decision.result.value if decision.result else None,
            "feedback_comment": self._comment_for(comment, run) if decision.uploads else None,
        }

    def _decide_claimed(self, run: _Run) -> None:
        """Rows this try holds undecided (a lookup failed before, reprocess reopened them, a person
        answered "Resend" on a review item, or an earlier upload of the pair had not landed):
        decide now, with history, in one locked step.

        A row still waiting for an earlier upload costs no lookup and is looked at again on the
        next pass (the run waits for it, bounded: see :meth:`_settle`).
        """
        for rows in self.ledger.iter_mine([LedgerState.CLAIMED], chunk=self.settings.lookup_chunk):
            rows = [r for r in rows if r.id not in run.decide_tried]  # one more lookup per try, no more
            if not rows:
                continue
            seen = self.ledger.read_history({(r.account_id, r.attack_type) for r in rows})  # unlocked: spares lookups
            still_waiting = {r.id for r in rows if _waits(r, seen)}
            looked_up = [r for r in rows if r.id not in still_waiting]
            run.decide_tried.update(r.id for r in looked_up)
            infos, errors = self._lookup({r.account_id for r in looked_up}, run) if looked_up else ({}, {})
            updates: list[dict[str, Any]] = []
            failed: dict[tuple[str, bool], list[int]] = {}
            waiting: dict[str, list[int]] = {}
            with self.ledger.deciding() as decider:
                histories = decider.history({(r.account_id, r.attack_type) for r in rows})
                for row in rows:
                    outcome = _outcome_of(row)
                    past = histories.get((row.account_id, row.attack_type), History())
                    history = History(tuple(p for p in past.rows if p.id != row.id))
                    info = infos.get(row.account_id) if row.id not in still_waiting else None
                    decided = self._decide(outcome, history, info, run,
                                           table_only=row.answer == Answer.RESEND.value)  # fmt: skip
                    if decided is not None and decided[1].category is Category.WAITING:
                        waiting.setdefault(decided[1].detail or "", []).append(row.id)
                        continue
                    if decided is not None:
                        state, decision = decided
                        self._count(decision, run)
                        new_state, columns = self._columns(row.comment, state, decision, run)
                        updates.append({"row_id": row.id, "new_state": new_state.value, **columns})
                        continue
                    error = errors.get(row.account_id)
                    if error is None:  # not looked up (it waited a moment ago): the next pass looks
                        continue
                    permanent = isinstance(error, _PERMANENT_LOOKUP_ERRORS)
                    if permanent and row.lookup_failures + 1 >= self.settings.max_lookup_failures:
                        run.report.skipped["lookup_failed"] += 1
                        updates.append({"row_id": row.id, "new_state": LedgerState.NOOP.value, **_lookup_skip()})
                        log.warning("Account %s: lookup failed %d times (%s); decided skip:lookup_failed",
                                    row.account_id, row.lookup_failures + 1, error)  # fmt: skip
                    else:
                        failed.setdefault((str(error)[:1000], permanent), []).append(row.id)
                decider.record_decisions(updates)
            for detail, ids in waiting.items():
                self.ledger.record_waiting(ids, WAITS_FOR_EARLIER, detail)
            for (error_text, permanent), ids in failed.items():
                self.ledger.record_lookup_failures(ids, error_text, permanent=permanent)

    def _comment_for(self, case_comment: str | None, run: _Run) -> str:
        return case_comment if self.settings.per_case_comments and case_comment else run.comment

    def _count(self, decision: Decision, run: _Run, n: int = 1) -> None:
        run.counts["decided"] += n
        if decision.category is Category.SKIP:
            run.report.skipped[decision.reason or "unspecified"] += n
        else:
            run.counts[decision.category.value] += n
        if decision.review is not None:
            run.counts["for_review"] += n

    def _count_all(self, decisions: Iterable[Decision], run: _Run) -> None:
        """:meth:`_count` for many: tallied by identity first (most rows share a few policy cells)."""
        tally: dict[int, list[Any]] = {}
        for decision in decisions:
            entry = tally.get(id(decision))
            if entry is None:
                tally[id(decision)] = [decision, 1]
            else:
                entry[1] += 1
        for decision, n in tally.values():
            self._count(decision, run, n)

    def _lookup(self, account_ids: Iterable[str], run: _Run) -> tuple[dict[str, AccountInfoV2], dict[str, Exception]]:
        """v2 lookups, concurrently: (infos, errors) by account id. An auth error stops the run."""
        infos: dict[str, AccountInfoV2] = {}
        errors: dict[str, Exception] = {}
        for result in self.client.iter_account_info(sorted(account_ids), days_range=self.settings.days_range):
            run.counts["lookups"] += 1
            if result.ok:
                infos[result.account_id] = result.info  # type: ignore[assignment]
            else:
                run.counts["lookup_failures"] += 1
                errors[result.account_id] = result.error  # type: ignore[assignment]
                log.warning("Lookup of account %s failed: %s", result.account_id, result.error)
        return infos, errors

    # ------------------------------------------------------------------ dry run

    def _plan_dry(self, staging: OutcomeStaging, run: _Run) -> None:
        groups: Counter[tuple] = Counter()
        for fresh, _, histories in self._fresh_chunks(staging, run):
            infos, _errors = self._lookup(self._needing_lookup(fresh, histories), run)
            for outcome in fresh:
                history = histories.get((outcome.account_id, outcome.attack_type), _NO_HISTORY)
                decided = self._decide(outcome, history, infos.get(outcome.account_id), run)
                if decided is None:
                    continue
                decision = decided[1]
                if decision.category is Category.WAITING:
                    run.counts["waits_for_earlier"] += 1
                    continue
                self._count(decision, run)
                if decision.uploads and decision.review is None:
                    comment = self._comment_for(outcome.comment, run)
                    groups[(outcome.attack_type, decision.status, decision.result, comment)] += 1
        run.counts["requests_planned"] = requests_needed(groups.values(), self.batch_size)
        for (_, status, result, _), n in groups.items():
            run.report.uploads_by_result[result.value if result else status.value] += n
        log.info("DRY RUN: would send %s for %s", counted(run.counts["requests_planned"], "request"),
                 counted(sum(groups.values()), "account"))  # fmt: skip

    # ------------------------------------------------------------------ the work this try holds

    def _drive(self, run: _Run) -> None:
        """Everything this try holds, to a final state where it can: verify, decide, upload."""
        delivery = Delivery(self.client, self.ledger, self.settings, self.batch_size, self.incident_names,
                            lookup=lambda accounts: self._lookup(accounts, run))  # fmt: skip
        run.verify_rounds += delivery.verify_in_doubt(run.report)
        self._decide_claimed(run)
        delivery.upload(run.report)

    # ------------------------------------------------------------------ is the interval done?

    def _settle(self, run: _Run) -> None:
        """Wait (bounded) for what others hold and for in-doubt uploads to be old enough to verify."""
        deadline = time.monotonic() + self.settings.wait_for_others_seconds
        while True:
            now = self.ledger.clock()
            rows = self.ledger.open_rows(run.interval, self.settings.shard)
            if any(self._adoptable(r, now) for r in rows) and self._adopt(run):
                self._drive(run)
                continue
            waiting = [r for r in rows if self._worth_waiting_for(r, now, run)]
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                return
            log.info("Waiting for %s of this interval (held by another live run, or in doubt and "
                     "verified %s s after sending); up to %.0f s more", counted(len(waiting), "outcome"),
                     self.settings.verify_after_seconds, left)  # fmt: skip
            time.sleep(min(self.settings.poll_seconds, left))
            self._drive(run)

    def _adoptable(self, row: OpenRow, now: float) -> bool:
        return row.state in UNFINISHED and row.holder != self.ledger.holder and row.lease_until <= now

    def _worth_waiting_for(self, row: OpenRow, now: float, run: _Run) -> bool:
        if row.state not in UNFINISHED:
            return False
        if row.holder != self.ledger.holder:
            return row.lease_until > now
        if row.state is LedgerState.CLAIMED and row.reason == WAITS_FOR_EARLIER:
            return True  # an earlier upload of its pair (another day's, maybe in flight) may land meanwhile
        # Mine and in doubt: verified once old enough (and sent again if not applied), for a few rounds
        # only: while HUMAN keeps failing, the next try (after Airflow's retry delay) goes on.
        return row.state in _IN_DOUBT and run.verify_rounds < _VERIFY_ROUNDS

    def _verdict(self, run: _Run) -> HumanError | None:
        """The interval's truth from the ledger: None when done, else the error that says what is left."""
        report = run.report
        breakdown = self.ledger.interval_breakdown(run.interval)
        states: Counter[str] = Counter()
        for state, _decision, _result, n in breakdown:
            states[state] += n
        report.ledger_states = dict(states)
        report.interval = interval_truth(breakdown, self.ledger.interval_rejects(run.interval))
        done = {LedgerState.SENT.value, LedgerState.NOOP.value}
        anything_open = any(state not in done for state in states)  # every shard: a superset of this one's
        rows = self.ledger.open_rows(run.interval, self.settings.shard) if anything_open else []
        now = self.ledger.clock()
        left: list[str] = []
        unfinished = [r for r in rows if r.state in UNFINISHED]
        by_holder: dict[str, list[OpenRow]] = {}
        for row in unfinished:
            if row.lease_until > now and row.holder != self.ledger.holder:
                by_holder.setdefault(row.owner, []).append(row)
        for owner, held in by_holder.items():
            until = datetime.fromtimestamp(max(r.lease_until for r in held), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            left.append(f"{counted(len(held), 'outcome')} held by {owner} until {until}")
        free = [r for r in unfinished if r.lease_until <= now or r.holder == self.ledger.holder]
        states = Counter(r.state for r in free)
        waits = [r for r in free if r.state is LedgerState.CLAIMED and r.reason == WAITS_FOR_EARLIER]
        if waits:
            what = counted(len(waits), "outcome waits", "outcomes wait")
            left.append(f"{what} for an earlier upload of the same account and attack type to land (decided on the "
                        "next try, once it has; if that day's run has stopped, clear it): "
                        + "; ".join(f"account {r.account_id} {r.attack_type}: {r.detail}" for r in waits[:_SHOWN])
                        + (f" and {len(waits) - _SHOWN} more" if len(waits) > _SHOWN else ""))  # fmt: skip
        undecided = states[LedgerState.CLAIMED] - len(waits)
        if undecided:
            left.append(f"{counted(undecided, 'outcome')} not decided yet (their lookups failed)")
        if states[LedgerState.PLANNED]:
            left.append(
                f"{counted(states[LedgerState.PLANNED], 'upload')} not applied yet (refused before HUMAN acted)"
            )
        in_doubt = [r for r in free if r.state in _IN_DOUBT]
        if in_doubt:
            left.append(f"{counted(len(in_doubt), 'upload')} in doubt, verified by lookup on the next try: "
                        + _items(in_doubt))  # fmt: skip
        stuck = [r for r in rows if r.state in NEEDS_A_PERSON]
        if stuck:
            kinds = ", ".join(f"{k}: {n}" for k, n in sorted(Counter(r.kind for r in stuck).items()))
            what = counted(len(stuck), "item waits", "items wait")
            left.append(f"{what} for a person ({kinds}): {_items(stuck)}")
        report.for_review = [_review_entry(r) for r in stuck]
        report.left = left
        if not left:
            log.info("The interval is done: every outcome is sent or needs nothing (%s)", report.ledger_states)
            return None
        message = f"Reconciliation of [{run.interval[0]}, {run.interval[1]}) is not done: {'; '.join(left)}"
        if unfinished:
            return ReconciliationIncompleteError(message)
        if not self.settings.fail_on_review:
            log.warning("%s. Handed to the review step (fail_on_review=False).", message)
            return None
        return ReconciliationNeedsAttentionError(
            f"{message}. See {docs_link('reconciliation', 'what-needs-a-person-and-how-to-answer')};"
            " other days are not affected."
        )


_SUPERSEDED = {"decision": Category.SUPERSEDED.value}
_NO_HISTORY = History()  # the default for pairs the ledger has never seen (most of a day's)
# Another run wrote history for the pair between the unlocked pre-read and the decision: not looked up.
_HISTORY_CHANGED = "not looked up: the history changed while deciding"


def _waiting_columns(decision: Decision) -> dict[str, Any]:
    """A fresh outcome claimed undecided: an earlier upload of its pair has not landed."""
    return {"reason": WAITS_FOR_EARLIER, "detail": decision.detail}


def _waits(row: LedgerRow, histories: dict[tuple[str, str], History]) -> bool:
    """Whether a claimed row still waits for an earlier upload of its pair (as the history read tells)."""
    past = histories.get((row.account_id, row.attack_type))
    if past is None or row.answer == Answer.RESEND.value:  # a person's Resend is decided by the table alone
        return False
    history = History(tuple(p for p in past.rows if p.id != row.id))
    decision = decide_before_lookup(_outcome_of(row), history)
    return decision is not None and decision.category is Category.WAITING


def _lookup_skip() -> dict[str, Any]:
    """Decision columns of an outcome whose account could not be looked up, try after try."""
    return {**dict.fromkeys(DECISION_COLUMNS), "decision": Category.SKIP.value, "reason": "lookup_failed"}


def _items(rows: Sequence[OpenRow]) -> str:
    shown = ", ".join(
        f"account {r.account_id} {r.attack_type} {r.feedback_result or '-'} "
        + (f"batch {r.batch_id}" if r.batch_id else "no batch")
        + (f" ({r.kind})" if r.state in NEEDS_A_PERSON else "")
        for r in rows[:_SHOWN]
    )
    return shown + (f" and {len(rows) - _SHOWN} more (see the ledger)" if len(rows) > _SHOWN else "")


def _case_of(rejected: Rejected) -> str | None:
    case = rejected.raw.get("case_id")
    return None if case is None else escaped(case, 80)


def _review_entry(row: OpenRow) -> dict[str, Any]:
    """One item waiting for a person, as the report file lists it (ids only, no personal fields)."""
    return {"kind": row.kind, "case_id": row.case_id, "account_id": row.account_id, "attack_type": row.attack_type,
            "state": row.state.value, "result": row.feedback_result, "batch_id": row.batch_id}  # fmt: skip


def _key(outcome: CaseOutcome) -> tuple[str, ...]:
    return (outcome.case_id, outcome.account_id, outcome.attack_type, outcome.closed_at_key, outcome.fingerprint)


def _upload_group(item: ClaimItem) -> tuple[str, ...]:
    """The order rows are claimed in: by state, then by upload group (what one batch holds)."""
    outcome, state, columns = item
    if not columns:
        return (state._value_,)
    get = columns.get
    return (state._value_, outcome.attack_type._value_, get("feedback_status") or "", get("feedback_result") or "",
            get("feedback_comment") or "")  # fmt: skip


def _recorded(outcome: CaseOutcome, histories: dict[tuple[str, str], History]) -> bool:
    """Whether this very outcome (key and content) is in the ledger already."""
    history = histories.get((outcome.account_id, outcome.attack_type))
    if history is None:
        return False
    key = (outcome.case_id, outcome.closed_at_key, outcome.fingerprint)
    return any((r.case_id, r.closed_at, r.fingerprint) == key for r in history.rows)


def _outcome_of(row: LedgerRow) -> CaseOutcome:
    """The case outcome a ledger row records (its fingerprint is recomputed from the same fields)."""
    return CaseOutcome(row.case_id, row.account_id, AttackType(row.attack_type), Verdict(row.verdict),
                       datetime.fromisoformat(row.closed_at), row.comment)  # fmt: skip
