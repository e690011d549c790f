"""What every HUMAN operator shares: the connection id and the hook (input coercion: client/coerce.py),
what operators read from the task context (the owner of their ledger rows, interval bounds), and
what the reconciliation and review operators decide with (the same arguments, built one way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_human.client import HumanInputError
from airflow_provider_human.client.coerce import to_bool, to_optional_int
from airflow_provider_human.exceptions import HumanConfigError
from airflow_provider_human.hooks.human import HumanHook
from airflow_provider_human.lineage import Touched, operator_lineage
from airflow_provider_human.links import HumanConsoleLink, record_links
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.outcomes import parse_timestamp
from airflow_provider_human.reconciliation.policy import DecisionPolicy
from airflow_provider_human.reconciliation.settings import ReconcileSettings
from airflow_provider_human.reconciliation.sources import sql_engine


class HumanBaseOperator(BaseOperator):
    """Base for HUMAN operators: builds one :class:`HumanHook` per task try and closes it after.

    Every HUMAN task links the HUMAN console of its connection (extra ``console_url``), tells
    Airflow's hook lineage collector what it read and wrote, and hands the same to OpenLineage
    when the openlineage provider is installed.

    :param human_conn_id: the ``human`` connection (default ``human_default``).
    """

    ui_color = "#1f2a44"
    ui_fgcolor = "#ffffff"
    operator_extra_links: Any = (HumanConsoleLink(),)

    def __init__(self, *, human_conn_id: str = HumanHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.human_conn_id = human_conn_id

    @cached_property
    def hook(self) -> HumanHook:
        return HumanHook(human_conn_id=self.human_conn_id)

    def execute(self, context: Any) -> Any:
        self.touched = Touched()  # what this try reads and writes besides HUMAN (the hook keeps HUMAN's)
        try:
            self._link_console(context)
            return self.run(context)
        finally:
            if "hook" in self.__dict__:
                self.hook.close()

    def _link_console(self, context: Any) -> None:
        try:
            record_links(self, context, console=self.hook.console_url)
        except HumanConfigError as exc:  # a link is not worth failing the task for; the log says why
            self.log.warning("No HUMAN console link: %s", exc)
        except Exception:  # no connection yet: the task's own work says so, in its own words
            self.log.debug("No HUMAN console link: the connection %r cannot be read", self.human_conn_id)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage's view of the try: the HUMAN endpoints, tables and files it read and wrote."""
        hook_touched = self.hook.touched if "hook" in self.__dict__ else Touched()
        return operator_lineage(getattr(self, "touched", Touched()), hook_touched)

    def run(self, context: Any) -> Any:
        """The operator's work; :meth:`execute` wraps it so the hook's session is always closed."""
        raise NotImplementedError


def task_owner(context: Any, task_id: str) -> str:
    """One owner per task instance (and so per shard): every try of it shares the name, never the rows."""
    ti = context.get("ti") if context else None
    if ti is None:
        return f"adhoc/{task_id}"
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{map_index}"


def context_moment(value: Any, context: Any, key: str, field: str) -> datetime:
    """``value`` as a timestamp, or the context's ``key`` (``data_interval_start``...) when it is empty."""
    if value in (None, ""):
        value = context.get(key) if context else None
        if value is None:
            raise HumanInputError(field, None, f"no {key} in the task context; pass {field} explicitly")
    moment = parse_timestamp(value)
    if moment is None:
        raise HumanInputError(field, value, "must be an ISO 8601 timestamp")
    return moment


#: The arguments both the reconciliation and the review operator take for deciding; the first
#: four are templated (``lease_seconds`` and ``decision_lock_seconds`` are plain numbers).
DECIDING_TEMPLATE_FIELDS = ("batch_size", "per_case_comments", "policy", "v2_incident_names")
DECIDING_ARGUMENTS = (*DECIDING_TEMPLATE_FIELDS, "lease_seconds", "decision_lock_seconds")


@dataclass(frozen=True)
class Deciding:
    """What a reconciliation decides and holds its rows with, read from an operator's (rendered) arguments.

    The review operator's Resend decides again: it takes the same arguments, and a DAG passes
    both operators the same objects, so that a person's answer is decided by the table, the
    v2 incident names and the lease of the reconciliation that made the rows.
    """

    policy: Mapping[str, Mapping[str, str]] | None
    v2_incident_names: Mapping[str, Sequence[str]] | None
    per_case_comments: bool | str
    batch_size: int | str | None
    lease_seconds: float
    decision_lock_seconds: float

    @classmethod
    def of(cls, operator: Any) -> Deciding:
        return cls(**{name: getattr(operator, name) for name in DECIDING_ARGUMENTS})

    def decision_policy(self) -> DecisionPolicy:
        return DecisionPolicy(self.policy or None)

    def settings(self, **run: Any) -> ReconcileSettings:
        """The run's settings: the deciding ones from these arguments, the rest (``run``) the caller's."""
        return ReconcileSettings(
            batch_size=to_optional_int(self.batch_size, "batch_size"),
            per_case_comments=to_bool(self.per_case_comments, "per_case_comments"),
            v2_incident_names=self.v2_incident_names,
            decision_lock_seconds=self.decision_lock_seconds,
            **run,
        )

    def ledger(self, conn_id: str, table: str, rejects_table: str) -> Ledger:
        return Ledger(sql_engine(conn_id), table=table, rejects_table=rejects_table, lease_seconds=self.lease_seconds)
