"""HumanReconciliationDayCheckOperator: a day's run is green only when the ledger says its day is done.

With the review in a DAG of its own (so that a backfill is never held by a person), the
reconciliation hands its items over and this check ends the day's run at once: green when
every outcome of the day is sent or needs nothing, failed with "N items wait for a person"
otherwise. Clear it after the review was answered and it turns green.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_human.client.coerce import to_bool
from airflow_provider_human.links import HumanDayPageLink, record_links
from airflow_provider_human.operators.base import context_moment
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.outcomes import format_utc
from airflow_provider_human.reconciliation.sources import sql_engine
from airflow_provider_human.ui_links import day_page_url
from airflow_provider_human.words import counted


class HumanReconciliationDayCheckOperator(BaseOperator):
    """Fails the run while its day has items for a person (no retry) or unfinished outcomes (retry).

    :param ledger_conn_id: SQL connection of the ledger.
    :param ledger_table: the ledger table.
    :param interval_start: the day's start (templated; default: the run's ``data_interval_start``).
    :param interval_end: the day's end (templated; default: the run's ``data_interval_end``).
    :param review_dag_id: where the items are answered, named in the failure.
    :param dry_run: nothing was written: nothing to check (templated).
    """

    template_fields: Sequence[str] = ("interval_start", "interval_end", "plan_only")
    ui_color = "#1f2a44"
    ui_fgcolor = "#ffffff"
    operator_extra_links = (HumanDayPageLink(),)  # the day's HUMAN page

    def __init__(
        self,
        *,
        ledger_conn_id: str = "human_case_db",
        ledger_table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        interval_start: str | datetime | None = None,
        interval_end: str | datetime | None = None,
        review_dag_id: str = "human_case_review",
        dry_run: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.ledger_table = ledger_table
        self.rejects_table = rejects_table
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.review_dag_id = review_dag_id
        self.plan_only = dry_run

    def execute(self, context: Any) -> dict[str, Any]:
        interval = (
            format_utc(context_moment(self.interval_start, context, "data_interval_start", "interval_start")),
            format_utc(context_moment(self.interval_end, context, "data_interval_end", "interval_end")),
        )
        record_links(self, context, day=day_page_url(self.ledger_conn_id, interval[0]))
        if to_bool(self.plan_only, "dry_run"):
            self.log.info("Dry run: nothing was written, so there is nothing to check for [%s, %s)", *interval)
            return {"interval_start": interval[0], "interval_end": interval[1], "dry_run": True}
        ledger = Ledger(sql_engine(self.ledger_conn_id), table=self.ledger_table, rejects_table=self.rejects_table)
        truth = ledger.interval_truth(interval) if ledger.exists() else {}
        day = interval[0][:10]
        waiting_for_a_person = int(truth.get("needing_review") or 0)
        unfinished = int(truth.get("waiting") or 0) + int(truth.get("in_doubt") or 0)
        self.log.info("The day %s in the ledger: %s", day, truth)
        if waiting_for_a_person:
            raise AirflowFailException(
                f"{counted(waiting_for_a_person, 'item')} of {day} wait for a person: answer them in the review "
                f"(DAG {self.review_dag_id}, on the Required Actions page), then clear this task to turn the day "
                "green. Other days are not held."
            )
        if unfinished:
            raise AirflowException(
                f"{unfinished} outcome(s) of {day} are not finished yet (waiting or in doubt): the reconciliation's "
                "next try finishes them"
            )
        self.log.info("The day %s is done: every outcome is sent or needs nothing", day)
        return {"interval_start": interval[0], "interval_end": interval[1], "dry_run": False, **truth}
