"""What the ledger says Account Defender was told about an (account, attack type), and what it changes.

v2 shows only Pending incidents: "no incident" cannot tell an account never flagged from
one whose incident was resolved, perhaps by our own upload yesterday. So before a case
outcome is decided from today's lookup, the ledger's history of that (account, attack
type) is consulted, whatever interval or run order it came from:

1. a *newer* outcome is already in the ledger: this one is ``superseded`` (latest wins
   across intervals, in any backfill order);
2. the same case outcome is in the ledger with another verdict or comment (the export
   edited the row in place): ``edited``; a changed verdict waits for a person;
3. the verdict says what our last upload already said: ``already_reported`` (nothing sent);
4. the verdict contradicts our last upload: ``reversal`` (nothing sent, the API cannot
   retract; a person decides);
5. otherwise the policy table decides from AD's state (see :data:`THREE_WAY` in the docs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from airflow_provider_human.client.builders import FeedbackResult, FeedbackStatus
from airflow_provider_human.reconciliation.ad_state import ADState
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict
from airflow_provider_human.reconciliation.policy import Category, Decision, DecisionPolicy, ReviewKind


class Told(StrEnum):
    """The meaning of the last upload we made (or may have made) for an (account, attack type)."""

    NOTHING = "nothing"
    FRAUD_OPEN = "fraud_open"  # pending / manually_identified: a Pending incident we opened
    FRAUD_CLOSED = "fraud_closed"  # resolved/resolved or manually_identified_and_resolved
    LEGITIMATE = "legitimate"  # resolved/no_attack


#: Ledger states whose upload may have reached HUMAN (``failed`` was refused; ``claimed`` is undecided).
_TOLD_STATES = frozenset({"planned", "sending", "in_doubt", "sent", "needs_review"})


@dataclass(frozen=True)
class PastOutcome:
    """One ledger row of the (account, attack type), as history."""

    id: int
    case_id: str
    closed_at: str  # the ledger key's fixed-width UTC text: compares as time
    verdict: str
    fingerprint: str
    state: str
    decision: str | None
    feedback_status: str | None
    feedback_result: str | None
    batch_id: str | None

    @property
    def told(self) -> Told:
        if self.feedback_status is None or self.state not in _TOLD_STATES:
            return Told.NOTHING
        if self.feedback_status == FeedbackStatus.PENDING.value:
            return Told.FRAUD_OPEN
        return {
            FeedbackResult.MANUALLY_IDENTIFIED.value: Told.FRAUD_OPEN,
            FeedbackResult.RESOLVED.value: Told.FRAUD_CLOSED,
            FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED.value: Told.FRAUD_CLOSED,
            FeedbackResult.NO_ATTACK.value: Told.LEGITIMATE,
        }.get(self.feedback_result or "", Told.NOTHING)

    def describe(self) -> str:
        upload = f"{self.feedback_status}/{self.feedback_result or '-'}" if self.feedback_status else "no upload"
        return f"case {self.case_id} closed {self.closed_at} ({self.verdict}; {upload}, {self.state})"


@dataclass(frozen=True)
class History:
    """Every ledger row of one (account, attack type), oldest first."""

    rows: tuple[PastOutcome, ...] = ()

    @classmethod
    def of(cls, rows: Iterable[PastOutcome]) -> History:
        return cls(tuple(sorted(rows, key=lambda r: (r.closed_at, r.id))))

    def newer_than(self, outcome: CaseOutcome) -> PastOutcome | None:
        newer = [r for r in self.rows if r.closed_at > outcome.closed_at_key]
        return newer[-1] if newer else None

    def earlier_version(self, outcome: CaseOutcome) -> PastOutcome | None:
        """The same case outcome with another fingerprint: the export changed it in place."""
        same = [
            r
            for r in self.rows
            if r.case_id == outcome.case_id and r.closed_at == outcome.closed_at_key
            and r.fingerprint != outcome.fingerprint
        ]  # fmt: skip
        return same[-1] if same else None

    def last_told(self, before: CaseOutcome | None = None) -> PastOutcome | None:
        """The latest row whose upload may have reached HUMAN (not later than ``before``)."""
        told = [
            r
            for r in self.rows
            if r.told is not Told.NOTHING and (before is None or r.closed_at <= before.closed_at_key)
        ]
        return told[-1] if told else None


def _fraud(verdict: Verdict) -> bool:
    return verdict is not Verdict.LEGITIMATE


def decide_before_lookup(outcome: CaseOutcome, history: History) -> Decision | None:
    """The decisions history makes on its own (no AD state needed); ``None``: look AD up and decide."""
    if not history.rows:
        return None  # most outcomes on most days: nothing recorded for the pair yet
    newer = history.newer_than(outcome)
    if newer is not None:
        return Decision(Category.SUPERSEDED, reason="newer_outcome", detail=f"newer: {newer.describe()}")
    earlier = history.earlier_version(outcome)
    if earlier is not None:
        if earlier.verdict == outcome.verdict.value:
            return Decision(
                Category.EDITED, reason="comment_changed", detail=f"verdict unchanged: {earlier.describe()}"
            )
        return Decision(
            Category.EDITED,
            reason="verdict_changed",
            detail=f"verdict changed in place from {earlier.verdict} to {outcome.verdict.value}; "
            f"before: {earlier.describe()}",
            review=ReviewKind.EDITED,
        )
    told = history.last_told(outcome)
    if told is None:
        return None
    said_fraud = told.told is not Told.LEGITIMATE
    if said_fraud != _fraud(outcome.verdict):
        return Decision(
            Category.REVERSAL,
            reason="contradicts_sent_feedback",
            detail=f"{outcome.verdict.value} contradicts the feedback sent for {told.describe()}; "
            "the API cannot take feedback back",
            review=ReviewKind.REVERSAL,
        )
    if outcome.verdict is Verdict.CONFIRMED_FRAUD and told.told is Told.FRAUD_OPEN:
        return None  # a confirmation of the Pending incident we opened: depends on whether it is still pending
    return Decision(Category.ALREADY_REPORTED, reason="same_meaning_sent", detail=f"already told: {told.describe()}")


def decide_with_state(
    outcome: CaseOutcome, state: ADState, unmapped: list[str], history: History, policy: DecisionPolicy
) -> Decision:
    """The decision once AD's state is known (after :func:`decide_before_lookup` returned ``None``)."""
    if state is ADState.AMBIGUOUS:
        seen = ", ".join(unmapped) if unmapped else "is_under_attack with no incident of a known type"
        return Decision(Category.SKIP, reason="ambiguous_ad_state", detail=f"incident types seen: {seen}",
                        review=ReviewKind.AMBIGUOUS_AD_STATE)  # fmt: skip
    told = history.last_told(outcome) if history.rows else None
    if told is not None and told.told is Told.FRAUD_OPEN and state is not ADState.PENDING:
        # We opened a Pending incident and it is no longer pending: someone closed it in AD.
        return Decision(Category.ALREADY_REPORTED, reason="our_incident_closed_in_ad",
                        detail=f"the Pending incident we opened is no longer pending: {told.describe()}")  # fmt: skip
    return policy.decide(outcome.verdict, state)
