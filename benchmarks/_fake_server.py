"""Start the fake HUMAN API as its own process for benchmarks (so it does not share our GIL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

TOKEN = "bench-token-not-secret"


@contextmanager
def fake_api_process(*extra_args: str):
    """Yield the base URL of a fake API subprocess; stop it by PID afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_human.testing.fake_api", "--port", "0", "--token", TOKEN,
             "--port-file", str(port_file), *extra_args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("fake HUMAN API did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text().strip()}"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
