"""The Required Actions page of the review request open for a day, for pages that link to it.

The review operator records, with each request it opens, which ledger and which days its items
belong to (XCom ``review_open``); a request that waits for a person is a task instance in
``awaiting_input`` (``deferred`` before Airflow 3.3) with that XCom. The HUMAN UI day view links
its review items to the page this returns; ``None`` when no request for that day is open.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

#: XCom the review operator pushes when it opens a request (ledger, table, days of its items).
REVIEW_OPEN_KEY = "review_open"


def required_actions_url(base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The task instance's *Required Actions* page, as the HITL operator's own link builds it."""
    path = "/".join(quote(p, safe="") for p in (dag_id, run_id, task_id))
    dag, run, task = path.split("/")
    return (f"{base_url.rstrip('/')}/dags/{dag}/runs/{run}/tasks/{task}/required_actions?"
            f"{urlencode({'map_index': map_index})}")  # fmt: skip


def open_review_url(
    ledger_conn_id: str,
    day: date | str,
    *,
    ledger_table: str = "human_feedback_ledger",
    base_url: str | None = None,
    session: Any = None,
) -> str | None:
    """The Required Actions URL of the open review request listing items of ``day``, or ``None``.

    Reads Airflow's metadata database (pass the api-server's ``session``, or one is opened);
    ``base_url`` defaults to ``[api] base_url``. When several requests list the day (day 2's and
    day 3's reviews both list day 1's item), the one opened last.
    """
    from airflow.configuration import conf

    wanted = day.isoformat() if isinstance(day, date) else str(day)[:10]
    base = base_url or conf.get("api", "base_url", fallback="") or ""
    if session is None:
        from airflow.utils.session import create_session

        with create_session() as own:
            found = _open_review(own, ledger_conn_id, ledger_table, wanted)
    else:
        found = _open_review(session, ledger_conn_id, ledger_table, wanted)
    return required_actions_url(base, *found) if found else None


def _open_review(session: Any, ledger_conn_id: str, ledger_table: str, day: str) -> tuple[str, str, str, int] | None:
    import sqlalchemy as sa
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.state import TaskInstanceState

    ti, x = TaskInstance, XComModel
    waiting = [TaskInstanceState.DEFERRED]
    if hasattr(TaskInstanceState, "AWAITING_INPUT"):
        waiting.append(TaskInstanceState.AWAITING_INPUT)
    query = (
        sa.select(x.value, ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        .join(ti, sa.and_(*(getattr(x, c) == getattr(ti, c) for c in ("dag_id", "run_id", "task_id", "map_index"))))
        .where(x.key == REVIEW_OPEN_KEY, ti.state.in_(waiting))
        .order_by(x.timestamp.desc())
    )
    for value, dag_id, run_id, task_id, map_index in session.execute(query):
        opened = XComModel.deserialize_value(_Row(value))
        if not isinstance(opened, dict):
            continue
        if (opened.get("ledger_conn_id"), opened.get("ledger_table")) != (ledger_conn_id, ledger_table):
            continue
        if day in (opened.get("days") or []):
            return dag_id, run_id, task_id, map_index
    return None


class _Row:
    """What ``XComModel.deserialize_value`` reads: an object with ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value
