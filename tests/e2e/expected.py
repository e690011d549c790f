"""What the reconciliation must have done for some days of the demo case database.

The decision table is written out here on its own (not imported from the policy code) so a
wrong policy fails the end-to-end tests instead of agreeing with itself.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from tests.e2e.conftest import ALL_DAYS
from tests.reconciliation.test_engine import uploads  # noqa: F401 - (account, attackType, status, result) counts
from tests.support.demo_cases import ACCOUNTS_PER_CELL, CELLS, account_id, attack_type

# (verdict, Account Defender state) -> (ledger decision, feedback (status, result) or None)
DECISION_TABLE = {
    ("confirmed_fraud", "pending"): ("true_positive", ("resolved", "resolved")),
    ("confirmed_fraud", "none"): ("false_negative", ("resolved", "manually_identified_and_resolved")),
    ("confirmed_fraud", "unknown"): ("skip", None),
    ("legitimate", "pending"): ("false_positive", ("resolved", "no_attack")),
    ("legitimate", "none"): ("consistent", None),
    ("legitimate", "unknown"): ("skip", None),
    ("suspected_fraud", "pending"): ("consistent", None),
    ("suspected_fraud", "none"): ("false_negative", ("resolved", "manually_identified")),
    ("suspected_fraud", "unknown"): ("skip", None),
}


@dataclass
class Expected:
    uploads: Counter = field(default_factory=Counter)  # (account, attackType, status, result) -> 1
    decisions: dict[str, str] = field(default_factory=dict)  # case_id -> ledger decision
    sent: set[str] = field(default_factory=set)  # case ids whose feedback goes out
    accounts: set[str] = field(default_factory=set)  # every account with a case on these days


def expected_for(days: list[str], all_days: list[str] = ALL_DAYS) -> Expected:
    """What `days` must come to; `all_days` is the day list the case database was built from."""
    expected = Expected()
    for d in (all_days.index(day) for day in days):
        for c, cell in enumerate(CELLS):
            decision, feedback = DECISION_TABLE[cell]
            for n in range(ACCOUNTS_PER_CELL):
                case = f"case-{d}-{c}-{n}"
                expected.accounts.add(account_id(d, c, n))
                expected.decisions[case] = decision
                if feedback:
                    expected.sent.add(case)
                    expected.uploads[(account_id(d, c, n), attack_type(n), *feedback)] += 1
        expected.decisions[f"case-{d}-early"] = "superseded"  # a later verdict on the same account wins
    return expected


def every_upload_accepted(fake_api) -> bool:
    return {entry["status"] for entry in fake_api.requests("feedback")} <= {200}


def ledger(case_db) -> dict[str, dict]:
    """case_id -> its human_feedback_ledger row."""
    db = sqlite3.connect(case_db)
    db.row_factory = sqlite3.Row
    try:
        return {r["case_id"]: dict(r) for r in db.execute("SELECT * FROM human_feedback_ledger")}
    finally:
        db.close()


def rejected_cases(case_db) -> set[str]:
    db = sqlite3.connect(case_db)
    try:
        return {case for (case,) in db.execute("SELECT case_id FROM human_feedback_rejects")}
    finally:
        db.close()
