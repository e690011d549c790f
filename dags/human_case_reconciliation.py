"""
### Daily case-management → Account Defender reconciliation

Every day, the fraud team's **closed cases** (table `case_outcomes` on the connection
`human_case_db`) are turned into Account Defender feedback, **exactly once per case outcome**:

| verdict | AD: Pending incident | AD: none | AD: unknown account |
|---|---|---|---|
| confirmed_fraud | resolved / resolved (true positive) | resolved / manually_identified_and_resolved (false negative) | skip |
| legitimate | resolved / no_attack (false positive) | nothing (consistent) | skip |
| suspected_fraud | nothing (already pending) | resolved / manually_identified (false negative) | skip |

Each run covers one whole UTC day, `[data_interval_start, data_interval_end)`. Backfill
missed days from **Run Backfill** in the UI: the ledger (`human_feedback_ledger`) makes
re-runs, retries and overlapping or concurrent backfills safe. A run succeeds only when
every outcome of its day is sent or needs nothing; otherwise it fails and says what is
left (a retry finishes it, or a person looks: see docs/reconciliation.md). Params:
`dry_run` plans without sending, `reprocess` decides again what was decided but not
sent (sent feedback is never sent again), `batch_size` and `max_reject_ratio`
tune the upload and the broken-export guard, `shards` splits a day across mapped tasks
(Celery / Kubernetes workers) by account hash. Reports land in `$AIRFLOW_HOME/reports/human`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator

with DAG(
    dag_id="human_case_reconciliation",
    # A data-interval timetable: each run covers [D, D + 1 day). Plain "@daily" would give empty intervals.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    tags=["human", "account-defender", "reconciliation"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "dry_run": Param(
            False, type="boolean", description="Plan and report only: send nothing, write no ledger rows."
        ),
        "batch_size": Param(500, type="integer", minimum=1, description="Account ids per feedback upload."),
        "max_reject_ratio": Param(
            0.05,
            type="number",
            minimum=0,
            maximum=1,
            description="Fail before uploading anything when more than this share of rows is rejected.",
        ),
        "shards": Param(
            1,
            type="integer",
            minimum=1,
            maximum=64,
            description="Split the day's accounts into this many mapped tasks (by account hash) so several workers share it.",
        ),
        "reprocess": Param(
            False,
            type="boolean",
            description="Decide again this day's outcomes that were decided but not sent (skipped, consistent, "
            "rejected by HUMAN). Sent feedback is never sent again.",
        ),
    },
) as dag:

    @task
    def shard_indexes(params=None) -> list[int]:
        """One mapped reconciliation task per shard; shards=1 is the plain, unsharded run."""
        return list(range(int(params["shards"])))

    reconcile = HumanCaseReconciliationOperator.partial(
        task_id="reconcile_case_outcomes",
        human_conn_id="human_default",
        source_conn_id="human_case_db",
        pool="human_api",
        dry_run="{{ params.dry_run }}",
        batch_size="{{ params.batch_size }}",
        max_reject_ratio="{{ params.max_reject_ratio }}",
        reprocess="{{ params.reprocess }}",
        shard_count="{{ params.shards }}",
    ).expand(shard_index=shard_indexes())

    @task
    def summarize(summaries) -> dict:
        """The day's totals across shards, in the log and as one small XCom."""
        import logging

        totals: dict = {}
        for summary in summaries:
            for key, value in summary.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
        logging.getLogger(__name__).info("Day total across %d shard(s): %s", len(list(summaries)), totals)
        return totals

    summarize(reconcile.output)
