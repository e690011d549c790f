"""Which identities a task instance already updated, next to the ledger (``human_identity_updates``).

An identity PUT is harmless to repeat, but a retry of a bulk update that failed on a few
identities would send every other one again. With a ledger connection, each applied update
is recorded by (owner, identity id) the moment HUMAN answers 2xx, and a retry of the same
task instance (same owner: dag/run/task/map index) sends only what is not recorded. Only
ids and times are stored: never factors or metadata (they hold personal data).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.dialect import for_ledger
from airflow_provider_human.reconciliation.ledger.states import now_iso


class IdentityRecord:
    """The ``human_identity_updates`` table: (owner, identity_id) → when it was applied."""

    def __init__(self, engine: sa.Engine, table: str = "human_identity_updates") -> None:
        self.engine = engine
        metadata = sa.MetaData()
        self.table = sa.Table(
            table, metadata,
            sa.Column("owner", sa.String(512), primary_key=True),
            sa.Column("identity_id", sa.String(256), primary_key=True),
            sa.Column("applied_at", sa.String(32), nullable=False),
        )  # fmt: skip
        self._metadata = metadata

    def ensure_schema(self) -> None:
        self._metadata.create_all(self.engine, checkfirst=True)

    def applied(self, owner: str) -> set[str]:
        """Identity ids this owner's earlier tries updated."""
        t = self.table
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(t.c.identity_id).where(t.c.owner == owner)).scalars())

    def record(self, owner: str, identity_ids: Iterable[str]) -> None:
        rows = [{"owner": owner, "identity_id": i, "applied_at": now_iso()} for i in identity_ids]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(for_ledger(self.engine).insert(self.table).on_conflict_do_nothing(), rows)
