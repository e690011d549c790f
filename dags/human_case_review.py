"""
### Review: what the daily reconciliation may not decide alone, every day in one request

Triggered whenever a reconciliation day hands items over (the asset its `request_review`
task updates), and every morning at 06:00 UTC for anything still waiting. One request on
the *Required Actions* page lists every item waiting for a person, whatever its day —
reversals, edited outcomes, ambiguous AD states, uploads in doubt or rejected — with one
field per item: Resend / Mark as applied / Leave for later (worded for the item's kind).
No reconciliation run waits for it, so a backfill never stalls behind a person.

Each answer applies only to its item, unchanged since it was listed. Who may answer: the
users named in the Airflow option `[human] review_assignees`
(`AIRFLOW__HUMAN__REVIEW_ASSIGNEES`, e.g. `fraud-lead:Fraud Lead`); left unset, any user
who may edit this DAG. After the answer, clear the days' `day_done` tasks in
`human_case_reconciliation` and they turn green.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param

from airflow_provider_human.operators.review import HumanReconciliationReviewOperator, review_requests_asset
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY
from airflow_provider_human.review_assignees import configured_assignees

#: What human_case_reconciliation.py decides each day with: a Resend is decided again with the
#: same values (its DECIDING, kept equal: tests/reconciliation/test_review_settings.py checks).
DECIDING = {
    "policy": None,  # the documented table; e.g. {"confirmed_fraud": {"unknown": "resolved/manually_identified"}}
    "v2_incident_names": None,  # the documented default; e.g. {"ato": ["account_takeover"], "fake_account": ["fa"]}
    "per_case_comments": False,
    "lease_seconds": 120.0,
}

with DAG(
    dag_id="human_case_review",
    description="Every item the reconciliation may not decide alone, all days in one request for a person.",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=[review_requests_asset("human_case_db")]
    ),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one open request at a time; events meanwhile start one more run after it
    tags=["human", "account-defender", "reconciliation"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
    default_args={
        "owner": "fraud-data",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_policy": HUMAN_RETRY_POLICY,
    },
    params={"dry_run": Param(False, type="boolean", description="Open no request.")},
) as dag:
    HumanReconciliationReviewOperator(
        task_id="review",
        ledger_conn_id="human_case_db",
        every_day=True,
        dry_run="{{ params.dry_run }}",
        response_timeout=timedelta(hours=12),
        # Only these people may answer ([human] review_assignees); unset: anyone who may edit this DAG.
        assigned_users=configured_assignees(),
        **DECIDING,  # a Resend is decided again: as the day was
    )
