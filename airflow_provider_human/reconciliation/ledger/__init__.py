"""The exactly-once ledger: one row per case outcome, moved between states only by compare-and-set.

A unique key (case_id, account_id, attack_type, closed_at) enforced by the database makes
the first claim atomic. After that, every transition is an ``UPDATE ... WHERE id IN (...)
AND holder = <this try> AND state IN (<expected>)`` built from the table of allowed moves
(:mod:`.states`): a try acts only on the rows its update really moved, and a try that lost
its rows (adopted after its lease expired) cannot write them again. Each try holds one
short lease (:mod:`.leases`), measured on the database's clock.

This module is the facade the rest of the package uses; each step lives in its own module:
:mod:`.schema` (tables), :mod:`.states` (states, flags, moves), :mod:`.dialect` (SQLite and
PostgreSQL), :mod:`.leases`, :mod:`.claims` (rows entering a try), :mod:`.writes` (a try's
moves), :mod:`.review` (a person's answers), :mod:`.queries` (reads).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from airflow_provider_human.client.coerce import to_number
from airflow_provider_human.defaults import DEFAULT_DECISION_LOCK_SECONDS
from airflow_provider_human.reconciliation.db_errors import LedgerNames
from airflow_provider_human.reconciliation.ledger import claims, leases, queries, review, writes
from airflow_provider_human.reconciliation.ledger.claims import ClaimItem
from airflow_provider_human.reconciliation.ledger.dialect import Growth, for_ledger
from airflow_provider_human.reconciliation.ledger.leases import LeaseKeeper
from airflow_provider_human.reconciliation.ledger.review import Answer, ReviewItem
from airflow_provider_human.reconciliation.ledger.rows import LedgerRow, OpenRow, review_kind
from airflow_provider_human.reconciliation.ledger.schema import CLAIM_COLUMNS, DECISION_COLUMNS, KEY, build_tables
from airflow_provider_human.reconciliation.ledger.states import (
    NEEDS_A_PERSON,
    OPEN_STATES_SQL,
    UNFINISHED,
    LedgerState,
    now_iso,
)
from airflow_provider_human.reconciliation.ledger.store import Store
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Rejected

if TYPE_CHECKING:  # history.py reads the states from this package: no import back at run time
    from airflow_provider_human.reconciliation.history import History

__all__ = [
    "CLAIM_COLUMNS", "DECISION_COLUMNS", "KEY", "NEEDS_A_PERSON", "OPEN_STATES_SQL", "UNFINISHED", "Answer",
    "ClaimItem", "Decider", "LeaseKeeper", "Ledger", "LedgerRow", "LedgerState", "OpenRow", "ReviewItem",
    "build_tables", "now_iso", "review_kind",
]  # fmt: skip


class Ledger:
    """The ledger and rejects tables on one SQLAlchemy engine (SQLite or PostgreSQL, one code path).

    One instance is one *holder* (a try of a task): :attr:`holder` is fresh for every
    instance, so two tries never share rows, even of the same task instance.

    :param lease_seconds: how long this holder's rows stay reserved without a heartbeat (one
        row in ``<table>_holders``). A crashed run's rows are adopted this long after its last beat.
    :param decision_lock_seconds: PostgreSQL: how long :meth:`deciding` waits for the decision
        lock before failing for retry, naming who holds it (the engine sets it from
        :class:`~airflow_provider_human.reconciliation.settings.ReconcileSettings`).
    :param auto_upgrade: whether :meth:`ensure_schema` may upgrade an older ledger; None reads
        ``[human] ledger_auto_upgrade`` (default on).
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        table: str = "human_feedback_ledger",
        rejects_table: str = "human_feedback_rejects",
        lease_seconds: float = 120.0,
        decision_lock_seconds: float = DEFAULT_DECISION_LOCK_SECONDS,
        auto_upgrade: bool | None = None,
    ) -> None:
        self.dialect = for_ledger(engine)  # refuses a third backend before anything is written
        self.engine = engine
        self.metadata = sa.MetaData()
        self.table, self.rejects, self.holders = build_tables(self.metadata, table, rejects_table)
        self.lease_seconds = float(lease_seconds)
        self.decision_lock_seconds = to_number(decision_lock_seconds, "decision_lock_seconds", minimum=0.001)
        self.holder = uuid.uuid4().hex
        self.auto_upgrade = auto_upgrade  # None: [human] ledger_auto_upgrade (ensure_schema)
        self._store = Store(engine, self.dialect, self.table, self.rejects, self.holders, self.holder)
        self._growth = Growth()  # rows inserted since the planner statistics were refreshed

    #: PostgreSQL: refresh the ledger's planner statistics once this try has inserted this many
    #: rows and at least as many as the statistics knew (so a run does it a few times at most).
    analyze_after_rows = 50_000

    # ------------------------------------------------------------ schema and clock

    def ensure_schema(self) -> None:
        """Bring the tables to the schema this version needs: created when missing, else upgraded by the
        shipped migrations under the database's lock (:mod:`.migrations`); a ledger newer than the code,
        or behind it with ``[human] ledger_auto_upgrade`` off, is refused with what to do.

        On SQLite the database file is switched to WAL, so that concurrent runs reading the
        export are not starved by another run's ledger writes.
        """
        self.dialect.prepare(self.engine)
        from airflow_provider_human.reconciliation.ledger import migrations  # Alembic: not at DAG parse

        tables = migrations.LedgerTables.of(self.table.name, self.rejects.name)
        migrations.ensure_head(self.engine, tables, auto_upgrade=self.auto_upgrade, names=self._names())

    def _names(self) -> LedgerNames:
        tables = (self.table, self.holders, self.rejects)
        return LedgerNames(tuple(t.fullname for t in tables), tuple(f"{t.fullname}_id_seq" for t in tables[::2]))

    def exists(self) -> bool:
        """Whether the ledger table is there (a dry run must not create it)."""
        return sa.inspect(self.engine).has_table(self.table.name)

    def db_now(self) -> sa.ColumnElement[float]:
        """The database's clock in epoch seconds: every worker's leases are measured on one clock."""
        return self.dialect.now()

    def clock(self) -> float:
        """The database's clock now (epoch seconds)."""
        with self.engine.connect() as conn:
            return float(conn.execute(sa.select(self.db_now())).scalar_one())

    # ------------------------------------------------------------ lease keeping

    def heartbeat(self) -> LeaseKeeper:
        """A context manager that renews this holder's leases in the background for the whole run."""
        return LeaseKeeper(self)

    def register(self, owner: str) -> None:
        """Start this try's lease (before it claims or adopts anything)."""
        leases.register(self._store, owner, self.lease_seconds, self._names())

    def renew(self) -> int:
        """Extend this try's lease (one row, however many outcomes it holds)."""
        return leases.renew(self._store, self.lease_seconds)

    def release(self) -> int:
        """The run ended: what it still holds can be adopted at once. Returns how many outcomes that is."""
        return leases.release(self._store)

    # ------------------------------------------------------------ claims

    def claim(self, outcomes: Sequence[ClaimItem], *, owner: str, interval: tuple[str, str]) -> int:
        """Insert outcomes with their state and decision columns; returns how many were new.

        Each item is ``(outcome, state, columns)``: ``claimed`` rows carry no decision yet
        (their lookup failed, ``columns`` may hold ``lookup_failures`` and ``error``);
        ``planned`` and ``noop`` rows carry it. Rows that already exist (decided by any run,
        ever) are left untouched: that is the exactly-once claim. ``columns`` mappings are
        read-only (see :data:`ClaimItem`).
        """
        if not outcomes:
            return 0
        with self.engine.begin() as conn:
            return self._claim(conn, outcomes, owner=owner, interval=interval)

    def _claim(
        self, conn: sa.Connection, outcomes: Sequence[ClaimItem], *, owner: str, interval: tuple[str, str]
    ) -> int:
        inserted = claims.insert_claims(self._store, conn, outcomes, owner=owner, interval=interval)
        self._growth.rows_unanalyzed += inserted
        return inserted

    def _refresh_statistics(self) -> None:
        """PostgreSQL: ``ANALYZE`` the ledger after this try has grown it a lot (see the dialect)."""
        self.dialect.refresh_statistics(self.engine, self.table, self._growth, self.analyze_after_rows)

    @contextmanager
    def deciding(self) -> Iterator[Decider]:
        """One transaction that reads history and writes decisions, one at a time across runs.

        Two runs deciding the same (account, attack type) from history each read before the
        other wrote would both upload (a second incident). Decisions therefore hold the
        database's write lock (SQLite: the transaction starts with a write; PostgreSQL: a
        transaction-scoped advisory lock per ledger table) from the history read to the
        commit. Lookups happen before, outside the lock; the transaction itself is short.
        PostgreSQL waits for the lock at most ``decision_lock_seconds`` (then
        :class:`~airflow_provider_human.exceptions.DecisionLockTimeoutError` names the holder);
        SQLite waits as long as the connection's busy timeout, then fails ``database is locked``.
        """
        with self.engine.begin() as conn:
            self.dialect.lock_decisions(conn, table=self.table, holders=self.holders, holder=self.holder,
                                        wait_seconds=self.decision_lock_seconds)  # fmt: skip
            yield Decider(self, conn)
        self._refresh_statistics()  # after the commit: never inside the locked step

    def read_history(
        self, pairs: Iterable[tuple[str, str]], conn: sa.Connection | None = None
    ) -> dict[tuple[str, str], History]:
        """Every ledger row of these (account id, attack type) pairs, as :class:`History` by pair."""
        return queries.read_history(self._store, pairs, conn)

    def claimed_by_me(self, outcomes: Sequence[CaseOutcome]) -> set[tuple[str, ...]]:
        """Keys (case, account, attack type, closed_at, fingerprint) of these outcomes this holder claimed."""
        return claims.claimed_by_me(self._store, outcomes)

    def adopt(self, interval: tuple[str, str], owner: str, shard: tuple[int, int] | None = None) -> int:
        """Take over unfinished rows of this interval (and shard) whose lease has expired.

        A live holder is never overtaken: only rows whose lease ran out on the database's
        clock move, and the compare-and-set re-checks that inside the update.
        """
        return claims.adopt(self._store, interval, owner, shard)

    def reopen_for_reprocess(
        self, interval: tuple[str, str], owner: str, run_key: str, shard: tuple[int, int] | None = None
    ) -> int:
        """``reprocess``: take this interval's outcomes that were decided but not sent back to ``claimed``.

        Sent rows stay sent (an upload cannot be taken back, and the same case outcome means
        the same thing); so do in-doubt rows waiting for a person. ``noop`` rows (superseded
        ones excepted) and ``failed`` ones (HUMAN refused them: nothing reached it) are decided
        again (``Event.REPROCESS``). Each row is reopened at most once per run (``run_key``), so
        a retry of a reprocessing run repeats nothing.
        """
        return claims.reopen_for_reprocess(self._store, interval, owner, run_key, shard)

    # ------------------------------------------------------------ reading

    def iter_mine(self, states: Iterable[LedgerState], chunk: int = 2000, **equal: Any) -> Iterator[list[LedgerRow]]:
        """Chunks of this holder's rows in the given states (keyset pagination on id)."""
        return queries.iter_mine(self._store, states, chunk, **equal)

    def planned_groups(self) -> list[tuple[str, str, str | None, str | None]]:
        """Distinct (attack_type, status, result, comment) among this holder's planned rows."""
        return queries.planned_groups(self._store)

    def open_rows(self, interval: tuple[str, str], shard: tuple[int, int] | None = None) -> list[OpenRow]:
        """Rows of the interval (and shard) that are not done: unfinished, failed or waiting for a person."""
        return queries.open_rows(self._store, interval, shard)

    def interval_breakdown(self, interval: tuple[str, str]) -> list[tuple[str, str | None, str | None, int]]:
        """(state, decision, result or status, rows) among the interval's outcomes (all shards, all runs)."""
        return queries.interval_breakdown(self._store, interval)

    def forget_planned(self, row_ids: Sequence[int]) -> int:
        """Delete this holder's rows still ``planned``: uploads no request carried, that no verdict stands behind.

        Only for the feedback operator's rows (:mod:`.told_outside`): a case outcome's row is never deleted."""
        return writes.forget_planned(self._store, row_ids)

    def states_of_cases(self, prefix: str) -> Counter[str]:
        """Rows per state among case ids starting with ``prefix`` (one operator try's uploads)."""
        return queries.states_of_cases(self._store, prefix)

    def interval_truth(self, interval: tuple[str, str]) -> dict[str, Any]:
        """The interval's state whichever runs did the work (see :func:`report.interval_truth`)."""
        from airflow_provider_human.reconciliation.report import interval_truth

        return interval_truth(self.interval_breakdown(interval), self.interval_rejects(interval))

    def interval_rejects(self, interval: tuple[str, str]) -> Counter[str]:
        """Rejected rows recorded for the interval, by reason (each broken row once, whichever run saw it)."""
        return queries.interval_rejects(self._store, interval)

    # ------------------------------------------------------------ transitions (compare-and-set)

    def move(self, row_ids: Sequence[int], expected: Iterable[LedgerState], to: LedgerState, **values: Any) -> int:
        """Move this holder's rows from an expected state to ``to``; returns how many really moved."""
        return writes.move(self._store, row_ids, expected, to, **values)

    def record_decisions(self, updates: Sequence[dict[str, Any]]) -> int:
        """Decide ``claimed`` rows: each dict has ``row_id``, ``new_state`` and the decision columns."""
        if not updates:
            return 0
        with self.engine.begin() as conn:
            return self._record_decisions(conn, updates)

    def _record_decisions(self, conn: sa.Connection, updates: Sequence[dict[str, Any]]) -> int:
        return writes.record_decisions(self._store, conn, updates)

    def record_waiting(self, row_ids: Sequence[int], reason: str, detail: str) -> None:
        """Claimed rows left undecided on purpose (an earlier upload of their pair has not landed)."""
        writes.record_waiting(self._store, row_ids, reason, detail)

    def record_lookup_failures(self, row_ids: Sequence[int], error: str, *, permanent: bool) -> None:
        """A claimed row's lookup failed again; permanent failures are counted toward giving up."""
        writes.record_lookup_failures(self._store, row_ids, error, permanent=permanent)

    def take_batch(
        self, group: tuple[str, str, str | None, str | None], limit: int, batch_id: str, after_id: int = 0
    ) -> list[tuple[int, str]]:
        """Move up to ``limit`` planned rows of one upload group to ``sending``, committed before the request.

        Returns the (id, account_id) rows this holder really moved: only rows still
        ``planned``, still this holder's, and whose lease has not run out move, so a try
        whose lease expired (and may have been overtaken) sends nothing. The database picks
        the rows and tags them with ``batch_id`` in one statement. ``after_id`` continues a
        group where its last batch ended (without it, each batch would scan the other
        groups' rows again: quadratic on big days).
        """
        return writes.take_batch(self._store, group, limit, batch_id, after_id)

    def finish_batch(self, batch_id: str, to: LedgerState, *, clear_batch: bool = False, **values: Any) -> int:
        """The answer to a batch: move its rows (still ``sending`` and this holder's) to ``to``.

        ``clear_batch`` forgets the batch (HUMAN refused it before acting: the rows are planned again).
        """
        return writes.finish_batch(self._store, batch_id, to, clear_batch=clear_batch, **values)

    def mark_sent(self, row_ids: Sequence[int], http_status: int | None, note: str | None = None) -> int:
        """A lookup showed HUMAN applied these in-doubt uploads."""
        return writes.mark_sent(self._store, row_ids, http_status, note)

    # ------------------------------------------------------------ what waits for a person

    def review_items(self, until: str | None = None) -> list[ReviewItem]:
        """Rows waiting for a person (``needs_review``, ``failed``) closed before ``until``, oldest first."""
        return review.review_items(self._store, until)

    def answered_unfinished(self, until: str | None = None) -> set[tuple[str, str]]:
        """Intervals with rows a person answered that are not finished yet (a resend still to do)."""
        return review.answered_unfinished(self._store, until)

    def review_rows(self, row_ids: Iterable[int]) -> list[ReviewItem]:
        """These rows as they are now, whatever their state (to say why an answer did not apply)."""
        return review.review_rows(self._store, row_ids)

    def answer_review(self, listed: Mapping[int, str], answer: Answer, user: str) -> list[int]:
        """Record a person's answer on the rows they were shown, and act on it; returns the ids that moved.

        ``listed`` maps each row id to the :attr:`ReviewItem.version` the person saw. The answer
        applies to a row only while it still waits for a person *and* has that version (a
        compare-and-set in the update itself): a row another answer has moved since, even one
        that came back to wait again, is left as it is, to be listed again.

        Resend: an upload goes back to ``planned`` (sent again through the fenced path); any
        other item goes back to ``claimed`` and is decided by the policy table alone, history
        set aside. Mark as applied: an upload becomes ``sent``; any other item ``noop``. Leave:
        only the answer is written; the item keeps waiting. Moved rows belong to no holder,
        so the next run (or the review step's own run) takes them at once.
        """
        return review.answer_review(self._store, listed, answer, user)

    def answer_each(self, answers: Mapping[int, tuple[str, Answer]], user: str) -> list[int]:
        """:meth:`answer_review` with one answer per row: ``answers`` maps a row id to (version seen, answer).

        All rows in one transaction; each row's compare-and-set on its own version, as above.
        """
        return review.answer_each(self._store, answers, user)

    # ------------------------------------------------------------ rejects

    def record_rejects(self, rejects: Sequence[Rejected], *, owner: str, interval: tuple[str, str]) -> None:
        """Each broken row once (by its hash and reason), however many runs read it.

        What is stored cannot fail to store: ids and detail have unprintable characters escaped
        (a NUL, a lone surrogate), the raw row is ASCII JSON."""
        writes.record_rejects(self._store, rejects, owner=owner, interval=interval)


class Decider:
    """The inside of :meth:`Ledger.deciding`: history reads and decision writes on one locked connection."""

    def __init__(self, ledger: Ledger, conn: sa.Connection) -> None:
        self.ledger = ledger
        self.conn = conn

    def history(self, pairs: Iterable[tuple[str, str]]) -> dict:
        return self.ledger.read_history(pairs, self.conn)

    def claim(self, outcomes: Sequence[ClaimItem], *, owner: str, interval: tuple[str, str]) -> int:
        return self.ledger._claim(self.conn, outcomes, owner=owner, interval=interval)

    def record_decisions(self, updates: Sequence[dict[str, Any]]) -> int:
        return self.ledger._record_decisions(self.conn, updates)
