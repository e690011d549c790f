"""Shared fixtures: a throwaway AIRFLOW_HOME, the fake HUMAN API on 127.0.0.1, connections."""

from __future__ import annotations

import json
import os
import tempfile

# Airflow reads its home and settings at import time: point them somewhere disposable first.
_HOME = tempfile.mkdtemp(prefix="human-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(os.path.dirname(os.path.dirname(__file__)), "dags")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Generation speed depends on the machine's load (CI shares two cores with servers started
# by other tests): time limits would make the properties flaky without making them stronger.
settings.register_profile("human", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("human")

from airflow_provider_human.client import ClientSettings, HumanClient  # noqa: E402
from airflow_provider_human.testing.fake_api import FakeHumanAPI  # noqa: E402

TOKEN = "tok-7f3a9c1e5b2d48e6a0c4"


class SleepRecorder:
    """Stands in for time.sleep in retry loops: records the waits, sleeps only a little."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def fake_api():
    with FakeHumanAPI(token=TOKEN) as api:
        yield api


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(fake_api, sleeps):
    """Client factory against the fake; retries do not really sleep unless asked to."""
    clients = []

    def factory(*, real_sleep: bool = False, **overrides):
        values = {"token": TOKEN, "base_url": fake_api.url, "requests_per_second": 1000.0, "backoff_initial": 0.01}
        values.update(overrides)
        kwargs = {} if real_sleep else {"sleep": sleeps}
        client = HumanClient(ClientSettings(**values), **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> HumanClient:
    return make_client()


@pytest.fixture
def human_conn(fake_api, monkeypatch):
    """AIRFLOW_CONN_HUMAN_DEFAULT pointing at the fake, in the documented JSON form."""

    def set_conn(conn_id: str = "human_default", **extra):
        conn = {
            "conn_type": "human",
            "host": fake_api.url,
            "password": TOKEN,
            "extra": {"requests_per_second": 1000, **extra},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn

    set_conn()
    return set_conn


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """An initialised metadata database in the throwaway AIRFLOW_HOME (about 5 s, once)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return _HOME


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session; skips only where it cannot be installed at all.

    CI sets HUMAN_REQUIRE_POSTGRES=1 so that a missing server fails instead of skipping.
    """
    from tests.pg_server import PostgresUnavailable, ThrowawayPostgres

    try:
        server = ThrowawayPostgres().start()
    except PostgresUnavailable as exc:
        if os.environ.get("HUMAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (HUMAN_REQUIRE_POSTGRES=1) but unavailable: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: the server cannot be installed or started here: {exc}")
    yield server
    server.stop()
