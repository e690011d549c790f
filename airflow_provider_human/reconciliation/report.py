"""The run report: counts a person can check against the API's log, as a table, JSON and Markdown.

Every counter lives in one :class:`Counts` keyed by category (``COUNTERS`` names and orders
them, and a category it does not name is refused when counted, never dropped from the
summary); reasons for rejects and skips and the results sent are broken down in their own
counters. The run's steps count through the report's methods; only the report writes its fields.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from airflow_provider_human.reconciliation.ledger.states import IN_FLIGHT, NEEDS_A_PERSON, UNFINISHED, LedgerState
from airflow_provider_human.reports_location import write_text

#: category -> how the report names it, in the order the report shows them.
COUNTERS: dict[str, str] = {
    "rows_read": "rows read",
    "outcomes_valid": "valid outcomes",
    "undated": "undated rows (no usable closed_at; in no interval, counted against max_reject_ratio)",
    "superseded": "superseded",
    "already_decided": "already decided earlier",
    "adopted": "adopted from an ended or crashed run",
    "reprocessed": "reprocess: decided again",
    "decided": "decided now",
    "true_positive": "true positives",
    "false_positive": "false positives",
    "false_negative": "false negatives",
    "pending": "pending uploads",
    "consistent": "consistent (nothing to send)",
    "already_reported": "already told AD the same before (nothing to send)",
    "reversal": "reversals of feedback already sent (for a person)",
    "edited": "case outcomes edited in place",
    "waits_for_earlier": "waiting for an earlier upload of the same account and attack type (not decided yet)",
    "for_review": "decided: for a person to review",
    "lookups": "account lookups",
    "lookup_failures": "account lookups that failed",
    "requests_planned": "feedback requests planned (dry run)",
    "requests_sent": "feedback requests sent",
    "accounts_sent": "accounts sent",
    "not_applied": "uploads refused before HUMAN acted (left planned)",
    "failed": "uploads HUMAN rejected (400)",
    "in_doubt": "uploads in doubt",
    "verified_applied": "in doubt, verified applied by lookup",
    "verified_not_applied": "in doubt, verified not applied (sent again)",
    "needs_review": "in doubt, needs a person",
}


MAX_LISTED = 1000  # rejected case ids kept per try in the JSON report


class Counts(Counter[str]):
    """A :class:`~collections.Counter` of the categories ``COUNTERS`` names, and of no other.

    ``summary()`` and ``as_dict()`` list exactly ``COUNTERS``: a category counted but not named
    there would vanish from every report, so it is refused (``KeyError``) when counted instead.
    """

    def __missing__(self, key: str) -> int:
        _known(key)
        return 0

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(_known(key), value)


def _known(key: str) -> str:
    if key not in COUNTERS:
        raise KeyError(f"{key!r} is not a report counter: name it in report.COUNTERS to count it")
    return key


#: keys of :attr:`ReconciliationReport.interval`, as the report names them
INTERVAL_LABELS: dict[str, str] = {
    "decided": "interval: outcomes decided (all runs)",
    "sent_by_result": "interval: accounts sent by result (all runs)",
    "nothing_to_send": "interval: decided, nothing to send",
    "waiting": "interval: waiting (undecided or not sent yet)",
    "in_doubt": "interval: uploads in doubt",
    "needing_review": "interval: waiting for a person",
    "rejected": "interval: rejected rows",
}


def interval_truth(breakdown: list[tuple[str, str | None, str | None, int]], rejects: Counter[str]) -> dict[str, Any]:
    """The interval's state from the ledger's (state, decision, result, rows) breakdown."""
    sent: Counter[str] = Counter()
    nothing: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for stored, decision, result, n in breakdown:
        state = LedgerState(stored)
        if state is not LedgerState.CLAIMED:
            totals["decided"] += n
        if state is LedgerState.SENT:
            sent[result or "-"] += n
        elif state is LedgerState.NOOP:
            nothing[decision or "-"] += n
        elif state in IN_FLIGHT:
            totals["in_doubt"] += n
        elif state in UNFINISHED:  # undecided, or decided and not sent yet
            totals["waiting"] += n
        elif state in NEEDS_A_PERSON:
            totals["needing_review"] += n
    return {
        "decided": totals["decided"], "sent_by_result": dict(sorted(sent.items())),
        "nothing_to_send": dict(sorted(nothing.items())), "waiting": totals["waiting"],
        "in_doubt": totals["in_doubt"], "needing_review": totals["needing_review"],
        "rejected": dict(sorted(rejects.items())),
    }  # fmt: skip


@dataclass
class ReconciliationReport:
    interval_start: str
    interval_end: str
    owner: str
    source: str
    dry_run: bool = False
    shard: str | None = None
    counts: Counts = field(default_factory=Counts)
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    uploads_by_result: Counter[str] = field(default_factory=Counter)
    #: the interval's rows per ledger state when the run ended (all shards)
    ledger_states: dict[str, int] = field(default_factory=dict)
    #: what keeps the interval from being done, in words (empty when it is done)
    left: list[str] = field(default_factory=list)
    #: every item of the interval (and shard) waiting for a person: ids, kind, batch (no personal fields)
    for_review: list[dict[str, Any]] = field(default_factory=list)
    #: the interval's truth from the ledger, whichever runs and tries did the work (see :func:`interval_truth`)
    interval: dict[str, Any] = field(default_factory=dict)
    #: (reason, case id) of rows this try rejected, the first ``MAX_LISTED``
    rejected_cases: list[tuple[str, str | None]] = field(default_factory=list)
    duration_seconds: float = 0.0
    report_paths: list[str] = field(default_factory=list)
    #: the error that ended the try early, in words (``None``: the try ran to its verdict)
    error: str | None = None

    # ---------------------------------------------------------- what the run's steps tell it

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to one of ``COUNTERS`` (an unknown key raises ``KeyError``)."""
        self.counts[key] += n

    def reject(self, reason: str, case: str | None) -> None:
        """One row rejected for ``reason``; the first ``MAX_LISTED`` case ids are kept."""
        self.rejected[reason] += 1
        if len(self.rejected_cases) < MAX_LISTED:
            self.rejected_cases.append((reason, case))

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def uploaded(self, result: str, accounts: int) -> None:
        """Accounts sent (or, in a dry run, planned) with ``result`` (the status when it has none)."""
        self.uploads_by_result[result] += accounts

    def ended(
        self, ledger_states: dict[str, int], interval: dict[str, Any], left: list[str], for_review: list[dict[str, Any]]
    ) -> None:
        """The verdict: the interval's truth from the ledger and what is left of it."""
        self.ledger_states, self.interval, self.left, self.for_review = ledger_states, interval, left, for_review

    def took(self, seconds: float) -> None:
        self.duration_seconds = seconds

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def complete(self) -> bool:
        return not self.left

    def failed(self, exc: BaseException) -> None:
        """The try stopped on ``exc`` before its verdict: the report says so instead of "done"."""
        self.error = f"{type(exc).__name__}: {str(exc)[:1000]}"
        if not self.left:
            self.left = [f"the try stopped before finishing the interval ({self.error}); the ledger keeps what "
                         "it decided and sent, and the next try goes on from there"]  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """The small XCom value: this try's counters, and the interval's truth from the ledger."""
        return {
            "interval_start": self.interval_start,
            "interval_end": self.interval_end,
            "dry_run": self.dry_run,
            "shard": self.shard,
            "interval": dict(self.interval),
            "for_review": len(self.for_review),
            **{key: self.counts[key] for key in COUNTERS},
            "skipped": sum(self.skipped.values()),
            "rejected": self.rejected_total,
            "ledger_states": dict(self.ledger_states),
            "report_paths": list(self.report_paths),
        }

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "counts"}
        data["counts"] = {key: self.counts[key] for key in COUNTERS}  # every counter, zeros included
        data = {f.name: data[f.name] for f in fields(self)}  # in the fields' order
        for key in ("rejected", "skipped", "uploads_by_result"):
            data[key] = dict(sorted(getattr(self, key).items()))
        return data

    def rows(self) -> list[tuple[str, str]]:
        lines = [
            ("interval", f"[{self.interval_start}, {self.interval_end})"),
            ("source", self.source),
            ("dry run", str(self.dry_run)),
        ]
        if self.shard:
            lines.append(("shard", self.shard))
        always = ("rows_read", "decided", "requests_planned" if self.dry_run else "requests_sent")
        for key, label in COUNTERS.items():
            if self.counts[key] or key in always:
                lines.append((label, str(self.counts[key])))
        after_read = next(n for n, (label, _) in enumerate(lines) if label == COUNTERS["rows_read"]) + 1
        lines.insert(after_read, ("rejected", _with_reasons(self.rejected_total, self.rejected)))
        if self.skipped:
            lines.append(("skipped", _with_reasons(sum(self.skipped.values()), self.skipped)))
        if self.uploads_by_result:
            label = "would send by result (dry run)" if self.dry_run else "sent by result"
            lines.append((label, _with_reasons(sum(self.uploads_by_result.values()), self.uploads_by_result)))
        for key, label in INTERVAL_LABELS.items():
            value = self.interval.get(key)
            if isinstance(value, dict):
                lines.append((label, _with_reasons(sum(value.values()), Counter(value))))
            elif value is not None:
                lines.append((label, str(value)))
        if self.rejected_cases:
            shown = ", ".join(f"{case or '?'} ({reason})" for reason, case in self.rejected_cases[:10])
            more = len(self.rejected_cases) - 10
            lines.append(
                ("rejected cases (this try)", shown + (f" and {more} more in the JSON report" if more > 0 else ""))
            )
        if self.for_review:
            shown = ", ".join(f"account {i['account_id']} {i['kind']} batch {i['batch_id'] or '-'}"
                              for i in self.for_review[:10])  # fmt: skip
            more = len(self.for_review) - 10
            lines.append(("for a person", shown + (f" and {more} more in the JSON report" if more > 0 else "")))
        if self.error:
            lines.append(("error", self.error))
        if self.dry_run:
            done = "dry run: nothing written or sent"
        else:
            done = "nothing: the interval is done"
        lines.append(("left to do", "; ".join(self.left) if self.left else done))
        lines.append(("duration", f"{self.duration_seconds:.1f} s"))
        return lines

    def as_table(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)

    def as_markdown(self) -> str:
        body = "\n".join(f"| {k} | {v} |" for k, v in self.rows())
        title = "HUMAN reconciliation report" + (" (DRY RUN: nothing written or sent)" if self.dry_run else "")
        return f"# {title}\n\n| | |\n|---|---|\n{body}\n"

    def write(self, directory: str, try_number: int | None = None) -> list[str]:
        """Write ``<start>__<owner>[__try<n>].json`` and ``.md`` under ``directory`` (a path or URL, see
        :mod:`~airflow_provider_human.reports_location`); returns where they went.

        One pair per try: a retry or a Clear never overwrites what an earlier try reported.
        """
        stem = f"{self.interval_start[:19].replace(':', '')}__{owner_name(self.owner)}"
        if try_number is not None:
            stem += f"__try{try_number}"
        paths = []
        for suffix, text in (("json", json.dumps(self.as_dict(), indent=2)), ("md", self.as_markdown())):
            paths.append(write_text(f"{directory.rstrip('/')}/{stem}.{suffix}", text))
        self.report_paths = paths
        return paths


def _with_reasons(total: int, reasons: Counter[str]) -> str:
    if not reasons:
        return str(total)
    return f"{total} (" + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()) + ")"


#: How much of a run id (and of a dag or task id) a file name holds: with the interval start,
#: the map index, the try and the suffix, a name stays well under 255 bytes.
RUN_ID_CHARS = 100
ID_CHARS = 50


def safe_name(text: str, limit: int = RUN_ID_CHARS) -> str:
    """``text`` as ASCII for a file name; one longer than ``limit`` is cut and ends with 8 hex of the
    SHA-1 of the whole, so two long names that share a beginning never land on one file."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    if len(clean) <= limit:
        return clean
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:8]
    return f"{clean[: limit - 9]}-{digest}"


def owner_name(owner: str) -> str:
    """``dag/run/task/map_index`` for a file name: the run id (or an overlong dag or task id) is cut,
    the map index never, so the shards of one run keep a file each whatever the run id's length."""
    dag, _, rest = owner.partition("/")
    if rest.count("/") < 2:
        return safe_name(owner)
    run, task, index = rest.rsplit("/", 2)
    return "_".join((safe_name(dag, ID_CHARS), safe_name(run), safe_name(task, ID_CHARS), safe_name(index, 20)))
