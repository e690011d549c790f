"""A throwaway Redis on 127.0.0.1 (Debian's `redis-server`), the Celery broker of tests/e2e_celery.

Nothing is written to disk (no RDB snapshot, no append-only file); the server is started in
its own session and stopped by its PID.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.debian import apt_install
from tests.support.local_airflow import free_port

SERVER = "/usr/bin/redis-server"


class ThrowawayRedis:
    """``with ThrowawayRedis() as redis: redis.url`` -> ``redis://127.0.0.1:<port>/0``."""

    def __init__(self) -> None:
        if not Path(SERVER).exists():
            apt_install("redis-server")  # PackageUnavailable says why it cannot be
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="human-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> ThrowawayRedis:
        command = [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.root)]  # fmt: skip
        with open(self.root / "redis.log", "wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.root / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}: {log_text}")
            time.sleep(0.1)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
