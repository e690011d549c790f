"""Which ledgers the page shows and which DAG's readers may see them: ``[human] ui_*`` in Airflow's config.

Read at request time from Airflow's configuration only (no Variable, no database), so a
changed setting needs no restart of anything but the api-server's config reload.
"""

from __future__ import annotations

CONFIG_SECTION = "human"
LEDGERS_KEY = "ui_ledger_conn_ids"
DAG_KEY = "ui_dag_id"
#: The example DAG's ledger connection (dags/human_case_reconciliation.py) and the DAG itself.
DEFAULT_LEDGERS = "human_case_db"
DEFAULT_DAG = "human_case_reconciliation"
#: The review DAG whose HITL task answers a day's review items (dags/human_case_review.py).
REVIEW_DAG = "human_case_review"


def _get(key: str, default: str) -> str:
    from airflow.configuration import conf

    value = conf.get(CONFIG_SECTION, key, fallback=None)
    return default if value is None or not str(value).strip() else str(value).strip()


def ledger_conn_ids() -> list[str]:
    """``[human] ui_ledger_conn_ids``: comma-separated ledger connections, in the order shown."""
    ids = [part.strip() for part in _get(LEDGERS_KEY, DEFAULT_LEDGERS).split(",")]
    return list(dict.fromkeys(i for i in ids if i))


def reader_dag_id() -> str:
    """``[human] ui_dag_id``: a user must be allowed to read this DAG's runs to see the page."""
    return _get(DAG_KEY, DEFAULT_DAG)
