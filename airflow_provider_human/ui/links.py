"""Links from the page into Airflow's own UI: a run, a task instance, the Required Actions page.

Built on the path of ``[api] base_url`` (an Airflow served under ``/airflow`` keeps it), each
id quoted: run ids hold ``:`` and ``+``. The page sits in an iframe, so the links open in
the top window (``target="_top"`` in the templates).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def _base_path() -> str:
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def airflow_path(*parts: str) -> str:
    """``<base path>/<part>/<part>...`` with every part quoted (``/`` included)."""
    return _base_path() + "".join("/" + quote(str(p), safe="") for p in parts)


def run_page(dag_id: str, run_id: str) -> str:
    return airflow_path("dags", dag_id, "runs", run_id)


def task_page(dag_id: str, run_id: str, task_id: str, map_index: str = "-1") -> str:
    parts = ["dags", dag_id, "runs", run_id, "tasks", task_id]
    return airflow_path(*parts, *(["mapped", map_index] if map_index not in ("-1", "") else []))


def required_actions_page() -> str:
    return airflow_path("required_actions")
