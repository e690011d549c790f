"""A SQLite case database covering every decision-table cell, shared by `make demo` and the end-to-end tests.

Per day: four accounts for each (verdict x Account Defender state) cell, one outcome that a
later verdict on the same account supersedes, and (across the days) two broken rows that
must be rejected without blocking the valid ones. `build_case_db` returns the account
states the fake HUMAN API must hold for the cells to mean what they say.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# verdict x Account Defender state ("unknown" = an account HUMAN has never seen)
CELLS = [
    ("confirmed_fraud", "pending"), ("confirmed_fraud", "none"), ("confirmed_fraud", "unknown"),
    ("legitimate", "pending"), ("legitimate", "none"), ("legitimate", "unknown"),
    ("suspected_fraud", "pending"), ("suspected_fraud", "none"), ("suspected_fraud", "unknown"),
]  # fmt: skip
ACCOUNTS_PER_CELL = 4


def account_id(day_index: int, cell_index: int, n: int) -> str:
    return f"acct-{day_index}{cell_index}{n}"


def attack_type(n: int) -> str:
    """Alternate the case system's attack codes so both fa and ato travel the whole path."""
    return "ato" if n % 2 else "fa"


def case_rows(days: list[str]) -> tuple[list[tuple], list[dict]]:
    """The `case_outcomes` rows for `days` (YYYY-MM-DD, UTC) and the account states the fake must hold."""
    rows, accounts = [], []
    for d, day in enumerate(days):
        for n in range(ACCOUNTS_PER_CELL):
            for c, (verdict, state) in enumerate(CELLS):
                account, attack = account_id(d, c, n), attack_type(n)
                rows.append((f"case-{d}-{c}-{n}", account, attack, verdict, f"{day}T{8 + c:02d}:{10 + n}:00Z", None))
                if state != "unknown":
                    incidents = [{"attack_type": attack, "risk_score": 0.7}] if state == "pending" else []
                    accounts.append({"account_id": account, "incidents": incidents})
        # an earlier verdict on the same account, superseded by the later one
        rows.append((f"case-{d}-early", account_id(d, 0, 0), "fa", "legitimate", f"{day}T01:00:00Z", "first look"))
    if len(days) >= 3:
        rows.append(("case-broken-1", None, "ato", "confirmed_fraud", f"{days[1]}T12:00:00Z", None))
        rows.append(("case-broken-2", "acct-x", "ato", "probably_fraud", f"{days[2]}T13:00:00Z", None))
    return rows, accounts


def build_case_db(path: Path | str, days: list[str]) -> list[dict]:
    """Write `case_outcomes` (and an empty `identity_changes`) for `days` (YYYY-MM-DD, UTC)."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE case_outcomes (case_id TEXT, account_id TEXT, attack_type TEXT, verdict TEXT,"
        " closed_at TEXT, comment TEXT)"
    )
    db.execute(
        "CREATE TABLE identity_changes (identity_id TEXT, factor_name TEXT, email TEXT, metadata TEXT, changed_at TEXT)"
    )
    rows, accounts = case_rows(days)
    db.executemany("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return accounts
