"""Example: every HUMAN operator once — look accounts up, upload feedback, update an identity.

Runs against the ``human_default`` connection: ``make ui`` points it at the local fake HUMAN
API (so does docs/getting-started.md, "Your own DAG against the fake API"); in production the
same DAG talks to https://console.humansecurity.com. The feedback upload is written to the
reconciliation's ledger (``ledger_conn_id="human_case_db"``), so the daily reconciliation
knows what this DAG told Account Defender and does not tell it again, or the opposite.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_human.operators.account import HumanAccountInfoOperator
from airflow_provider_human.operators.feedback import HumanUploadFeedbackOperator
from airflow_provider_human.operators.identity import HumanUpdateIdentityOperator
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY

# True positive, false positive and false negative, the way a case review would report them.
OUTCOMES = [
    {"account_id": "acct-1001", "attack_type": "ato", "status": "resolved", "result": "resolved"},
    {"account_id": "acct-1002", "attack_type": "ato", "status": "resolved", "result": "no_attack"},
    {
        "account_id": "acct-1003",
        "attack_type": "fa",
        "status": "resolved",
        "result": "manually_identified_and_resolved",
    },
]


@dag(
    dag_id="example_human_operators",
    description="Each HUMAN operator once: a starting point for your own DAGs.",
    default_args={"owner": "fraud-data", "retries": 2, "retry_policy": HUMAN_RETRY_POLICY},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["human", "example"],
    params={
        "account_ids": Param(["acct-1001", "acct-1002", "acct-1003"], type="array", description="Accounts to look up."),
        "dry_run": Param(False, type="boolean", description="Plan the feedback upload without sending it."),
    },
    doc_md=__doc__,
    render_template_as_native_obj=True,  # "{{ params.x }}" arrives as the param's own type
)
def example_human_operators():
    lookup = HumanAccountInfoOperator(
        task_id="look_up_accounts",
        account_ids="{{ params.account_ids }}",
        days_range=30,
        pool="human_api",
    )
    per_batch = HumanAccountInfoOperator.partial(task_id="look_up_in_batches", pool="human_api").expand(
        account_ids=[["acct-1001"], ["acct-1002", "acct-1003"]]
    )
    feedback = HumanUploadFeedbackOperator(
        task_id="upload_feedback",
        outcomes=OUTCOMES,
        dry_run="{{ params.dry_run }}",
        pool="human_api",
        ledger_conn_id="human_case_db",  # the reconciliation's ledger: it then knows what was sent here
    )
    identity = HumanUpdateIdentityOperator(
        task_id="update_identity",
        identity_id="013xrzp12g3nqk8nfsf13ajhjnj5hjp5",
        factors=[{"name": "email", "type": "email", "value": "new.address@example.com"}],
        metadata={"source": "airflow", "run": "{{ run_id }}"},
        pool="human_api",
        ledger_conn_id="human_case_db",  # applied updates recorded (ids only): a retry sends only the rest
    )
    [lookup, per_batch] >> feedback >> identity


example_human_operators()
