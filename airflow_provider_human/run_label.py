"""A run's label where Airflow shows one without its logs: a mapped shard's name (``map_index_template``).

Says the interval, the shard and *DRY RUN*. It always begins with a word: a DAG rendering templates
as native objects would otherwise read ``2026-11-18`` as arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

RUN_LABEL_KEY = "human_run_label"
RUN_LABEL_TEMPLATE = "{{ " + RUN_LABEL_KEY + " }}"


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def run_label(start: datetime, end: datetime, *, shard: tuple[int, int] | None = None, dry_run: bool = False) -> str:
    """``cases closed 2026-11-18 · shard 1/4 · DRY RUN``; an interval other than one UTC day as its bounds."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    whole_day = start.time() == datetime.min.time() and end - start == timedelta(days=1)
    parts = [f"cases closed {start:%Y-%m-%d}" if whole_day else f"cases closed {_moment(start)} to {_moment(end)} UTC"]
    if shard is not None and shard[1] > 1:
        parts.append(f"shard {shard[0]}/{shard[1]}")  # as the report names it: the map index, of the count
    if dry_run:
        parts.append("DRY RUN")
    return " · ".join(parts)


def set_run_label(context: Any, label: str) -> None:
    """Name the task instance ``label`` once it ends, unless the DAG gave it a ``map_index_template`` of its own.

    The Task SDK renders the context's ``map_index_template`` after ``execute`` (on failure too), and
    takes it from the task as the DAG declared it: for ``.partial(...).expand(...)`` the partial's, so
    the operator puts :data:`RUN_LABEL_TEMPLATE` there itself when the DAG left it empty.
    """
    if not isinstance(context, dict) and not hasattr(context, "__setitem__"):
        return
    context[RUN_LABEL_KEY] = label
    if context.get("map_index_template") is None:
        context["map_index_template"] = RUN_LABEL_TEMPLATE
