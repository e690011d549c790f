"""The exactly-once ledger: one row per case outcome, claimed (with its decision) before anything is sent.

A unique key (case_id, account_id, attack_type, closed_at) enforced by the database makes
the claim atomic: whichever run inserts the row first owns it; every other run (retry,
re-run, overlapping or concurrent backfill) sees it as already decided. States:

    planned -> sent | failed | in_doubt                   (uploads)
    noop                                                  (nothing, skip, superseded)
    claimed -> planned | noop                             (lookup failed: decided by the next try)

A planned row gets its ``batch_id`` just before its batch is sent, so a planned row with a
batch id after a crash is treated as in doubt. Rows of a run that died are taken over by
the same task (owner) at once, or by any run once their lease has expired.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Rejected

CLAIMED, PLANNED, SENT, FAILED, IN_DOUBT, NOOP = "claimed", "planned", "sent", "failed", "in_doubt", "noop"
UNFINISHED = (CLAIMED, PLANNED, IN_DOUBT)
KEY = ("case_id", "account_id", "attack_type", "closed_at")
DECISION_COLUMNS = ("ad_state", "decision", "reason", "feedback_status", "feedback_result", "feedback_comment")
_NO_DECISION = dict.fromkeys(DECISION_COLUMNS)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LedgerRow:
    id: int
    case_id: str
    account_id: str
    attack_type: str
    verdict: str
    comment: str | None
    state: str
    decision: str | None
    feedback_status: str | None
    feedback_result: str | None
    batch_id: str | None


def build_tables(metadata: sa.MetaData, ledger: str, rejects: str) -> tuple[sa.Table, sa.Table]:
    ledger_table = sa.Table(
        ledger,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(255), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("attack_type", sa.String(16), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ad_state", sa.String(16)),
        sa.Column("decision", sa.String(32)),
        sa.Column("reason", sa.String(64)),
        sa.Column("feedback_status", sa.String(16)),
        sa.Column("feedback_result", sa.String(48)),
        sa.Column("feedback_comment", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("http_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.String(32)),
        sa.UniqueConstraint(*KEY, name=f"uq_{ledger}_outcome"),
        sa.Index(f"ix_{ledger}_token_state", "claim_token", "state", "id"),
        sa.Index(f"ix_{ledger}_state", "state"),
        sa.Index(f"ix_{ledger}_interval", "interval_start"),
    )
    rejects_table = sa.Table(
        rejects,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("row_hash", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("case_id", sa.String(255)),
        sa.Column("account_id", sa.String(255)),
        sa.Column("raw", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("row_hash", "reason", name=f"uq_{rejects}_row"),
    )
    return ledger_table, rejects_table


class Ledger:
    """The ledger and rejects tables on one SQLAlchemy engine (SQLite or PostgreSQL, one code path)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        lease_seconds: float = 3600.0,
    ) -> None:
        self.engine = engine
        self.metadata = sa.MetaData()
        self.table, self.rejects = build_tables(self.metadata, table, rejects_table)
        self.lease_seconds = lease_seconds
        self.token = uuid.uuid4().hex

    # ------------------------------------------------------------ schema

    def ensure_schema(self) -> None:
        """Create both tables (and the unique key) when missing; safe to race.

        On SQLite the database file is switched to WAL, so that concurrent runs reading the
        export are not starved by another run's ledger writes.
        """
        if self.engine.dialect.name == "sqlite":
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except sa.exc.OperationalError:
                pass  # another run holds the file right now and is switching it (or has): fine either way
        for attempt in range(10):
            try:
                self.metadata.create_all(self.engine, checkfirst=True)
                return
            except sa.exc.DatabaseError:
                # Another run created a table or index between our check and our CREATE: check again.
                if attempt == 9:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def exists(self) -> bool:
        """Whether the ledger table is there (a dry run must not create it)."""
        return sa.inspect(self.engine).has_table(self.table.name)

    def _insert(self):
        """INSERT ... ON CONFLICT DO NOTHING for this dialect."""
        name = self.engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - documented: PostgreSQL and SQLite
            raise NotImplementedError(f"ledger on {name!r} is not supported; use PostgreSQL or SQLite")
        return insert

    def _lease(self) -> float:
        return time.time() + self.lease_seconds

    # ------------------------------------------------------------ claims

    def claim(
        self,
        outcomes: Sequence[tuple[CaseOutcome, str, Mapping[str, Any] | None]],
        *,
        owner: str,
        interval: tuple[str, str],
    ) -> int:
        """Insert outcomes with their state and decision columns; returns how many were new.

        Each item is ``(outcome, state, decision_columns)``: ``claimed`` rows carry no decision
        yet (their lookup failed); ``planned`` and ``noop`` rows carry it. Rows that already
        exist (decided by any run, ever) are left untouched: that is the exactly-once claim.
        """
        if not outcomes:
            return 0
        now = now_iso()
        lease = self._lease()
        rows = [
            {
                "case_id": o.case_id, "account_id": o.account_id, "attack_type": o.attack_type.value,
                "closed_at": o.closed_at_key, "verdict": o.verdict.value, "comment": o.comment,
                **_NO_DECISION, **(columns or {}), "state": state,
                "interval_start": interval[0], "interval_end": interval[1], "owner": owner,
                "claim_token": self.token, "lease_until": lease, "created_at": now, "updated_at": now,
            }
            for o, state, columns in outcomes
        ]  # fmt: skip
        stmt = self._insert()(self.table).on_conflict_do_nothing(index_elements=list(KEY))
        with self.engine.begin() as conn:
            # rows skipped by ON CONFLICT are not counted (SQLite and psycopg2 both report this exactly)
            return conn.execute(stmt, rows).rowcount

    def keys_of_mine(self, outcomes: Sequence[CaseOutcome]) -> set[tuple[str, str, str, str]]:
        """Which of these outcomes this run holds (after losing part of a claim race)."""
        return self.existing_keys(outcomes, mine_only=True)

    def existing_keys(
        self, outcomes: Sequence[CaseOutcome], *, mine_only: bool = False
    ) -> set[tuple[str, str, str, str]]:
        """Keys of these outcomes already in the ledger (read-only), so they are not looked up again."""
        if not outcomes:
            return set()
        t = self.table
        wanted = {(o.case_id, o.account_id, o.attack_type.value, o.closed_at_key) for o in outcomes}
        case_ids = sorted({key[0] for key in wanted})
        found: set[tuple[str, str, str, str]] = set()
        with self.engine.connect() as conn:
            # case_id leads the unique index: an IN on it is an index lookup on every database
            for start in range(0, len(case_ids), 500):  # bind-parameter limits
                query = sa.select(t.c.case_id, t.c.account_id, t.c.attack_type, t.c.closed_at).where(
                    t.c.case_id.in_(case_ids[start : start + 500])
                )
                if mine_only:
                    query = query.where(t.c.claim_token == self.token)
                found.update(key for key in map(tuple, conn.execute(query)) if key in wanted)
        return found

    def take_over(self, owner: str) -> int:
        """Adopt unfinished rows of this owner (a previous try) or whose lease expired."""
        t = self.table
        stmt = (
            sa.update(t)
            .where(t.c.state.in_(UNFINISHED))
            .where(sa.or_(t.c.owner == owner, t.c.lease_until < time.time()))
            .where(t.c.claim_token != self.token)
            .values(claim_token=self.token, owner=owner, lease_until=self._lease(), updated_at=now_iso())
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def renew_lease(self, min_interval: float = 60.0) -> None:
        """Keep this run's unfinished rows from being adopted while it is alive (at most once a minute)."""
        now = time.time()
        if now - getattr(self, "_renewed_at", 0.0) < min_interval:
            return
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.claim_token == self.token, t.c.state.in_(UNFINISHED))
                .values(lease_until=self._lease())
            )
        self._renewed_at = now

    # ------------------------------------------------------------ reading my rows

    def iter_mine(self, states: Iterable[str], chunk: int = 2000, **equal: Any) -> Iterator[list[LedgerRow]]:
        """Chunks of this run's rows in the given states (keyset pagination on id)."""
        t = self.table
        last = 0
        columns = [t.c[f] for f in LedgerRow.__dataclass_fields__]
        while True:
            query = (
                sa.select(*columns)
                .where(t.c.claim_token == self.token, t.c.state.in_(list(states)), t.c.id > last)
                .order_by(t.c.id)
                .limit(chunk)
            )
            for name, value in equal.items():
                query = query.where(t.c[name].is_(None) if value is None else t.c[name] == value)
            with self.engine.connect() as conn:
                rows = [LedgerRow(*r) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1].id

    def planned_groups(self) -> list[tuple[str, str, str | None, str | None]]:
        """Distinct (attack_type, status, result, comment) among this run's unsent planned rows."""
        t = self.table
        query = (
            sa.select(t.c.attack_type, t.c.feedback_status, t.c.feedback_result, t.c.feedback_comment)
            .where(t.c.claim_token == self.token, t.c.state == PLANNED, t.c.batch_id.is_(None))
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted((tuple(r) for r in conn.execute(query)), key=lambda g: tuple(x or "" for x in g))

    # ------------------------------------------------------------ writing decisions and results

    def record_decisions(self, updates: Sequence[dict[str, Any]]) -> None:
        """Bulk-apply per-row decisions: each dict has ``row_id`` and the columns to set."""
        if not updates:
            return
        t = self.table
        now = now_iso()
        stmt = (
            sa.update(t)
            .where(t.c.id == sa.bindparam("row_id"), self._still_mine())
            .values(
                state=sa.bindparam("new_state"),
                ad_state=sa.bindparam("ad_state"),
                decision=sa.bindparam("decision"),
                reason=sa.bindparam("reason"),
                feedback_status=sa.bindparam("feedback_status"),
                feedback_result=sa.bindparam("feedback_result"),
                feedback_comment=sa.bindparam("feedback_comment"),
                updated_at=now,
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, list(updates))

    def set_state(self, row_ids: Sequence[int], **values: Any) -> None:
        """Update this run's rows by id (in chunks, to stay under bind-parameter limits)."""
        t = self.table
        values["updated_at"] = now_iso()
        with self.engine.begin() as conn:
            for start in range(0, len(row_ids), 500):
                part = row_ids[start : start + 500]
                conn.execute(sa.update(t).where(t.c.id.in_(part), self._still_mine()).values(**values))

    def _still_mine(self) -> sa.ColumnElement[bool]:
        """Guard for updates by id: the row was not adopted by another run meanwhile.

        Wrapped in COALESCE so the planner looks rows up by primary key instead of scanning
        the (claim_token, ...) index over every row this run holds (quadratic on big days).
        """
        return sa.func.coalesce(self.table.c.claim_token, "") == self.token

    def mark_batch(self, row_ids: Sequence[int], batch_id: str) -> None:
        """Written and committed before the request: after a crash these rows are in doubt."""
        self.set_state(row_ids, batch_id=batch_id, lease_until=self._lease())

    # ------------------------------------------------------------ rejects and reprocessing

    def record_rejects(self, rejects: Sequence[Rejected], *, owner: str, interval: tuple[str, str]) -> None:
        if not rejects:
            return
        import json

        now = now_iso()
        rows = [
            {
                "row_hash": r.row_hash, "reason": r.reason.value, "detail": r.detail[:1000],
                "case_id": _short(r.raw.get("case_id")), "account_id": _short(r.raw.get("account_id")),
                "raw": json.dumps(dict(r.raw), default=str)[:4000], "interval_start": interval[0],
                "interval_end": interval[1], "owner": owner, "created_at": now,
            }
            for r in rejects
        ]  # fmt: skip
        stmt = self._insert()(self.rejects).on_conflict_do_nothing(index_elements=["row_hash", "reason"])
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def forget_interval(self, interval: tuple[str, str], owner: str) -> int:
        """``reprocess``: delete finished decisions of outcomes closed in the interval.

        Refuses while another live run still holds unfinished rows there (they may be mid-upload).
        """
        t = self.table
        in_interval = sa.and_(t.c.closed_at >= interval[0], t.c.closed_at < interval[1])
        with self.engine.begin() as conn:
            busy = conn.execute(
                sa.select(sa.func.count())
                .select_from(t)
                .where(in_interval, t.c.state.in_(UNFINISHED), t.c.owner != owner, t.c.lease_until >= time.time())
            ).scalar_one()
            if busy:
                raise RuntimeError(
                    f"reprocess refused: {busy} outcomes of this interval are being handled by another live run"
                )
            return conn.execute(sa.delete(t).where(in_interval, t.c.state.notin_(UNFINISHED))).rowcount

    def counts(self, **equal: Any) -> dict[str, int]:
        """Rows per state (for tests, reports and operators' eyes)."""
        t = self.table
        query = sa.select(t.c.state, sa.func.count()).group_by(t.c.state)
        for name, value in equal.items():
            query = query.where(t.c[name] == value)
        with self.engine.connect() as conn:
            return {state: n for state, n in conn.execute(query)}


def _short(value: Any) -> str | None:
    return None if value is None else str(value)[:255]
