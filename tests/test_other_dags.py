"""human_identity_sync and human_account_lookup under `airflow dags test` against the fake API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import TOKEN


def _env(fake_api, db_path):
    env = os.environ.copy()
    env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": fake_api.url, "password": TOKEN})
    env["AIRFLOW_CONN_HUMAN_CASE_DB"] = json.dumps({"conn_type": "sqlite", "host": str(db_path)})
    subprocess.run([sys.executable, "-m", "airflow", "pools", "set", "human_api", "2", "HUMAN"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    return env


def _identity_db(tmp_path, rows):
    db_path = tmp_path / "cases.sqlite"
    engine = sa.create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE identity_changes"
            " (identity_id TEXT, factor_name TEXT, email TEXT, metadata TEXT, changed_at TEXT)"
        )
        if rows:
            conn.exec_driver_sql("INSERT INTO identity_changes VALUES (?, ?, ?, ?, ?)", rows)
    engine.dispose()
    return db_path


def test_identity_sync_updates_changed_identities(airflow_db, fake_api, tmp_path):
    db_path = _identity_db(tmp_path, [
        ("i1", "email", "old@example.com", None, "2026-11-18 02:00:00"),
        ("i1", "email", "new@example.com", '{"tier": "gold"}', "2026-11-18 09:00:00"),
        ("i2", None, None, '{"tier": "silver"}', "2026-11-18 10:00:00"),
        ("i3", "email", "later@example.com", None, "2026-11-19 03:00:00"),
    ])  # fmt: skip
    fake_api.seed_identities([{"id": "i1"}, {"id": "i2"}, {"id": "i3"}])
    command = [sys.executable, "-m", "airflow", "dags", "test", "human_identity_sync", "2026-11-19T01:00:00+00:00"]
    run = subprocess.run(command, env=_env(fake_api, db_path), capture_output=True, text=True)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    puts = {e["id"]: e["body"] for e in fake_api.requests("identity")}
    assert puts == {
        "i1": {
            "factors": [{"name": "email", "type": "email", "value": "new@example.com"}],
            "metadata": {"tier": "gold"},
        },
        "i2": {"metadata": {"tier": "silver"}},
    }


def test_identity_sync_keeps_every_change_of_a_day_and_a_quiet_day_succeeds(airflow_db, fake_api, tmp_path):
    db_path = _identity_db(tmp_path, [
        ("i1", "email", "new@example.com", None, "2026-11-18 02:00:00"),  # an e-mail change...
        ("i1", None, None, '{"tier": "gold"}', "2026-11-18 09:00:00"),  # ...then a metadata change
    ])  # fmt: skip
    fake_api.seed_identities([{"id": "i1"}])
    command = [sys.executable, "-m", "airflow", "dags", "test", "human_identity_sync"]
    run = subprocess.run([*command, "2026-11-19T01:00:00+00:00"], env=_env(fake_api, db_path), capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    puts = {e["id"]: e["body"] for e in fake_api.requests("identity")}
    assert puts == {"i1": {"factors": [{"name": "email", "type": "email", "value": "new@example.com"}],
                           "metadata": {"tier": "gold"}}}  # fmt: skip
    xcoms = _xcom_values(airflow_db, "human_identity_sync")
    assert xcoms and not any("@example.com" in value for value in xcoms), xcoms  # the path and counts only
    staged = Path(airflow_db, "reports", "human", "identity-changes")
    assert staged.is_dir() and list(staged.iterdir()) == []  # written, then deleted once every update was applied
    fake_api.clear_log()
    quiet = subprocess.run([*command, "2026-11-21T01:00:00+00:00"], env=_env(fake_api, db_path), capture_output=True,
                           text=True)  # fmt: skip
    assert quiet.returncode == 0, (quiet.stdout + quiet.stderr)[-4000:]
    assert "0 identities to update" in quiet.stdout + quiet.stderr and fake_api.requests("identity") == []


def _xcom_values(home: str, dag_id: str) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{Path(home, 'airflow.db')}")
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT value FROM xcom WHERE dag_id = ?", (dag_id,)).fetchall()
    finally:
        engine.dispose()
    return [str(value) for (value,) in rows]


def test_account_lookup_dag_writes_jsonl_without_pii(airflow_db, fake_api, tmp_path):
    fake_api.seed_accounts([{"account_id": "a1", "email": "p@example.com", "incidents": [{"attack_type": "ato"}]}])
    conf = {"account_ids": ["a1", "a2"], "output_path": str(tmp_path / "out")}
    run = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "human_account_lookup", "--conf", json.dumps(conf)],
        env=_env(fake_api, tmp_path / "unused.sqlite"), capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    [output] = list((tmp_path / "out").glob("*.jsonl"))
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["account_id"] for r in lines) == ["a1", "a2"]
    assert "p@example.com" not in output.read_text()


def test_account_lookup_dag_passes_its_params_through(airflow_db, fake_api, tmp_path):
    fake_api.seed_accounts([{"account_id": "a1", "email": "p@example.com", "incidents": [{"attack_type": "ato"}]}])
    for n, (version, pii) in enumerate([(1, False), (2, True)]):
        conf = {"account_ids": ["a1"], "output_path": str(tmp_path / f"out{n}"), "api_version": version,
                "include_pii": pii}  # fmt: skip
        fake_api.clear_log()
        run = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", "human_account_lookup", "--conf", json.dumps(conf)],
            env=_env(fake_api, tmp_path / "unused.sqlite"), capture_output=True, text=True,
        )  # fmt: skip
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
        assert {e["kind"] for e in fake_api.requests()} == {f"v{version}"}  # api_version reached the operator
        [output] = list((tmp_path / f"out{n}").glob("*.jsonl"))
        assert ("p@example.com" in output.read_text()) is pii  # and so did include_pii


def test_account_lookup_default_output_path_is_a_real_path(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parent.parent / "dags" / "human_account_lookup.py")).dags[
        "human_account_lookup"
    ]
    default = dag.params["output_path"]
    assert "{{" not in default and default.startswith("/")
