"""Who may see the page: an authenticated Airflow user allowed to read the runs of ``[human] ui_dag_id``.

A plugin's FastAPI app is not protected by the api-server: every route here depends on
:func:`require_reader`, which is Airflow's own ``get_user`` (the JWT in the bearer header or
the UI's cookie; 401 without one) and ``requires_access_dag`` (403 when the auth manager
refuses), so whatever auth manager the deployment runs decides.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import get_user, requires_access_dag
from fastapi import Depends, Request

from airflow_provider_human.ui.settings import reader_dag_id


def require_reader(request: Request, user: Annotated[BaseUser, Depends(get_user)]) -> BaseUser:
    """The user, when they may read the configured DAG's runs; else Airflow's 401 or 403."""
    requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=reader_dag_id())(request, user)
    return user


Reader = Annotated[BaseUser, Depends(require_reader)]
