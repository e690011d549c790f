"""
### Daily identity sync

Reads the identities whose email or metadata changed during the run's day from the table
`identity_changes` (connection `human_case_db`: `identity_id`, `factor_name`, `email`,
`metadata` as JSON text, `changed_at`) and updates them in bulk on HUMAN's identity API with
`HumanUpdateIdentityOperator` (concurrent, rate limited, validated before the first request).

The changes hold e-mail addresses, so they do not travel through XCom: the first task writes
them as JSON Lines under the reports location (`[human] reports_dir`, default
`$AIRFLOW_HOME/reports/human`, or object storage) and passes only the path; the update task
deletes the file once every update was applied. A day without changes succeeds with
"0 identities to update".
"""

from __future__ import annotations

import json
import logging

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, task

from airflow_provider_human.operators.identity import HumanUpdateIdentityOperator
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY

with DAG(
    dag_id="human_identity_sync",
    description="Daily: the day's identity changes to HUMAN's identity API.",
    default_args={"owner": "fraud-data", "retries": 2, "retry_policy": HUMAN_RETRY_POLICY},
    schedule=CronDataIntervalTimetable("0 1 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["human", "identity"],
    doc_md=__doc__,
) as dag:

    @task
    def changed_identities(data_interval_start=None, data_interval_end=None) -> str:
        """Every change of the interval, merged per identity in order, written as identity updates.

        An e-mail change followed by a metadata change keeps both: the latest e-mail, and the
        metadata keys of every change (later values win). Returns the file's location only.
        """
        import sqlalchemy as sa

        from airflow_provider_human.reconciliation.sources import sql_engine
        from airflow_provider_human.reports_location import reports_base, write_text

        engine = sql_engine("human_case_db")
        query = sa.text(
            "SELECT identity_id, factor_name, email, metadata, changed_at FROM identity_changes"
            " WHERE changed_at >= :start AND changed_at < :end ORDER BY changed_at"
        )
        start = data_interval_start.strftime("%Y-%m-%d %H:%M:%S")
        end = data_interval_end.strftime("%Y-%m-%d %H:%M:%S")
        latest: dict[str, dict] = {}
        with engine.connect() as conn:
            for row in conn.execute(query, {"start": start, "end": end}):
                update = latest.setdefault(row.identity_id, {"identity_id": row.identity_id})
                if row.email:
                    update["factors"] = [{"name": row.factor_name or "email", "type": "email", "value": row.email}]
                if row.metadata:
                    update["metadata"] = {**update.get("metadata", {}), **json.loads(row.metadata)}
        day = data_interval_start.strftime("%Y%m%dT%H%M%S")
        target = f"{reports_base().rstrip('/')}/identity-changes/{day}.jsonl"
        write_text(target, "".join(json.dumps(update) + "\n" for update in latest.values()))
        logging.getLogger("airflow.task").info("%d identities changed; their updates are in %s", len(latest), target)
        return target

    HumanUpdateIdentityOperator(task_id="update_identities", updates_path=changed_identities(), pool="human_api")
