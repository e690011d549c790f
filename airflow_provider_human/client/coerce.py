"""The one place where loosely typed input becomes a bool, an int, a number or a list.

Values reach the provider as real Python values (DAGs render templates as native objects),
as text (a user's own Jinja, an extra typed in the connection form) or as JSON scalars. Every
operator, the hook, the client settings and the reconciliation settings convert through these
functions, so one spelling is accepted everywhere and every refusal names the field and the
value (:class:`HumanInputError`), before any request is sent.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_human.exceptions import HumanInputError

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INTEGRAL_DECIMAL = re.compile(r"[+-]?[0-9]+\.0*")  # "5.0", "5.": exact, no float rounding of big values


def to_bool(value: Any, field: str) -> bool:
    """``True``/``False``, or their spellings as text: true/false, yes/no, 1/0 (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    raise HumanInputError(field, value, "must be true or false")


def to_int(value: Any, field: str, *, minimum: int | None = 1) -> int:
    """An integer, an integral float (``5.0``) or the text of either (``"5"``, ``"5.0"``: a rendered
    template's text of the float must mean what the float means); at least ``minimum`` unless ``None``."""
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            number = int(text)
        elif _INTEGRAL_DECIMAL.fullmatch(text):
            number = int(text.split(".")[0])
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise HumanInputError(field, value, "must be an integer" + (f" >= {minimum}" if minimum is not None else ""))
    if minimum is not None and number < minimum:
        raise HumanInputError(field, value, f"must be an integer >= {minimum}")
    return number


def to_number(value: Any, field: str, *, minimum: float | None = 0.0, maximum: float | None = None) -> float:
    """A real number or its text (``"0.05"``), within ``[minimum, maximum]`` where they are given."""
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise HumanInputError(field, value, "must be a finite number")
    if minimum is not None and number < minimum:
        raise HumanInputError(field, value, f"must be a number >= {minimum}")
    if maximum is not None and number > maximum:
        raise HumanInputError(field, value, f"must be a number <= {maximum}")
    return float(number)


def to_list(value: Any, field: str) -> list[Any]:
    """A list, any other iterable (an XCom), one item, or the text of a list.

    A template rendered without native objects turns a list into its text (``"['a', 'b']"``):
    text that parses as a JSON or Python list literal is that list; other text, a number or
    a mapping is a single item.
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
            if text.endswith("]"):
                raise HumanInputError(field, value, "looks like a list but is neither JSON nor a Python list literal")
        return [value]
    if isinstance(value, int | float | Mapping | bytes):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise HumanInputError(field, value, "must be a list or a single value")


def to_optional_list(value: Any, field: str) -> list[Any] | None:
    """:func:`to_list`, with ``None`` and ``""`` meaning "not given"."""
    return None if value is None or value == "" else to_list(value, field)


def to_optional_int(value: Any, field: str, *, minimum: int | None = 1) -> int | None:
    """:func:`to_int`, with ``None`` and ``""`` meaning "not given" (use the default)."""
    return None if value is None or value == "" else to_int(value, field, minimum=minimum)
