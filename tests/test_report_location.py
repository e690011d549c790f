"""Where report files land (issue 13): $AIRFLOW_HOME by default, else a path or URL from the operator or config.

The operators run for real against the fake HUMAN API and a SQLite case database; only the
HITL request is stubbed (as in tests/reconciliation/test_review_step.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.sdk.io import attach
from airflow.sdk.io.store import _STORE_CACHE
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_human.operators import review as review_module
from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator
from airflow_provider_human.operators.review import HumanReconciliationReviewOperator
from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, NEXT_DAY, CaseDB, outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_review_step import FakeTI

DAY_3 = datetime(2026, 11, 20, tzinfo=UTC)
STEM = "2026-11-18T000000__d_r1_reconcile_-1"  # <interval start>__<dag/run/task/map index>


@pytest.fixture
def env(tmp_path, monkeypatch, human_conn):
    """A throwaway AIRFLOW_HOME, no reports config, the case database connection; cwd in tmp_path."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow-home"))
    monkeypatch.delenv("AIRFLOW__HUMAN__REPORTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    db = CaseDB(tmp_path / "cases.sqlite")
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", db.url)
    return db


@pytest.fixture
def memory(monkeypatch):
    """fsspec's in-memory filesystem attached for ``memory://`` (and with the connection ``reports_store``)."""
    fs = MemoryFileSystem()
    root = f"reports-{uuid.uuid4().hex[:8]}"
    for conn_id in (None, "reports_store"):
        alias = f"memory-{conn_id}" if conn_id else "memory"
        monkeypatch.delitem(_STORE_CACHE, alias, raising=False)
        attach("memory", conn_id=conn_id, fs=fs)
        monkeypatch.setitem(_STORE_CACHE, alias, _STORE_CACHE[alias])  # removed again after the test
    yield fs, root
    if fs.exists(f"/{root}"):
        fs.rm(f"/{root}", recursive=True)


def reconcile(try_number=1, day=DAY, **kwargs):
    ti = FakeTI()
    ti.task_id, ti.try_number = "reconcile", try_number
    op = HumanCaseReconciliationOperator(task_id="reconcile", interval_start=day.isoformat(),
                                         interval_end=(day + (NEXT_DAY - DAY)).isoformat(),
                                         verify_after_seconds=0.0, fail_on_review=False, **kwargs)  # fmt: skip
    return op.execute({"ti": ti})


def open_review(monkeypatch, **kwargs):
    """Run the review step until it would wait for a person; returns its HITL body."""
    monkeypatch.setattr(review_module.HITLOperator, "execute", lambda self, context: None)
    op = HumanReconciliationReviewOperator(task_id="review", interval_end=DAY_3.isoformat(), **kwargs)
    op.execute({"ti": FakeTI(), "data_interval_end": DAY_3})
    return op.body


def reversal(db, fake_api):
    """Day 1 sends feedback for a1; day 2 contradicts it: one item for the review step."""
    db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a1", "legitimate", closed_at="2026-11-19T10:00:00Z"))
    seed_states(fake_api, none=["a1"])


def local_report_files(tmp_path) -> list[Path]:
    return sorted(p for p in tmp_path.rglob("*") if p.suffix in (".json", ".md"))


def test_default_reports_go_under_airflow_home_as_before(env, fake_api, tmp_path, monkeypatch, capfd):
    reversal(env, fake_api)
    summary = reconcile(try_number=2)
    where = tmp_path / "airflow-home" / "reports" / "human"
    assert summary["report_paths"] == [str(where / f"{STEM}__try2.json"), str(where / f"{STEM}__try2.md")]
    assert json.loads((where / f"{STEM}__try2.json").read_text())["counts"]["accounts_sent"] == 1
    assert (where / f"{STEM}__try2.md").read_text().startswith("# HUMAN reconciliation report")
    assert f"Reports written: {where / STEM}__try2.json" in capfd.readouterr().out
    reconcile(day=NEXT_DAY)
    body = open_review(monkeypatch)
    listing = where / "2026-11-19__review__r1__try1.json"
    assert f"Full list: `{listing}`" in body
    assert [i["kind"] for i in json.loads(listing.read_text())] == ["reversal"]
    assert all(TOKEN not in p.read_text() for p in local_report_files(tmp_path))


def test_default_expands_a_tilde_in_airflow_home_as_airflow_does(env, fake_api, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("AIRFLOW_HOME", "~/airflow")
    env.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    summary = reconcile()
    where = tmp_path / "user" / "airflow" / "reports" / "human"
    assert summary["report_paths"] == [str(where / f"{STEM}__try1.json"), str(where / f"{STEM}__try1.md")]
    assert local_report_files(tmp_path) == [where / f"{STEM}__try1.json", where / f"{STEM}__try1.md"]


def test_file_url_from_the_operator_wins_then_the_config_applies(env, fake_api, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", f"file://{tmp_path}/from-config")
    env.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    summary = reconcile(reports_dir=f"file://{tmp_path}/from-operator/")
    assert summary["report_paths"] == [f"file://{tmp_path}/from-operator/{STEM}__try1.{s}" for s in ("json", "md")]
    summary = reconcile(try_number=2)
    assert summary["report_paths"] == [f"file://{tmp_path}/from-config/{STEM}__try2.{s}" for s in ("json", "md")]
    assert local_report_files(tmp_path) == [
        tmp_path / "from-config" / f"{STEM}__try2.json", tmp_path / "from-config" / f"{STEM}__try2.md",
        tmp_path / "from-operator" / f"{STEM}__try1.json", tmp_path / "from-operator" / f"{STEM}__try1.md",
    ]  # fmt: skip
    assert json.loads((tmp_path / "from-config" / f"{STEM}__try2.json").read_text())["counts"]["decided"] == 0


def test_object_storage_from_the_config_gets_every_file_and_nothing_is_written_locally(
    env, fake_api, tmp_path, monkeypatch, memory, capfd
):
    fs, root = memory
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", f"memory://{root}/human")
    reversal(env, fake_api)
    summary = reconcile()
    assert summary["report_paths"] == [f"memory://{root}/human/{STEM}__try1.{s}" for s in ("json", "md")]
    assert f"Reports written: memory://{root}/human/{STEM}__try1.json" in capfd.readouterr().out
    reconcile(day=NEXT_DAY)
    body = open_review(monkeypatch)
    listing = f"{root}/human/2026-11-19__review__r1__try1.json"
    assert f"Full list: `memory://{listing}`" in body
    assert sorted(fs.find(f"/{root}")) == sorted([
        f"/{root}/human/{STEM}__try1.json", f"/{root}/human/{STEM}__try1.md",
        f"/{root}/human/2026-11-19T000000__d_r1_reconcile_-1__try1.json",
        f"/{root}/human/2026-11-19T000000__d_r1_reconcile_-1__try1.md", f"/{listing}",
    ])  # fmt: skip
    assert json.loads(fs.cat(f"/{root}/human/{STEM}__try1.json"))["counts"]["accounts_sent"] == 1
    assert fs.cat(f"/{root}/human/{STEM}__try1.md").decode().startswith("# HUMAN reconciliation report")
    assert [i["case_id"] for i in json.loads(fs.cat(f"/{listing}"))] == ["c2"]
    assert all(TOKEN.encode() not in fs.cat(p) for p in fs.find(f"/{root}"))
    assert local_report_files(tmp_path) == [] and not (tmp_path / "airflow-home" / "reports").exists()


def test_a_connection_in_the_configured_url_reaches_object_storage(env, fake_api, tmp_path, monkeypatch, memory):
    fs, root = memory  # memory://reports_store@... is attached to the connection only, as s3://aws_default@...
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", f"memory://reports_store@{root}")
    env.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    summary = reconcile()
    assert summary["report_paths"] == [f"memory://reports_store@{root}/{STEM}__try1.{s}" for s in ("json", "md")]
    assert sorted(fs.find(f"/{root}")) == [f"/{root}/{STEM}__try1.json", f"/{root}/{STEM}__try1.md"]
    assert local_report_files(tmp_path) == []


def test_a_location_with_a_password_is_refused_before_any_request(env, fake_api, monkeypatch):
    reversal(env, fake_api)
    secret = f"s3://key:{TOKEN}@bucket/reports"
    with pytest.raises(ValueError, match="password") as refused:
        reconcile(reports_dir=secret)
    assert TOKEN not in str(refused.value) and fake_api.requests() == []
    reconcile()
    reconcile(day=NEXT_DAY)
    sent = len(fake_api.requests())
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", secret)
    with pytest.raises(ValueError, match="password") as refused:
        open_review(monkeypatch)
    assert TOKEN not in str(refused.value) and len(fake_api.requests()) == sent


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_location_means_the_default_not_the_filesystem_root(monkeypatch, tmp_path, blank):
    from airflow_provider_human.reports_location import default_reports_dir, reports_base

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__HUMAN__REPORTS_DIR", blank)
    assert reports_base(blank) == default_reports_dir() == str(tmp_path / "reports" / "human")


LONG_RUN_ID = "manual__2026-11-18T00:00:00+00:00__" + "backfill-of-the-fraud-desk-export-" * 7  # 273 characters


def shard(index, try_number=1):
    ti = FakeTI()
    ti.task_id, ti.run_id, ti.map_index, ti.try_number = "reconcile", LONG_RUN_ID, index, try_number
    op = HumanCaseReconciliationOperator(task_id="reconcile", interval_start=DAY.isoformat(),
                                         interval_end=NEXT_DAY.isoformat(), shard_count=4, shard_index=index,
                                         verify_after_seconds=0.0, fail_on_review=False)  # fmt: skip
    return op.execute({"ti": ti})


def test_item12_four_shards_of_a_run_with_a_long_run_id_write_four_report_pairs(env, fake_api, tmp_path):
    """Before: the name was cut at 150 characters, dropping the map index and try: 4 shards, 2 files."""
    assert len(LONG_RUN_ID) > 250
    env.add(*(outcome(f"c{i}", f"a{i}", "confirmed_fraud") for i in range(8)))
    seed_states(fake_api, none=[f"a{i}" for i in range(8)])
    paths = [p for i in range(4) for p in shard(i)["report_paths"]] + shard(0, try_number=2)["report_paths"]
    files = local_report_files(tmp_path)
    assert len(set(paths)) == 10 and sorted(map(Path, paths)) == files
    assert all(len(p.name.encode()) < 255 for p in files)
    assert {p.name.split("__try")[0].rsplit("_", 1)[1] for p in files} == {"0", "1", "2", "3"}  # the map index
    assert sum(json.loads(p.read_text())["counts"]["accounts_sent"] for p in files if "__try1.json" in p.name) == 8


def test_item12_review_listings_of_a_long_run_id_keep_the_map_index_and_the_try(env, fake_api, tmp_path, monkeypatch):
    reversal(env, fake_api)
    reconcile()
    reconcile(day=NEXT_DAY)
    monkeypatch.setattr(review_module.HITLOperator, "execute", lambda self, context: None)
    listings = set()
    for index, try_number in ((0, 1), (1, 1), (2, 1), (3, 1), (0, 2)):
        ti = FakeTI()
        ti.run_id, ti.map_index, ti.try_number = LONG_RUN_ID, index, try_number
        op = HumanReconciliationReviewOperator(task_id="review", interval_end=DAY_3.isoformat())
        op.execute({"ti": ti, "data_interval_end": DAY_3})
        listings.add(Path(op.body.split("Full list: `")[1].split("`")[0]))
    assert len(listings) == 5 and all(p.exists() and len(p.name.encode()) < 255 for p in listings)
    assert all(f"__m{i}__try" in " ".join(p.name for p in listings) for i in range(4))
