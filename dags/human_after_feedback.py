"""
### After the daily feedback: what HUMAN was told, without reading a log

Runs whenever a reconciliation through the connection `human_default` finishes a day (its
tries that succeed, never a dry run): the feedback asset `human://<host of the Base URL>/feedback`,
reached through the alias `human_feedback__human_default` that the reconciliation declares.
It logs each event's metadata: the day, the shard, the requests, the accounts sent by result
and the items waiting for a person. Replace the task with what should follow the feedback:
a report to the fraud team, a refresh of a dashboard.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_human.assets import feedback_alias

with DAG(
    dag_id="human_after_feedback",
    description="Runs on the reconciliation's feedback asset and logs what each day told HUMAN.",
    schedule=[feedback_alias("human_default")],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["human", "account-defender", "assets"],
    doc_md=__doc__,
    default_args={"owner": "fraud-data"},
) as dag:

    @task
    def log_feedback(triggering_asset_events=None) -> list[dict]:
        """Each feedback event's metadata, logged and returned (small: counts and ids, never a token)."""
        import logging

        log = logging.getLogger(__name__)
        told, seen = [], set()
        for events in (triggering_asset_events or {}).values():  # keyed by the asset and by the alias: once each
            for event in events:
                key = (event.source_dag_id, event.source_run_id, event.source_task_id, event.source_map_index,
                       str(event.timestamp))  # fmt: skip
                if key in seen:
                    continue
                seen.add(key)
                extra = dict(event.extra or {})
                log.info("%s: day %s, shard %s: %s requests, sent by result %s, %s waiting for a person",
                         event.asset.uri, extra.get("day"), extra.get("shard"), extra.get("requests"),
                         extra.get("sent_by_result"), extra.get("waiting_for_a_person"))  # fmt: skip
                told.append(extra)
        return told

    log_feedback()
