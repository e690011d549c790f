"""A ledger built by the real engine over three days, and the HUMAN page's app in Airflow's own api-server app.

The app is Airflow's ``create_app()`` with the provider's plugin discovered the way
``[core] lazy_discover_providers = False`` discovers it (the provider info's ``plugins``),
and a JWT signed by the configured auth manager, as Airflow's own API tests make them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise

import pytest
import sqlalchemy as sa

from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from tests.reconciliation.conftest import FAST, CaseDB, outcome

DAYS = [datetime(2026, 11, d, tzinfo=UTC) for d in (18, 19, 20, 21)]
OWNER = "human_case_reconciliation/scheduled__2026-11-{d}T00:00:00+00:00/reconcile/-1"
#: Personal data the fake HUMAN API holds and the case comments carry: no page may show any of it.
PII = ["jane.doe@example.com", "203.0.113.77", "Springfield", "Mozilla/5.0 (X11; PII-agent)", "fp-3b9e1c77"]
INCIDENT = {"attack_type": "ato", "risk_score": 0.8,
            "additional": {"email": PII[0], "ip": PII[1], "city": PII[2], "user_agent": PII[3],
                           "device_fingerprint": PII[4]}}  # fmt: skip


@pytest.fixture(scope="module")
def built_ledger(tmp_path_factory):
    """Days 18-20 of November by the real engine: sent results, nothing to send, a lookup that fails
    (waiting), a broken export row (rejected), a reversal (needs review) and a batch HUMAN refused (failed)."""
    from airflow_provider_human.client import ClientSettings, HumanClient
    from airflow_provider_human.testing.fake_api import FakeHumanAPI
    from tests.conftest import TOKEN

    db = CaseDB(tmp_path_factory.mktemp("ui-ledger") / "cases.sqlite")
    with FakeHumanAPI(token=TOKEN) as api:
        api.seed_accounts(
            [{"account_id": a, "email": PII[0], "incidents": [INCIDENT]} for a in ("a1", "a3", "a9")]
            + [{"account_id": a, "email": PII[0]} for a in ("a2", "a4", "a5", "a8")]
        )
        api.configure(lookup_status={"a7": 503})
        db.add(
            outcome("c1", "a1", "confirmed_fraud", comment=f"called {PII[0]} from {PII[1]}"),
            outcome("c2", "a2", "confirmed_fraud"),
            outcome("c3", "a3", "legitimate"),
            outcome("c4", "a4", "legitimate"),
            outcome("c5", "a5", "suspected_fraud"),
            outcome("c6", "a6", "confirmed_fraud"),  # unknown to HUMAN: nothing to send
            outcome("c7", "a7", "confirmed_fraud"),  # its lookup keeps failing: waits undecided
            outcome("c0", "a0", "maybe_fraud"),  # not a verdict: rejected
            outcome("c8", "a1", "legitimate", closed_at="2026-11-19T09:00:00Z"),  # reverses day 18: a person
            outcome("c9", "a8", "confirmed_fraud", closed_at="2026-11-19T10:00:00Z"),
            outcome("c10", "a9", "confirmed_fraud", closed_at="2026-11-20T10:00:00Z"),  # HUMAN refuses the batch
        )
        client = HumanClient(ClientSettings(token=TOKEN, base_url=api.url, requests_per_second=1000.0,
                                            backoff_initial=0.01, max_retries=0), sleep=lambda s: None)  # fmt: skip
        for start, end in pairwise(DAYS):
            if start.day == 20:
                api.configure(override_kinds=["feedback"], override_status=400,
                              override_body={"message": "refused"})  # fmt: skip
            reconciler = Reconciler(client, SqlOutcomeSource(engine=db.engine), Ledger(db.engine),
                                    settings=ReconcileSettings(**{**FAST, "max_reject_ratio": 0.5}))  # fmt: skip
            reconciler.run(start, end, OWNER.format(d=start.day))
        client.close()
    return db


def direct(db: CaseDB, sql: str, **params) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


@pytest.fixture(scope="module")
def ledger_env(built_ledger):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _ledger_env(built_ledger, monkeypatch)


def _ledger_env(built_ledger, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps({"conn_type": "sqlite", "host": built_ledger.path}))
    monkeypatch.setenv("AIRFLOW__HUMAN__UI_LEDGER_CONN_IDS", "human_case_db")
    return built_ledger


def _load_plugins_from_provider_info(monkeypatch):
    """Airflow's plugin discovery, from scratch, as with ``lazy_discover_providers = False``."""
    from airflow import plugins_manager, settings
    from airflow.providers_manager import ProvidersManager

    monkeypatch.setattr(settings, "LAZY_LOAD_PROVIDERS", False)
    for cached in (plugins_manager._get_plugins, plugins_manager.get_fastapi_plugins, plugins_manager._get_ui_plugins):
        cached.cache_clear()
    ProvidersManager()._plugins_set.clear()
    ProvidersManager()._initialized_cache.pop("plugins", None)


@pytest.fixture(scope="module")
def day_runs(airflow_db):
    """The reconciliation DAG's runs of days 18-20 in Airflow's database (as its scheduler would record them),
    and one of another DAG on day 18."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    runs = [("human_case_reconciliation", f"scheduled__2026-11-{d}T00:00:00+00:00", DAYS[d - 18]) for d in (18, 19, 20)]
    runs.append(("another_dag", "manual__x", DAYS[0]))
    with create_session() as session:
        # the session's Airflow database is shared: a test before this one may have run the DAG on these days
        for dag_id, _run_id, start in runs:
            session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == start).delete(
                synchronize_session=False
            )
        for dag_id, run_id, start in runs:
            session.add(DagRun(dag_id=dag_id, run_id=run_id, run_type=DagRunType.SCHEDULED, logical_date=start,
                               data_interval=(start, start + (DAYS[1] - DAYS[0])), run_after=start,
                               state=DagRunState.SUCCESS))  # fmt: skip
    yield runs
    with create_session() as session:
        session.query(DagRun).filter(DagRun.run_id.in_([r for _, r, _ in runs])).delete(synchronize_session=False)


@pytest.fixture(scope="module")
def airflow_app(airflow_db, ledger_env, day_runs):
    """Airflow's api-server app with the HUMAN plugin mounted, auth manager OneDagAuthManager."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _airflow_app(monkeypatch)


def _airflow_app(monkeypatch):
    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app, purge_cached_app

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "tests.ui.auth_manager.OneDagAuthManager")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    _load_plugins_from_provider_info(monkeypatch)
    purge_cached_app()
    app = create_app()
    yield app
    purge_cached_app()
    for cached in (plugins_manager._get_plugins, plugins_manager.get_fastapi_plugins, plugins_manager._get_ui_plugins):
        cached.cache_clear()


@pytest.fixture
def token_for(airflow_app):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = airflow_app.state.auth_manager

    def make(username: str, role: str | None = "viewer") -> str:
        return manager._get_token_signer().generate(
            manager.serialize_user(SimpleAuthManagerUser(username=username, role=role))
        )

    return make


@pytest.fixture
def client_as(airflow_app, token_for):
    from fastapi.testclient import TestClient

    def make(username: str | None, role: str | None = "viewer") -> TestClient:
        headers = {} if username is None else {"Authorization": f"Bearer {token_for(username, role)}"}
        return TestClient(airflow_app, headers=headers)

    return make


READER = "reads:human_case_reconciliation"
