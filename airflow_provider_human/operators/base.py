"""What every HUMAN operator shares: the connection id and the hook (input coercion: client/coerce.py),
and what operators read from the task context (the owner of their ledger rows, interval bounds)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_human.client import HumanInputError
from airflow_provider_human.hooks.human import HumanHook
from airflow_provider_human.reconciliation.outcomes import parse_timestamp


class HumanBaseOperator(BaseOperator):
    """Base for HUMAN operators: builds one :class:`HumanHook` per task try and closes it after.

    :param human_conn_id: the ``human`` connection (default ``human_default``).
    """

    ui_color = "#1f2a44"
    ui_fgcolor = "#ffffff"

    def __init__(self, *, human_conn_id: str = HumanHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.human_conn_id = human_conn_id

    @cached_property
    def hook(self) -> HumanHook:
        return HumanHook(human_conn_id=self.human_conn_id)

    def execute(self, context: Any) -> Any:
        try:
            return self.run(context)
        finally:
            if "hook" in self.__dict__:
                self.hook.close()

    def run(self, context: Any) -> Any:
        """The operator's work; :meth:`execute` wraps it so the hook's session is always closed."""
        raise NotImplementedError


def task_owner(context: Any, task_id: str) -> str:
    """One owner per task instance (and so per shard): every try of it shares the name, never the rows."""
    ti = context.get("ti") if context else None
    if ti is None:
        return f"adhoc/{task_id}"
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{map_index}"


def context_moment(value: Any, context: Any, key: str, field: str) -> datetime:
    """``value`` as a timestamp, or the context's ``key`` (``data_interval_start``...) when it is empty."""
    if value in (None, ""):
        value = context.get(key) if context else None
        if value is None:
            raise HumanInputError(field, None, f"no {key} in the task context; pass {field} explicitly")
    moment = parse_timestamp(value)
    if moment is None:
        raise HumanInputError(field, value, "must be an ISO 8601 timestamp")
    return moment
