"""The verdict: what a run that ends says is left of its interval, read from the ledger.

``None`` when every outcome of the interval (and shard) is sent or needs nothing; else the
error that names what is left: rows held by another live run, rows waiting for an earlier
upload, undecided, planned or in-doubt rows, and items waiting for a person.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_provider_human.docs_links import docs_link
from airflow_provider_human.exceptions import (
    HumanError,
    ReconciliationIncompleteError,
    ReconciliationNeedsAttentionError,
)
from airflow_provider_human.reconciliation.delivery import IN_DOUBT
from airflow_provider_human.reconciliation.history import WAITS_FOR_EARLIER
from airflow_provider_human.reconciliation.ledger import NEEDS_A_PERSON, UNFINISHED, Ledger, LedgerState, OpenRow
from airflow_provider_human.reconciliation.ledger.states import DONE, values
from airflow_provider_human.reconciliation.report import ReconciliationReport, interval_truth
from airflow_provider_human.reconciliation.run import LOGGER
from airflow_provider_human.words import counted

log = logging.getLogger(LOGGER)

SHOWN = 20  # items named in an error message; the report file and the ledger hold them all
_DONE = set(values(DONE))


def verdict(
    ledger: Ledger,
    report: ReconciliationReport,
    interval: tuple[str, str],
    shard: tuple[int, int] | None,
    *,
    fail_on_review: bool,
) -> HumanError | None:
    """The interval's truth from the ledger, told to the report; ``None`` when done, else what is left."""
    breakdown = ledger.interval_breakdown(interval)
    states: Counter[str] = Counter()
    for state, _decision, _result, n in breakdown:
        states[state] += n
    anything_open = any(state not in _DONE for state in states)  # every shard: a superset of this one's
    rows = ledger.open_rows(interval, shard) if anything_open else []
    now = ledger.clock()
    mine = ledger.holder
    unfinished = [r for r in rows if r.state in UNFINISHED]
    left = _held_by_others(unfinished, now, mine)
    free = [r for r in unfinished if r.lease_until <= now or r.holder == mine]
    left += _free_left(free)
    stuck = [r for r in rows if r.state in NEEDS_A_PERSON]
    if stuck:
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(Counter(r.kind for r in stuck).items()))
        what = counted(len(stuck), "item waits", "items wait")
        left.append(f"{what} for a person ({kinds}): {items(stuck)}")
    report.ended(dict(states), interval_truth(breakdown, ledger.interval_rejects(interval)), left,
                 [review_entry(r) for r in stuck])  # fmt: skip
    if not left:
        log.info("The interval is done: every outcome is sent or needs nothing (%s)", dict(states))
        return None
    message = f"Reconciliation of [{interval[0]}, {interval[1]}) is not done: {'; '.join(left)}"
    if unfinished:
        return ReconciliationIncompleteError(message)
    if not fail_on_review:
        log.warning("%s. Handed to the review step (fail_on_review=False).", message)
        return None
    return ReconciliationNeedsAttentionError(
        f"{message}. See {docs_link('reconciliation', 'what-needs-a-person-and-how-to-answer')};"
        " other days are not affected."
    )


def _held_by_others(unfinished: list[OpenRow], now: float, mine: str) -> list[str]:
    by_holder: dict[str, list[OpenRow]] = {}
    for row in unfinished:
        if row.lease_until > now and row.holder != mine:
            by_holder.setdefault(row.owner, []).append(row)
    left = []
    for owner, held in by_holder.items():
        until = datetime.fromtimestamp(max(r.lease_until for r in held), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        left.append(f"{counted(len(held), 'outcome')} held by {owner} until {until}")
    return left


def _free_left(free: list[OpenRow]) -> list[str]:
    """What is left of the unfinished rows nobody else holds."""
    left = []
    states = Counter(r.state for r in free)
    waits = [r for r in free if r.state is LedgerState.CLAIMED and r.reason == WAITS_FOR_EARLIER]
    if waits:
        what = counted(len(waits), "outcome waits", "outcomes wait")
        left.append(f"{what} for an earlier upload of the same account and attack type to land (decided on the "
                    "next try, once it has; if that day's run has stopped, clear it): "
                    + "; ".join(f"account {r.account_id} {r.attack_type}: {r.detail}" for r in waits[:SHOWN])
                    + (f" and {len(waits) - SHOWN} more" if len(waits) > SHOWN else ""))  # fmt: skip
    undecided = states[LedgerState.CLAIMED] - len(waits)
    if undecided:
        left.append(f"{counted(undecided, 'outcome')} not decided yet (their lookups failed)")
    if states[LedgerState.PLANNED]:
        left.append(f"{counted(states[LedgerState.PLANNED], 'upload')} not applied yet (refused before HUMAN acted)")
    in_doubt = [r for r in free if r.state in IN_DOUBT]
    if in_doubt:
        left.append(f"{counted(len(in_doubt), 'upload')} in doubt, verified by lookup on the next try: "
                    + items(in_doubt))  # fmt: skip
    return left


def items(rows: Sequence[OpenRow]) -> str:
    shown = ", ".join(
        f"account {r.account_id} {r.attack_type} {r.feedback_result or '-'} "
        + (f"batch {r.batch_id}" if r.batch_id else "no batch")
        + (f" ({r.kind})" if r.state in NEEDS_A_PERSON else "")
        for r in rows[:SHOWN]
    )
    return shown + (f" and {len(rows) - SHOWN} more (see the ledger)" if len(rows) > SHOWN else "")


def review_entry(row: OpenRow) -> dict[str, Any]:
    """One item waiting for a person, as the report file lists it (ids only, no personal fields)."""
    return {"kind": row.kind, "case_id": row.case_id, "account_id": row.account_id, "attack_type": row.attack_type,
            "state": row.state.value, "result": row.feedback_result, "batch_id": row.batch_id}  # fmt: skip
