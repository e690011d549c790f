"""The names of one ledger's tables, and what the base revision's tables look like (to recognise them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LedgerTables:
    """One ledger's tables; ``version`` records its schema revision (one per ledger: two never clash)."""

    ledger: str
    rejects: str
    holders: str
    version: str

    @classmethod
    def of(cls, ledger: str, rejects: str) -> LedgerTables:
        return cls(ledger, rejects, f"{ledger}_holders", f"{ledger}_alembic_version")


#: The base revision's columns (0001), frozen: a table of the ledger's name without a version
#: table is that revision only when it has all of them.
BASE_COLUMNS = {
    "ledger": (
        "id", "case_id", "account_id", "attack_type", "closed_at", "fingerprint", "verdict", "comment", "ad_state",
        "decision", "reason", "detail", "review", "answer", "answered_by", "answered_at", "feedback_status",
        "feedback_result", "feedback_comment", "interval_start", "interval_end", "state", "owner", "holder",
        "batch_id", "marked_at", "lookup_failures", "reprocessed_by", "http_status", "error", "created_at",
        "updated_at", "sent_at",
    ),
    "holders": ("holder", "owner", "lease_until", "started_at", "updated_at"),
    "rejects": (
        "id", "row_hash", "reason", "detail", "case_id", "account_id", "raw", "interval_start", "interval_end",
        "owner", "created_at",
    ),
}  # fmt: skip
