"""HumanDayNotifier: a reconciliation day that failed or missed its deadline, in one message for a person.

It reads the day's state from the ledger the way the day check does (``interval_truth``:
counts only, never an account's personal fields), names the review DAG and the pages to
answer on, and sends through an Airflow notifier: Slack or SMTP when their provider is
installed (the ``slack`` / ``smtp`` extras), else the log. It works as a DAG's
``on_failure_callback`` (run by the dag processor) and as a ``DeadlineAlert`` callback
(awaited in the triggerer, whose context holds the run as JSON).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from airflow.sdk import BaseNotifier

from airflow_provider_human.exceptions import HumanConfigError
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.outcomes import as_utc, format_utc
from airflow_provider_human.reconciliation.sources import sql_engine
from airflow_provider_human.ui_links import day_page_url
from airflow_provider_human.words import counted

SENDERS = ("log", "slack", "smtp")

log = logging.getLogger(__name__)


def required_actions_url() -> str:
    """Airflow's *Required Actions* page, where the review DAG asks its question."""
    return f"{_base_url()}/required_actions"


def _base_url() -> str:
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def day_interval(context: Any) -> tuple[str, str] | None:
    """The run's data interval as the ledger stores it, from a task, DAG or deadline context (``None``: unknown)."""
    run = context.get("dag_run")
    found = []
    for key in ("data_interval_start", "data_interval_end"):
        value = context.get(key)
        if value is None and run is not None:
            value = run.get(key) if isinstance(run, dict) else getattr(run, key, None)
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if not isinstance(value, datetime):
            return None
        found.append(format_utc(as_utc(value)))
    return (found[0], found[1])


def day_message(
    *,
    dag_id: str,
    run_id: str | None,
    interval: tuple[str, str] | None,
    truth: dict[str, Any],
    ledger_conn_id: str,
    review_dag_id: str,
    why: str,
    unread: str | None = None,
) -> str:
    """The message: the day, why it is not done, what waits (counts only) and where to answer."""
    day = interval[0][:10] if interval else "(day unknown)"
    lines = [f"HUMAN reconciliation {dag_id}: the day {day} {why} (run {run_id or 'unknown'})."]
    person = int(truth.get("needing_review") or 0)
    waiting, in_doubt = int(truth.get("waiting") or 0), int(truth.get("in_doubt") or 0)
    if truth:
        sent = sum(int(n) for n in (truth.get("sent_by_result") or {}).values())
        lines.append(
            f"In the ledger: {counted(int(truth.get('decided') or 0), 'outcome')} decided, {sent} sent; "
            f"{counted(person, 'item waits', 'items wait')} for a person; "
            f"{waiting} waiting and {in_doubt} in doubt (a retry of the day finishes those)."
        )
    elif unread:
        lines.append(f"The ledger could not be read ({unread}): see the day's page.")
    elif interval:
        lines.append("The ledger holds nothing of this day yet.")
    if person:
        lines.append(f"Answer them in the DAG {review_dag_id} on the Required Actions page: {required_actions_url()}")
    if interval:
        lines.append(f"The day's page: {day_page_url(ledger_conn_id, day)}")
    return "\n".join(lines)


class HumanDayNotifier(BaseNotifier):
    """Say which reconciliation day failed, what waits for a person, and where to answer.

    :param ledger_conn_id: SQL connection of the ledger (read only, as the day check reads it).
    :param ledger_table: the ledger table.
    :param review_dag_id: the DAG where a person answers.
    :param send_with: ``log`` (default), ``slack`` (``airflow-provider-human[slack]``) or ``smtp`` (``[smtp]``).
    :param slack_conn_id: Slack API connection, and ``slack_channel`` the channel.
    :param smtp_conn_id: SMTP connection (default: ``[email] email_conn_id``), and ``email_to`` the recipients.
    """

    def __init__(
        self,
        *,
        ledger_conn_id: str = "human_case_db",
        ledger_table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        review_dag_id: str = "human_case_review",
        send_with: str = "log",
        slack_conn_id: str = "slack_api_default",
        slack_channel: str = "#fraud-data",
        smtp_conn_id: str | None = None,
        email_to: str | list[str] | None = None,
        context: Any = None,
    ) -> None:
        super().__init__(context=context)
        if send_with not in SENDERS:
            raise HumanConfigError(f"HumanDayNotifier: send_with={send_with!r} must be one of {', '.join(SENDERS)}")
        if send_with == "smtp" and not email_to:
            raise HumanConfigError("HumanDayNotifier: send_with='smtp' needs email_to")
        self.ledger_conn_id = ledger_conn_id
        self.ledger_table = ledger_table
        self.rejects_table = rejects_table
        self.review_dag_id = review_dag_id
        self.send_with = send_with
        self.slack_conn_id = slack_conn_id
        self.slack_channel = slack_channel
        self.smtp_conn_id = smtp_conn_id
        self.email_to = email_to

    def message(self, context: Any) -> str:
        """What is sent for this context; reads the day's counts from the ledger."""
        interval = day_interval(context)
        truth: dict[str, Any] = {}
        unread = None
        if interval is not None:
            try:
                engine = sql_engine(self.ledger_conn_id)
                ledger = Ledger(engine, table=self.ledger_table, rejects_table=self.rejects_table)
                truth = ledger.interval_truth(interval) if ledger.exists() else {}
            except Exception as exc:  # the alert still goes out; the error's text may hold a database URL
                unread = f"{type(exc).__name__} on the connection {self.ledger_conn_id!r}"
        run = context.get("dag_run")
        dag = context.get("dag")
        dag_id = getattr(dag, "dag_id", None) or _field(run, "dag_id") or "?"
        run_id = context.get("run_id") or _field(run, "run_id")
        why = "missed its deadline" if "deadline" in context else "failed"
        return day_message(dag_id=dag_id, run_id=run_id, interval=interval, truth=truth, unread=unread,
                           ledger_conn_id=self.ledger_conn_id, review_dag_id=self.review_dag_id, why=why)  # fmt: skip

    def notify(self, context: Any) -> None:
        run_type = _field(context.get("dag_run"), "run_type")
        if "deadline" in context and str(getattr(run_type, "value", run_type)) == "backfill":
            log.info("A backfilled day is past its deadline by construction: no alert (a failure still alerts)")
            return
        text = self.message(context)
        if self.send_with == "log":
            log.warning("%s", text)
        elif self.send_with == "slack":
            notifier = _import("airflow.providers.slack.notifications.slack", "SlackNotifier", "slack")
            notifier(slack_conn_id=self.slack_conn_id, channel=self.slack_channel, text=text).notify(context)
        else:
            notifier = _import("airflow.providers.smtp.notifications.smtp", "SmtpNotifier", "smtp")
            subject = text.splitlines()[0]
            body = "<pre>" + text.replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
            notifier(to=self.email_to, subject=subject, html_content=body, smtp_conn_id=self.smtp_conn_id).notify(
                context
            )

    async def async_notify(self, context: Any) -> None:
        """The deadline's path (the triggerer): the same message, its blocking reads off the event loop."""
        await asyncio.to_thread(self.notify, context)


def _field(run: Any, name: str) -> Any:
    return run.get(name) if isinstance(run, dict) else getattr(run, name, None)


def _import(module: str, name: str, extra: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        raise HumanConfigError(
            f'HumanDayNotifier: send_with={extra!r} needs its provider: pip install "airflow-provider-human[{extra}]"'
        ) from None
