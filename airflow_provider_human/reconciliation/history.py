"""What the ledger says Account Defender was told about an (account, attack type), and what it changes.

v2 shows only Pending incidents: "no incident" cannot tell an account never flagged from
one whose incident was resolved, perhaps by our own upload yesterday. So before a case
outcome is decided from today's lookup, the ledger's history of that (account, attack
type) is consulted, whatever interval or run order it came from:

1. a *newer* outcome is already in the ledger: this one is ``superseded`` (latest wins
   across intervals, in any backfill order);
2. the same case outcome is in the ledger with another verdict or comment (the export
   edited the row in place): ``edited``; a changed verdict waits for a person;
3. an earlier upload of the pair has not landed (``planned``, ``sending``, ``in_doubt``,
   ``needs_review``): this outcome *waits*, undecided, until it has; deciding on top of it
   would assume what AD may never have been told (one conversation per pair);
4. the verdict contradicts our last upload: ``reversal`` (nothing sent, the API cannot
   retract; a person decides);
5. the verdict says what our last upload already said: ``already_reported`` (nothing
   sent), except that after closing feedback AD is looked up: a Pending incident opened
   since is answered by the table (``new_incident_since_feedback``);
6. otherwise the policy table decides from AD's state (see :data:`THREE_WAY` in the docs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum

from airflow_provider_human.client.builders import FeedbackResult, FeedbackStatus
from airflow_provider_human.client.responses import ActiveIncident
from airflow_provider_human.reconciliation.ad_state import ADState
from airflow_provider_human.reconciliation.ledger.states import MAY_HAVE_REACHED_HUMAN, UNLANDED
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict
from airflow_provider_human.reconciliation.policy import Category, Decision, DecisionPolicy, ReviewKind


class Told(StrEnum):
    """The meaning of the last upload we made (or may have made) for an (account, attack type)."""

    NOTHING = "nothing"
    FRAUD_OPEN = "fraud_open"  # pending / manually_identified: a Pending incident we opened
    FRAUD_CLOSED = "fraud_closed"  # resolved/resolved or manually_identified_and_resolved
    LEGITIMATE = "legitimate"  # resolved/no_attack


#: Ledger states whose upload may have reached HUMAN (``failed`` was refused; ``claimed`` is undecided).
_TOLD_STATES = MAY_HAVE_REACHED_HUMAN
#: Of those, the ones not final: the upload may not have landed (yet, or ever). A newer outcome waits.
UNLANDED_STATES = UNLANDED
#: The ``reason`` of an outcome claimed undecided because an earlier upload of its pair has not landed.
WAITS_FOR_EARLIER = "waits_for_earlier_upload"


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
    marked_at: float | None  # when its batch was marked sending (database clock); None if never sent

    @property
    def unlanded(self) -> bool:
        """An upload was decided and may not have reached HUMAN: not final yet."""
        return self.feedback_status is not None and self.state in UNLANDED_STATES

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

    def unlanded_before(self, outcome: CaseOutcome) -> PastOutcome | None:
        """The latest row, not newer than ``outcome`` and not ``outcome`` itself, whose upload has not landed."""
        key = (outcome.case_id, outcome.closed_at_key)
        rows = [
            r for r in self.rows
            if r.unlanded and r.closed_at <= outcome.closed_at_key and (r.case_id, r.closed_at) != key
        ]  # fmt: skip
        return rows[-1] if rows else None

    def newer_told(self, closed_at: str) -> PastOutcome | None:
        """The latest row closed after ``closed_at`` whose upload may have reached HUMAN."""
        rows = [r for r in self.rows if r.closed_at > closed_at and r.told is not Told.NOTHING]
        return rows[-1] if rows else None

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
    unlanded = history.unlanded_before(outcome)
    if unlanded is not None:
        return Decision(Category.WAITING, reason=WAITS_FOR_EARLIER,
                        detail=f"waits for the earlier upload of {unlanded.describe()}")  # fmt: skip
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
    if told.told is not Told.FRAUD_OPEN:
        return None  # closing feedback answered the incidents of its day: is one Pending now? (look AD up)
    return _already_reported(told)


def _already_reported(told: PastOutcome) -> Decision:
    return Decision(Category.ALREADY_REPORTED, reason="same_meaning_sent", detail=f"already told: {told.describe()}")


def decide_with_state(
    outcome: CaseOutcome,
    state: ADState,
    unmapped: list[str],
    history: History,
    policy: DecisionPolicy,
    pending: Sequence[ActiveIncident] = (),
    clock_skew_seconds: float = 300.0,
) -> Decision:
    """The decision once AD's state is known (after :func:`decide_before_lookup` returned ``None``).

    ``pending``: AD's Pending incidents of the outcome's attack type (their creation times
    tell an incident opened after our feedback from one our feedback should have answered).
    """
    if state is ADState.AMBIGUOUS:
        seen = ", ".join(unmapped) if unmapped else "is_under_attack with no incident of a known type"
        return Decision(Category.SKIP, reason="ambiguous_ad_state", detail=f"incident types seen: {seen}",
                        review=ReviewKind.AMBIGUOUS_AD_STATE)  # fmt: skip
    told = history.last_told(outcome) if history.rows else None
    if told is not None and told.told is Told.FRAUD_OPEN and state is not ADState.PENDING:
        # We opened a Pending incident and it is no longer pending: someone closed it in AD.
        return Decision(Category.ALREADY_REPORTED, reason="our_incident_closed_in_ad",
                        detail=f"the Pending incident we opened is no longer pending: {told.describe()}")  # fmt: skip
    if told is not None and told.told in (Told.FRAUD_CLOSED, Told.LEGITIMATE):
        said_fraud = told.told is Told.FRAUD_CLOSED
        if said_fraud == _fraud(outcome.verdict):  # (a contradiction was a reversal before the lookup)
            if state is not ADState.PENDING:
                return _already_reported(told)
            return _after_closing_feedback(outcome, told, pending, policy, clock_skew_seconds)
    return policy.decide(outcome.verdict, state)


def _after_closing_feedback(
    outcome: CaseOutcome, told: PastOutcome, pending: Sequence[ActiveIncident], policy: DecisionPolicy, skew: float
) -> Decision:
    """AD shows a Pending incident although our last feedback closed (or opened as resolved) the pair's.

    Our feedback cannot explain it. Created clearly after that upload (beyond the clock skew):
    a new incident, answered by the table like any other. Otherwise (created before, or no
    time to compare) the pages cannot say why it is still open: a person decides.
    """
    created = [i.incident_creation.astimezone(UTC).timestamp() for i in pending if i.incident_creation is not None]
    if told.marked_at is not None and pending and len(created) == len(pending):
        if min(created) >= told.marked_at + skew:
            cell = policy.decide(outcome.verdict, ADState.PENDING)
            return Decision(cell.category, cell.status, cell.result, reason="new_incident_since_feedback",
                            review=cell.review,
                            detail=f"a Pending incident opened after our feedback for {told.describe()}")  # fmt: skip
    return Decision(Category.SKIP, reason="incident_older_than_feedback", review=ReviewKind.AMBIGUOUS_AD_STATE,
                    detail=f"a Pending incident not opened after our feedback for {told.describe()}: "
                    "the vendor pages cannot say whether that feedback answered it")  # fmt: skip
