"""A distributed Airflow on 127.0.0.1 for `make e2e-celery`: CeleryExecutor, Redis, PostgreSQL, two workers.

One throwaway PostgreSQL server holds Airflow's metadata (database `airflow`, also the
Celery result backend) and the case export with the ledger (database `cases`); Redis is the
broker; the api-server, scheduler and dag-processor run as in tests/e2e, plus two Celery
workers (`w1`, `w2`), each its own process group. The fake HUMAN API runs in this process,
rate-limited to the connection's `requests_per_second`. Everything is started and stopped by PID.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_human.testing.fake_api import FakeHumanAPI
from tests.conftest import TOKEN
from tests.debian import PackageUnavailable
from tests.support.demo_cases import case_rows
from tests.support.local_airflow import AirflowStack, stop_on_sigterm

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "human_case_reconciliation"
DAYS = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]  # one backfill, all four at once
SHARDS = 2  # mapped reconcile tasks per day: 8 in all, 4 running at once (pool human_api, 2 workers x 2)
REQUESTS_PER_SECOND = 10.0  # the connection's, and the fake API's limit
WORKERS = ("w1", "w2")
CONCURRENCY = 2
COMPONENTS = ("api-server", "scheduler", "dag-processor")
# The scheduler fails a running task whose heartbeats stopped after this (Airflow's default: 300 s).
HEARTBEAT_TIMEOUT = 40
RETRY_DELAY = 10  # [core] default_task_retry_delay: the example DAG's reconcile retries after it (default 300 s)


def _require(variable: str, what: str, exc: Exception):
    if os.environ.get(variable) == "1":
        pytest.fail(f"{what} is required here ({variable}=1) but unavailable: {exc}")
    pytest.skip(f"the Celery end to end skipped: {what} unavailable: {exc}")


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    """Seconds per phase, printed at the end of the run (docs/scaling.md quotes them)."""
    figures: dict[str, float] = {}
    yield figures
    print("\nCelery end to end, seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))


@pytest.fixture(scope="session")
def pg():
    from tests.pg_server import PostgresUnavailable, ThrowawayPostgres

    try:
        server = ThrowawayPostgres(max_connections=200).start()
    except PostgresUnavailable as exc:
        _require("HUMAN_REQUIRE_POSTGRES", "PostgreSQL", exc)
    try:
        yield server
    finally:
        pid = server.pid
        server.stop()
        assert pid is None or not Path(f"/proc/{pid}").exists(), f"PostgreSQL (pid {pid}) still alive after stop"


@pytest.fixture(scope="session")
def redis():
    from tests.support.redis_server import ThrowawayRedis

    try:
        server = ThrowawayRedis().start()
    except (PackageUnavailable, RuntimeError) as exc:
        _require("HUMAN_REQUIRE_REDIS", "Redis", exc)
    try:
        yield server
    finally:
        server.stop()
        assert not server.alive(), f"redis-server (pid {server.proc.pid}) still alive after stop"


@pytest.fixture(scope="session")
def celery_fake_api():
    with FakeHumanAPI(token=TOKEN) as api:
        api.configure(rate_limit_rps=REQUESTS_PER_SECOND)  # HUMAN's per-customer limit: 429 + Retry-After past it
        yield api


@pytest.fixture(scope="session")
def cases_db(pg, celery_fake_api) -> str:
    """The case export on PostgreSQL (database `cases`; the ledger is created next to it); its URL."""
    url = pg.create_database("cases")
    rows, accounts = case_rows(DAYS)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE case_outcomes (case_id text, account_id text, attack_type text, verdict text,"
                " closed_at timestamptz, comment text)"
            )
            conn.exec_driver_sql("CREATE INDEX ON case_outcomes (closed_at)")
            conn.execute(
                sa.text("INSERT INTO case_outcomes VALUES (:c, :a, :t, :v, :at, :m)"),
                [dict(zip(("c", "a", "t", "v", "at", "m"), row, strict=True)) for row in rows],
            )
    finally:
        engine.dispose()
    celery_fake_api.seed_accounts(accounts)
    return url


@pytest.fixture(scope="session")
def celery_stack(tmp_path_factory, pg, redis, timings):
    began = time.monotonic()
    metadata = pg.create_database("airflow")
    stack = AirflowStack(
        tmp_path_factory.mktemp("airflow-celery-home"),
        dags_folder=ROOT / "dags",
        executor="CeleryExecutor",
        metadata_url=metadata,
        components=COMPONENTS,
        extra_env={
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CELERY__BROKER_URL": redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata.replace("postgresql+psycopg2://", "postgresql://"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CONCURRENCY),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": str(RETRY_DELAY),
        },
    )
    previous = stop_on_sigterm()  # a CI time-out still runs the teardown below
    try:
        stack.start()
        for worker in WORKERS:
            name = worker_name(worker)
            stack.spawn(
                f"worker-{worker}",
                *("celery", "worker", "--celery-hostname", name, "--concurrency", str(CONCURRENCY)),
                "--skip-serve-logs",  # its log server binds every interface; the api-server reads the files
                env={
                    "HUMAN_WORKER_NAME": name,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.support.worker_name.hostname",
                },  # fmt: skip
            )
        for worker in WORKERS:
            stack.wait_for(
                f"Celery worker {worker} to be ready",
                lambda w=worker: f"{worker_name(w)} ready" in stack.log_path(f"worker-{w}").read_text(errors="replace"),
                timeout=180,
                every=1.0,
            )
        timings["stack up"] = time.monotonic() - began
        yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.stop_and_check()


def worker_name(worker: str) -> str:
    """The worker's --celery-hostname, which its tasks also record as their hostname."""
    return f"{worker}@127.0.0.1"


@pytest.fixture(scope="session")
def celery_provisioned(celery_stack, celery_fake_api, pg, cases_db) -> AirflowStack:
    stack = celery_stack
    case_conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": pg.port, "login": pg.user, "schema": "cases"}
    # timeout: an upload HUMAN holds (the test holds them until the kill) is not given up by the client meanwhile
    stack.provision_demo(celery_fake_api.url, TOKEN, case_conn, requests_per_second=REQUESTS_PER_SECOND, timeout=120)
    stack.wait_for(
        f"{DAG_ID} to be parsed",
        lambda: stack.api.get(f"{stack.base_url}/api/v2/dags/{DAG_ID}", timeout=10).status_code == 200,
        timeout=180,
    )
    stack.rest("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    return stack
