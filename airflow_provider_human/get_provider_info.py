"""Provider registration: what ``airflow providers list`` and the connection form read.

Airflow imports this while it is itself being imported: it must import nothing but
import-free modules (no client, no hook).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_human import __version__
from airflow_provider_human.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_CONSOLE_URL,
    DEFAULT_FEEDBACK_BATCH_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WORKERS,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "identity_base_url": {
        "label": "Identity API base URL",
        "description": "Base URL of the identity service (PUT /api/v1/identity/{id}). Empty: the host.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each HTTP request before it counts as failed.",
        "schema": {"type": ["number", "null"], "default": DEFAULT_TIMEOUT, "minimum": 0.001},
    },
    "max_retries": {
        "label": "Max retries",
        "description": (
            "Retries with backoff: lookups and identity updates on 429/5xx and connection failures; "
            "feedback uploads only on 429 and connections that never opened (anything else may have been applied)."
        ),
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES, "minimum": 0},
    },
    "requests_per_second": {
        "label": "Requests per second",
        "description": (
            "Your HUMAN account's rate limit. With a rate budget (below, or a reconciliation's ledger) every task "
            "using this connection at the same moment gets its share of it; without one it limits each task alone."
        ),
        "schema": {"type": ["number", "null"], "default": DEFAULT_REQUESTS_PER_SECOND, "minimum": 0.001},
    },
    "max_workers": {
        "label": "Max workers",
        "description": "Threads used for concurrent account lookups and identity updates.",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_WORKERS, "minimum": 1},
    },
    "feedback_batch_size": {
        "label": "Feedback batch size",
        "description": "Account ids per feedback upload (update_status) request.",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_FEEDBACK_BATCH_SIZE, "minimum": 1},
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "description": "Verify the server's TLS certificate. Turn off only for debugging.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "proxy": {
        "label": "Proxy URL",
        "description": "HTTP(S) proxy for every request, e.g. http://proxy.internal:3128.",
        "schema": {"type": ["string", "null"]},
    },
    "v1_attack_types_encoding": {
        "label": "v1 attack_types encoding",
        "description": (
            "How the v1 lookup sends its attack_types list: python_list (attack_types=['ato'], as HUMAN's page "
            'shows it), json (attack_types=["ato"]) or repeated (attack_types=ato&attack_types=fake_account).'
        ),
        "schema": {
            "type": ["string", "null"],
            "default": "python_list",
            "enum": ["python_list", "json", "repeated", None],
        },
    },
    "rate_budget_conn_id": {
        "label": "Rate budget connection",
        "description": (
            "An Airflow connection (a SQL database or redis) where every task of this connection shares "
            "requests_per_second. Empty: a reconciliation shares it in its ledger's database, other tasks "
            "each pace alone at requests_per_second."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "console_url": {
        "label": "HUMAN console URL",
        "description": (
            "The HUMAN console the tasks' 'HUMAN console' link opens (your portal's address if it differs). "
            "Links only: no request goes there."
        ),
        "schema": {"type": ["string", "null"], "default": DEFAULT_CONSOLE_URL},
    },
}

# Airflow 3.3.2's row "Test Connection" sends port 0 for an empty Port and the API answers a bare
# "Bad Request" (apache/airflow#73298); only a stored port avoids it, so the empty field says so.
# Not hidden: a hidden Port is always stored empty. docs/connection.md#testing-the-connection
PORT_PLACEHOLDER = "Fill in 443: Airflow 3.3.2's Test button needs a port"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-human",
        "name": "HUMAN Security",
        "description": "HUMAN Security Account Defender: lookups, feedback, identities, reconciliation.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "HUMAN Security Account Defender",
                "external-doc-url": "https://docs.humansecurity.com/applications-api",
                "tags": ["security"],
            }
        ],
        "hooks": [
            {
                "integration-name": "HUMAN Security Account Defender",
                "python-modules": ["airflow_provider_human.hooks.human"],
            }
        ],
        "operators": [
            {
                "integration-name": "HUMAN Security Account Defender",
                "python-modules": [
                    "airflow_provider_human.operators.account",
                    "airflow_provider_human.operators.day_check",
                    "airflow_provider_human.operators.feedback",
                    "airflow_provider_human.operators.identity",
                    "airflow_provider_human.operators.reconciliation",
                    "airflow_provider_human.operators.review",
                ],
            }
        ],
        "notifications": ["airflow_provider_human.notifications.day.HumanDayNotifier"],
        "config": {
            "human": {
                "description": "Options for the HUMAN Security provider.",
                "options": {
                    "reports_dir": {
                        "description": (
                            "Where reconciliation reports and review lists are written: a path or an object-storage "
                            "URL (ObjectStoragePath; s3://<conn_id>@bucket/path names the Airflow connection). "
                            "An operator's reports_dir wins. Empty: $AIRFLOW_HOME/reports/human on the worker."
                        ),
                        "version_added": None,
                        "type": "string",
                        "example": "s3://aws_default@my-bucket/human-reports",
                        "default": None,
                    },
                    "review_assignees": {
                        "description": (
                            "Who may answer the reconciliation's review (the example DAG's assigned_users): "
                            "comma-separated user ids, each optionally id:name, or a JSON list of "
                            '{"id": ..., "name": ...}. The id is the auth manager\'s user id (the user name with '
                            "the simple auth manager, the numeric id with FAB). Empty: any user who may edit the DAG."
                        ),
                        "version_added": None,
                        "type": "string",
                        "example": "fraud-lead:Fraud Lead, 42:Analyst On Call",
                        "default": None,
                    },
                    "ui_ledger_conn_ids": {
                        "description": (
                            "The ledger connections the HUMAN page of the Airflow UI (/human) shows, comma-separated, "
                            "in that order. Only these are ever read, read-only."
                        ),
                        "version_added": None,
                        "type": "string",
                        "example": "human_case_db, human_case_db_eu",
                        "default": "human_case_db",
                    },
                    "ui_dag_id": {
                        "description": (
                            "The DAG whose runs a user must be allowed to read to see the HUMAN page (the "
                            "reconciliation that writes the ledgers)."
                        ),
                        "version_added": None,
                        "type": "string",
                        "example": "human_case_reconciliation",
                        "default": "human_case_reconciliation",
                    },
                    "ledger_auto_upgrade": {
                        "description": (
                            "Whether a reconciliation run upgrades an older ledger's tables itself (under the "
                            "database's lock) before it starts. Off: the run refuses and names the command, "
                            "airflow human ledger upgrade --conn-id <ledger connection>, for whoever owns the tables."
                        ),
                        "version_added": None,
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                },
            }
        },
        "asset-uris": [
            {
                "schemes": ["human"],
                "handler": "airflow_provider_human.assets.sanitize_uri",
                "factory": "airflow_provider_human.assets.create_asset",
                "to_openlineage_converter": "airflow_provider_human.assets.convert_asset_to_openlineage",
            }
        ],
        "dataset-uris": [
            {
                "schemes": ["human"],
                "handler": "airflow_provider_human.assets.sanitize_uri",
                "factory": "airflow_provider_human.assets.create_asset",
            }
        ],
        "extra-links": [
            "airflow_provider_human.links.HumanConsoleLink",
            "airflow_provider_human.links.HumanDayPageLink",
            "airflow_provider_human.links.HumanReportLink",
        ],
        "cli": ["airflow_provider_human.reconciliation.ledger.migrations.cli.get_cli_commands"],
        # Loaded from here with [core] lazy_discover_providers = False; by default through the airflow.plugins
        # entry point (pyproject.toml). Only the class path: this module stays import-free.
        "plugins": [{"name": "human", "plugin-class": "airflow_provider_human.ui.plugin.HumanUIPlugin"}],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_human.hooks.human.HumanHook",
                "hook-name": "HUMAN Security",
                "connection-type": "human",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login"],
                    "relabeling": {"password": "Server token", "host": "Base URL"},
                    "placeholders": {
                        "host": DEFAULT_BASE_URL,
                        "password": "Server token from Platform Settings > Applications",
                        "port": PORT_PLACEHOLDER,
                    },
                },
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
