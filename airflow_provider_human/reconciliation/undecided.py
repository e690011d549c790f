"""The held path: rows this try holds undecided, decided now with history, in one locked step.

A row is held undecided when its lookup failed before, reprocess reopened it, a person
answered "Resend" on a review item, or an earlier upload of its pair had not landed. A row
still waiting for that upload costs no lookup and is looked at again on the next pass (the
run waits for it, bounded: see the engine's settle).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_human.reconciliation.deciding import (
    Columns,
    DecideCore,
    count_decision,
    history_without,
    lookup_skip,
    outcome_of,
    table_only,
)
from airflow_provider_human.reconciliation.history import WAITS_FOR_EARLIER, History
from airflow_provider_human.reconciliation.ledger import Ledger, LedgerRow, LedgerState
from airflow_provider_human.reconciliation.lookups import Lookups
from airflow_provider_human.reconciliation.report import ReconciliationReport
from airflow_provider_human.reconciliation.run import LOGGER

log = logging.getLogger(LOGGER)


class Undecided:
    """Decides the rows this try holds in ``claimed``."""

    def __init__(self, ledger: Ledger, core: DecideCore, columns: Columns, lookups: Lookups, chunk: int) -> None:
        self.ledger = ledger
        self.core = core
        self.columns = columns
        self.lookups = lookups
        self.chunk = chunk

    def decide(self, report: ReconciliationReport) -> None:
        for rows in self.ledger.iter_mine([LedgerState.CLAIMED], chunk=self.chunk):
            rows = self.lookups.not_retried(rows)  # one more lookup per try, no more
            if rows:
                self._decide_chunk(rows, report)

    def _decide_chunk(self, rows: list[LedgerRow], report: ReconciliationReport) -> None:
        seen = self.ledger.read_history({(r.account_id, r.attack_type) for r in rows})  # unlocked: spares lookups
        still_waiting = {r.id for r in rows if self._waits(r, seen)}
        looked_up = [r for r in rows if r.id not in still_waiting]
        self.lookups.retrying(looked_up)
        infos, errors = self.lookups.fetch({r.account_id for r in looked_up})
        updates: list[dict[str, Any]] = []
        failed: dict[tuple[str, bool], list[int]] = {}
        waiting: dict[str, list[int]] = {}
        with self.ledger.deciding() as decider:
            histories = decider.history({(r.account_id, r.attack_type) for r in rows})
            for row in rows:
                info = infos.get(row.account_id) if row.id not in still_waiting else None
                found = self.core.decide(outcome_of(row), history_without(row, histories), info,
                                         table_only=table_only(row))  # fmt: skip
                if found is not None and found.waiting:
                    waiting.setdefault(found.decision.detail or "", []).append(row.id)
                elif found is not None:
                    count_decision(report, found.decision)
                    new_state, columns = self.columns.of(row.comment, found)
                    updates.append({"row_id": row.id, "new_state": new_state.value, **columns})
                elif (error := errors.get(row.account_id)) is not None:  # None: not looked up (it waited)
                    if self.lookups.gives_up(error, row.lookup_failures):
                        report.skip("lookup_failed")
                        updates.append({"row_id": row.id, "new_state": LedgerState.NOOP.value, **lookup_skip()})
                        log.warning("Account %s: lookup failed %d times (%s); decided skip:lookup_failed",
                                    row.account_id, row.lookup_failures + 1, error)  # fmt: skip
                    else:
                        failed.setdefault((str(error)[:1000], self.lookups.permanent(error)), []).append(row.id)
            decider.record_decisions(updates)
        for detail, ids in waiting.items():
            self.ledger.record_waiting(ids, WAITS_FOR_EARLIER, detail)
        for (error_text, permanent), ids in failed.items():
            self.ledger.record_lookup_failures(ids, error_text, permanent=permanent)

    def _waits(self, row: LedgerRow, histories: dict[tuple[str, str], History]) -> bool:
        """Whether a claimed row still waits for an earlier upload of its pair (as the history read tells)."""
        if (row.account_id, row.attack_type) not in histories or table_only(row):
            return False
        found = self.core.decide(outcome_of(row), history_without(row, histories), None)
        return found is not None and found.waiting
