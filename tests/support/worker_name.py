"""`[core] hostname_callable` for Celery workers sharing one machine: each task records its worker's name.

Airflow stores the task instance's `hostname` from this callable; two workers on 127.0.0.1
would otherwise both record the machine's name. `HUMAN_WORKER_NAME` is set per worker
(tests/e2e_celery), equal to its `--celery-hostname`; elsewhere the machine's name.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("HUMAN_WORKER_NAME") or socket.getfqdn()
