"""A real Airflow on 127.0.0.1: api-server, scheduler, dag-processor and triggerer under a throwaway home.

By default a SQLite metadata database and LocalExecutor, as a user's laptop would run it
(the end-to-end tests and `make ui`); `executor`, `metadata_url` and `components` make the
distributed set-up of tests/e2e_celery (CeleryExecutor, PostgreSQL, workers from `spawn`).
Every process is started in its own session and stopped by its PID (its process group, so
the executor's and the api-server's children go too), also when a test fails half-way.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# What /api/v2/monitor/health calls each component that reports there.
HEALTH_KEYS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}
# Airflow's log server (started by the scheduler and the triggerer) binds every interface and
# has no host setting. On one machine it is not needed: the API server reads task logs from
# the files the tasks wrote. Skipped, so nothing listens beyond 127.0.0.1.
COMPONENT_ARGS = {"scheduler": ("--skip-serve-logs",), "triggerer": ("--skip-serve-logs",)}

# SQLite lets one writer in at a time and Python's driver stops waiting for the lock after
# 5 s; waiting up to 60 s lets a busy scheduler finish instead of failing an API call. (The
# refusals SQLite gives at once, without waiting, are handled by create_backfill.) Read by
# Airflow through [database] sql_alchemy_connect_args.
SQLITE_CONNECT_ARGS = {"timeout": 60}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowStack:
    """Start with `start()`, stop with `stop()`; `api` is a requests session on the REST API."""

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        *,
        executor: str = "LocalExecutor",
        metadata_url: str | None = None,
        components: tuple[str, ...] = COMPONENTS,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.executor = executor
        self.metadata_url = metadata_url  # None: a SQLite file in the home
        self.components = components
        self.processes: dict[str, subprocess.Popen] = {}
        self.killed: dict[str, list[int]] = {}  # name -> the process groups kill_tree() SIGKILLed
        self.api = requests.Session()
        self.env = self._environment(extra_env or {})

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        # Nothing from the calling shell's Airflow settings (the unit tests set some) leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        from cryptography.fernet import Fernet

        database = (
            {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url}
            if self.metadata_url
            else {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{__name__}.SQLITE_CONNECT_ARGS",
            }
        )
        # Every process imports this checkout's package and tests first (not another checkout's
        # editable install): the code under test, and the dotted paths the settings name.
        path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        env.update(
            {
                "PYTHONPATH": path,
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                **database,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 240.0) -> AirflowStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        for component in self.components:
            self.spawn(component, component, *COMPONENT_ARGS.get(component, ()))
        self.wait_healthy(timeout)
        return self

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start `airflow <args>` in its own session as `name` (its log: log_path(name)); stopped by stop()."""
        with open(self.log_path(name), "wb") as log:  # the child keeps its own copy of the descriptor
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **(env or {})},
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.processes[name]

    def kill_tree(self, name: str) -> list[int]:
        """SIGKILL process `name` as a machine's death would: its group and the groups of its descendants.

        Airflow's supervisor puts each task in a process group of its own, so the group of a
        worker alone would leave its tasks running. The groups are collected before any is
        killed (orphans are re-parented at once); returned, and checked by alive().
        """
        proc = self.processes[name]
        found = [proc.pid, *(_pgid(pid) for pid in _descendants(proc.pid))]
        groups = [group for group in dict.fromkeys(found) if group is not None]
        for group in groups:
            _signal_group(group, signal.SIGKILL)
        proc.wait(timeout=30)
        self.killed[name] = groups
        return groups

    def log_path(self, component: str) -> Path:
        return self.home / f"{component}.out"

    def stop(self) -> list[str]:
        """SIGTERM each process group, SIGKILL what is left after 20 s; returns what had to be killed."""
        killed = []
        for proc in self.processes.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, proc in self.processes.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(name)
            # the group's children (executor workers, uvicorn workers) must go as well
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.api.close()
        return killed

    def stop_and_check(self) -> None:
        """stop(), then fail the test run if any of the stack's process groups outlived it."""
        killed = self.stop()
        leftovers = self.alive()
        if killed:
            print(f"needed SIGKILL after 20 s: {killed}")
        assert not leftovers, f"process groups still alive after stop: {describe_groups(leftovers)}"

    def alive(self, grace: float = 10.0) -> list[int]:
        """PIDs of this stack's process groups that still have a living member after `grace` s.

        A SIGKILL is delivered asynchronously and a killed grandchild stays a zombie until
        whoever adopted it reaps it, so the check waits a little and ignores zombies.
        """
        deadline = time.monotonic() + grace
        while True:
            groups = {proc.pid for proc in self.processes.values()}
            groups.update(g for killed in self.killed.values() for g in killed)
            alive = [group for group in sorted(groups) if _group_members(group)]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(0.2)

    def wait_healthy(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            self.check_running()
            try:
                last = self.api.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                wanted = ("metadatabase", *(HEALTH_KEYS[c] for c in self.components if c in HEALTH_KEYS))
                if all((last.get(k) or {}).get("status") == "healthy" for k in wanted):
                    return last
            except (requests.RequestException, ValueError) as exc:
                last = exc
            time.sleep(1)
        raise TimeoutError(f"Airflow was not healthy after {timeout:.0f} s; last answer: {last}\n{self.tails()}")

    def check_running(self) -> None:
        for name, proc in self.processes.items():
            if name not in self.killed and proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}\n{self.tails()}")

    def tails(self, lines: int = 40) -> str:
        out = []
        for component in self.processes:
            text = self.log_path(component).read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- airflow {component} (last {lines} lines) -----\n" + "\n".join(text))
        return "\n".join(out)

    # ---- helpers ---------------------------------------------------------------------------

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        run = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        return run

    def rest(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kwargs) -> dict:
        """Call /api/v2; a status other than `expect` fails with the body, which says why."""
        response = self.api.request(method, f"{self.base_url}/api/v2{path}", timeout=90, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else {}

    def provision_demo(
        self, human_url: str, token: str, case_db: Path | dict, requests_per_second: float, **human_extra: object
    ) -> dict:
        """What a user does first: the `human_default` and `human_case_db` connections, the `human_api` pool.

        `case_db` is a SQLite file, or the fields of another connection (e.g. a postgres one).
        """
        case_conn = case_db if isinstance(case_db, dict) else {"conn_type": "sqlite", "host": str(case_db)}
        extra = {"requests_per_second": requests_per_second, **human_extra}
        created = {
            "human_default": self.rest("POST", "/connections", expect=201, json={
                "connection_id": "human_default", "conn_type": "human", "host": human_url, "password": token,
                # the port too, or Airflow 3.3.2's Test Connection button (apache/airflow#73298) answers Bad Request (docs/connection.md)
                "port": urlsplit(human_url).port, "extra": json.dumps(extra),
            }),
            "human_case_db": self.rest("POST", "/connections", expect=201, json={
                "connection_id": "human_case_db", **case_conn,
            }),
        }  # fmt: skip
        pool = {"name": "human_api", "slots": 4, "description": "HUMAN API calls"}
        self.rest("POST", "/pools", expect=201, json=pool)
        return created

    def create_backfill(self, body: dict, attempts: int = 5) -> dict:
        """POST /backfills, pressing again when SQLite refuses the write.

        Airflow's metadata database is SQLite in WAL mode here: a transaction that read
        before the scheduler committed cannot write afterwards, and SQLite says so at once
        (no busy wait). Airflow answers 503 "Database is locked" (or 500 "Database error"
        when it happens while writing the audit log) and says backfills on SQLite are not
        supported under concurrent access. It removes a half-made backfill when it can;
        when it cannot, the leftover would block every new backfill of the DAG (409), so it
        is cancelled, as a user would from the UI, before trying again. Callers wait for
        their own backfills to complete first, so a 409 here means such a leftover.
        """
        for _attempt in range(attempts):
            response = self.api.post(f"{self.base_url}/api/v2/backfills", json=body, timeout=90)
            if response.status_code == 200:
                return response.json()
            # A leftover of a refused try may still count as running (409) until its cancel settles.
            leftover = response.status_code == 409 and "already a running backfill" in response.text
            if not (leftover or is_sqlite_refusal(response.status_code, response.text)):
                raise AssertionError(f"POST /backfills -> {response.status_code}: {response.text[:2000]}")
            self.cancel_unfinished_backfills(body["dag_id"])
            time.sleep(5 if leftover else 2)
        raise AssertionError(f"POST /backfills was refused {attempts} times: {response.text[:500]}")

    def cancel_unfinished_backfills(self, dag_id: str) -> list[int]:
        backfills = self.rest("GET", "/backfills", params={"dag_id": dag_id})["backfills"]
        stuck = [b["id"] for b in backfills if not b["completed_at"]]
        for backfill_id in stuck:
            for _attempt in range(10):  # the cancel itself can meet the same SQLite refusal
                response = self.api.put(f"{self.base_url}/api/v2/backfills/{backfill_id}/cancel", timeout=90)
                if response.status_code in (200, 409):
                    break
                if not is_sqlite_refusal(response.status_code, response.text):
                    raise AssertionError(f"PUT /backfills/{backfill_id}/cancel -> {response.status_code}: "
                                         f"{response.text[:500]}")  # fmt: skip
                time.sleep(2)
        return stuck

    def wait_for(self, what: str, check, timeout: float = 300.0, every: float = 2.0):
        """Poll `check()` until it returns something truthy; time out with the processes' log tails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            value = check()
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tails()}")


def stop_on_sigterm() -> object:
    """Make SIGTERM raise KeyboardInterrupt, so `finally: stack.stop()` runs on a kill too; returns the old handler."""
    return signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def is_sqlite_refusal(status: int, text: str) -> bool:
    """Airflow's answers when SQLite refused a write (see AirflowStack.create_backfill)."""
    return (status == 503 and "Database is locked" in text) or (status == 500 and "Database error" in text)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after "pid (comm)": state, ppid, pgrp, ... (comm may hold spaces and parentheses)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _pgid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def _descendants(root: int) -> list[int]:
    """Every living descendant of `root`, read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def _group_members(pgid: int) -> list[int]:
    """Living (not zombie) processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def describe_groups(pgids: list[int]) -> str:
    """The command lines still alive in these process groups, for a teardown's failure message."""
    lines = []
    for pgid in pgids:
        for pid in _group_members(pgid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmd = "?"
            lines.append(f"group {pgid} pid {pid}: {cmd.strip()}")
    return "; ".join(lines) or "none left"
