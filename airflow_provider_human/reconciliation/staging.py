"""A throwaway on-disk SQLite table that sorts one run's outcomes so deduplication streams.

Exports arrive in any order; "the latest closed_at per (account, attack type) wins" needs
them grouped. Sorting on disk keeps memory flat whatever the number of rows.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict


class OutcomeStaging:
    """Append outcomes, then iterate ``(winner, superseded)`` per (account, attack type)."""

    def __init__(self, directory: str | None = None, flush_every: int = 20_000) -> None:
        handle, self.path = tempfile.mkstemp(prefix="human-staging-", suffix=".sqlite", dir=directory)
        os.close(handle)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE staging (seq INTEGER PRIMARY KEY, case_id TEXT, account_id TEXT, attack_type TEXT,"
            " verdict TEXT, closed_at TEXT, comment TEXT, fingerprint TEXT)"
        )
        self._buffer: list[tuple] = []
        self._flush_every = flush_every
        self.count = 0

    def add(self, outcome: CaseOutcome) -> None:
        self._buffer.append(
            (outcome.case_id, outcome.account_id, outcome.attack_type._value_, outcome.verdict._value_,
             outcome.closed_at_key, outcome.comment, outcome.fingerprint)
        )  # fmt: skip
        self.count += 1
        if len(self._buffer) >= self._flush_every:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany(
            "INSERT INTO staging (case_id, account_id, attack_type, verdict, closed_at, comment, fingerprint)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            self._buffer,
        )
        self._buffer.clear()

    def grouped(self) -> Iterator[tuple[CaseOutcome, list[CaseOutcome]]]:
        """Per (account, attack type): the latest outcome and the ones it supersedes."""
        self._flush()
        self._db.commit()
        self._db.execute("CREATE INDEX IF NOT EXISTS staging_order ON staging (account_id, attack_type, closed_at)")
        cursor = self._db.execute(
            "SELECT case_id, account_id, attack_type, verdict, closed_at, comment, fingerprint FROM staging"
            " ORDER BY account_id, attack_type, closed_at DESC, seq DESC"
        )
        winner: CaseOutcome | None = None
        losers: list[CaseOutcome] = []
        attack_types = {a.value: a for a in AttackType}  # dict lookups: Enum's constructor is slow per row
        verdicts = {v.value: v for v in Verdict}
        restore = CaseOutcome.restore
        for case_id, account_id, attack_type, verdict, closed_at, comment, fingerprint in cursor:
            outcome = restore(case_id, account_id, attack_types[attack_type], verdicts[verdict], closed_at, comment,
                              fingerprint)  # fmt: skip
            if winner is not None and winner.account_id == account_id and winner.attack_type is outcome.attack_type:
                losers.append(outcome)
                continue
            if winner is not None:
                yield winner, losers
            winner, losers = outcome, []
        if winner is not None:
            yield winner, losers

    def close(self) -> None:
        self._db.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> OutcomeStaging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
