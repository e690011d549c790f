"""What the page reads from Airflow's own database: a day's runs of the reconciliation DAG, the open review.

Through the api-server's session (the one its REST API uses): a run is found by its DAG and
data interval (indexed by DAG id), not by reading the ledger's rows, so a day of a million
outcomes lists its runs as fast as a day of ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class OpenReview:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int


@dataclass(frozen=True)
class DayRun:
    """A run of the reconciliation DAG whose data interval starts on the day."""

    dag_id: str
    run_id: str
    run_type: str
    state: str | None


def open_review(session: Session, dag_id: str) -> OpenReview | None:
    """The newest unanswered HITL request of ``dag_id``, if any."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance

    ti = TaskInstance
    query = (
        sa.select(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        .join(HITLDetail, HITLDetail.ti_id == ti.id)
        .where(ti.dag_id == dag_id, HITLDetail.responded_at.is_(None))
        .order_by(HITLDetail.created_at.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    return OpenReview(*row) if row else None


def day_runs(session: Session, dag_id: str, day: date) -> list[DayRun]:
    """``dag_id``'s runs whose data interval starts on ``day`` (UTC), oldest first: the runs that reconciled it."""
    from airflow.models.dagrun import DagRun

    start = datetime.combine(day, time(), tzinfo=UTC)
    query = (
        sa.select(DagRun.dag_id, DagRun.run_id, DagRun.run_type, DagRun.state)
        .where(DagRun.dag_id == dag_id, DagRun.data_interval_start >= start,
               DagRun.data_interval_start < start + timedelta(days=1))
        .order_by(DagRun.run_after, DagRun.id)
    )  # fmt: skip
    return [DayRun(d, r, str(t), None if s is None else str(s)) for d, r, t, s in session.execute(query)]
