"""Budget stores for the tests: a SQLite file, a PostgreSQL database, a Redis server started here."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_human.budget.sql import SqlBudgetStore

ROOT = Path(__file__).resolve().parents[2]


def _redis_unavailable(reason: str) -> None:
    if os.environ.get("HUMAN_REQUIRE_REDIS") == "1":
        pytest.fail(f"Redis is required here (HUMAN_REQUIRE_REDIS=1) but unavailable: {reason}")
    pytest.skip(f"Redis tests skipped: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server():
    """Debian's redis-server on 127.0.0.1, no persistence, stopped by PID."""
    if importlib.util.find_spec("redis") is None:
        _redis_unavailable("the redis package is not installed (pip install 'airflow-provider-human[redis]')")
    if not shutil.which("redis-server"):
        from tests.debian import PackageUnavailable, apt_install

        try:
            apt_install("redis-server")
        except PackageUnavailable as exc:
            _redis_unavailable(str(exc))
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="human-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _redis_unavailable("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'budget.sqlite'}"
    if request.param == "postgresql":
        return request.getfixturevalue("postgres").create_database(f"budget_{uuid.uuid4().hex[:10]}")
    return request.getfixturevalue("redis_server")


def open_store(url: str):
    """The test's own view of a store (the same one the holders use)."""
    from tests.budget.holder import make_store

    return make_store(url)


def dispose(store) -> None:
    if isinstance(store, SqlBudgetStore):
        store.engine.dispose()
    else:
        store.client.flushall()
        store.client.close()


def start_holder(store_url: str, api_url: str, token: str, rps: float, *, seconds: float = 5.0,
                 per_task: bool = False, start_at: float = 0.0) -> subprocess.Popen:  # fmt: skip
    """A holder process (its own process group, so a SIGKILL takes all of it)."""
    command = [sys.executable, "-m", "tests.budget.holder", "--store", store_url, "--api", api_url,
               "--token", token, "--rps", str(rps), "--seconds", str(seconds), "--start-at", str(start_at)]  # fmt: skip
    if per_task:
        command.append("--per-task")
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def finished(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def live(store, key: str) -> int:
    try:
        return store.live_holders(key)
    except sa.exc.DBAPIError:  # the tables are not made yet (no holder joined)
        return 0
