"""Feedback sent by the plain operators, written to the reconciliation's ledger as it goes.

A DAG that uploads with :class:`HumanUploadFeedbackOperator` and then reconciles the same
accounts would otherwise decide from a history that never heard of that upload (and open
a new incident after a ``resolved/resolved``). With a ledger, each account's feedback
becomes one ledger row, closed *now*, decided as the table would name it, claimed under
the decision lock (a concurrent reconciliation of the pair waits for it, as for any
upload that has not landed) and sent through the same fenced delivery: marked
``sending`` before the request, then ``sent``, ``in_doubt`` (the day's reconciliation
verifies it by lookup), ``failed`` (for a person) or, when HUMAN refused before acting,
removed (it told nothing: nobody sends it later on the operator's behalf, and it does not
stand as a newer verdict over the export's cases).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from airflow_provider_human.client.builders import FeedbackGroupKey, FeedbackResult
from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.reconciliation.ad_state import IncidentNames
from airflow_provider_human.reconciliation.delivery import Delivery
from airflow_provider_human.reconciliation.ledger import Ledger, LedgerState
from airflow_provider_human.reconciliation.lookups import Lookups
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict, format_utc
from airflow_provider_human.reconciliation.policy import Category
from airflow_provider_human.reconciliation.report import ReconciliationReport
from airflow_provider_human.reconciliation.settings import ReconcileSettings

REASON = "sent_by_feedback_operator"

#: what an upload tells AD, as the verdict and category the reconciliation would have named it
_MEANING: dict[FeedbackResult | None, tuple[Verdict, Category]] = {
    FeedbackResult.RESOLVED: (Verdict.CONFIRMED_FRAUD, Category.TRUE_POSITIVE),
    FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED: (Verdict.CONFIRMED_FRAUD, Category.FALSE_NEGATIVE),
    FeedbackResult.MANUALLY_IDENTIFIED: (Verdict.SUSPECTED_FRAUD, Category.FALSE_NEGATIVE),
    FeedbackResult.NO_ATTACK: (Verdict.LEGITIMATE, Category.FALSE_POSITIVE),
    None: (Verdict.SUSPECTED_FRAUD, Category.PENDING),  # status pending
}


@dataclass
class ToldOutside:
    """What became of the operator's uploads, by ledger state (``sent``, ``in_doubt``, ...)."""

    states: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    not_sent: int = 0  # refused before HUMAN acted; their rows were removed
    error: Exception | None = None


def send_through_ledger(
    client: HumanClient,
    ledger: Ledger,
    groups: Mapping[FeedbackGroupKey, Sequence[str]],
    *,
    owner: str,
    batch_size: int,
) -> ToldOutside:
    """Record each account's feedback in the ledger, send it fenced, and say what became of it."""
    ledger.ensure_schema()
    ledger.register(owner)
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:12]  # one try's rows: a retry records (and sends) its own
    items: list[tuple[CaseOutcome, LedgerState, dict[str, str | None]]] = []
    for key, accounts in groups.items():
        verdict, category = _MEANING[key.result]
        columns = {"decision": category.value, "reason": REASON, "detail": f"sent by {owner}"[:1000],
                   "feedback_status": key.status.value, "feedback_result": key.result.value if key.result else None,
                   "feedback_comment": key.comment}  # fmt: skip
        for account in accounts:
            outcome = CaseOutcome(f"operator:{tag}:{len(items)}", account, key.attack_type, verdict, now, key.comment)
            items.append((outcome, LedgerState.PLANNED, columns))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    interval = (format_utc(day), format_utc(day + timedelta(days=1)))  # the UTC day a daily run reconciles
    told = ToldOutside()
    report = ReconciliationReport(interval[0], interval[1], owner, "the feedback operator")
    with ledger.heartbeat():
        try:
            with ledger.deciding() as decider:
                decider.claim(items, owner=owner, interval=interval)
            settings = ReconcileSettings(batch_size=batch_size)
            lookups = Lookups(client, settings, report)  # nothing is verified here: never called
            delivery = Delivery(client, ledger, settings, batch_size, IncidentNames(), lookups)
            try:
                delivery.upload(report)
            except Exception as exc:  # an auth or configuration error stops every batch
                told.error = exc
            left = [r.id for rows in ledger.iter_mine([LedgerState.PLANNED]) for r in rows]
            # Refused before HUMAN acted: they told nothing, and nobody may send them later on the
            # operator's behalf, nor may they stand as a newer verdict over the export's cases.
            told.not_sent = ledger.forget_planned(left) if left else 0
        finally:
            ledger.release()
    told.requests = report.counts["requests_sent"]
    told.states = ledger.states_of_cases(f"operator:{tag}:")
    return told
