"""HumanUploadFeedbackOperator: tell Account Defender what a case review concluded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_human.assets import FEEDBACK
from airflow_provider_human.client import HumanInputError, builders
from airflow_provider_human.client.builders import FeedbackGroupKey
from airflow_provider_human.client.coerce import to_bool, to_list, to_optional_int
from airflow_provider_human.client.feedback import group_outcomes, requests_needed
from airflow_provider_human.operators.base import HumanBaseOperator, task_owner
from airflow_provider_human.words import counted


class HumanUploadFeedbackOperator(HumanBaseOperator):
    """Upload feedback (``update_status``) for many accounts, batched.

    Give either ``account_ids`` with one ``attack_type``/``status``/``result``/``comment``,
    or ``outcomes=[{account_id, attack_type, status, result, comment}, ...]``, which are
    grouped by (attack_type, status, result, comment) so each group travels in as few
    requests as the batch size allows. Everything is validated before the first request.

    A task retry resends every batch: for exactly-once delivery across retries, re-runs
    and backfills use the reconciliation engine (docs/reconciliation.md). With
    ``ledger_conn_id`` the uploads are written to the reconciliation's ledger as they are
    sent (fenced, one row per account), so a reconciliation of the same accounts knows what
    was told; an upload whose answer was lost then fails the task without retry and is
    verified by the day's reconciliation instead of being sent again.

    :param account_ids: ids sharing one feedback (templated).
    :param attack_type: ``ato`` or ``fa`` (``fake_account`` accepted) (templated).
    :param status: ``pending`` or ``resolved`` (templated).
    :param result: required when status is ``resolved``: ``no_attack``, ``resolved``,
        ``manually_identified_and_resolved`` or ``manually_identified`` (templated).
    :param comment: free text (templated).
    :param outcomes: per-account feedback, instead of the five arguments above (templated).
    :param batch_size: ids per request; default from the connection.
    :param dry_run: validate and plan, log the plan, send nothing.
    :param ledger_conn_id: SQL connection of the reconciliation's ledger (off when ``None``).
    :param ledger_table: its ledger table.

    Like every HUMAN operator it also takes ``human_conn_id`` (see :class:`HumanBaseOperator`).
    """

    template_fields: Sequence[str] = (
        "account_ids",
        "attack_type",
        "status",
        "result",
        "comment",
        "outcomes",
        "batch_size",
        "plan_only",
    )
    template_fields_renderers = {"account_ids": "json", "outcomes": "json"}

    def __init__(
        self,
        *,
        account_ids: Any = None,
        attack_type: str | None = None,
        status: str | None = None,
        result: str | None = None,
        comment: str | None = None,
        outcomes: Any = None,
        batch_size: int | str | None = None,
        dry_run: bool | str = False,
        ledger_conn_id: str | None = None,
        ledger_table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.ledger_table = ledger_table
        self.rejects_table = rejects_table
        if (account_ids is None) == (outcomes is None):
            raise HumanInputError("account_ids/outcomes", None, "give exactly one of account_ids or outcomes")
        if outcomes is not None and any(v is not None for v in (attack_type, status, result, comment)):
            raise HumanInputError(
                "outcomes", "<outcomes>", "attack_type/status/result/comment go inside each outcome, not beside it"
            )
        self.account_ids = account_ids
        self.attack_type = attack_type
        self.status = status
        self.result = result
        self.comment = comment
        self.outcomes = outcomes
        self.batch_size = batch_size
        self.plan_only = dry_run  # not "dry_run": that is BaseOperator.dry_run(), a method

    def run(self, context: Any) -> dict[str, Any]:
        groups, submitted = self._plan()
        dry_run = to_bool(self.plan_only, "dry_run")
        batch_size = self._batch_size()
        summary: dict[str, Any] = {
            "groups": len(groups),
            "accounts": sum(len(ids) for ids in groups.values()),
            "requests": 0,
            "duplicates_dropped": submitted - sum(len(ids) for ids in groups.values()),
            "dry_run": dry_run,
            "by_result": {},
        }
        for key, ids in groups.items():
            label = _label(key)
            summary["by_result"][label] = summary["by_result"].get(label, 0) + len(ids)
        if dry_run:
            size = batch_size or self.hook.settings.feedback_batch_size
            summary["requests_planned"] = requests_needed((len(ids) for ids in groups.values()), size)
            self.log.info(
                "HUMAN feedback DRY RUN: %s in %s would take %s; nothing sent. %s",
                counted(summary["accounts"], "account"),
                counted(summary["groups"], "group"),
                counted(summary["requests_planned"], "request"),
                summary["by_result"],
            )
            return summary
        self.hook.lineage(FEEDBACK, written=True)  # update_status: what the task writes at HUMAN
        if self.ledger_conn_id:
            return self._through_ledger(groups, batch_size, summary, context)
        for key, ids in groups.items():
            outcome = self.hook.client.upload_group(key, ids, batch_size=batch_size)  # built and checked once
            summary["requests"] += outcome.requests
        self.log.info(
            "HUMAN feedback: %s sent in %s (%s). %s",
            counted(summary["accounts"], "account"),
            counted(summary["requests"], "request"),
            counted(summary["groups"], "group"),
            summary["by_result"],
        )
        return summary

    def _through_ledger(
        self, groups: dict[FeedbackGroupKey, list[str]], batch_size: int | None, summary: dict[str, Any], context: Any
    ) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from airflow_provider_human.reconciliation.ledger import Ledger, LedgerState
        from airflow_provider_human.reconciliation.sources import sql_engine
        from airflow_provider_human.reconciliation.told_outside import send_through_ledger

        ledger = Ledger(
            sql_engine(self.ledger_conn_id or ""), table=self.ledger_table, rejects_table=self.rejects_table
        )
        told = send_through_ledger(self.hook.client, ledger, groups, owner=task_owner(context, self.task_id),
                                   batch_size=batch_size or self.hook.settings.feedback_batch_size)  # fmt: skip
        summary.update(requests=told.requests, ledger=dict(told.states))
        self.log.info("HUMAN feedback through the ledger %s: %s; accounts by ledger state %s. %s",
                      self.ledger_table, counted(told.requests, "request"), dict(told.states),
                      summary["by_result"])  # fmt: skip
        if told.error is not None:
            raise told.error
        doubt, refused, unsent = told.states[LedgerState.IN_DOUBT], told.states[LedgerState.FAILED], told.not_sent
        if doubt or refused:
            raise AirflowFailException(
                f"{counted(doubt, 'upload')} in doubt and {refused} rejected by HUMAN (400), recorded in "
                f"{self.ledger_table}: "
                "not retried (a resend could open a second incident); the day's reconciliation verifies those in "
                "doubt by lookup and its review lists the rejected"
            )
        if unsent:
            raise AirflowException(
                f"{counted(unsent, 'upload was', 'uploads were')} not applied (HUMAN refused before acting; their "
                "ledger rows removed): a "
                "retry sends them again"
            )
        return summary

    def _plan(self) -> tuple[dict[FeedbackGroupKey, list[str]], int]:
        """Every outcome validated and grouped, before anything is sent; also how many came in."""
        if self.outcomes is not None:
            outcomes = to_list(self.outcomes, "outcomes")
            return group_outcomes(outcomes), len(outcomes)
        key = FeedbackGroupKey.build(
            attack_type=self.attack_type, status=self.status, result=self.result, comment=self.comment
        )
        ids, submitted = builders.account_ids(to_list(self.account_ids, "account_ids"))
        if not ids:
            raise HumanInputError("account_ids", self.account_ids, "must contain at least one account id")
        return {key: ids}, submitted

    def _batch_size(self) -> int | None:
        return to_optional_int(self.batch_size, "batch_size")


def _label(key: FeedbackGroupKey) -> str:
    result = key.result.value if key.result else "-"
    return f"{key.attack_type.feedback_code}/{key.status.value}/{result}"
