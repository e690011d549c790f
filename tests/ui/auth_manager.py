"""A test auth manager: Airflow's simple one, except that a user reads only the DAGs their name lists.

``reads:dag_a+dag_b`` may read dag_a and dag_b and nothing else; every other name is refused
every DAG. It lets the tests tell "this DAG's readers" from "any signed-in user".
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class OneDagAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        prefix, _, dags = user.username.partition(":")
        return prefix == "reads" and method == "GET" and details is not None and details.id in dags.split("+")
