"""The ledger's schema versions: Alembic migrations shipped in the package, run by the code itself.

A run brings its ledger to head before anything else (``Ledger.ensure_schema``), unless
``[human] ledger_auto_upgrade`` is off; ``airflow human ledger upgrade`` does it ahead of
time. A new schema change is a new file in ``versions/`` (copy the last one: next
``revision``, ``down_revision`` = the last), self-contained (never import ``build_tables``:
revisions are history), plus the same change in ``build_tables``; the migration test's
``drift`` check proves the two agree.
"""

from airflow_provider_human.reconciliation.ledger.migrations.runner import (
    BASE,
    HEAD,
    LedgerStatus,
    drift,
    ensure_head,
    status,
    upgrade,
)
from airflow_provider_human.reconciliation.ledger.migrations.tables import LedgerTables

__all__ = ["BASE", "HEAD", "LedgerStatus", "LedgerTables", "drift", "ensure_head", "status", "upgrade"]
