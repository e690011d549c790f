"""Deciding: one outcome, its pair's history and AD's state -> a decision; the one decide core.

The claim path (new outcomes, :mod:`.claiming`), the held path (rows this try holds
undecided, :mod:`.undecided`) and the dry run all decide through :meth:`DecideCore.decide`
and differ only in what they do with the answer. ``decide`` is pure: no HTTP, no database
(tests/reconciliation/test_deciding.py tables it). :class:`Columns` turns a decision into
the ledger's columns, and :func:`count_decisions` into the report's counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.reconciliation.ad_state import ADState, IncidentNames, read_ad_state
from airflow_provider_human.reconciliation.history import (
    WAITS_FOR_EARLIER,
    History,
    decide_before_lookup,
    decide_with_state,
)
from airflow_provider_human.reconciliation.ledger import DECISION_COLUMNS, Answer, LedgerRow, LedgerState
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict
from airflow_provider_human.reconciliation.policy import Category, Decision, DecisionPolicy
from airflow_provider_human.reconciliation.report import ReconciliationReport

NO_HISTORY = History()  # the default for pairs the ledger has never seen (most of a day's)


class Decided(NamedTuple):
    """What the core decided: the AD state it read (``None``: history alone decided) and the decision.

    A named tuple, not a dataclass: one is made per outcome, a million on a big day."""

    state: ADState | None
    decision: Decision

    @property
    def waiting(self) -> bool:
        """An earlier upload of the pair has not landed: not decided yet (never recorded as a decision)."""
        return self.decision.category is Category.WAITING


class DecideCore:
    """History first, then AD's state, then the policy table: the rules of :mod:`.history` and :mod:`.policy`."""

    def __init__(self, policy: DecisionPolicy, names: IncidentNames, clock_skew_seconds: float) -> None:
        self.policy = policy
        self.names = names
        self.clock_skew_seconds = clock_skew_seconds

    @staticmethod
    def needs_lookup(outcome: CaseOutcome, history: History) -> bool:
        """Whether the decision depends on AD's state, as far as ``history`` tells."""
        return decide_before_lookup(outcome, history) is None

    def decide(
        self, outcome: CaseOutcome, history: History, info: AccountInfoV2 | None, *, table_only: bool = False
    ) -> Decided | None:
        """The decision for ``outcome``; ``None`` when it needs AD's state and ``info`` is missing.

        ``table_only``: a person answered "Resend" on a review item: history is set aside.
        """
        if not table_only and history.rows:
            decision = decide_before_lookup(outcome, history)
            if decision is not None:
                return Decided(None, decision)
        if info is None:
            return None
        state, unmapped = read_ad_state(info, outcome.attack_type, self.names)
        if table_only and state is not ADState.AMBIGUOUS:
            return Decided(state, self.policy.decide(outcome.verdict, state))
        if table_only or not history.rows:
            return Decided(state, decide_with_state(outcome, state, unmapped, NO_HISTORY, self.policy))
        pending = [i for i in info.active_incidents if self.names.attack_of(i) is outcome.attack_type]
        return Decided(state, decide_with_state(outcome, state, unmapped, history, self.policy, pending,
                                                self.clock_skew_seconds))  # fmt: skip


def count_decisions(report: ReconciliationReport, decisions: Iterable[Decision]) -> None:
    """Count decisions into the report, tallied by identity first (most rows share a few policy cells)."""
    tally: dict[int, list[Any]] = {}
    for decision in decisions:
        entry = tally.get(id(decision))
        if entry is None:
            tally[id(decision)] = [decision, 1]
        else:
            entry[1] += 1
    for decision, n in tally.values():
        count_decision(report, decision, n)


def count_decision(report: ReconciliationReport, decision: Decision, n: int = 1) -> None:
    report.count("decided", n)
    if decision.category is Category.SKIP:
        report.skip(decision.reason or "unspecified", n)
    else:
        report.count(decision.category.value, n)
    if decision.review is not None:
        report.count("for_review", n)


class Columns:
    """(ledger state, decision columns) for decided outcomes; equal inputs share one dict (read-only).

    Sharing is by the decision's identity: the policy's cells are shared objects and hashing
    them costs per row. The ledger's claim relies on that sharing too (it builds each shared
    dict's values once).
    """

    def __init__(self, comment: str, per_case_comments: bool) -> None:
        self.comment = comment
        self.per_case_comments = per_case_comments
        # (ad state, id(decision)) -> (state, columns, decision): the decision is kept so its id is not reused
        self._cache: dict[tuple[Any, ...], tuple[LedgerState, dict[str, Any], Decision]] = {}

    def comment_for(self, case_comment: str | None) -> str:
        return case_comment if self.per_case_comments and case_comment else self.comment

    def of(self, comment: str | None, decided: Decided) -> tuple[LedgerState, dict[str, Any]]:
        state, decision = decided.state, decided.decision
        if decision.detail is not None or (self.per_case_comments and comment):
            return self._build(comment, state, decision)  # one row's own: caching would only grow
        key = (state, id(decision))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = (*self._build(comment, state, decision), decision)
        return cached[0], cached[1]

    def _build(
        self, comment: str | None, state: ADState | None, decision: Decision
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
            "feedback_comment": self.comment_for(comment) if decision.uploads else None,
        }


def waiting_columns(decision: Decision) -> dict[str, Any]:
    """A fresh outcome claimed undecided: an earlier upload of its pair has not landed."""
    return {"reason": WAITS_FOR_EARLIER, "detail": decision.detail}


def lookup_skip() -> dict[str, Any]:
    """Decision columns of an outcome whose account could not be looked up, try after try."""
    return {**dict.fromkeys(DECISION_COLUMNS), "decision": Category.SKIP.value, "reason": "lookup_failed"}


def outcome_of(row: LedgerRow) -> CaseOutcome:
    """The case outcome a ledger row records (its fingerprint is recomputed from the same fields)."""
    return CaseOutcome(row.case_id, row.account_id, AttackType(row.attack_type), Verdict(row.verdict),
                       datetime.fromisoformat(row.closed_at), row.comment)  # fmt: skip


def history_without(row: LedgerRow, histories: Mapping[tuple[str, str], History]) -> History:
    """The pair's history as it was before ``row`` (a held row is in its own pair's history)."""
    past = histories.get((row.account_id, row.attack_type))
    return History(tuple(p for p in past.rows if p.id != row.id)) if past else NO_HISTORY


def table_only(row: LedgerRow) -> bool:
    """A person's Resend is decided by the table alone."""
    return row.answer == Answer.RESEND.value
