"""Where a task's budget lives: the connection's rate_budget_conn_id, else the reconciliation's ledger, else the task."""

from __future__ import annotations

import json

import sqlalchemy as sa

from airflow_provider_human.budget.shares import SharedBudget, account_key
from airflow_provider_human.budget.sql import HOLDERS, STATE
from airflow_provider_human.client.rate_limit import RateLimiter
from airflow_provider_human.hooks.human import HumanHook
from airflow_provider_human.operators.account import HumanAccountInfoOperator
from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator
from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, NEXT_DAY, CaseDB, outcome

FALLBACK = "names no rate_budget_conn_id"


def fallback_lines(capfd) -> list[str]:
    """The task log's lines that say the task paces alone (Airflow's task logging writes to stdout)."""
    out, err = capfd.readouterr()
    return [line for line in (out + err).splitlines() if FALLBACK in line]


def test_without_a_budget_connection_a_plain_operator_paces_alone_and_says_so_once(human_conn, fake_api, capfd):
    op = HumanAccountInfoOperator(task_id="lookup", account_ids=["a1", "a2", "a3"])
    op.execute({})
    lines = fallback_lines(capfd)
    assert len(lines) == 1, lines
    assert "requests_per_second=1000 limits this task alone" in lines[0] and TOKEN not in lines[0]


def test_a_budget_connection_makes_every_task_share_it(human_conn, fake_api, tmp_path, monkeypatch, capfd):
    path = tmp_path / "budget.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_BUDGET", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    human_conn(rate_budget_conn_id="human_budget")
    first, second = HumanHook(), HumanHook()
    try:
        assert isinstance(first.client.transport.rate_limiter, SharedBudget)
        first.get_account_info_v2("a1")
        second.get_account_info_v2("a2")
        assert first.client.transport.rate_limiter.key == account_key(fake_api.url, TOKEN)
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            keys = [r[0] for r in conn.exec_driver_sql(f"SELECT budget_key FROM {HOLDERS}")]  # noqa: S608
        assert keys == [account_key(fake_api.url, TOKEN)] * 2 and TOKEN not in keys[0]
    finally:
        first.close()
        second.close()
    with engine.connect() as conn:  # both gave their share back on close
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {HOLDERS}").scalar() == 0  # noqa: S608
    assert fallback_lines(capfd) == []


def test_the_hook_outside_operators_keeps_its_own_limiter(human_conn, fake_api):
    hook = HumanHook()
    assert isinstance(hook.client.transport.rate_limiter, RateLimiter)
    hook.close()


def test_a_reconciliation_shares_the_budget_in_its_ledgers_database(human_conn, fake_api, tmp_path, monkeypatch,
                                                                     capfd):  # fmt: skip
    """A 429 met by the reconciliation lands in the ledger database's budget, where every holder reads it."""
    db = CaseDB(tmp_path / "cases.sqlite")
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", db.url)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    db.add(outcome("c1", "a1", "legitimate"), outcome("c2", "a2", "legitimate"), outcome("c3", "a3", "legitimate"))
    fake_api.configure(rate_limit_rps=2.0, rate_limit_burst=1.0, retry_after=1.0)
    op = HumanCaseReconciliationOperator(task_id="reconcile", interval_start=DAY.isoformat(),
                                         interval_end=NEXT_DAY.isoformat(), verify_after_seconds=0.0,
                                         fail_on_review=False)  # fmt: skip
    op.execute({})
    assert [e for e in fake_api.requests() if e.get("status") == 429]
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT budget_key, factor, pause_until FROM {STATE}").all()  # noqa: S608
    assert [r.budget_key for r in rows] == [account_key(fake_api.url, TOKEN)]
    assert rows[0].pause_until > 0  # the Retry-After, for every holder of the account
    assert fallback_lines(capfd) == []
