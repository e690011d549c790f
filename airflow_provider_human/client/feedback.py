"""Grouping and batching of feedback outcomes: one request per (group, batch)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from airflow_provider_human.client.builders import FeedbackGroupKey, validate_account_id
from airflow_provider_human.exceptions import HumanInputError

_T = TypeVar("_T")

OUTCOME_KEYS = frozenset({"account_id", "attack_type", "status", "result", "comment"})


def chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def requests_needed(group_sizes: Iterable[int], batch_size: int) -> int:
    """The minimum number of uploads: sum of ceil(group size / batch size)."""
    return sum(math.ceil(n / batch_size) for n in group_sizes)


def group_outcomes(outcomes: Iterable[object], field: str = "outcomes") -> dict[FeedbackGroupKey, list[str]]:
    """Validate every outcome and group account ids by (attack_type, status, result, comment).

    Duplicate ids inside a group are dropped. Raises :class:`HumanInputError` naming the
    first bad outcome, before anything is sent.
    """
    if isinstance(outcomes, str | bytes | Mapping) or not isinstance(outcomes, Iterable):
        raise HumanInputError(field, outcomes, "must be a list of outcome objects")
    groups: dict[FeedbackGroupKey, dict[str, None]] = {}
    for index, outcome in enumerate(outcomes):
        where = f"{field}[{index}]"
        if not isinstance(outcome, Mapping):
            raise HumanInputError(
                where, outcome, "must be an object {account_id, attack_type, status, result, comment}"
            )
        unknown = set(outcome) - OUTCOME_KEYS
        if unknown:
            raise HumanInputError(f"{where}.{sorted(unknown)[0]}", outcome[sorted(unknown)[0]], "is not a known key")
        account_id = validate_account_id(outcome.get("account_id"), f"{where}.account_id")
        try:
            key = FeedbackGroupKey.build(
                attack_type=outcome.get("attack_type"),
                status=outcome.get("status"),
                result=outcome.get("result"),
                comment=outcome.get("comment"),
            )
        except HumanInputError as exc:
            raise HumanInputError(f"{where}.{exc.field}", exc.value, exc.problem) from None
        groups.setdefault(key, {})[account_id] = None
    if not groups:
        raise HumanInputError(field, outcomes, "must contain at least one outcome")
    return {key: list(ids) for key, ids in groups.items()}
