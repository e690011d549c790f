"""open_review_url: the Required Actions page of the review open for a day, read from Airflow's tables.

Airflow's own task_instance and xcom tables (their ORM definitions) on a throwaway SQLite; the
real api-server round trip (the browser opens the URL and answers there) is tests/e2e/test_3_review.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from sqlalchemy.orm import Session

from airflow_provider_human.ui_links_review import REVIEW_OPEN_KEY, open_review_url, required_actions_url

BASE = "http://airflow.example:8080/"


@pytest.fixture
def session(tmp_path):
    from airflow.models import import_all_models

    import_all_models()  # the tables these two refer to (SQLite does not enforce the keys)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    TaskInstance.metadata.create_all(engine, tables=[TaskInstance.__table__, XComModel.__table__])
    with Session(engine) as s:
        yield s


def opened(session, run_id, state, days, *, conn="human_case_db", table="human_feedback_ledger", map_index=-1,
           at=None, dag_id="human_case_review"):  # fmt: skip
    session.execute(sa.insert(TaskInstance.__table__).values(
        id=uuid.uuid4(), dag_id=dag_id, task_id="review", run_id=run_id, map_index=map_index,
        state=state, pool="default_pool"))  # fmt: skip
    value = {"ledger_conn_id": conn, "ledger_table": table, "days": days, "not_listed": 0}
    session.execute(sa.insert(XComModel.__table__).values(
        dag_run_id=abs(hash(run_id)) % 10_000, dag_id=dag_id, task_id="review", run_id=run_id, map_index=map_index,
        key=REVIEW_OPEN_KEY, value=json.dumps(value), timestamp=at or datetime.now(UTC)))  # fmt: skip
    session.commit()


def test_the_open_review_listing_the_day_is_linked_and_others_are_not(session):
    now = datetime.now(UTC)
    opened(session, "asset_triggered__1", "success", ["2026-11-18"], at=now)  # newest, but answered
    opened(session, "scheduled__2", "awaiting_input", ["2026-11-18", "2026-11-19"], at=now - timedelta(hours=1))
    opened(session, "other_ledger", "awaiting_input", ["2026-11-20"], conn="another_db")
    url = open_review_url("human_case_db", "2026-11-19", base_url=BASE, session=session)
    assert (
        url == f"{BASE.rstrip('/')}/dags/human_case_review/runs/scheduled__2/tasks/review/required_actions?map_index=-1"
    )
    assert open_review_url("human_case_db", "2026-11-18", base_url=BASE, session=session) == url  # not the answered one
    assert open_review_url("human_case_db", "2026-11-20", base_url=BASE, session=session) is None  # another ledger's
    assert open_review_url("human_case_db", "2026-11-21", base_url=BASE, session=session) is None  # none open


def test_the_latest_of_two_open_reviews_of_a_day_is_linked(session):
    now = datetime.now(UTC)
    opened(session, "day2", "awaiting_input", ["2026-11-18"], at=now - timedelta(minutes=5))
    opened(session, "day3", "deferred", ["2026-11-18", "2026-11-19"], at=now)  # before Airflow 3.3: deferred
    assert "/runs/day3/" in open_review_url("human_case_db", "2026-11-18", base_url=BASE, session=session)


def test_run_ids_are_quoted_in_the_path():
    url = required_actions_url(BASE, "human_case_review", "manual__2026-11-19T06:00:00+00:00", "review", 3)
    assert url == ("http://airflow.example:8080/dags/human_case_review/runs/manual__2026-11-19T06%3A00%3A00%2B00%3A00"
                   "/tasks/review/required_actions?map_index=3")  # fmt: skip
