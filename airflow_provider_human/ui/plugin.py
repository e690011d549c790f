"""The Airflow plugin: the FastAPI app at ``/human`` and its entry in the UI's navigation.

Airflow loads it through the ``airflow.plugins`` entry point (the default, lazily discovered
providers) or through the provider info's ``plugins`` (``[core] lazy_discover_providers =
False``); whichever comes second is skipped by name.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow_provider_human.ui.app import create_app

URL_PREFIX = "/human"


class HumanUIPlugin(AirflowPlugin):
    name = "human"
    fastapi_apps = [{"name": "HUMAN Account Defender", "app": create_app(), "url_prefix": URL_PREFIX}]
    external_views = [
        {
            "name": "HUMAN",
            "href": f"{URL_PREFIX}/",
            "url_route": "human",
            "destination": "nav",
            "category": "browse",
            "icon": f"{URL_PREFIX}/icon.svg",
        }
    ]
