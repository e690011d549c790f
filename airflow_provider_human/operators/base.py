"""What every HUMAN operator shares: the connection id and the hook (input coercion: client/coerce.py)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_human.hooks.human import HumanHook


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
