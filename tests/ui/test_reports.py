"""The report link opens the task's report through the HUMAN page, and only a report file under the
api-server's reports directory, for users who may read that DAG (the UI draws no ``file://`` link)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.ui.conftest import READER

DAG = "human_case_reconciliation"
RUN = "scheduled__2026-11-20T00:00:00+00:00"


@pytest.fixture
def reports_dir(tmp_path, monkeypatch):
    base = tmp_path / "reports"
    (base / DAG).mkdir(parents=True)
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", str(base))
    return base


def _recorded(task_id: str, location: str, dag_id: str = DAG) -> None:
    """A task instance of the day's run (``day_runs``) that recorded ``location`` as its report."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run_pk = session.scalar(sa.select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == RUN))
        session.execute(sa.delete(XComModel.__table__).where(XComModel.task_id == task_id))
        session.execute(sa.delete(TaskInstance.__table__).where(TaskInstance.task_id == task_id))
        session.execute(sa.insert(TaskInstance.__table__).values(
            id=uuid.uuid4(), dag_id=dag_id, task_id=task_id, run_id=RUN, map_index=0, state="success",
            pool="default_pool"))  # fmt: skip
        session.execute(sa.insert(XComModel.__table__).values(
            dag_run_id=run_pk, dag_id=dag_id, task_id=task_id, run_id=RUN, map_index=0, key="human_links",
            value=json.dumps({"report": location}), timestamp=datetime.now(UTC)))  # fmt: skip


def _url(task_id: str, dag_id: str = DAG) -> str:
    return f"/human/report/{dag_id}/{quote(RUN, safe='')}/{task_id}?map_index=0"


def test_the_link_opens_the_report_under_the_reports_directory(client_as, reports_dir):
    written = reports_dir / DAG / "shard0__try1.md"
    written.write_text("# HUMAN reconciliation report\n\n| day | 2026-11-20 |\n", encoding="utf-8")
    _recorded("r_ok", f"file://{written}")
    answer = client_as(READER).get(_url("r_ok"))
    assert answer.status_code == 200 and answer.text.startswith("# HUMAN reconciliation report")
    assert answer.headers["content-type"].startswith("text/plain")


def test_a_recorded_location_outside_the_reports_directory_is_never_read(client_as, reports_dir, tmp_path):
    secret = tmp_path / "elsewhere.md"
    secret.write_text("not a report of ours", encoding="utf-8")
    for task_id, location in [("r_out", f"file://{secret}"), ("r_up", f"file://{reports_dir}/{DAG}/../../elsewhere.md"),
                              ("r_kind", f"file://{reports_dir}/{DAG}/x.py")]:  # fmt: skip
        _recorded(task_id, location)
        answer = client_as(READER).get(_url(task_id))
        assert answer.status_code == 404, (task_id, answer.text)
        assert "not a report of ours" not in answer.text


def test_a_report_left_on_a_workers_disk_says_how_to_read_it_here(client_as, reports_dir):
    _recorded("r_gone", f"file://{reports_dir}/{DAG}/on_another_machine.md")
    answer = client_as(READER).get(_url("r_gone"))
    assert answer.status_code == 404 and "[human] reports_dir to object storage" in answer.json()["detail"]


def test_anonymous_and_other_dags_readers_get_no_report(client_as, reports_dir):
    written = reports_dir / DAG / "shard0__try1.md"
    written.write_text("# HUMAN reconciliation report\n", encoding="utf-8")
    _recorded("r_auth", f"file://{written}")
    assert client_as(None).get(_url("r_auth")).status_code == 401
    assert client_as("reads:another_dag").get(_url("r_auth")).status_code == 403
