"""
### Account lookup on demand

Trigger with the account ids to look up. Results (v2 by default) are written as JSON Lines
to `output_path`; XCom carries only the path and counts. Personal fields (email, IP, city,
user agent, device fingerprint) are dropped unless `include_pii` is set.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_human.operators.account import HumanAccountInfoOperator
from airflow_provider_human.retry_policy import HUMAN_RETRY_POLICY

# A real default (params are not templated): the lookups folder next to the Airflow home.
LOOKUPS_DIR = os.path.join(os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow")), "human_lookups")

with DAG(
    dag_id="human_account_lookup",
    description="Look accounts up in Account Defender on demand; results to a JSON Lines file.",
    default_args={"owner": "fraud-data", "retries": 2, "retry_policy": HUMAN_RETRY_POLICY},
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["human", "account-defender", "lookup"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # "{{ params.x }}" arrives as the param's own type
    params={
        "account_ids": Param(
            ["acct-1001"], type="array", items={"type": "string"}, minItems=1, description="Account ids to look up."
        ),
        "api_version": Param(2, type="integer", enum=[1, 2], description="2 is recommended by HUMAN."),
        "output_path": Param(
            LOOKUPS_DIR,
            type="string",
            description="Directory (local path or object storage URL, e.g. s3://bucket/lookups) for the JSON Lines "
            "file; one file per run. On Celery or Kubernetes workers use object storage.",
        ),
        "include_pii": Param(False, type="boolean", description="Keep personal fields in the output."),
    },
) as dag:
    HumanAccountInfoOperator(
        task_id="look_up_accounts",
        account_ids="{{ params.account_ids }}",
        api_version="{{ params.api_version }}",
        output_path="{{ params.output_path }}/{{ run_id | replace(':', '_') }}.jsonl",
        include_pii="{{ params.include_pii }}",
        pool="human_api",
    )
