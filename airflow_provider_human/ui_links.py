"""Addresses of the provider's pages in the Airflow UI (the HUMAN plugin mounted at ``/human``).

Built from Airflow's ``[api] base_url``, as Airflow builds its own run links; without it the
address is relative (``/human/...``), which the browser resolves on the UI's own host.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import quote

URL_PREFIX = "/human"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _base() -> str:
    from airflow.sdk import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def day_of(day: str | date | datetime) -> str:
    """``YYYY-MM-DD`` of a date, a datetime (its UTC day is the caller's to give) or ISO text."""
    if isinstance(day, datetime | date):
        return day.strftime("%Y-%m-%d")
    text = str(day).strip()[:10]
    if not _DAY.fullmatch(text):
        raise ValueError(f"day must be YYYY-MM-DD, not {day!r}")
    return text


def overview_url() -> str:
    """The HUMAN page's overview: every ledger connection, day by day."""
    return f"{_base()}{URL_PREFIX}/"


def day_page_url(ledger_conn_id: str, day: str | date | datetime) -> str:
    """The HUMAN page of one day of a ledger: what was decided, sent, and waits for a person."""
    return f"{_base()}{URL_PREFIX}/ledger/{quote(ledger_conn_id, safe='')}/days/{day_of(day)}"


def report_page_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """A task instance's report, served by the HUMAN page (the UI draws no ``file://`` link)."""
    path = "/".join(quote(part, safe="") for part in (dag_id, run_id, task_id))
    return f"{_base()}{URL_PREFIX}/report/{path}?map_index={int(map_index)}"
