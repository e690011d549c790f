"""
### Daily case-management → Account Defender reconciliation

Every day, the fraud team's **closed cases** (table `case_outcomes` on the connection
`human_case_db`) are turned into Account Defender feedback, **exactly once per case outcome**:

| verdict | AD: Pending incident | AD: none | AD: unknown account |
|---|---|---|---|
| confirmed_fraud | resolved / resolved (true positive) | resolved / manually_identified_and_resolved (false negative) | skip |
| legitimate | resolved / no_attack (false positive) | nothing (consistent) | skip |
| suspected_fraud | nothing (already pending) | resolved / manually_identified (false negative) | skip |

That table applies when nothing was told to AD before. The ledger remembers what was: a
newer outcome of the same account wins whatever the backfill order, a verdict already
reported sends nothing, a verdict that contradicts feedback already sent (a **reversal**),
a row the export **edited** in place, and an AD state with incident types the provider
cannot map go to a person (docs/reconciliation.md has the full three-way table).

Each run covers one whole UTC day, `[data_interval_start, data_interval_end)`. Backfill
missed days from **Trigger → Backfill** in the UI: the ledger (`human_feedback_ledger`)
makes re-runs, retries and overlapping or concurrent backfills safe. A run is green only
when every outcome of its day is sent or needs nothing. When a day leaves something no
rule may decide, the run does **not** wait for a person (a backfill goes on with the other
days): `request_review` updates the asset that triggers the DAG **human_case_review**,
whose one request on the *Required Actions* page spans every waiting day, and `day_done`
fails the run with "N items of <day> wait for a person". Clear `day_done` once they are
answered and the day turns green. Params: `dry_run` plans without sending, `reprocess` decides again what was
decided but not sent (sent feedback is never sent again), `batch_size` and
`max_reject_ratio` tune the upload and the broken-export guard, `shards` splits a day
across mapped tasks (Celery / Kubernetes workers) by account hash. Reports (one per try)
land in `$AIRFLOW_HOME/reports/human` unless the operators' `reports_dir` or the Airflow
option `[human] reports_dir` (`AIRFLOW__HUMAN__REPORTS_DIR`, e.g. an `s3://conn_id@bucket/path`
URL) says otherwise.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_human.assets import feedback_alias
from airflow_provider_human.notifications.day import HumanDayNotifier
from airflow_provider_human.notifications.deadline import day_deadline
from airflow_provider_human.operators.day_check import HumanReconciliationDayCheckOperator
from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator
from airflow_provider_human.operators.review import review_requests_asset
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY

REVIEW_REQUESTS = review_requests_asset("human_case_db")  # the schedule of dags/human_case_review.py

#: A day not reconciled this long after it ended is announced by DAY_ALERT (not for backfilled days, late by
#: construction); so is every failed run. DAY_ALERT logs; add "send_with": "slack" or "smtp". None: no deadline.
RECONCILE_WITHIN = timedelta(hours=6)
DAY_ALERT = {"ledger_conn_id": "human_case_db", "review_dag_id": "human_case_review"}

#: What the day is decided with. human_case_review.py decides a person's Resend again with the
#: same values (its own DECIDING, kept equal: tests/reconciliation/test_review_settings.py checks).
DECIDING = {
    "policy": None,  # the documented table; e.g. {"confirmed_fraud": {"unknown": "resolved/manually_identified"}}
    "v2_incident_names": None,  # the documented default; e.g. {"ato": ["account_takeover"], "fake_account": ["fa"]}
    "per_case_comments": False,
    "lease_seconds": 120.0,
}

with DAG(
    dag_id="human_case_reconciliation",
    description="Daily: closed fraud cases to Account Defender feedback, exactly once; a person reviews what no rule may decide.",
    # A data-interval timetable: each run covers [D, D + 1 day). Plain "@daily" would give empty intervals.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    tags=["human", "account-defender", "reconciliation"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # "{{ params.x }}" arrives as the param's own type
    on_failure_callback=HumanDayNotifier(**DAY_ALERT),
    deadline=day_deadline(RECONCILE_WITHIN, **DAY_ALERT),  # the day's end + RECONCILE_WITHIN
    # retry_delay: Airflow's [core] default_task_retry_delay (300 s unless the deployment sets it); the policy
    # waits HUMAN's Retry-After on a 429 and fails at once what a retry cannot fix (docs/operators.md, Retries).
    default_args={"owner": "fraud-data", "retries": 2, "retry_policy": HUMAN_RETRY_POLICY},
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
        fail_on_review=False,  # items for a person go to the review step below, not to a red task
        outlets=[feedback_alias("human_default")],  # each day's feedback event: dags/human_after_feedback.py
        **DECIDING,
    ).expand(shard_index=shard_indexes())

    @task
    def summarize(summaries) -> dict:
        """The day in one small XCom: the interval, dry_run, this run's counters summed over shards,
        and the day's truth from the ledger (whichever runs and tries did the work)."""
        import logging

        # One slice, not iteration: iterating a mapped task's results asks for one item past
        # the end, which Airflow logs as an error ("XCom not found") in a run that succeeded.
        summaries = list(summaries[:])
        first = summaries[0]
        day = {
            "interval_start": first["interval_start"],
            "interval_end": first["interval_end"],
            "dry_run": first["dry_run"],
            "shards": len(summaries),
            "interval": first["interval"],  # the same for every shard: read from the ledger for the whole day
        }
        for key in ("decided", "requests_sent", "accounts_sent", "for_review", "rejected", "skipped"):
            day[key] = sum(int(s.get(key) or 0) for s in summaries)
        logging.getLogger(__name__).info("The day across %d shard(s): %s", len(summaries), day)
        return day

    @task(outlets=[REVIEW_REQUESTS])
    def request_review(day: dict, *, outlet_events=None) -> dict:
        """Hand the day's items for a person to the review DAG (an asset event); skipped when none wait."""
        waiting = int((day.get("interval") or {}).get("needing_review") or 0)
        if day["dry_run"] or not waiting:
            raise AirflowSkipException("nothing of this day waits for a person")
        extra = {"interval_start": day["interval_start"], "interval_end": day["interval_end"], "items": waiting}
        outlet_events[REVIEW_REQUESTS].extra = extra
        return extra

    day = summarize(reconcile.output)
    day_done = HumanReconciliationDayCheckOperator(
        task_id="day_done",
        ledger_conn_id="human_case_db",
        dry_run="{{ params.dry_run }}",
        trigger_rule="none_failed",  # runs after request_review, handed over or skipped
        retries=0,
    )
    request_review(day) >> day_done
