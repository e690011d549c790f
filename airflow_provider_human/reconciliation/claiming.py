"""Claiming: the staged outcomes not yet in the ledger, looked up, decided and claimed, chunk by chunk.

Deciding reads the ledger's history of each (account, attack type) and claims with the
decision in one locked transaction (:meth:`Ledger.deciding`), so two runs never decide the
same pair from the same stale history. The claim is the ledger's unique key: if a
concurrent run inserted some of the same outcomes first, ours are not inserted and count
as already decided. An outcome whose lookup failed is claimed undecided. The dry run walks
the same chunks and decides the same way, and only plans the requests.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.feedback import requests_needed
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.reconciliation.deciding import (
    NO_HISTORY,
    Columns,
    DecideCore,
    count_decisions,
    waiting_columns,
)
from airflow_provider_human.reconciliation.history import History
from airflow_provider_human.reconciliation.ledger import ClaimItem, Ledger, LedgerState
from airflow_provider_human.reconciliation.lookups import Lookups
from airflow_provider_human.reconciliation.outcomes import CaseOutcome
from airflow_provider_human.reconciliation.policy import Category, Decision
from airflow_provider_human.reconciliation.run import LOGGER, Run
from airflow_provider_human.reconciliation.staging import OutcomeStaging
from airflow_provider_human.words import counted

log = logging.getLogger(LOGGER)

_SUPERSEDED = {"decision": Category.SUPERSEDED.value}
# Another run wrote history for the pair between the unlocked pre-read and the decision: not looked up.
_HISTORY_CHANGED = "not looked up: the history changed while deciding"

Chunk = tuple[list[CaseOutcome], list[CaseOutcome], dict[tuple[str, str], History]]


class Claiming:
    """The claim path (and the dry run's plan) over one staging file."""

    def __init__(self, ledger: Ledger, core: DecideCore, columns: Columns, lookups: Lookups, chunk: int) -> None:
        self.ledger = ledger
        self.core = core
        self.columns = columns
        self.lookups = lookups
        self.chunk = chunk

    def claim_and_decide(self, staging: OutcomeStaging, run: Run) -> None:
        """Per chunk: skip outcomes already in the ledger, look the rest up, then decide and claim."""
        report = run.report
        for fresh, superseded, seen in self._fresh_chunks(staging, run):
            infos, errors = self.lookups.fetch(self._needing_lookup(fresh, seen))
            decisions, lost = self._decide_and_claim(fresh, superseded, infos, errors, run)
            report.count("already_decided", lost)
            count_decisions(report, decisions)
        log.info("Claimed and decided in %s: %d new, %d already decided by earlier runs, %d superseded within the run",
                 self.ledger.table.name, report.counts["decided"], report.counts["already_decided"],
                 report.counts["superseded"])  # fmt: skip

    def plan_dry(self, staging: OutcomeStaging, run: Run, batch_size: int) -> None:
        """Decide as a run would, record nothing, count the requests it would send."""
        report = run.report
        groups: Counter[tuple] = Counter()
        for fresh, _, histories in self._fresh_chunks(staging, run):
            infos, _errors = self.lookups.fetch(self._needing_lookup(fresh, histories))
            decisions = []  # counted once per chunk, as the claim path counts them
            for outcome in fresh:
                history = histories.get((outcome.account_id, outcome.attack_type), NO_HISTORY)
                decided = self.core.decide(outcome, history, infos.get(outcome.account_id))
                if decided is None:
                    continue
                if decided.waiting:
                    report.count("waits_for_earlier")
                    continue
                decision = decided.decision
                decisions.append(decision)
                if decision.uploads and decision.review is None:
                    comment = self.columns.comment_for(outcome.comment)
                    groups[(outcome.attack_type, decision.status, decision.result, comment)] += 1
            count_decisions(report, decisions)
        report.count("requests_planned", requests_needed(groups.values(), batch_size))
        for (_, status, result, _), n in groups.items():
            report.uploaded(result.value if result else status.value, n)
        log.info("DRY RUN: would send %s for %s", counted(report.counts["requests_planned"], "request"),
                 counted(sum(groups.values()), "account"))  # fmt: skip

    def _decide_and_claim(
        self,
        fresh: list[CaseOutcome],
        superseded: list[CaseOutcome],
        infos: dict[str, AccountInfoV2],
        errors: dict[str, Exception],
        run: Run,
    ) -> tuple[list[Decision], int]:
        """One chunk's locked step: history, decisions, claims. Returns (decisions recorded, outcomes lost)."""
        with self.ledger.deciding() as decider:
            histories = decider.history({(o.account_id, o.attack_type) for o in fresh})
            # One list per upload group (rows sharing one columns dict and attack type), so a
            # group's rows are claimed side by side and each batch touches few pages.
            groups: dict[tuple[int, AttackType], list[ClaimItem]] = {}
            decided: list[tuple[CaseOutcome, Decision]] = []
            for outcome in fresh:
                history = histories.get((outcome.account_id, outcome.attack_type), NO_HISTORY)
                found = self.core.decide(outcome, history, infos.get(outcome.account_id))
                item: ClaimItem
                if found is None:
                    error = errors.get(outcome.account_id)
                    item = (outcome, LedgerState.CLAIMED, {"error": (str(error) if error else _HISTORY_CHANGED)[:1000]})
                elif found.waiting:
                    run.report.count("waits_for_earlier")
                    item = (outcome, LedgerState.CLAIMED, waiting_columns(found.decision))
                else:
                    decided.append((outcome, found.decision))
                    item = (outcome, *self.columns.of(outcome.comment, found))
                group = groups.get((id(item[2]), outcome.attack_type))
                if group is None:
                    group = groups[(id(item[2]), outcome.attack_type)] = []
                group.append(item)
            items = [item for group in sorted(groups.values(), key=lambda g: _upload_group(g[0])) for item in group]
            inserted = decider.claim(items, owner=run.owner, interval=run.interval)
            decider.claim([(o, LedgerState.NOOP, _SUPERSEDED) for o in superseded], owner=run.owner,
                          interval=run.interval)  # fmt: skip
        lost = len(items) - inserted
        if lost:  # a concurrent run claimed some of them between our check and our insert
            mine = self.ledger.claimed_by_me([o for o, _, _ in items])
            decided = [(o, d) for o, d in decided if _key(o) in mine]
        return [d for _, d in decided], lost

    def _needing_lookup(self, fresh: list[CaseOutcome], seen: dict[tuple[str, str], History]) -> set[str]:
        """Accounts whose decision depends on AD's state, as far as the history read so far tells."""
        needs = self.core.needs_lookup
        return {o.account_id for o in fresh if needs(o, seen.get((o.account_id, o.attack_type), NO_HISTORY))}

    def _fresh_chunks(self, staging: OutcomeStaging, run: Run) -> Iterator[Chunk]:
        """Chunks of ``chunk`` (account, attack type) groups: (latest outcomes not yet in the
        ledger, the outcomes they supersede, the pairs' history as read now, unlocked).

        Outcomes already in the ledger (same key and content) are counted and cost no lookup;
        the history read here only spares lookups: decisions read it again under the lock.
        """
        ledger_exists = self.ledger.exists()
        winners: list[CaseOutcome] = []
        losers: list[CaseOutcome] = []

        def chunk() -> Chunk:
            pairs = {(o.account_id, o.attack_type) for o in winners}
            histories = self.ledger.read_history(pairs) if ledger_exists else {}
            fresh = [o for o in winners if not _recorded(o, histories)] if histories else list(winners)
            run.report.count("already_decided", len(winners) - len(fresh))
            run.report.count("superseded", len(losers))
            result = (fresh, list(losers), histories)
            winners.clear()
            losers.clear()
            return result

        for winner, superseded in staging.grouped():
            winners.append(winner)
            if superseded:
                losers.extend(superseded)
            if len(winners) >= self.chunk:
                yield chunk()
        yield chunk()


def _key(outcome: CaseOutcome) -> tuple[str, ...]:
    return (outcome.case_id, outcome.account_id, outcome.attack_type, outcome.closed_at_key, outcome.fingerprint)


def _upload_group(item: ClaimItem) -> tuple[str, ...]:
    """The order rows are claimed in: by state, then by upload group (what one batch holds)."""
    outcome, state, columns = item
    if not columns:
        return (state._value_,)
    get: Any = columns.get
    return (state._value_, outcome.attack_type._value_, get("feedback_status") or "", get("feedback_result") or "",
            get("feedback_comment") or "")  # fmt: skip


def _recorded(outcome: CaseOutcome, histories: dict[tuple[str, str], History]) -> bool:
    """Whether this very outcome (key and content) is in the ledger already."""
    history = histories.get((outcome.account_id, outcome.attack_type))
    if history is None:
        return False
    key = (outcome.case_id, outcome.closed_at_key, outcome.fingerprint)
    return any((r.case_id, r.closed_at, r.fingerprint) == key for r in history.rows)
