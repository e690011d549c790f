"""The review DAG's open request (a HITL task nobody answered yet), read from Airflow's own database.

The page links a day's items to it; the api-server's session is the one the REST API uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class OpenReview:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int


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
