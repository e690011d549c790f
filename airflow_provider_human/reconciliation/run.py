"""What one run carries from step to step: its interval, owner, comment and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from airflow_provider_human.reconciliation.report import ReconciliationReport

#: every step logs under the engine's name: one logger tells the run's story
LOGGER = "airflow_provider_human.reconciliation.engine"


@dataclass
class Run:
    """One run (one try of one interval and shard), passed to each step instead of kept on it."""

    interval: tuple[str, str]
    bounds: tuple[datetime, datetime]
    owner: str
    comment: str
    report: ReconciliationReport
    verify_rounds: int = 0  # rounds of in-doubt verification in this try (bounded: see the engine's settle)
    examples: dict[str, str] = field(default_factory=dict)  # one detail per reject reason
