"""The knobs of one reconciliation run, checked once when they are built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_human.client.coerce import to_int, to_number
from airflow_provider_human.defaults import DEFAULT_DECISION_LOCK_SECONDS
from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.reconciliation.ad_state import IncidentNames

DEFAULT_COMMENT = "Airflow reconciliation of cases closed in [{start}, {end})"


@dataclass(frozen=True)
class ReconcileSettings:
    """Knobs of one run; the DAG's params map onto these.

    :param batch_size: account ids per upload (default: the connection's ``feedback_batch_size``).
    :param max_reject_ratio: share of rejected rows above which the run fails before deciding anything.
    :param dry_run: plan and report, upload nothing, write nothing.
    :param reprocess: decide again the interval's outcomes that were decided but not sent.
    :param per_case_comments: send each case's own comment (more requests) instead of one per run.
    :param comment_template: the per-run comment; ``{start}`` and ``{end}`` name the interval.
    :param lookup_chunk: outcomes looked up, decided and claimed per round (one ledger transaction).
    :param shard: ``(index, count)``: only accounts whose stable hash falls in this shard.
    :param max_lookup_failures: tries after which an account whose lookup fails permanently
        (400, 404, an unreadable answer) is decided as ``skip:lookup_failed``.
    :param wait_for_others_seconds: how long a run waits for outcomes of its interval held by
        another live run (or for its own in-doubt uploads to be old enough to verify) before
        failing for retry.
    :param verify_after_seconds: an in-doubt upload is looked up no sooner than this after it
        was sent, so that HUMAN has applied it if it ever will (the pages give no figure).
    :param clock_skew_seconds: tolerance between the database's clock and HUMAN's incident
        times when telling a new manual incident from an older one.
    :param poll_seconds: how often a waiting run looks again.
    :param v2_incident_names: v2 incident ``attack_type`` names per attack type (``ato``,
        ``fake_account``); the default is a guess (see docs/api-mapping.md). Other names make
        the state ``ambiguous``: a person decides.
    :param decision_lock_seconds: PostgreSQL: how long a run waits for the ledger's decision
        lock (held by one run at a time, for a moment) before failing for retry with the
        holder named: a worker stopped inside its decision step cannot hold every run for ever.
    :param fail_on_review: fail the run when items wait for a person (reversals, edited rows,
        ambiguous states, uploads in doubt or rejected). ``False`` when a review step follows
        in the DAG: the run then succeeds with the items listed and hands them over.
    """

    batch_size: int | None = None
    max_reject_ratio: float = 0.05
    dry_run: bool = False
    reprocess: bool = False
    per_case_comments: bool = False
    comment_template: str = DEFAULT_COMMENT
    lookup_chunk: int = 2000
    days_range: int = 30
    shard: tuple[int, int] | None = None
    staging_dir: str | None = None
    max_lookup_failures: int = 3
    wait_for_others_seconds: float = 180.0
    verify_after_seconds: float = 60.0
    clock_skew_seconds: float = 300.0
    poll_seconds: float = 2.0
    v2_incident_names: Mapping[str, Sequence[str]] | None = None
    fail_on_review: bool = True
    decision_lock_seconds: float = DEFAULT_DECISION_LOCK_SECONDS

    def __post_init__(self) -> None:
        converted: dict[str, Any] = {
            "max_reject_ratio": to_number(self.max_reject_ratio, "max_reject_ratio", maximum=1.0),
            "max_lookup_failures": to_int(self.max_lookup_failures, "max_lookup_failures"),
            "lookup_chunk": to_int(self.lookup_chunk, "lookup_chunk"),
            "days_range": to_int(self.days_range, "days_range"),
        }
        if self.batch_size is not None:
            converted["batch_size"] = to_int(self.batch_size, "batch_size")
        for name in ("wait_for_others_seconds", "verify_after_seconds", "clock_skew_seconds", "poll_seconds"):
            converted[name] = to_number(getattr(self, name), name)
        converted["decision_lock_seconds"] = to_number(self.decision_lock_seconds, "decision_lock_seconds",
                                                       minimum=0.001)  # fmt: skip
        for name, value in converted.items():
            object.__setattr__(self, name, value)  # frozen: settings arrive as text from templates too
        if self.shard is not None:
            index, count = self.shard
            if not (isinstance(count, int) and count >= 1 and isinstance(index, int) and 0 <= index < count):
                raise HumanInputError("shard", self.shard, "must be (index, count) with 0 <= index < count")
        if self.v2_incident_names is not None:
            IncidentNames(self.v2_incident_names)  # raises HumanInputError naming the bad entry
        try:
            self.comment_template.format(start="s", end="e")
        except (KeyError, IndexError, ValueError) as exc:
            raise HumanInputError("comment_template", self.comment_template, f"bad placeholder: {exc}") from None
