"""Lineage: what each operator tells Airflow's hook lineage collector, and its OpenLineage facets.

Airflow hands out a collector that records only when a lineage reader is installed (the
openlineage provider, configured): these tests install a real ``HookLineageCollector`` the
way such a reader would, run the operators against the fake API, and read what was collected.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_human.operators.account import HumanAccountInfoOperator
from airflow_provider_human.operators.feedback import HumanUploadFeedbackOperator
from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator
from tests.conftest import TOKEN
from tests.reconciliation.conftest import CaseDB, outcome
from tests.reconciliation.test_engine import seed_states

WINDOW = {"interval_start": "2026-11-18T00:00:00Z", "interval_end": "2026-11-19T00:00:00Z"}


@pytest.fixture
def collector(monkeypatch):
    from airflow.sdk import lineage

    real = lineage.HookLineageCollector()
    monkeypatch.setattr(lineage, "get_hook_lineage_collector", lambda: real)
    return real


@pytest.fixture
def case_db(tmp_path) -> CaseDB:
    return CaseDB(tmp_path / "cases.sqlite")


def _collected(collector) -> tuple[list[str], list[str]]:
    """Inputs and outputs; the report files, which Airflow's ObjectStoragePath records itself, left out."""
    got = collector.collected_assets
    reports = (".json", ".md")
    return [i.asset.uri for i in got.inputs], [o.asset.uri for o in got.outputs if not o.asset.uri.endswith(reports)]


def _ol(operator) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    lineage = operator.get_openlineage_facets_on_complete(None)
    return [(d.namespace, d.name) for d in lineage.inputs], [(d.namespace, d.name) for d in lineage.outputs]


def test_reconciliation_reads_the_case_table_and_lookups_and_writes_feedback(
    human_conn, fake_api, case_db, collector, monkeypatch, tmp_path
):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps({"conn_type": "sqlite", "host": case_db.path}))
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, pending=["a1"])
    op = HumanCaseReconciliationOperator(task_id="r", reports_dir=str(tmp_path), **WINDOW)
    op.execute({})
    host = fake_api.url.split("://", 1)[1]
    table = f"sqlite://localhost{case_db.path}/case_outcomes"
    assert _collected(collector) == ([table, f"human://{host}/accounts"], [f"human://{host}/feedback"])
    assert _ol(op) == ([("sqlite://localhost", f"{case_db.path.lstrip('/')}/case_outcomes"),
                        (f"human://{host}", "accounts")], [(f"human://{host}", "feedback")])  # fmt: skip
    assert TOKEN not in repr(collector.collected_assets)


def test_a_dry_run_writes_nothing_at_human(human_conn, fake_api, case_db, collector, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps({"conn_type": "sqlite", "host": case_db.path}))
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, pending=["a1"])
    op = HumanCaseReconciliationOperator(task_id="r", reports_dir=str(tmp_path), dry_run=True, **WINDOW)
    op.execute({})
    inputs, outputs = _collected(collector)
    assert len(inputs) == 2 and outputs == [] and _ol(op)[1] == []


def test_reconciliation_of_a_csv_file_reads_the_file(human_conn, fake_api, collector, tmp_path, monkeypatch):
    export = tmp_path / "cases.csv"
    export.write_text("case_id,account_id,attack_type,verdict,closed_at,comment\nc1,a1,ato,legitimate,"
                      "2026-11-18T10:00:00Z,\n")  # fmt: skip
    seed_states(fake_api, none=["a1"])
    ledger = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_LEDGER_T", json.dumps({"conn_type": "sqlite", "host": str(ledger)}))
    op = HumanCaseReconciliationOperator(task_id="r", source_path=str(export), ledger_conn_id="human_ledger_t",
                                         reports_dir=str(tmp_path / "r"), **WINDOW)  # fmt: skip
    op.execute({})
    host = fake_api.url.split("://", 1)[1]
    # legitimate with no incident: nothing to send, so no feedback written
    assert _collected(collector) == ([f"file://{export}", f"human://{host}/accounts"], [])
    assert _ol(op)[0][0] == ("file://", str(export))


def test_lookup_to_a_file_reads_accounts_and_writes_the_file(human_conn, fake_api, collector, tmp_path):
    target = tmp_path / "out.jsonl"
    op = HumanAccountInfoOperator(task_id="t", account_ids=["a1"], output_path=str(target))
    op.execute({})
    host = fake_api.url.split("://", 1)[1]
    assert _collected(collector) == ([f"human://{host}/accounts"], [f"file://{target}"])
    assert _ol(op) == ([(f"human://{host}", "accounts")], [("file://", str(target))])


def test_feedback_writes_update_status_but_not_in_a_dry_run(human_conn, fake_api, collector):
    kwargs = {"account_ids": ["a1"], "attack_type": "ato", "status": "resolved", "result": "no_attack"}
    HumanUploadFeedbackOperator(task_id="d", dry_run=True, **kwargs).execute({})
    assert _collected(collector) == ([], [])
    op = HumanUploadFeedbackOperator(task_id="f", **kwargs)
    op.execute({})
    host = fake_api.url.split("://", 1)[1]
    assert _collected(collector) == ([], [f"human://{host}/feedback"]) and len(fake_api.requests("feedback")) == 1
    assert _ol(op) == ([], [(f"human://{host}", "feedback")])


def test_the_hooks_own_methods_tell_the_collector(human_conn, fake_api, collector):
    from airflow_provider_human.hooks.human import HumanHook

    hook = HumanHook()
    list(hook.iter_account_info(["a1"]))
    host = fake_api.url.split("://", 1)[1]
    assert _collected(collector)[0] == [f"human://{host}/accounts"]
    assert hook.touched.inputs == [f"human://{host}/accounts"]
