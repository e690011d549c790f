"""What every HUMAN operator shares: the connection id, the hook, and input coercion."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_human.client import HumanInputError
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


def as_list(value: Any, field: str) -> list[Any]:
    """Templated list arguments: a list/tuple, an XCom'd iterable, a JSON or Python list literal.

    A rendered template turns a list into its text (``"['a', 'b']"``), so a string that
    parses as a list is a list; any other string or an int is a single item.
    """
    if value is None:
        raise HumanInputError(field, value, "is required")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            for parse in (json.loads, ast.literal_eval):
                try:
                    parsed = parse(text)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(parsed, list):
                    return parsed
        return [value]
    if isinstance(value, int | Mapping):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise HumanInputError(field, value, "must be a list or a single value")


def optional_list(value: Any, field: str) -> list[Any] | None:
    return None if value is None or value == "" else as_list(value, field)


def as_bool(value: Any, field: str) -> bool:
    """Templated booleans render as text ("True"); accept that and real booleans only."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise HumanInputError(field, value, "must be true or false")


def as_int(value: Any, field: str, *, minimum: int = 1) -> int:
    """Templated integers render as text ("30"); accept that and real integers."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise HumanInputError(field, value, f"must be an integer >= {minimum}")
    return value


def as_float(value: Any, field: str, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    """Templated numbers render as text ("0.05"); accept that and real numbers."""
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or number < minimum:
        raise HumanInputError(field, value, f"must be a number >= {minimum}")
    if maximum is not None and number > maximum:
        raise HumanInputError(field, value, f"must be a number <= {maximum}")
    return float(number)
