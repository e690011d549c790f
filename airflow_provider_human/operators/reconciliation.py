"""HumanCaseReconciliationOperator: reconcile one data interval of case outcomes, exactly once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.exceptions import AirflowTaskTerminated

from airflow_provider_human.assets import ACCOUNTS, FEEDBACK, feedback_alias, file_uri, table_uri
from airflow_provider_human.budget.sql import SqlBudgetStore
from airflow_provider_human.client import HumanInputError
from airflow_provider_human.client.coerce import to_bool, to_int, to_number, to_optional_int
from airflow_provider_human.defaults import DEFAULT_DECISION_LOCK_SECONDS
from airflow_provider_human.links import HumanConsoleLink, HumanDayPageLink, HumanReportLink, location_url, record_links
from airflow_provider_human.operators.base import Deciding, HumanBaseOperator, context_moment, task_owner
from airflow_provider_human.reconciliation.engine import Reconciler
from airflow_provider_human.reconciliation.sources import (
    MAX_FIELD_CHARS,
    FileOutcomeSource,
    SqlOutcomeSource,
    sql_engine,
)
from airflow_provider_human.reports_location import reports_base
from airflow_provider_human.run_label import run_label, set_run_label
from airflow_provider_human.ui_links import day_page_url


class HumanCaseReconciliationOperator(HumanBaseOperator):
    """Tell Account Defender what the fraud team's closed cases mean, once per case outcome.

    Reads the outcomes closed in the run's data interval (``[data_interval_start,
    data_interval_end)`` unless given), looks each account up, decides with the policy
    table, records every decision in the ledger before uploading, and uploads in batches.
    Retries, re-runs and overlapping or concurrent backfills never send an outcome twice.

    :param source_conn_id: SQL connection of the case-management export (``human_case_db``).
    :param source_table: table with the outcomes (``case_outcomes``); ``schema.table`` works.
    :param source_path: read a CSV / JSON Lines file (local or object storage) instead of a table.
    :param columns: logical field -> column name, for exports with other names.
    :param max_field_chars: CSV files: a field longer than this (default 4,096 characters) makes
        its row a reject (``csv_field_too_long``) naming its line.
    :param ledger_conn_id: SQL connection for the ledger and rejects tables (default: the source's).
    :param interval_start: override the interval start (templated; ISO 8601).
    :param interval_end: override the interval end (templated; ISO 8601).
    :param batch_size: account ids per upload (templated; default: the connection's).
    :param max_reject_ratio: fail before deciding anything above this share of rejected rows (templated).
    :param dry_run: plan and report; upload nothing, write no ledger rows (templated).
    :param reprocess: decide again this interval's outcomes that were decided but not sent (templated);
        sent ones stay sent, and a retry of the same run repeats nothing.
    :param per_case_comments: send each case's comment (more requests) instead of one per run.
    :param policy: decision table overrides, e.g. ``{"confirmed_fraud": {"unknown": "resolved/manually_identified"}}``.
    :param reports_dir: where JSON and Markdown reports go (templated; a path or an object storage URL such
        as ``s3://aws_default@bucket/reports``); default ``[human] reports_dir``, else
        ``$AIRFLOW_HOME/reports/human``.
    :param shard_index: with ``shard_count``, handle only this shard of accounts (for ``.expand``).
    :param shard_count: number of shards the day's accounts are split into.
    :param lease_seconds: how long this try's outcomes stay reserved without a heartbeat (a crashed
        try's outcomes are taken over this long after it died).
    :param wait_for_others_seconds: how long to wait for outcomes of this interval held by another
        live run before failing for retry.
    :param verify_after_seconds: how long after an in-doubt upload its account is looked up.
    :param decision_lock_seconds: PostgreSQL ledger: how long to wait for the decision lock before
        failing for retry with its holder named (``DecisionLockTimeoutError``; default 120).
    :param v2_incident_names: v2 incident names per attack type, e.g. ``{"ato": ["account_takeover"],
        "fake_account": ["fake_account"]}`` (templated; the default is a documented guess; unknown
        names make the AD state ambiguous, for a person).

    ``policy``, ``v2_incident_names``, ``per_case_comments``, ``batch_size``, ``lease_seconds`` and
    ``decision_lock_seconds`` are what the day is decided with: pass the review operator
    (:class:`~airflow_provider_human.operators.review.HumanReconciliationReviewOperator`) the
    same objects, so that a person's Resend is decided the same way.
    :param fail_on_review: fail when items wait for a person (default). Set ``False`` when a
        :class:`~airflow_provider_human.operators.review.HumanReconciliationReviewOperator` follows:
        this task then succeeds with the items listed, and the review step asks a person.

    Outlet: the alias :func:`~airflow_provider_human.assets.feedback_alias` of ``human_conn_id``; a try
    that succeeds (not a dry run) adds an event of ``human://<host>/feedback`` whose extra holds the
    interval, the counts by result, the requests and the items waiting for a person. A mapped shard is
    named by its interval, shard and *DRY RUN* (``map_index_template``). Links: the HUMAN console, the
    day's HUMAN page, the try's report.
    """

    operator_extra_links = (HumanConsoleLink(), HumanDayPageLink(), HumanReportLink())

    template_fields: Sequence[str] = (
        "source_table",
        "source_path",
        "interval_start",
        "interval_end",
        "batch_size",
        "max_reject_ratio",
        "plan_only",
        "reprocess",
        "per_case_comments",
        "policy",
        "v2_incident_names",
        "reports_dir",
        "shard_index",
        "shard_count",
    )
    template_fields_renderers = {"policy": "json", "v2_incident_names": "json"}

    def __init__(
        self,
        *,
        source_conn_id: str = "human_case_db",
        source_table: str = "case_outcomes",
        source_path: str | None = None,
        columns: Mapping[str, str] | None = None,
        max_field_chars: int | str = MAX_FIELD_CHARS,
        ledger_conn_id: str | None = None,
        ledger_table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        interval_start: str | datetime | None = None,
        interval_end: str | datetime | None = None,
        batch_size: int | str | None = None,
        max_reject_ratio: float | str = 0.05,
        dry_run: bool | str = False,
        reprocess: bool | str = False,
        per_case_comments: bool | str = False,
        policy: Mapping[str, Mapping[str, str]] | None = None,
        reports_dir: str | None = None,
        shard_index: int | str | None = None,
        shard_count: int | str | None = None,
        lease_seconds: float = 120.0,
        wait_for_others_seconds: float = 180.0,
        verify_after_seconds: float = 60.0,
        decision_lock_seconds: float = DEFAULT_DECISION_LOCK_SECONDS,
        v2_incident_names: Mapping[str, Sequence[str]] | None = None,
        fail_on_review: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        alias = feedback_alias(self.human_conn_id)
        self.outlets = [*[o for o in self.outlets if getattr(o, "name", None) != alias.name], alias]
        self.source_conn_id = source_conn_id
        self.source_table = source_table
        self.source_path = source_path
        self.columns = columns
        self.max_field_chars = max_field_chars
        self.ledger_conn_id = ledger_conn_id
        self.ledger_table = ledger_table
        self.rejects_table = rejects_table
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.batch_size = batch_size
        self.max_reject_ratio = max_reject_ratio
        self.plan_only = dry_run  # not "dry_run": that is BaseOperator.dry_run(), a method
        self.reprocess = reprocess
        self.per_case_comments = per_case_comments
        self.policy = policy
        self.reports_dir = reports_dir
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.lease_seconds = lease_seconds
        self.wait_for_others_seconds = wait_for_others_seconds
        self.verify_after_seconds = verify_after_seconds
        self.decision_lock_seconds = decision_lock_seconds
        self.v2_incident_names = v2_incident_names
        self.fail_on_review = fail_on_review
        self._running: Reconciler | None = None  # the try's run while it is under way (see on_kill)

    def run(self, context: Any) -> dict[str, Any]:
        reports = reports_base(self.reports_dir)  # a bad location fails before any request
        start = context_moment(self.interval_start, context, "data_interval_start", "interval_start")
        end = context_moment(self.interval_end, context, "data_interval_end", "interval_end")
        dry_run = to_bool(self.plan_only, "dry_run")
        shard = self._shard()
        set_run_label(context, run_label(start, end, shard=shard, dry_run=dry_run))
        ledger_conn_id = self.ledger_conn_id or self.source_conn_id
        record_links(self, context, day=day_page_url(ledger_conn_id, start.astimezone(UTC)))
        deciding = Deciding.of(self)
        settings = deciding.settings(
            max_reject_ratio=to_number(self.max_reject_ratio, "max_reject_ratio", maximum=1.0),
            dry_run=dry_run,
            reprocess=to_bool(self.reprocess, "reprocess"),
            shard=shard,
            wait_for_others_seconds=self.wait_for_others_seconds,
            verify_after_seconds=self.verify_after_seconds,
            fail_on_review=to_bool(self.fail_on_review, "fail_on_review"),
        )
        source = (
            FileOutcomeSource(
                self.source_path,
                self.columns,
                max_field_chars=to_int(self.max_field_chars, "max_field_chars", minimum=1),
            )
            if self.source_path
            else SqlOutcomeSource(self.source_conn_id, self.source_table, self.columns)
        )
        ledger = deciding.ledger(ledger_conn_id, self.ledger_table, self.rejects_table)
        # The account's rate budget: where the connection says, else next to the ledger (docs/scaling.md).
        if SqlBudgetStore.supports(ledger.engine):  # any other database: the ledger refuses it before any request
            self.hook.share_budget_in(SqlBudgetStore(ledger.engine))
        reconciler = Reconciler(self.hook.client, source, ledger, policy=deciding.decision_policy(), settings=settings)
        self._running = reconciler
        try:
            result = reconciler.run(start, end, owner=task_owner(context, self.task_id))
        finally:
            self._running = None
        report = result.report
        self._record_lineage(source, report.counts)
        ti = context.get("ti") if context else None
        paths = report.write(reports, try_number=getattr(ti, "try_number", None))
        record_links(self, context, report=location_url(paths[-1]))
        self.log.info("HUMAN reconciliation report:\n%s", report.as_table())
        self.log.info("Reports written: %s", ", ".join(paths))
        result.raise_for_outcome()
        summary = report.summary()
        if not dry_run:  # a dry run told HUMAN nothing: no event, so nothing downstream runs on a plan
            extra = feedback_event_extra(summary, dict(report.uploads_by_result), self.human_conn_id, ledger_conn_id)
            self._feedback_event(context, extra)
        return summary

    def _record_lineage(self, source: Any, counts: Any) -> None:
        """The case table (or file) read; HUMAN's lookups read and feedback written, when they were."""
        if isinstance(source, SqlOutcomeSource):
            engine = sql_engine(self.source_conn_id) if source.engine is None else source.engine
            self.touched.read(table_uri(engine.url, source.table), self)
        else:
            from airflow.sdk import ObjectStoragePath

            path = str(source.path)
            self.touched.read(file_uri(ObjectStoragePath(path if "://" in path else f"file://{path}")), self)
        if counts["lookups"]:
            self.hook.lineage(ACCOUNTS, written=False)
        if counts["requests_sent"] or counts["failed"] or counts["in_doubt"]:
            self.hook.lineage(FEEDBACK, written=True)

    def _feedback_event(self, context: Any, extra: dict[str, Any]) -> None:
        """Attach this try's event to the feedback asset of the connection's host, through the alias."""
        events = context.get("outlet_events") if context else None
        if events is None:  # executed outside a task runner (a test, the engine's own use)
            return
        from airflow_provider_human.assets import feedback_asset

        events[feedback_alias(self.human_conn_id)].add(feedback_asset(self.hook.settings.base_url), extra=extra)

    def on_kill(self) -> None:
        """A SIGTERM (a cleared or marked task, a worker shut down): stop the try and free its rows now.

        Airflow's Task SDK calls this from its SIGTERM handler in the task's process and then
        lets the task go on until the supervisor's SIGKILL. Raising ``AirflowTaskTerminated``
        here unwinds the run where it stands: its open transaction rolls back and the engine
        releases the try's lease at once, so the next try adopts the rows within seconds
        instead of after ``lease_seconds``. An upload cut off mid-request stays ``sending``
        and is verified by lookup, never resent blindly. Once the run is releasing (or done),
        nothing is raised.
        """
        reconciler = getattr(self, "_running", None)
        if reconciler is not None and reconciler.stoppable:
            self.log.warning("Killed (SIGTERM): stopping the reconciliation and releasing its lease")
            raise AirflowTaskTerminated("the reconciliation try was killed; its lease is released")

    def _shard(self) -> tuple[int, int] | None:
        count = to_optional_int(self.shard_count, "shard_count")
        if count is None:
            return None
        index = to_int(self.shard_index, "shard_index", minimum=0)
        if index >= count:
            raise HumanInputError("shard_index", index, f"must be < shard_count={count}")
        return (index, count)


def feedback_event_extra(
    summary: Mapping[str, Any], sent_by_result: Mapping[str, int], human_conn_id: str, ledger_conn_id: str
) -> dict[str, Any]:
    """The feedback asset event's extra: what a DAG scheduled on it needs without reading logs or reports.

    This try's counts (``requests``, ``accounts_sent``, ``sent_by_result``) and the day's truth from
    the ledger (``day_sent_by_result``, ``waiting_for_a_person``); connection ids, never a token.
    """
    interval = summary.get("interval") or {}
    return {
        "interval_start": summary["interval_start"],
        "interval_end": summary["interval_end"],
        "day": str(summary["interval_start"])[:10],
        "dry_run": bool(summary["dry_run"]),
        "shard": summary.get("shard"),
        "human_conn_id": human_conn_id,
        "ledger_conn_id": ledger_conn_id,
        "requests": int(summary.get("requests_sent") or 0),
        "accounts_sent": int(summary.get("accounts_sent") or 0),
        "sent_by_result": dict(sorted(sent_by_result.items())),
        "decided": int(summary.get("decided") or 0),
        "day_sent_by_result": dict(interval.get("sent_by_result") or {}),
        "waiting_for_a_person": int(interval.get("needing_review") or 0),
        "report": (summary.get("report_paths") or [None])[-1],
    }
