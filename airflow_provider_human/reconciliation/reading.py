"""Reading: the source's rows for the interval, parsed into the staging file; rejects recorded.

Two checks stop a run before anything is decided: an export with rows but none this run
can place in time (a new date format is not a quiet day), and too many rejected rows
(``max_reject_ratio``, undated rows included: they are as broken as any other).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from airflow_provider_human.exceptions import ReconciliationAbortedError
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.outcomes import Rejected, RejectReason, escaped, parse_outcome
from airflow_provider_human.reconciliation.run import LOGGER, Run
from airflow_provider_human.reconciliation.settings import ReconcileSettings
from airflow_provider_human.reconciliation.sharding import in_shard
from airflow_provider_human.reconciliation.sources import OutcomeSource
from airflow_provider_human.reconciliation.staging import OutcomeStaging
from airflow_provider_human.words import counted

log = logging.getLogger(LOGGER)

_FLUSH = 1000  # rejects recorded per write


class Reading:
    """Source -> staging for one run; rejects go to the ledger's rejects table (not in a dry run)."""

    def __init__(self, source: OutcomeSource, ledger: Ledger, settings: ReconcileSettings) -> None:
        self.source = source
        self.ledger = ledger
        self.settings = settings

    def stage(self, staging: OutcomeStaging, run: Run) -> None:
        rejects: list[Rejected] = []
        undated: list[Rejected] = []
        shard = self.settings.shard
        report = run.report
        read = valid = 0  # plain ints in the loop, added to the report after (a Counter costs per row)
        add, bounds = staging.add, run.bounds
        try:
            for raw in self.source.iter_rows(*bounds):
                parsed = parse_outcome(raw, within=bounds)
                if parsed is None:
                    continue  # dated in another interval (a source may hand over more than asked)
                if isinstance(parsed, Rejected):
                    if parsed.reason is RejectReason.UNPARSEABLE_CLOSED_AT:
                        report.count("undated")  # every run reads it: recorded once, not held against any one day
                        undated.append(parsed)
                        self._flush(undated, run, limit=_FLUSH)
                        continue
                    read += 1
                    report.reject(parsed.reason.value, _case_of(parsed))
                    rejects.append(parsed)
                    self._flush(rejects, run, limit=_FLUSH)
                    continue
                read += 1
                if shard is None or in_shard(parsed.account_id, *shard):
                    add(parsed)
                    valid += 1
        finally:
            report.count("rows_read", read)
            report.count("outcomes_valid", valid)
        self._flush(rejects, run)
        self._flush(undated, run)
        counts = report.counts
        log.info("Read %s: %s%s, %d rejected %s", counted(counts["rows_read"], "row"),
                 counted(counts["outcomes_valid"], "valid outcome"),
                 f" in shard {report.shard}" if report.shard else "", report.rejected_total,
                 dict(report.rejected) or "")  # fmt: skip
        if counts["undated"]:
            log.warning("%s no usable closed_at: they belong to no interval and are listed once in "
                        "%s; fix them in the export", counted(counts["undated"], "row has", "rows have"),
                        self.ledger.rejects.name)  # fmt: skip
        self._check_dated(run)
        self._check_reject_ratio(run)

    def _flush(self, rejects: list[Rejected], run: Run, limit: int = 0) -> None:
        if len(rejects) < limit:
            return
        for r in rejects:
            run.examples.setdefault(r.reason.value, r.detail)
        if rejects and not self.settings.dry_run:
            self.ledger.record_rejects(rejects, owner=run.owner, interval=run.interval)
        rejects.clear()

    def _check_dated(self, run: Run) -> None:
        """An export with rows but none this run can place in time (a new date format) is not a quiet day."""
        undated = run.report.counts["undated"]
        if undated and not run.report.counts["rows_read"]:
            columns: dict[str, Any] = dict(getattr(self.source, "columns", None) or {})
            column = columns.get("closed_at", "closed_at")
            example = run.examples.get(RejectReason.UNPARSEABLE_CLOSED_AT.value, "")
            raise ReconciliationAbortedError(
                f"{undated} rows were read and none of them has a closed_at (column {column!r}) this run can "
                f"place in time: e.g. {example}. closed_at must be ISO 8601 (naive values are UTC); nothing "
                "was decided or uploaded"
            )

    def _check_reject_ratio(self, run: Run) -> None:
        """Rejected and undated rows against every row read: an undated row is as broken as any other."""
        report = run.report
        undated = report.counts["undated"]
        read = report.counts["rows_read"] + undated
        if not read:
            return
        rejected = report.rejected + Counter({RejectReason.UNPARSEABLE_CLOSED_AT.value: undated})
        total = report.rejected_total + undated
        ratio = total / read
        if ratio > self.settings.max_reject_ratio:
            worst = "; ".join(
                f"{reason}: {n} (e.g. {run.examples.get(reason, '')})" for reason, n in rejected.most_common(3)
            )
            raise ReconciliationAbortedError(
                f"{total} of {read} rows rejected ({ratio:.1%} > max_reject_ratio "
                f"{self.settings.max_reject_ratio:.1%}); nothing was decided or uploaded. Worst reasons: {worst}"
            )


def _case_of(rejected: Rejected) -> str | None:
    case = rejected.raw.get("case_id")
    return None if case is None else escaped(case, 80)
