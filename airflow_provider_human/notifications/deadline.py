"""day_deadline: the reconciliation's DeadlineAlert, built in one place so every DAG gets the same one.

The clock starts when the run is queued (a scheduled run: when its day ended; a backfilled
day: when the backfill queued it, not its long-past date), and the callback is
:class:`~airflow_provider_human.notifications.day.HumanDayNotifier`, awaited in the triggerer.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from airflow_provider_human.notifications.day import HumanDayNotifier


def day_deadline(within: timedelta | None, **notifier_kwargs: Any) -> DeadlineAlert | None:
    """A run not green ``within`` after it was queued calls ``HumanDayNotifier(**notifier_kwargs)``.

    ``None`` (no deadline) when ``within`` is ``None``, and under ``airflow dags test``: nothing
    there watches a deadline, and Airflow 3.3.2's ``dags test`` fails a run that succeeded when
    its DAG has one (apache/airflow#73428).
    """
    if within is None or sys.argv[1:3] == ["dags", "test"]:
        return None
    callback = AsyncCallback(HumanDayNotifier, kwargs=dict(notifier_kwargs))
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=within, callback=callback)
