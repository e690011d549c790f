"""A throwaway PostgreSQL server for the tests: Debian's package, initdb in a temp dir, 127.0.0.1.

Installs ``postgresql`` with apt-get when its binaries are missing (as root), runs the
server as the ``postgres`` user when the tests run as root (PostgreSQL refuses root), and
stops it by its PID, also when a test fails.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.debian import PackageUnavailable, apt_install


class PostgresUnavailable(RuntimeError):
    """The server could not be installed or started on this machine."""


def find_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def install() -> None:
    try:
        apt_install("postgresql")
    except PackageUnavailable as exc:
        raise PostgresUnavailable(str(exc)) from exc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """``with ThrowawayPostgres() as pg: pg.url`` -> ``postgresql+psycopg2://human@127.0.0.1:<port>/human_test``."""

    user = "human"
    database = "human_test"

    def __init__(self, max_connections: int = 50) -> None:
        self.max_connections = max_connections  # a whole Airflow (tests/e2e_celery) needs more than the unit tests
        self.bin_dir = find_bin_dir()
        if self.bin_dir is None:
            install()
            self.bin_dir = find_bin_dir()
            if self.bin_dir is None:
                raise PostgresUnavailable("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/pg_ctl")
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="human-pg-"))
        self.data = self.root / "data"
        self.pid: int | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed: {result.stdout[-500:]} {result.stderr[-500:]}")
        return result

    def start(self) -> ThrowawayPostgres:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections={self.max_connections}"
        self._run("pg_ctl", "start", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w")
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database)
        return self

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def url_of(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + database

    def create_database(self, name: str, *, timezone: str | None = None) -> str:
        """A new database on this server, its URL returned; ``timezone`` becomes the TimeZone of
        every session opened on it (``ALTER DATABASE ... SET timezone``), as a DBA would set it."""
        import sqlalchemy as sa

        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                if timezone is not None:
                    zone = conn.exec_driver_sql("SELECT quote_literal(%s)", (timezone,)).scalar()
                    conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET timezone TO {zone}')
        finally:
            admin.dispose()
        return self.url_of(name)

    def airflow_conn(self) -> dict:
        return {"conn_type": "postgres", "host": "127.0.0.1", "port": self.port, "login": self.user,
                "schema": self.database}  # fmt: skip

    def stop(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                os.kill(self.pid, 0)
                time.sleep(0.1)
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
