"""What the ledger's reads return: rows of this try, rows not done, and why a row waits for a person."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_human.reconciliation.ledger.states import LedgerState


@dataclass(frozen=True)
class LedgerRow:
    id: int
    case_id: str
    account_id: str
    attack_type: str
    closed_at: str
    verdict: str
    comment: str | None
    fingerprint: str
    answer: str | None
    state: str
    decision: str | None
    feedback_status: str | None
    feedback_result: str | None
    batch_id: str | None
    marked_at: float | None
    lookup_failures: int


def review_kind(review: str | None, state: str) -> str:
    """Why a row waits for a person: its decision's review kind, else what its upload's answer left."""
    return review or ("rejected" if state == LedgerState.FAILED else "in_doubt")


@dataclass(frozen=True)
class OpenRow:
    """A row of an interval that is not done, with who holds it and until when (database clock)."""

    id: int
    account_id: str
    attack_type: str
    state: LedgerState
    feedback_result: str | None
    batch_id: str | None
    holder: str
    owner: str
    lease_until: float
    case_id: str = ""
    review: str | None = None
    reason: str | None = None  # on a claimed row: why it is not decided yet (e.g. waits for an earlier upload)
    detail: str | None = None

    @property
    def kind(self) -> str:
        """Why it waits for a person (for rows in NEEDS_A_PERSON)."""
        return review_kind(self.review, self.state)
