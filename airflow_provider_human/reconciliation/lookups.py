"""Lookups: the v2 calls of one try, what they count, and which failures another try cannot fix.

Every step that needs Account Defender's state (deciding, verifying in-doubt uploads) asks
this object, so counting, logging and the failure rules live in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.exceptions import (
    HumanBadRequestError,
    HumanInputError,
    HumanNotFoundError,
    HumanResponseError,
)
from airflow_provider_human.reconciliation.ledger import LedgerRow
from airflow_provider_human.reconciliation.report import ReconciliationReport
from airflow_provider_human.reconciliation.run import LOGGER
from airflow_provider_human.reconciliation.settings import ReconcileSettings

log = logging.getLogger(LOGGER)

#: lookup errors that another try cannot fix: counted toward ``max_lookup_failures``
PERMANENT_LOOKUP_ERRORS = (HumanBadRequestError, HumanNotFoundError, HumanInputError, HumanResponseError)

Found = tuple[dict[str, AccountInfoV2], dict[str, Exception]]


class Lookups:
    """The try's v2 lookups (concurrent, through the client), counted into its report.

    It also remembers which held rows this try has looked up again, so that a row whose lookup
    keeps failing costs one more lookup per try, no more.
    """

    def __init__(self, client: HumanClient, settings: ReconcileSettings, report: ReconciliationReport) -> None:
        self.client = client
        self.days_range = settings.days_range
        self.max_failures = settings.max_lookup_failures
        self.report = report
        self._retried: set[int] = set()

    def fetch(self, account_ids: Iterable[str]) -> Found:
        """(infos, errors) by account id; an auth error stops the run (the client raises it)."""
        infos: dict[str, AccountInfoV2] = {}
        errors: dict[str, Exception] = {}
        ids = sorted(account_ids)
        if not ids:
            return infos, errors
        for result in self.client.iter_account_info(ids, days_range=self.days_range):
            self.report.count("lookups")
            if result.ok:
                infos[result.account_id] = result.info  # type: ignore[assignment]
            else:
                self.report.count("lookup_failures")
                errors[result.account_id] = result.error  # type: ignore[assignment]
                log.warning("Lookup of account %s failed: %s", result.account_id, result.error)
        return infos, errors

    def not_retried(self, rows: Sequence[LedgerRow]) -> list[LedgerRow]:
        """The held rows this try has not looked up again yet."""
        return [r for r in rows if r.id not in self._retried]

    def retrying(self, rows: Iterable[LedgerRow]) -> None:
        self._retried.update(r.id for r in rows)

    @staticmethod
    def permanent(error: Exception) -> bool:
        return isinstance(error, PERMANENT_LOOKUP_ERRORS)

    def gives_up(self, error: Exception, failures_before: int) -> bool:
        """Whether this failure makes the outcome ``skip:lookup_failed`` (permanent, try after try)."""
        return self.permanent(error) and failures_before + 1 >= self.max_failures
