"""Fixtures for the reconciliation engine: a SQLite case database, a ledger, a reconciler factory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.policy import DecisionPolicy
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource

DAY = datetime(2026, 11, 18, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 19, tzinfo=UTC)

CREATE_OUTCOMES = """
CREATE TABLE case_outcomes (
    case_id TEXT, account_id TEXT, attack_type TEXT, verdict TEXT, closed_at TEXT, comment TEXT
)
"""


class CaseDB:
    def __init__(self, path) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.engine = sa.create_engine(self.url, connect_args={"timeout": 120})
        with self.engine.begin() as conn:
            conn.exec_driver_sql(CREATE_OUTCOMES)

    def add(self, *rows: tuple) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO case_outcomes VALUES (?, ?, ?, ?, ?, ?)", [tuple(r) for r in rows])

    def ledger_rows(self, where: str = "1=1") -> list[dict]:
        with self.engine.connect() as conn:
            query = f"SELECT * FROM human_feedback_ledger WHERE {where} ORDER BY id"  # noqa: S608 - test helper
            return [dict(r._mapping) for r in conn.exec_driver_sql(query)]

    def rejects(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM human_feedback_rejects")]


def outcome(case_id, account_id, verdict, closed_at="2026-11-18T10:00:00Z", attack_type="ato", comment=None):
    return (case_id, account_id, attack_type, verdict, closed_at, comment)


@pytest.fixture
def case_db(tmp_path) -> CaseDB:
    return CaseDB(tmp_path / "cases.sqlite")


#: Test timings: verify in-doubt uploads at once, wait briefly for other runs, short leases.
FAST = {"verify_after_seconds": 0.0, "wait_for_others_seconds": 3.0, "poll_seconds": 0.05}


@pytest.fixture
def reconcile(case_db, make_client):
    """Run one reconciliation of [DAY, NEXT_DAY) (or another interval); returns (report, result).

    The run's error is raised unless ``check=False`` (then it is on ``result.error``).
    """

    def run(start=DAY, end=NEXT_DAY, owner="test/run-1/reconcile/-1", client=None, policy=None, check=True,
            lease_seconds=30.0, **settings):  # fmt: skip
        reconciler = Reconciler(
            client or make_client(),
            SqlOutcomeSource(engine=case_db.engine),
            Ledger(case_db.engine, lease_seconds=lease_seconds),
            policy=DecisionPolicy(policy),
            settings=ReconcileSettings(**{**FAST, **settings}),
        )
        result = reconciler.run(start, end, owner)
        if check:
            result.raise_for_outcome()
        return result.report, result

    return run


@pytest.fixture
def settings_default():
    return ReconcileSettings()
