"""The example DAGs run in-process as Airflow runs them (``dag.test``: the Task SDK's task runner,
the execution API, the metadata database), then are read back the way the UI reads them: asset
events, the task instances' names, and the extra links through the REST API.

Judged by effects: what the asset events hold, what the API answers for each link, the files
the links name. Each test uses its own logical date, so no run is shared between them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import select

from tests.conftest import TOKEN
from tests.reconciliation.conftest import CaseDB, outcome
from tests.reconciliation.test_engine import seed_states

DAGS = Path(__file__).resolve().parent.parent / "dags"
CONSOLE = "https://portal.example.test/account-defender"
AIRFLOW_URL = "http://airflow.example.test:8080"


@pytest.fixture
def stack(airflow_db, human_conn, fake_api, tmp_path, monkeypatch):
    """Connections, a case database, reports under tmp_path, the pool, and Airflow's base_url."""
    human_conn(console_url=CONSOLE)
    db = CaseDB(tmp_path / "cases.sqlite")
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps({"conn_type": "sqlite", "host": db.path}))
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", AIRFLOW_URL)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    subprocess.run([sys.executable, "-m", "airflow", "pools", "set", "human_api", "4", "HUMAN"],
                   check=True, capture_output=True)  # fmt: skip
    return db


def _dag(dag_id: str):
    """The example DAG as ``airflow dags test`` loads it (which ``dag.test`` is): without its deadline,
    which Airflow 3.3.2 cannot test (apache/airflow#73428; notifications/deadline.py)."""
    from airflow.dag_processing.dagbag import DagBag

    argv, sys.argv = sys.argv, ["airflow", "dags", "test", dag_id]
    try:
        bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    finally:
        sys.argv = argv
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def _tis(run_id: str, task_id: str) -> list:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id,
                                                         TaskInstance.task_id == task_id)).all()  # fmt: skip
        return sorted(((ti.map_index, ti.state, ti.rendered_map_index) for ti in tis), key=lambda t: t[0])


def _events(run_id: str) -> list[tuple[str, dict, int, list[str]]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run_id)).all()
        return sorted(((e.asset.uri, dict(e.extra or {}), e.source_map_index, sorted(a.name for a in e.source_aliases))
                       for e in events), key=lambda e: (e[0], e[2]))  # fmt: skip


def _report_page(run_id: str, map_index: int) -> str:
    from urllib.parse import quote

    return (f"{AIRFLOW_URL}/human/report/human_case_reconciliation/{quote(run_id, safe='')}/reconcile_case_outcomes"
            f"?map_index={map_index}")  # fmt: skip


def _recorded_report(run_id: str, map_index: int) -> str:
    """Where the shard's try said it wrote its report (the XCom the report link and the page read)."""
    from airflow.utils.session import create_session

    from airflow_provider_human.ui.reports import recorded_report

    with create_session() as session:
        return recorded_report(session, "human_case_reconciliation", run_id, "reconcile_case_outcomes", map_index)


def _links(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    response = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links",
                          params={"map_index": map_index})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["extra_links"]


def test_a_sharded_day_emits_one_feedback_event_per_shard_names_its_shards_and_links_its_pages(stack, fake_api):
    stack.add(outcome("c1", "a1", "confirmed_fraud", "2026-11-20T10:00:00Z"),
              outcome("c2", "a2", "legitimate", "2026-11-20T12:00:00Z"),
              outcome("c3", "a3", "suspected_fraud", "2026-11-20T13:00:00Z"))  # fmt: skip
    seed_states(fake_api, pending=["a1", "a2"], none=["a3"])
    # A manual run covers the day before its date: the cases closed on 2026-11-20.
    run = _dag("human_case_reconciliation").test(logical_date=pendulum.datetime(2026, 11, 21, tz="UTC"),
                                                 run_conf={"shards": 2})  # fmt: skip
    assert run.state == "success"

    # the shards' names say the day and the shard (map_index_template), without a log
    assert _tis(run.run_id, "reconcile_case_outcomes") == [
        (0, "success", "cases closed 2026-11-20 · shard 0/2"),
        (1, "success", "cases closed 2026-11-20 · shard 1/2"),
    ]

    # one event per shard, on the fake API's host, through the connection's alias
    events = _events(run.run_id)
    host = fake_api.url.split("://", 1)[1]
    assert [(uri, index, aliases) for uri, _, index, aliases in events] == [
        (f"human://{host}/feedback", 0, ["human_feedback__human_default"]),
        (f"human://{host}/feedback", 1, ["human_feedback__human_default"]),
    ]
    extras = [extra for _, extra, _, _ in events]
    assert {e["day"] for e in extras} == {"2026-11-20"} and {e["dry_run"] for e in extras} == {False}
    assert [e["shard"] for e in extras] == ["0/2", "1/2"]
    sent: dict[str, int] = {}
    for e in extras:
        for result, n in e["sent_by_result"].items():
            sent[result] = sent.get(result, 0) + n
    assert sent == {"resolved": 1, "no_attack": 1, "manually_identified": 1}  # what the fake API applied, below
    assert sum(e["requests"] for e in extras) == len(fake_api.requests("feedback")) == 3
    # the day's truth in the ledger when each shard ended (dag.test runs them one after the other, in no set
    # order): the shard that ended last saw the whole day
    day = [e["day_sent_by_result"] for e in extras]
    assert {"manually_identified": 1, "no_attack": 1, "resolved": 1} in day
    assert {e["waiting_for_a_person"] for e in extras} == {0}
    assert TOKEN not in json.dumps(events)

    # the links, as the UI gets them from the API
    for index in (0, 1):
        links = _links("human_case_reconciliation", run.run_id, "reconcile_case_outcomes", index)
        assert links["HUMAN console"] == CONSOLE
        assert links["HUMAN day page"] == f"{AIRFLOW_URL}/human/ledger/human_case_db/days/2026-11-20"
        assert links["HUMAN report"] == _report_page(run.run_id, index)  # the page serves it: the UI draws no file://
        written = _recorded_report(run.run_id, index)
        assert written.endswith(f"_reconcile_case_outcomes_{index}__try1.md")
        assert "DRY RUN" not in Path(written.removeprefix("file://")).read_text()
        assert written == "file://" + extras[index]["report"]
        assert TOKEN not in json.dumps(links)
    day_done = _links("human_case_reconciliation", run.run_id, "day_done")
    assert day_done == {"HUMAN day page": f"{AIRFLOW_URL}/human/ledger/human_case_db/days/2026-11-20"}


def test_a_dry_run_emits_no_feedback_event_and_its_shards_say_dry_run(stack, fake_api):
    stack.add(outcome("c1", "a1", "confirmed_fraud", "2026-11-22T10:00:00Z"))
    seed_states(fake_api, pending=["a1"])
    run = _dag("human_case_reconciliation").test(logical_date=pendulum.datetime(2026, 11, 23, tz="UTC"),
                                                 run_conf={"shards": 2, "dry_run": True})  # fmt: skip
    assert run.state == "success"
    assert fake_api.requests("feedback") == []
    assert _events(run.run_id) == []  # a plan told HUMAN nothing: nothing downstream runs on it
    assert [name for _, _, name in _tis(run.run_id, "reconcile_case_outcomes")] == [
        "cases closed 2026-11-22 · shard 0/2 · DRY RUN",
        "cases closed 2026-11-22 · shard 1/2 · DRY RUN",
    ]
    assert _links("human_case_reconciliation", run.run_id, "reconcile_case_outcomes", 0)["HUMAN report"] == (
        _report_page(run.run_id, 0)
    )
    assert "DRY RUN" in Path(_recorded_report(run.run_id, 0).removeprefix("file://")).read_text()


def test_the_after_feedback_dag_is_queued_by_the_event_and_logs_its_metadata(stack, fake_api, caplog):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    consumer = _dag("human_after_feedback")
    consumer.test(logical_date=pendulum.datetime(2026, 11, 24, tz="UTC"))  # serialized, and runs with no event
    with create_session() as session:
        session.get(DagModel, "human_after_feedback").is_paused = False
        session.query(AssetDagRunQueue).delete()
    stack.add(outcome("c1", "a1", "legitimate", "2026-11-24T10:00:00Z"))
    seed_states(fake_api, pending=["a1"])
    run = _dag("human_case_reconciliation").test(logical_date=pendulum.datetime(2026, 11, 25, tz="UTC"))
    assert run.state == "success"
    with create_session() as session:
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id)).all()
        [event] = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)).all()
        asset, extra = event.asset.uri, dict(event.extra)
    assert queued == ["human_after_feedback"]  # the scheduler would start it now
    # what its task does with the events Airflow hands it
    caplog.set_level("INFO")

    from types import SimpleNamespace

    # the shape of a triggering event in the task's context; Airflow lists it under the asset and the alias
    event = SimpleNamespace(extra=extra, asset=SimpleNamespace(uri=asset), source_dag_id="human_case_reconciliation",
                            source_run_id=run.run_id, source_task_id="reconcile_case_outcomes", source_map_index=0,
                            timestamp="2026-11-25T00:00:01+00:00")  # fmt: skip
    told = consumer.get_task("log_feedback").python_callable(
        triggering_asset_events={asset: [event], "human_feedback__human_default": [event]}
    )
    assert told == [extra] and extra["sent_by_result"] == {"no_attack": 1} and extra["requests"] == 1
    assert (
        f"{asset}: day 2026-11-24, shard None: 1 requests, sent by result {{'no_attack': 1}}, 0 waiting" in caplog.text
    )


def test_a_lookup_to_a_file_emits_the_file_as_an_asset_and_links_the_console(stack, fake_api, tmp_path):
    fake_api.seed_accounts([{"account_id": "acct-1", "incidents": [{"attack_type": "ato"}]}])
    out = tmp_path / "lookups"
    run = _dag("human_account_lookup").test(
        logical_date=pendulum.datetime(2026, 11, 26, tz="UTC"),
        run_conf={"account_ids": ["acct-1", "acct-2"], "output_path": str(out)},
    )
    assert run.state == "success"
    [(uri, extra, _, aliases)] = _events(run.run_id)
    [written] = list(out.iterdir())
    assert uri == f"file://{written}" and aliases == ["human_lookup_files__human_default"]
    assert extra == {"total": 2, "found": 1, "unknown": 1, "under_attack": 1, "failed": 0}
    assert _links("human_account_lookup", run.run_id, "look_up_accounts") == {"HUMAN console": CONSOLE}


def test_the_review_links_the_overview_and_the_console_when_nothing_waits(stack):
    run = _dag("human_case_review").test(logical_date=pendulum.datetime(2026, 11, 27, tz="UTC"))
    assert run.state == "success"
    links = _links("human_case_review", run.run_id, "review")
    assert links == {"HUMAN console": CONSOLE, "HUMAN day page": f"{AIRFLOW_URL}/human/", "HUMAN report": None}
