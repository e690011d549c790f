"""Where a connection's budget lives: an Airflow connection (a SQL one or a ``redis`` one) made into a store."""

from __future__ import annotations

from typing import Any

from airflow_provider_human.budget.redis_store import RedisBudgetStore, redis_client
from airflow_provider_human.budget.sql import SqlBudgetStore
from airflow_provider_human.exceptions import HumanConfigError


def store_for_conn(conn_id: str) -> Any:
    """The budget store on Airflow connection ``conn_id``: Redis for type ``redis``, else its SQL database."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type == "redis":
        extra = conn.extra_dejson or {}
        db = extra.get("db", conn.schema or 0)
        client = redis_client(host=conn.host or "127.0.0.1", port=conn.port or 6379, db=int(db or 0),
                              username=conn.login or None, password=conn.password or None,
                              ssl=bool(extra.get("ssl", False)), socket_timeout=5)  # fmt: skip
        return RedisBudgetStore(client)
    try:
        hook = conn.get_hook()
    except Exception as exc:  # a type whose provider is not installed: Airflow's text says which
        raise HumanConfigError(f"rate_budget_conn_id={conn_id!r}: cannot use connection type {conn.conn_type!r} "
                               f"for the rate budget ({exc})") from None  # fmt: skip
    if not hasattr(hook, "get_sqlalchemy_engine"):
        raise HumanConfigError(f"rate_budget_conn_id={conn_id!r}: must name a SQL (common-sql) or a redis connection")
    kwargs = {"connect_args": {"timeout": 30}} if conn.conn_type == "sqlite" else {}
    try:
        return SqlBudgetStore(hook.get_sqlalchemy_engine(engine_kwargs=kwargs))
    except NotImplementedError as exc:
        raise HumanConfigError(f"rate_budget_conn_id={conn_id!r}: {exc}") from None
