"""HumanReconciliationReviewOperator: a person answers what the reconciliation may not decide alone.

Built on the standard provider's :class:`~airflow.providers.standard.operators.hitl.HITLOperator`:
the request shows on the UI's *Required Actions* page (or is answered through the REST API),
the answer and who gave it are written to the ledger, and acted upon through the same
fenced delivery path as the reconciliation itself.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_human.budget.sql import SqlBudgetStore
from airflow_provider_human.client import HumanInputError
from airflow_provider_human.client.coerce import to_bool, to_int, to_number
from airflow_provider_human.defaults import DEFAULT_DECISION_LOCK_SECONDS
from airflow_provider_human.hooks.human import HumanHook
from airflow_provider_human.links import HumanConsoleLink, HumanDayPageLink, HumanReportLink, location_url, record_links
from airflow_provider_human.operators.base import DECIDING_TEMPLATE_FIELDS, Deciding
from airflow_provider_human.reconciliation.engine import Reconciler
from airflow_provider_human.reconciliation.ledger import NEEDS_A_PERSON, Answer, Ledger, ReviewItem
from airflow_provider_human.reconciliation.outcomes import format_utc, parse_timestamp
from airflow_provider_human.reconciliation.report import safe_name
from airflow_provider_human.reconciliation.review_answers import (
    DECIDE_AGAIN,
    LEAVE,
    MARK_APPLIED,
    MARK_HANDLED,
    RESEND,
    ReviewAnswerError,
    choices_for,
    item_key,
    read_answers,
)
from airflow_provider_human.reports_location import reports_base, write_text
from airflow_provider_human.ui_links import day_page_url, overview_url
from airflow_provider_human.ui_links_review import REVIEW_OPEN_KEY
from airflow_provider_human.words import counted

#: The request's buttons: each item's own field says what to do with it (worded for its kind).
ANSWER_EACH = "Answer each item as chosen"
LEAVE_ALL = "Leave all for later"
# One answer for every listed item: the buttons of requests opened before per-item answers.
RESEND_OR_DECIDE = "Resend / decide again"
APPLIED_OR_HANDLED = "Mark as applied / handled"
OPTIONS = {
    RESEND: Answer.RESEND, MARK_APPLIED: Answer.MARK_APPLIED, LEAVE: Answer.LEAVE,
    DECIDE_AGAIN: Answer.RESEND, MARK_HANDLED: Answer.MARK_APPLIED,
    RESEND_OR_DECIDE: Answer.RESEND, APPLIED_OR_HANDLED: Answer.MARK_APPLIED,
}  # fmt: skip


LISTED_KEY = "review_listed"  # XCom: {ledger id: version} of what the request showed
CHOICES_KEY = "review_choices"  # XCom: {ledger id: the words its field offered}
#: seconds the review step's own run waits beyond ``verify_after_seconds`` after a Resend
VERIFY_MARGIN_SECONDS = 30.0

_KIND_HELP = {
    "in_doubt": "an upload whose answer never said whether HUMAN applied it, and no lookup can tell",
    "rejected": "an upload HUMAN refused (400)",
    "reversal": "a verdict that contradicts feedback already sent (the API cannot take it back)",
    "edited": "a case outcome whose verdict the export changed in place",
    "ambiguous_ad_state": "Account Defender shows incidents this provider cannot map",
}


class HumanReconciliationReviewOperator(HITLOperator):
    """Lists every item waiting for a person up to this run's interval end; acts on the answer.

    Opens a request only when there is something to review; otherwise it succeeds at once,
    so the DAG runs end to end without a person on an ordinary day. The request has one field
    per item (the first ``max_listed``), whose choices are worded for the item's kind:

    - **Resend** (an upload) / **Decide again by the table** (any other item): an upload in
      doubt or rejected is sent again (fenced, like any upload); a reversal, edited row or
      ambiguous state is decided again by the policy table alone, history set aside, with a
      fresh lookup, and sent if the table says so.
    - **Mark as applied** / **Mark as handled (nothing sent)**: an upload is recorded as sent
      (checked in the HUMAN console); any other item as handled, nothing sent.
    - **Leave for later** (each field's default): nothing changes; the task fails so the run
      is not green, and the next run lists the item again.

    The button *Answer each item as chosen* applies the fields; *Leave all for later* (also the
    answer when ``response_timeout`` passes) leaves every item. An answer that does not fit the
    request (an unknown item, an item answered twice, a missing answer, a word the item was not
    offered) writes and sends nothing, names the items, and the retry opens a new request.

    Each item's answer applies only to the item as it was listed: an item another answer (another
    day's review, another person) has changed since is left alone, and the task fails for
    retry naming it, so that it is listed again with its new state and last answer. Who may
    answer: ``assigned_users`` (the HITL operator's own argument; the example DAG reads it
    from ``[human] review_assignees``); without it, any user who may edit the DAG.

    :param ledger_conn_id: SQL connection of the ledger (the reconciliation's ``ledger_conn_id``).
    :param ledger_table: the ledger table.
    :param interval_end: list items of outcomes closed before this (templated; default: the run's
        ``data_interval_end``).
    :param reports_dir: where the full list goes (templated; as the reconciliation's ``reports_dir``).
    :param max_listed: items shown in the request's body; the full list is in the review file.
    :param dry_run: open no request (the reconciliation's own dry run; templated).
    :param verify_after_seconds: after a Resend answered in doubt, how long before its account
        is looked up (the reconciliation's own setting of that name).
    :param every_day: list every item waiting, whatever its day (a review DAG of its own, so that
        no reconciliation run waits for a person); ``interval_end`` is then ignored.
    :param wait_for_others_seconds: how long the Resend's run waits for that verification (and
        for rows another run holds); at least ``verify_after_seconds``. Default:
        ``verify_after_seconds`` + 30 s.
    :param policy: the reconciliation's decision table (templated): a Resend of a reversal, edited
        or ambiguous item is decided again by it.
    :param v2_incident_names: the reconciliation's v2 incident names (templated): the Resend's
        fresh lookup is read with them.
    :param per_case_comments: the reconciliation's (templated): which comment a Resend sends.
    :param batch_size: the reconciliation's (templated): account ids per upload.
    :param lease_seconds: the reconciliation's: how long the Resend's rows stay reserved without a heartbeat.
    :param decision_lock_seconds: the reconciliation's: PostgreSQL's bound on the decision lock wait.

    The last six are what the day was decided with: pass the same objects as to the
    :class:`~airflow_provider_human.operators.reconciliation.HumanCaseReconciliationOperator`
    (the example DAGs share one ``DECIDING`` dict).
    """

    template_fields: Sequence[str] = (
        *HITLOperator.template_fields, "interval_end", "reports_dir", "plan_only", "every_day",
        *DECIDING_TEMPLATE_FIELDS,
    )  # fmt: skip
    ui_color = "#1f2a44"
    ui_fgcolor = "#ffffff"
    #: the console, the listed day's HUMAN page (the overview when several days are listed), the list
    operator_extra_links: Any = (HumanConsoleLink(), HumanDayPageLink(), HumanReportLink())

    def __init__(
        self,
        *,
        human_conn_id: str = HumanHook.default_conn_name,
        ledger_conn_id: str = "human_case_db",
        ledger_table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        interval_end: str | datetime | None = None,
        reports_dir: str | None = None,
        max_listed: int = 30,
        dry_run: bool | str = False,
        verify_after_seconds: float = 60.0,
        wait_for_others_seconds: float | None = None,
        every_day: bool | str = False,
        subject: str = "HUMAN reconciliation: items for a person",
        response_timeout: timedelta | None = timedelta(hours=12),
        policy: Mapping[str, Mapping[str, str]] | None = None,
        v2_incident_names: Mapping[str, Sequence[str]] | None = None,
        per_case_comments: bool | str = False,
        batch_size: int | str | None = None,
        lease_seconds: float = 120.0,
        decision_lock_seconds: float = DEFAULT_DECISION_LOCK_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            subject=subject, options=[ANSWER_EACH, LEAVE_ALL], defaults=[LEAVE_ALL], multiple=False,
            response_timeout=response_timeout, **kwargs,
        )  # fmt: skip
        max_listed = to_int(max_listed, "max_listed")
        verify_after_seconds = to_number(verify_after_seconds, "verify_after_seconds")
        if wait_for_others_seconds is None:
            wait_for_others_seconds = verify_after_seconds + VERIFY_MARGIN_SECONDS
        wait_for_others_seconds = to_number(wait_for_others_seconds, "wait_for_others_seconds")
        if wait_for_others_seconds < verify_after_seconds:
            raise HumanInputError(
                "wait_for_others_seconds", wait_for_others_seconds,
                f"must be at least verify_after_seconds ({verify_after_seconds:g}): a Resend answered in doubt "
                "could never be verified and the task would always fail",
            )  # fmt: skip
        self.verify_after_seconds = verify_after_seconds
        self.wait_for_others_seconds = wait_for_others_seconds
        self.human_conn_id = human_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.ledger_table = ledger_table
        self.rejects_table = rejects_table
        self.interval_end = interval_end
        self.reports_dir = reports_dir
        self.max_listed = max_listed
        self.plan_only = dry_run  # not "dry_run": that is BaseOperator.dry_run(), a method
        self.every_day = every_day
        self.policy = policy
        self.v2_incident_names = v2_incident_names
        self.per_case_comments = per_case_comments
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.decision_lock_seconds = decision_lock_seconds

    def _link(self, context: Any, **urls: str) -> None:
        """Record the links (and the console's, once): a link setting that cannot be read fails nothing."""
        if "_human_links" not in self.__dict__:
            hook = HumanHook(human_conn_id=self.human_conn_id)
            try:
                urls["console"] = hook.console_url
            except Exception:  # no or a bad console_url: no console link, the review goes on
                self.log.warning("No HUMAN console link for connection %r", self.human_conn_id)
        record_links(self, context, **urls)

    def _ledger(self) -> Ledger:
        return Deciding.of(self).ledger(self.ledger_conn_id, self.ledger_table, self.rejects_table)

    def _until(self, context: Any) -> str | None:
        if to_bool(self.every_day, "every_day"):
            return None  # every day's items (a review DAG of its own)
        value = self.interval_end if self.interval_end not in (None, "") else context.get("data_interval_end")
        moment = parse_timestamp(value)
        if moment is None:
            raise HumanInputError("interval_end", value, "must be an ISO 8601 timestamp (or run with a data interval)")
        return format_utc(moment)

    def execute(self, context: Any) -> Any:
        if to_bool(self.plan_only, "dry_run"):
            self.log.info("Dry run: no review request is opened, nothing is answered or sent")
            return {"items": 0, "answer": None}
        reports = reports_base(self.reports_dir)  # a bad location fails before anything is sent
        self._link(context, day=overview_url())
        ledger = self._ledger()
        if not ledger.exists():
            self.log.info("No ledger table %s yet: nothing to review", self.ledger_table)
            return {"items": 0, "answer": None}
        until = self._until(context)
        pending = ledger.answered_unfinished(until)
        if pending:  # an earlier try's answer whose resend did not finish (a lookup or HUMAN failed)
            self.log.info("Finishing what an earlier answer asked for in %d interval(s) first", len(pending))
            self._finish(pending, context)
        items = ledger.review_items(until=until)
        if not items:
            self.log.info("Nothing waits for a person among outcomes closed before %s: no review needed",
                          until or "now")  # fmt: skip
            return {"items": 0, "answer": None}
        listing = self._write_listing(items, context, reports)
        shown = items[: self.max_listed]  # one field each; the rest wait for the next request
        days = sorted({i.interval_start[:10] for i in items})
        self._link(context, day=day_page_url(self.ledger_conn_id, days[0]) if len(days) == 1 else overview_url(),
                   report=location_url(listing))  # fmt: skip
        self.subject = f"HUMAN reconciliation: {_items(len(items))} for a person to review ({days_of(items)})"
        self.options = [ANSWER_EACH, LEAVE_ALL]
        self.params = ParamsDict({item_key(i.id): item_field(i) for i in shown})
        self.body = review_body(items, self.max_listed, listing)
        self.log.info("%s for a person (%s); full list: %s", counted(len(items), "item waits", "items wait"),
                      dict(Counter(i.kind for i in items)), listing)  # fmt: skip
        ti = context["ti"]
        ti.xcom_push(key=LISTED_KEY, value={str(i.id): i.version for i in shown})
        ti.xcom_push(key=CHOICES_KEY, value={str(i.id): choices_for(i) for i in shown})
        ti.xcom_push(key=REVIEW_OPEN_KEY, value={
            "ledger_conn_id": self.ledger_conn_id, "ledger_table": self.ledger_table,
            "days": sorted({i.interval_start[:10] for i in shown}), "not_listed": len(items) - len(shown)})  # fmt: skip
        return super().execute(context)

    def validate_chosen_options(self, chosen_options: list[str]) -> None:
        """The buttons, or those of a request opened before per-item answers (``OPTIONS``)."""
        known = {ANSWER_EACH, LEAVE_ALL, *OPTIONS}
        if diff := set(chosen_options) - known:
            raise ValueError(f"Responses {diff} not in {sorted(known)}")

    def validate_params_input(self, params_input: Mapping) -> None:
        """Checked against what the request listed (``read_answers``), not this task's own params."""

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        payload = super().execute_complete(context, event)
        chosen = payload["chosen_options"][0]
        user = payload.get("responded_by_user")
        who = f"{user.get('name') or user.get('id')} ({user.get('id')})" if user else "nobody (response timeout)"
        ti = context["ti"]
        listed = {int(i): str(v) for i, v in (self._pull(ti, LISTED_KEY) or {}).items()}
        ledger = self._ledger()
        answers = self._answers(chosen, payload.get("params_input") or {}, listed, ti, ledger)
        moved = ledger.answer_each({i: (listed[i], a) for i, a in answers.items()}, who)
        changed = changed_since_listed(ledger, [i for i in listed if i not in set(moved)])
        kinds = Counter(answers[i].value for i in moved)
        what = repr(chosen) if chosen != ANSWER_EACH else "per item (" + ", ".join(
            f"{n} {a}" for a, n in sorted(Counter(a.value for a in answers.values()).items())) + ")"  # fmt: skip
        self.log.info("%s answered %s for %s: applied to %d (%s), %d changed since they were listed", who, what,
                      _items(len(listed)), len(moved), dict(kinds), len(changed))  # fmt: skip
        resent = [i for i in moved if answers[i] is Answer.RESEND]
        if resent:
            rows = ledger.review_rows(resent)
            self._finish({(i.interval_start, i.interval_end) for i in rows}, context, watched=resent)
        left = [i for i in moved if answers[i] is Answer.LEAVE]
        if changed:
            raise AirflowException(
                f"{who} answered {what} for {_items(len(listed))}; applied to {len(moved)}"
                + (f" ({len(left)} left for later)" if left else "") + ". "
                f"{_items(len(changed))} changed since the request listed them and were left as they are: "
                f"{_explain(changed)}. Those still waiting are listed again (this task's retry or the next review)"
            )  # fmt: skip
        if left:
            others = len(moved) - len(left)
            raise AirflowFailException(
                f"{_items(len(left))} left for a person ({who} answered {what})"
                + (f"; applied to {counted(others, 'other')}" if others else "")
                + "; they stay in the ledger (state needs_review or failed) and the next run's review step "
                "lists them again"
            )  # fmt: skip
        more = int((self._pull(ti, REVIEW_OPEN_KEY) or {}).get("not_listed") or 0)
        if more:
            raise AirflowException(
                f"{who} answered every item of this request; {counted(more, 'more item waits', 'more items wait')} "
                "beyond it: the retry (or the next review) opens a request for them"
            )
        uniform = {a.value for a in answers.values()}
        return {"items": len(moved), "answer": uniform.pop() if len(uniform) == 1 else "per_item",
                "answers": dict(kinds), "answered_by": who, "moved": len(moved),
                "changed_since_listed": len(changed)}  # fmt: skip

    def _pull(self, ti: Any, key: str) -> Any:
        return ti.xcom_pull(task_ids=self.task_id, key=key, map_indexes=ti.map_index)

    def _answers(
        self, chosen: str, params_input: Mapping[str, Any], listed: dict[int, str], ti: Any, ledger: Ledger
    ) -> dict[int, Answer]:
        """Each listed item's answer: the button's for every item, or each item's own field."""
        if chosen == LEAVE_ALL:
            return dict.fromkeys(listed, Answer.LEAVE)
        if chosen != ANSWER_EACH:  # a request opened before per-item answers: one answer for all
            return dict.fromkeys(listed, OPTIONS[chosen])
        choices = {int(i): list(c) for i, c in (self._pull(ti, CHOICES_KEY) or {}).items()}
        if set(choices) != set(listed):
            raise ReviewAnswerError(["the request's per-item fields were not recorded with it"])
        described = {i.id: f"case {i.case_id}, account {i.account_id}" for i in ledger.review_rows(list(listed))}
        return read_answers(params_input, choices, described)

    def _finish(self, intervals: set[tuple[str, str]], context: Any, watched: Sequence[int] = ()) -> None:
        """Send and decide what the answer freed, interval by interval, through the fenced path.

        Fails when an answer's work is left undone, or a ``watched`` row (this answer's resends)
        waits for a person again; other items of the day that wait for a person (left for later,
        not in the request) are the next request's, not a failure of this answer."""
        hook = HumanHook(human_conn_id=self.human_conn_id)
        try:
            ti = context["ti"]
            errors = []
            deciding = Deciding.of(self)  # what the day's reconciliation decided with
            engine = self._ledger().engine  # each interval gets a ledger of its own (its own lease) below
            if SqlBudgetStore.supports(engine):  # the account's budget, where the reconciliation shares it
                hook.share_budget_in(SqlBudgetStore(engine))
            for start, end in sorted(intervals):
                settings = deciding.settings(
                    wait_for_others_seconds=self.wait_for_others_seconds,
                    verify_after_seconds=self.verify_after_seconds,
                )
                reconciler = Reconciler(hook.client, _NoSource(), self._ledger(), policy=deciding.decision_policy(),
                                        settings=settings)  # fmt: skip
                owner = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"
                result = reconciler.run(datetime.fromisoformat(start), datetime.fromisoformat(end), owner,
                                        read_source=False)  # fmt: skip
                self.log.info("After the answer, [%s, %s):\n%s", start, end, result.report.as_table())
                if result.error is not None:
                    errors.append(((start, end), result.error))
            if errors:
                ledger = self._ledger()
                owed = ledger.answered_unfinished()
                back = {(r.interval_start, r.interval_end) for r in ledger.review_rows(watched)
                        if r.state in NEEDS_A_PERSON}  # fmt: skip
                for interval, error in errors:
                    if interval in owed or interval in back:
                        raise error
                self.log.info("What the answer asked for is done; other items of %s wait for the next request",
                              ", ".join(start[:10] for (start, _), _ in errors))  # fmt: skip
        finally:
            hook.close()

    def _write_listing(self, items: list[ReviewItem], context: Any, reports: str) -> str:
        ti = context.get("ti")
        run_id, try_number = getattr(ti, "run_id", "adhoc"), getattr(ti, "try_number", 0)
        map_index = getattr(ti, "map_index", -1)
        mapped = f"__m{map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
        # Only the run id is cut (safe_name adds a hash of the whole): the try and map index always stay.
        days = sorted({i.interval_start[:10] for i in items})  # named after the days it lists, as reports are
        span = days[0] if len(days) == 1 else f"{days[0]}_to_{days[-1]}"
        name = f"{span}__review__{safe_name(str(run_id))}{mapped}__try{try_number}"
        target = f"{reports.rstrip('/')}/{name}.json"
        return write_text(target, json.dumps([review_entry(i) for i in items], indent=2))


def days_of(items: list[ReviewItem]) -> str:
    """The days the items belong to, in words: "day 2026-11-18", "3 days: 2026-11-18 to 2026-11-20"."""
    days = sorted({i.interval_start[:10] for i in items})
    if len(days) == 1:
        return f"day {days[0]}"
    listed = ", ".join(days) if len(days) <= 3 else f"{days[0]} to {days[-1]}"
    return f"{len(days)} days: {listed}"


def review_requests_asset(ledger_conn_id: str = "human_case_db", ledger_table: str = "human_feedback_ledger") -> Any:
    """The Asset a reconciliation updates when its day leaves items for a person (a review DAG's schedule)."""
    from airflow.sdk import Asset

    return Asset(name=f"human_review_requests__{ledger_conn_id}__{ledger_table}",
                 uri=f"human-review://{ledger_conn_id}/{ledger_table}")  # fmt: skip


def changed_since_listed(ledger: Ledger, row_ids: list[int]) -> list[ReviewItem]:
    """The listed rows an answer did not apply to, as they are now (gone rows are not returned)."""
    return ledger.review_rows(row_ids) if row_ids else []


def _explain(changed: list[ReviewItem], limit: int = 10) -> str:
    """Per row: what it is now, and the answer that moved it since it was listed."""
    parts = []
    for item in changed[:limit]:
        now = f"waits again ({item.kind}, batch {item.batch_id or 'none'})" if item.state in NEEDS_A_PERSON else (
            f"is now {item.state}")  # fmt: skip
        last = f"answered {item.answer!r} by {item.answered_by} at {item.answered_at}" if item.answer else "changed"
        parts.append(f"ledger id {item.id} (case {item.case_id}, account {item.account_id}) was {last} and {now}")
    more = f"; and {len(changed) - limit} more" if len(changed) > limit else ""
    return "; ".join(parts) + more


class _NoSource:
    """The review step finishes what the ledger holds; it never reads the export."""

    def describe(self) -> str:
        return "the ledger only (review answer)"

    def iter_rows(self, start: datetime, end: datetime):  # pragma: no cover - never called with read_source=False
        return iter(())


def review_entry(item: ReviewItem) -> dict[str, Any]:
    """One item as the listing file holds it: ids, kind, evidence; never personal fields."""
    return {
        "ledger_id": item.id, "kind": item.kind, "interval": [item.interval_start, item.interval_end],
        "case_id": item.case_id, "account_id": item.account_id, "attack_type": item.attack_type,
        "closed_at": item.closed_at, "verdict": item.verdict, "state": item.state, "upload": item.upload,
        "batch_id": item.batch_id, "detail": item.detail or item.error, "last_answer": item.answer,
        "last_answered_by": item.answered_by, "last_answered_at": item.answered_at, "version": item.version,
    }  # fmt: skip


def item_field(item: ReviewItem) -> Param:
    """The item's field on the Required Actions page: a choice worded for its kind, Leave for later first."""
    detail = (item.detail or item.error or "")[:200]
    last = f" Last answer: {item.answer} by {item.answered_by}." if item.answer else ""
    description = (f"Closed {item.closed_at[:10]}, verdict {item.verdict}, upload {item.upload}, "
                   f"batch {item.batch_id or 'none'}.{last} {detail}").strip()  # fmt: skip
    title = f"{item.case_id} · account {item.account_id} · {item.attack_type} · {item.kind}"
    return Param(LEAVE, type="string", enum=choices_for(item), title=title, description=description)


def review_body(items: list[ReviewItem], max_listed: int, listing: str) -> str:
    """Markdown for the Required Actions page: what each choice does, what each kind means, a capped table."""
    kinds = Counter(i.kind for i in items)
    lines = [f"**Answer each item in its field below**, then press *{ANSWER_EACH}* (*{LEAVE_ALL}* changes "
             f"nothing). An upload (`in_doubt`, `rejected`): *{RESEND}* sends it again (fenced); *{MARK_APPLIED}* "
             f"records it as sent (you saw it in HUMAN's console). Any other item: *{DECIDE_AGAIN}* decides it "
             f"again by the policy table alone, with a fresh lookup, and sends what the table says; "
             f"*{MARK_HANDLED}* records it as handled. *{LEAVE}* (each field's default): nothing changes; the "
             "next review lists it again.",
             "", "| kind | items | meaning |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {k} | {n} | {_KIND_HELP.get(k, '')} |" for k, n in sorted(kinds.items())]
    answered = sum(1 for i in items if i.answer)
    if answered:
        lines += ["", f"**{_items(answered)} answered before** (see *last answer*): a Resend already sent is "
                      "in HUMAN's console; check there before answering Resend again."]  # fmt: skip
    lines += ["", "| case | account | attack type | closed | verdict | kind | upload | batch | last answer | detail |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for i in items[:max_listed]:
        detail = (i.detail or i.error or "").replace("|", "/")[:300]
        last = f"{i.answer} by {i.answered_by}".replace("|", "/") if i.answer else "-"
        lines.append(f"| {i.case_id} | {i.account_id} | {i.attack_type} | {i.closed_at[:19]} | {i.verdict} | "
                     f"{i.kind} | {i.upload} | {i.batch_id or 'no batch'} | {last} | {detail} |")  # fmt: skip
    if len(items) > max_listed:
        more = counted(len(items) - max_listed, "more item waits", "more items wait")
        lines.append(f"\n… and {more}: this request has fields for the first {max_listed}; the next lists the rest.")
    lines.append(f"\nFull list: `{listing}`. Each answer applies to its item as listed here.")
    return "\n".join(lines)


def _items(n: int) -> str:
    return counted(n, "item")
