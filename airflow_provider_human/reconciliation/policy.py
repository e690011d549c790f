"""The decision table: case verdict x Account Defender's current state -> what to upload.

The policy is data. Each cell is one of ``nothing``, ``skip:<reason>``, ``pending`` or
``resolved/<result>``; users pass their own table (for example to send false negatives
for accounts Account Defender does not know).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from airflow_provider_human.client.builders import FeedbackResult, FeedbackStatus
from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.reconciliation.ad_state import ADState
from airflow_provider_human.reconciliation.outcomes import Verdict

#: The AD states a policy table has cells for (``ambiguous`` always goes to a person).
TABLE_STATES = (ADState.PENDING, ADState.NONE, ADState.UNKNOWN)


class Category(StrEnum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"
    FALSE_NEGATIVE = "false_negative"
    PENDING = "pending"
    CONSISTENT = "consistent"
    SKIP = "skip"
    SUPERSEDED = "superseded"
    ALREADY_REPORTED = "already_reported"  # what we told AD before already says this
    REVERSAL = "reversal"  # the verdict contradicts feedback already sent: the API cannot retract
    EDITED = "edited"  # the export changed this case outcome in place
    WAITING = "waiting"  # an earlier upload of the pair has not landed: not decided yet (never recorded)


class ReviewKind(StrEnum):
    """Why a ledger row waits for a person (its ``review`` column)."""

    IN_DOUBT = "in_doubt"  # an upload no documented field can tell applied or not
    REJECTED = "rejected"  # HUMAN refused the upload (400)
    REVERSAL = "reversal"
    EDITED = "edited"
    AMBIGUOUS_AD_STATE = "ambiguous_ad_state"


@dataclass(frozen=True)
class Decision:
    category: Category
    status: FeedbackStatus | None = None
    result: FeedbackResult | None = None
    reason: str | None = None
    review: ReviewKind | None = None  # set: nothing is sent, a person decides
    detail: str | None = None  # the evidence, in words (history rows, incident types seen)

    @property
    def uploads(self) -> bool:
        return self.status is not None

    @classmethod
    def parse(cls, cell: str, where: str) -> Decision:
        text = cell.strip() if isinstance(cell, str) else cell
        if text == "nothing":
            return cls(Category.CONSISTENT)
        if isinstance(text, str) and text.startswith("skip:") and len(text) > 5:
            return cls(Category.SKIP, reason=text[5:])
        if text == "pending":
            return cls(Category.PENDING, FeedbackStatus.PENDING)
        if isinstance(text, str) and text.startswith("resolved/"):
            try:
                result = FeedbackResult(text[len("resolved/") :])
            except ValueError:
                pass
            else:
                return cls(_CATEGORY[result], FeedbackStatus.RESOLVED, result)
        raise HumanInputError(
            where, cell, "must be 'nothing', 'skip:<reason>', 'pending' or 'resolved/<no_attack|resolved|"
            "manually_identified_and_resolved|manually_identified>'"
        )  # fmt: skip

    @property
    def label(self) -> str:
        if self.status is None:
            return "nothing" if self.category is Category.CONSISTENT else f"skip:{self.reason}"
        return "pending" if self.result is None else f"resolved/{self.result.value}"


_CATEGORY = {
    FeedbackResult.RESOLVED: Category.TRUE_POSITIVE,
    FeedbackResult.NO_ATTACK: Category.FALSE_POSITIVE,
    FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED: Category.FALSE_NEGATIVE,
    FeedbackResult.MANUALLY_IDENTIFIED: Category.FALSE_NEGATIVE,
}

DEFAULT_POLICY: dict[str, dict[str, str]] = {
    "confirmed_fraud": {
        "pending": "resolved/resolved",  # true positive
        "none": "resolved/manually_identified_and_resolved",  # false negative
        "unknown": "skip:unknown_account",
    },
    "legitimate": {
        "pending": "resolved/no_attack",  # false positive
        "none": "nothing",  # consistent
        "unknown": "skip:unknown_account",
    },
    "suspected_fraud": {
        "pending": "nothing",  # already pending
        "none": "resolved/manually_identified",  # false negative, Pending tab
        "unknown": "skip:unknown_account",
    },
}


class DecisionPolicy:
    """A validated verdict x AD-state table; cells missing from a user's table keep the default."""

    def __init__(self, table: Mapping[str, Mapping[str, str]] | None = None) -> None:
        merged = {v: dict(cells) for v, cells in DEFAULT_POLICY.items()}
        for verdict, cells in (table or {}).items():
            if verdict not in merged:
                raise HumanInputError("policy", verdict, f"unknown verdict; known: {sorted(merged)}")
            if not isinstance(cells, Mapping):
                raise HumanInputError(f"policy.{verdict}", cells, "must map AD states to decisions")
            for state, cell in cells.items():
                if state not in {s.value for s in TABLE_STATES}:
                    raise HumanInputError(f"policy.{verdict}", state, "unknown AD state; use pending, none, unknown")
                merged[verdict][state] = cell
        self._cells = {
            (Verdict(v), ADState(s)): Decision.parse(cell, f"policy.{v}.{s}")
            for v, cells in merged.items()
            for s, cell in cells.items()
        }

    def decide(self, verdict: Verdict, state: ADState) -> Decision:
        return self._cells[(verdict, state)]

    def as_table(self) -> dict[str, dict[str, str]]:
        return {v.value: {s.value: self._cells[(v, s)].label for s in TABLE_STATES} for v in Verdict}
