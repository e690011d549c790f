"""One lease per try (a row of ``<table>_holders``), on the database's clock, kept alive by a heartbeat.

A heartbeat renews one row however many outcomes a try holds; a run that ends releases it at
once (success or failure), so only a crashed run leaves rows to wait for its lease to expire.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import sqlalchemy as sa

from airflow_provider_human.reconciliation.db_errors import LedgerNames, grants_error, is_insufficient_privilege
from airflow_provider_human.reconciliation.ledger.states import UNFINISHED, now_iso
from airflow_provider_human.reconciliation.ledger.store import Store

log = logging.getLogger(__name__)


def _until(s: Store, lease_seconds: float) -> sa.ColumnElement[float]:
    return s.backend.now() + lease_seconds


def register(s: Store, owner: str, lease_seconds: float, names: LedgerNames) -> None:
    """Start this try's lease (before it claims or adopts anything)."""
    now = now_iso()
    try:
        with s.engine.begin() as conn:
            conn.execute(
                sa.insert(s.holders).values(
                    holder=s.holder, owner=owner, lease_until=_until(s, lease_seconds), started_at=now, updated_at=now
                )
            )
    except sa.exc.DBAPIError as exc:  # the ledger's first write: an admin created it, nobody granted it
        if is_insufficient_privilege(exc):
            raise grants_error(s.engine, exc, s.holders.fullname, "write", names) from exc
        raise


def renew(s: Store, lease_seconds: float) -> int:
    """Extend this try's lease (one row, however many outcomes it holds)."""
    h = s.holders
    with s.engine.begin() as conn:
        return conn.execute(
            sa.update(h)
            .where(h.c.holder == s.holder)
            .values(lease_until=_until(s, lease_seconds), updated_at=now_iso())
        ).rowcount


def release(s: Store) -> int:
    """The run ended: what it still holds can be adopted at once. Returns how many outcomes that is."""
    h, t = s.holders, s.table
    with s.engine.begin() as conn:
        conn.execute(sa.update(h).where(h.c.holder == s.holder).values(lease_until=0.0, updated_at=now_iso()))
        return conn.execute(sa.select(sa.func.count()).select_from(t).where(s.mine(sorted(UNFINISHED)))).scalar_one()


class Renews(Protocol):
    lease_seconds: float

    def renew(self) -> int: ...


class LeaseKeeper:
    """Renews a holder's leases every quarter lease in a daemon thread, from start to stop.

    Renewal failures (a locked SQLite file, a dropped connection) are logged and retried at
    the next beat; if they last longer than the lease, other runs may adopt the rows, and
    the compare-and-set transitions make this try's later writes to them no-ops.
    """

    def __init__(self, ledger: Renews) -> None:
        self.ledger = ledger
        self.interval = max(ledger.lease_seconds / 4, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="human-ledger-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.ledger.renew()
            except Exception as exc:
                log.warning("Could not renew the ledger lease (will try again): %s", exc)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
