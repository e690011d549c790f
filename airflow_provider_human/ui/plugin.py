"""The Airflow plugin: the FastAPI app at ``/human`` and its entry in the UI's navigation.

Airflow loads it through the ``airflow.plugins`` entry point (the default, lazily discovered
providers) or through the provider info's ``plugins`` (``[core] lazy_discover_providers =
False``); whichever comes second is skipped by name. Every task process loads entry-point
plugins too (for macros), so the app and FastAPI are built only when something asks for
``fastapi_apps``: the api-server.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/human"


class _BuiltOnFirstUse:
    """``fastapi_apps``, made on first access from the class or an instance (the api-server reads both)."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        if self._apps is None:
            from airflow_provider_human.ui.app import create_app

            self._apps = [{"name": "HUMAN Account Defender", "app": create_app(), "url_prefix": URL_PREFIX}]
        return self._apps


class HumanUIPlugin(AirflowPlugin):
    name = "human"
    fastapi_apps = _BuiltOnFirstUse()  # type: ignore[assignment]
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
