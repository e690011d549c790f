"""
### Account lookup on demand

Trigger with the account ids to look up. Results (v2 by default) are written as JSON Lines
to `output_path`; XCom carries only the path and counts. Personal fields (email, IP, city,
user agent, device fingerprint) are dropped unless `include_pii` is set.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_human.operators.account import HumanAccountInfoOperator

with DAG(
    dag_id="human_account_lookup",
    description="Look accounts up in Account Defender on demand; results to a JSON Lines file.",
    default_args={"owner": "fraud-data"},
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["human", "account-defender", "lookup"],
    doc_md=__doc__,
    params={
        "account_ids": Param(
            ["acct-1001"], type="array", items={"type": "string"}, minItems=1, description="Account ids to look up."
        ),
        "api_version": Param(2, type="integer", enum=[1, 2], description="2 is recommended by HUMAN."),
        "output_path": Param(
            "{{ var.value.get('human_lookup_dir', '/tmp/human_lookups') }}",
            type="string",
            description="Directory (local or object storage URL) for the JSON Lines file.",
        ),
        "include_pii": Param(False, type="boolean", description="Keep personal fields in the output."),
    },
) as dag:
    HumanAccountInfoOperator(
        task_id="look_up_accounts",
        account_ids="{{ params.account_ids }}",
        api_version=2,
        output_path="{{ params.output_path }}/{{ run_id | replace(':', '_') }}.jsonl",
        include_pii=False,
        pool="human_api",
    )
