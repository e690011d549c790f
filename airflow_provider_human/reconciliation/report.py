"""The run report: counts a person can check against the API's log, as a table, JSON and Markdown."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ReconciliationReport:
    interval_start: str
    interval_end: str
    owner: str
    source: str
    dry_run: bool = False
    rows_read: int = 0
    outcomes_valid: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    superseded: int = 0
    already_decided: int = 0
    decided: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    pending_uploads: int = 0
    consistent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    lookups: int = 0
    lookup_failures: int = 0
    requests_sent: int = 0
    requests_planned: int = 0
    accounts_sent: int = 0
    failures: int = 0
    in_doubt: int = 0
    recovered_verified: int = 0
    recovered_resent: int = 0
    uploads_by_result: Counter[str] = field(default_factory=Counter)
    reprocessed_rows: int = 0
    duration_seconds: float = 0.0
    report_paths: list[str] = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> dict[str, Any]:
        """The small XCom value."""
        return {
            "interval_start": self.interval_start,
            "interval_end": self.interval_end,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "consistent": self.consistent,
            "skipped": sum(self.skipped.values()),
            "rejected": self.rejected_total,
            "superseded": self.superseded,
            "already_decided": self.already_decided,
            "requests_sent": self.requests_sent,
            "failures": self.failures,
            "in_doubt": self.in_doubt,
            "recovered_verified": self.recovered_verified,
            "recovered_resent": self.recovered_resent,
            "report_paths": list(self.report_paths),
        }

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("rejected", "skipped", "uploads_by_result"):
            data[key] = dict(sorted(getattr(self, key).items()))
        return data

    def rows(self) -> list[tuple[str, str]]:
        lines = [
            ("interval", f"[{self.interval_start}, {self.interval_end})"),
            ("source", self.source),
            ("dry run", str(self.dry_run)),
            ("rows read", str(self.rows_read)),
            ("valid outcomes", str(self.outcomes_valid)),
            ("rejected", _with_reasons(self.rejected_total, self.rejected)),
            ("superseded", str(self.superseded)),
            ("already decided earlier", str(self.already_decided)),
            ("decided now", str(self.decided)),
            ("true positives", str(self.true_positives)),
            ("false positives", str(self.false_positives)),
            ("false negatives", str(self.false_negatives)),
            ("pending uploads", str(self.pending_uploads)),
            ("consistent (nothing to send)", str(self.consistent)),
            ("skipped", _with_reasons(sum(self.skipped.values()), self.skipped)),
            ("account lookups", f"{self.lookups} ({self.lookup_failures} failed)"),
            ("feedback requests sent", self._requests_text()),
            ("accounts sent", str(self.accounts_sent)),
            ("failed uploads (rows)", str(self.failures)),
            ("in doubt (rows)", str(self.in_doubt)),
            ("recovered: verified / resent", f"{self.recovered_verified} / {self.recovered_resent}"),
            ("duration", f"{self.duration_seconds:.1f} s"),
        ]  # fmt: skip
        if self.reprocessed_rows:
            lines.insert(3, ("reprocess: earlier decisions forgotten", str(self.reprocessed_rows)))
        return lines

    def _requests_text(self) -> str:
        return (
            f"{self.requests_sent} (dry run: {self.requests_planned} planned)"
            if self.dry_run
            else str(self.requests_sent)
        )

    def as_table(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)

    def as_markdown(self) -> str:
        body = "\n".join(f"| {k} | {v} |" for k, v in self.rows())
        return f"# HUMAN reconciliation report\n\n| | |\n|---|---|\n{body}\n"

    def write(self, directory: str) -> list[str]:
        """Write ``<start>__<owner>.json`` and ``.md`` under ``directory`` (local or object storage)."""
        stem = f"{self.interval_start[:19].replace(':', '')}__{_safe(self.owner)}"
        paths = []
        for suffix, text in (("json", json.dumps(self.as_dict(), indent=2)), ("md", self.as_markdown())):
            target = f"{directory.rstrip('/')}/{stem}.{suffix}"
            _write_text(target, text)
            paths.append(target)
        self.report_paths = paths
        return paths


def _with_reasons(total: int, reasons: Counter[str]) -> str:
    if not reasons:
        return str(total)
    return f"{total} (" + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()) + ")"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:150]


def _write_text(target: str, text: str) -> None:
    if "://" in target and not target.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    local = target.removeprefix("file://")
    os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
    with open(local, "w", encoding="utf-8") as handle:
        handle.write(text)
