"""day_deadline: the reconciliation's DeadlineAlert, built in one place so every DAG gets the same one.

The clock is the day itself: the run's logical date (its interval's start) plus the interval
plus ``within``, i.e. ``within`` after the day ended. Not ``DAGRUN_QUEUED_AT``: on Airflow
3.3.x clearing a task of such a run answers 500 (apache/airflow#70368), and clearing
``day_done`` is how a reviewed day turns green. A backfilled day is late by construction;
:class:`~airflow_provider_human.notifications.day.HumanDayNotifier` says nothing for those
(their failures still alert through ``on_failure_callback``).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from airflow_provider_human.notifications.day import HumanDayNotifier


def day_deadline(
    within: timedelta | None, *, day: timedelta = timedelta(days=1), **notifier_kwargs: Any
) -> DeadlineAlert | None:
    """A run not green ``within`` after its ``day`` ended calls ``HumanDayNotifier(**notifier_kwargs)``.

    ``None`` (no deadline) when ``within`` is ``None``, and under ``airflow dags test``: nothing
    there watches a deadline, and Airflow 3.3.2's ``dags test`` fails a run that succeeded when
    its DAG has one (apache/airflow#73428).
    """
    if within is None or sys.argv[1:3] == ["dags", "test"]:
        return None
    callback = AsyncCallback(HumanDayNotifier, kwargs=dict(notifier_kwargs))
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, interval=day + within, callback=callback)
