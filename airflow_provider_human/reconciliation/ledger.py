"""The exactly-once ledger: one row per case outcome, moved between states only by compare-and-set.

A unique key (case_id, account_id, attack_type, closed_at) enforced by the database makes
the first claim atomic. After that, every transition is an ``UPDATE ... WHERE id IN (...)
AND holder = <this try> AND state IN (<expected>)``: a try acts only on the rows its
update really moved, and a try that lost its rows (adopted after its lease expired)
cannot write them again. Each try holds one short lease (a row of ``<table>_holders``),
kept alive by a heartbeat for the whole run, measured on the database's clock, and
released the moment a run ends (success or failure); only a crashed run leaves a lease
to expire, and its rows are free once it has. The states:

    claimed ---------> planned -> sending -> sent
       |  (decided)       ^          |  \\-> failed        (HUMAN refused the batch: 400)
       |                  |          v
       +-> noop           +----- in_doubt -> needs_review  (no documented field can tell)

``sending`` is written and committed before the request leaves, so after a crash those
rows are treated exactly like ``in_doubt``: verified by lookup, never resent blindly.
"""

from __future__ import annotations

import json
import logging
import operator
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa

from airflow_provider_human.client.coerce import to_number
from airflow_provider_human.defaults import DEFAULT_DECISION_LOCK_SECONDS
from airflow_provider_human.reconciliation import decision_lock
from airflow_provider_human.reconciliation.db_errors import LedgerNames, grants_error, is_insufficient_privilege
from airflow_provider_human.reconciliation.history import History, PastOutcome
from airflow_provider_human.reconciliation.outcomes import MAX_ID_LENGTH as ID_LENGTH
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Rejected, escaped
from airflow_provider_human.reconciliation.sharding import in_shard

log = logging.getLogger(__name__)

#: A case outcome as the export said it: an edited row (other verdict or comment) is a new outcome.
#: Led by (account, attack type): the same index serves the claim and every history read.
KEY = ("account_id", "attack_type", "case_id", "closed_at", "fingerprint")
DECISION_COLUMNS = (
    "ad_state", "decision", "reason", "detail", "review", "feedback_status", "feedback_result", "feedback_comment",
)  # fmt: skip
_NO_DECISION = dict.fromkeys(DECISION_COLUMNS)
_OUTCOME_COLUMNS = ("case_id", "account_id", "attack_type", "closed_at", "fingerprint", "verdict", "comment")
#: What a claim writes, in this order: the outcome's own columns, its state, then the rest.
CLAIM_COLUMNS = (
    *_OUTCOME_COLUMNS, "state", *DECISION_COLUMNS, "lookup_failures", "error", "interval_start", "interval_end",
    "owner", "holder", "created_at", "updated_at",
)  # fmt: skip
_T = TypeVar("_T")
_PG_ARRAY = {sa.Integer: "integer[]", sa.Float: "float8[]"}  # every other claimed column is text
_CHUNK = 500  # ids per statement: below every database's bind-parameter limit


class Answer(StrEnum):
    """A person's answer to a review item (the review step's options)."""

    RESEND = "resend"  # in doubt or rejected: send it (fenced); otherwise decide again by the table alone
    MARK_APPLIED = "mark_applied"  # in doubt or rejected: HUMAN has it; otherwise: handled, nothing to send
    LEAVE = "leave"  # stays waiting, listed again on the next run


class LedgerState(StrEnum):
    CLAIMED = "claimed"  # undecided: its lookup failed; the next try decides it
    PLANNED = "planned"  # decided to upload; not sent
    SENDING = "sending"  # in a batch whose request may have left (after a crash: in doubt)
    IN_DOUBT = "in_doubt"  # the answer did not say whether HUMAN applied it
    SENT = "sent"  # HUMAN applied it (a 2xx, or verified by lookup)
    NOOP = "noop"  # nothing to send: consistent, skipped or superseded
    FAILED = "failed"  # HUMAN refused the batch (400): needs a person, never resent automatically
    NEEDS_REVIEW = "needs_review"  # in doubt and no documented field can tell: a person decides


UNFINISHED = frozenset({LedgerState.CLAIMED, LedgerState.PLANNED, LedgerState.SENDING, LedgerState.IN_DOUBT})
NEEDS_A_PERSON = frozenset({LedgerState.FAILED, LedgerState.NEEDS_REVIEW})
#: (outcome, state, decision columns or None): one row to claim.
ClaimItem = tuple[CaseOutcome, LedgerState, Mapping[str, Any] | None]
# The partial index's condition, repeated word for word in queries so that SQLite uses it.
OPEN_STATES_SQL = "state IN (" + ", ".join(f"'{s.value}'" for s in sorted(UNFINISHED)) + ")"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LedgerRow:
    id: int
    case_id: str
    account_id: str
    attack_type: str
    closed_at: str
    verdict: str
    comment: str | None
    fingerprint: str
    answer: str | None
    state: str
    decision: str | None
    feedback_status: str | None
    feedback_result: str | None
    batch_id: str | None
    marked_at: float | None
    lookup_failures: int


def review_kind(review: str | None, state: str) -> str:
    """Why a row waits for a person: its decision's review kind, else what its upload's answer left."""
    return review or ("rejected" if state == LedgerState.FAILED else "in_doubt")


@dataclass(frozen=True)
class OpenRow:
    """A row of an interval that is not done, with who holds it and until when (database clock)."""

    id: int
    account_id: str
    attack_type: str
    state: LedgerState
    feedback_result: str | None
    batch_id: str | None
    holder: str
    owner: str
    lease_until: float
    case_id: str = ""
    review: str | None = None
    reason: str | None = None  # on a claimed row: why it is not decided yet (e.g. waits for an earlier upload)
    detail: str | None = None

    @property
    def kind(self) -> str:
        """Why it waits for a person (for rows in NEEDS_A_PERSON)."""
        return review_kind(self.review, self.state)


@dataclass(frozen=True)
class ReviewItem:
    """A row waiting for a person, with what a person needs to decide (no personal fields)."""

    id: int
    interval_start: str
    interval_end: str
    case_id: str
    account_id: str
    attack_type: str
    closed_at: str
    verdict: str
    state: str
    review: str | None
    decision: str | None
    reason: str | None
    detail: str | None
    feedback_status: str | None
    feedback_result: str | None
    batch_id: str | None
    answer: str | None
    answered_by: str | None
    error: str | None
    answered_at: str | None
    updated_at: str

    @property
    def kind(self) -> str:
        return review_kind(self.review, self.state)

    @property
    def version(self) -> str:
        """What the person saw: an answer applies only while the row still has this version.

        Every change of a row writes ``updated_at``; state, batch and last answer make the
        version readable in a listing. Computed in SQL the same way (``_version_sql``)."""
        return "|".join((self.state, self.batch_id or "", self.answered_at or "", self.updated_at))

    @property
    def upload(self) -> str:
        return f"{self.feedback_status}/{self.feedback_result or '-'}" if self.feedback_status else "-"


def _version_sql(t: sa.Table) -> sa.ColumnElement[str]:
    """:attr:`ReviewItem.version`, computed by the database (``||`` on SQLite and PostgreSQL)."""
    blank = sa.literal("")
    return (
        t.c.state + "|" + sa.func.coalesce(t.c.batch_id, blank) + "|"
        + sa.func.coalesce(t.c.answered_at, blank) + "|" + t.c.updated_at
    )  # fmt: skip


def build_tables(metadata: sa.MetaData, ledger: str, rejects: str) -> tuple[sa.Table, sa.Table, sa.Table]:
    ledger_table = sa.Table(
        ledger,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("account_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("attack_type", sa.String(16), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ad_state", sa.String(16)),
        sa.Column("decision", sa.String(32)),
        sa.Column("reason", sa.String(64)),
        sa.Column("detail", sa.Text),  # the decision's evidence in words (history rows, incident types)
        sa.Column("review", sa.String(32)),  # why a person must decide (needs_review and failed rows)
        sa.Column("answer", sa.String(16)),  # the person's answer (Answer), who gave it and when
        sa.Column("answered_by", sa.String(256)),
        sa.Column("answered_at", sa.String(32)),
        sa.Column("feedback_status", sa.String(16)),
        sa.Column("feedback_result", sa.String(48)),
        sa.Column("feedback_comment", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64)),
        sa.Column("marked_at", sa.Float),
        sa.Column("lookup_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reprocessed_by", sa.String(512)),
        sa.Column("http_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.String(32)),
        sa.UniqueConstraint(*KEY, name=f"uq_{ledger}_outcome"),
        sa.Index(f"ix_{ledger}_closed", "closed_at"),
        sa.Index(f"ix_{ledger}_interval_state", "interval_start", "state"),  # one day's rows (revision 0002)
    )
    # A partial index: rows that are done (most of them) leave the holder index, so a day's
    # million claims and transitions stay cheap. It also finds a batch's rows (this holder's
    # ``sending`` rows): a batch index of its own cost more on every claim than it saved.
    t = ledger_table
    sa.Index(f"ix_{ledger}_open", t.c.holder, t.c.state, t.c.id,
             sqlite_where=sa.text(OPEN_STATES_SQL), postgresql_where=sa.text(OPEN_STATES_SQL))  # fmt: skip
    rejects_table = sa.Table(
        rejects,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("row_hash", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("case_id", sa.String(ID_LENGTH)),
        sa.Column("account_id", sa.String(ID_LENGTH)),
        sa.Column("raw", sa.Text),
        sa.Column("interval_start", sa.String(32), nullable=False),
        sa.Column("interval_end", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("row_hash", "reason", name=f"uq_{rejects}_row"),
        sa.Index(f"ix_{rejects}_interval", "interval_start"),  # interval_rejects (revision 0002)
    )
    # One lease per try, not per row: a heartbeat renews one row however many outcomes a try holds.
    holders_table = sa.Table(
        f"{ledger}_holders",
        metadata,
        sa.Column("holder", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(512), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),  # epoch seconds on the database's clock
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    return ledger_table, rejects_table, holders_table


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
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"ledger on {engine.dialect.name!r} is not supported; use PostgreSQL or SQLite")
        self.engine = engine
        self.metadata = sa.MetaData()
        self.table, self.rejects, self.holders = build_tables(self.metadata, table, rejects_table)
        self.lease_seconds = float(lease_seconds)
        self.decision_lock_seconds = to_number(decision_lock_seconds, "decision_lock_seconds", minimum=0.001)
        self.holder = uuid.uuid4().hex
        self.auto_upgrade = auto_upgrade  # None: [human] ledger_auto_upgrade (ensure_schema)
        self._rows_known: float | None = None  # PostgreSQL: the table's size as its planner statistics say
        self._rows_unanalyzed = 0  # rows this instance inserted since then

    #: PostgreSQL: refresh the ledger's planner statistics once this try has inserted this many
    #: rows and at least as many as the statistics knew (so a run does it a few times at most).
    analyze_after_rows = 50_000

    # ------------------------------------------------------------ schema and clock

    def ensure_schema(self) -> None:
        """Bring the tables to the schema this version needs: created when missing, else upgraded by the
        shipped migrations under the database's lock (``ledger_migrations``); a ledger newer than the code,
        or behind it with ``[human] ledger_auto_upgrade`` off, is refused with what to do.

        On SQLite the database file is switched to WAL, so that concurrent runs reading the
        export are not starved by another run's ledger writes.
        """
        if self.engine.dialect.name == "sqlite":
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except sa.exc.OperationalError:
                pass  # another run holds the file right now and is switching it (or has): fine either way
        from airflow_provider_human.reconciliation import ledger_migrations as migrations  # Alembic: not at DAG parse

        tables = migrations.LedgerTables.of(self.table.name, self.rejects.name)
        migrations.ensure_head(self.engine, tables, auto_upgrade=self.auto_upgrade, names=self._names())

    def _named_in(self, exc: sa.exc.DatabaseError) -> str:
        """The ledger table a failed statement was about (the ledger's own when none is named)."""
        statement = str(exc.statement or "")
        named = [t.fullname for t in (self.holders, self.rejects) if t.name in statement.replace('"', "")]
        return named[0] if named else self.table.fullname

    def _names(self) -> LedgerNames:
        tables = (self.table, self.holders, self.rejects)
        return LedgerNames(tuple(t.fullname for t in tables), tuple(f"{t.fullname}_id_seq" for t in tables[::2]))

    def exists(self) -> bool:
        """Whether the ledger table is there (a dry run must not create it)."""
        return sa.inspect(self.engine).has_table(self.table.name)

    def db_now(self) -> sa.ColumnElement[float]:
        """The database's clock in epoch seconds: every worker's leases are measured on one clock."""
        if self.engine.dialect.name == "postgresql":
            return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")

    def clock(self) -> float:
        """The database's clock now (epoch seconds)."""
        with self.engine.connect() as conn:
            return float(conn.execute(sa.select(self.db_now())).scalar_one())

    def _lease(self) -> sa.ColumnElement[float]:
        return self.db_now() + self.lease_seconds

    def _insert(self):
        """INSERT ... ON CONFLICT DO NOTHING for this dialect."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert

    def _mine(self, states: Iterable[LedgerState]) -> sa.ColumnElement[bool]:
        """This holder's rows in these (unfinished) states, through the partial index."""
        t = self.table
        states = list(states)
        assert set(states) <= UNFINISHED, states
        return sa.and_(t.c.holder == self.holder, t.c.state.in_([s.value for s in states]), sa.text(OPEN_STATES_SQL))

    def _still_mine(self, states: Iterable[LedgerState]) -> sa.ColumnElement[bool]:
        """The compare-and-set guard for updates by id.

        Wrapped in COALESCE so the planner looks rows up by primary key instead of scanning
        the (holder, state) index over every row this try holds (quadratic on big days).
        """
        t = self.table
        return sa.and_(sa.func.coalesce(t.c.holder, "") == self.holder, t.c.state.in_([s.value for s in states]))

    def _by_id(self, conn: sa.Connection, row_ids: Sequence[int], guard: sa.ColumnElement[bool], **values) -> int:
        """A guarded update of rows by id, ``_CHUNK`` ids per statement."""
        t = self.table
        return sum(
            conn.execute(sa.update(t).where(t.c.id.in_(part), guard).values(**values)).rowcount
            for part in _parts(row_ids)
        )

    @staticmethod
    def _in_interval(t: sa.Table, interval: tuple[str, str]) -> sa.ColumnElement[bool]:
        return sa.and_(t.c.closed_at >= interval[0], t.c.closed_at < interval[1])

    # ------------------------------------------------------------ lease keeping

    def heartbeat(self) -> LeaseKeeper:
        """A context manager that renews this holder's leases in the background for the whole run."""
        return LeaseKeeper(self)

    def register(self, owner: str) -> None:
        """Start this try's lease (before it claims or adopts anything)."""
        now = now_iso()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(self.holders).values(
                        holder=self.holder, owner=owner, lease_until=self._lease(), started_at=now, updated_at=now
                    )
                )
        except sa.exc.DBAPIError as exc:  # the ledger's first write: an admin created it, nobody granted it
            if is_insufficient_privilege(exc):
                raise grants_error(self.engine, exc, self.holders.fullname, "write", self._names()) from exc
            raise

    def renew(self) -> int:
        """Extend this try's lease (one row, however many outcomes it holds)."""
        h = self.holders
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(h).where(h.c.holder == self.holder).values(lease_until=self._lease(), updated_at=now_iso())
            ).rowcount

    def release(self) -> int:
        """The run ended: what it still holds can be adopted at once. Returns how many outcomes that is."""
        h, t = self.holders, self.table
        with self.engine.begin() as conn:
            conn.execute(sa.update(h).where(h.c.holder == self.holder).values(lease_until=0.0, updated_at=now_iso()))
            return conn.execute(sa.select(sa.func.count()).select_from(t).where(self._mine(UNFINISHED))).scalar_one()

    def _live_holders(self) -> sa.Select:
        """Holders whose lease has not run out; rows of any other holder (or of none registered) are free."""
        h = self.holders
        return sa.select(h.c.holder).where(h.c.lease_until > self.db_now())

    def _my_lease_is_valid(self) -> sa.ColumnElement[bool]:
        h = self.holders
        return sa.exists().where(h.c.holder == self.holder, h.c.lease_until > self.db_now())

    # ------------------------------------------------------------ claims

    def claim(
        self,
        outcomes: Sequence[ClaimItem],
        *,
        owner: str,
        interval: tuple[str, str],
    ) -> int:
        """Insert outcomes with their state and decision columns; returns how many were new.

        Each item is ``(outcome, state, columns)``: ``claimed`` rows carry no decision yet
        (their lookup failed, ``columns`` may hold ``lookup_failures`` and ``error``);
        ``planned`` and ``noop`` rows carry it. Rows that already exist (decided by any run,
        ever) are left untouched: that is the exactly-once claim.
        """
        if not outcomes:
            return 0
        with self.engine.begin() as conn:
            return self._claim(conn, outcomes, owner=owner, interval=interval)

    def _claim(
        self,
        conn: sa.Connection,
        outcomes: Sequence[ClaimItem],
        *,
        owner: str,
        interval: tuple[str, str],
    ) -> int:
        if not outcomes:
            return 0
        now = now_iso()
        # Every row has the same columns: the outcome's own, the state, then these (decision
        # columns overridden per row). Built as value lists, not dicts: a day is a million rows.
        names = list(CLAIM_COLUMNS)
        shared = dict.fromkeys(names[len(_OUTCOME_COLUMNS) + 1 :])  # in CLAIM_COLUMNS' order
        shared.update(lookup_failures=0, interval_start=interval[0], interval_end=interval[1], owner=owner,
                      holder=self.holder, created_at=now, updated_at=now)  # fmt: skip
        defaults = tuple(shared.values())
        pick_shared = operator.itemgetter(*shared)  # a row's decision columns over the defaults, in C
        rows = []
        tails: dict[int, tuple[Any, ...]] = {}  # by the columns dict's id: callers share one dict per decision
        for o, state, columns in outcomes:
            if columns:
                tail = tails.get(id(columns))
                if tail is None:
                    tail = tails[id(columns)] = pick_shared({**shared, **columns})
            else:
                tail = defaults
            # ``_value_``: the enums' plain strings without Enum's slow ``value`` property
            rows.append([o.case_id, o.account_id, o.attack_type._value_, o.closed_at_key, o.fingerprint,
                         o.verdict._value_, o.comment, state._value_, *tail])  # fmt: skip
        if self.engine.dialect.name == "postgresql":
            return self._insert_pages(conn, names, rows)
        stmt = self._insert()(self.table).on_conflict_do_nothing(index_elements=list(KEY))
        # rows skipped by ON CONFLICT are not counted (SQLite reports this exactly)
        # SQLite: one executemany in the driver. SQLAlchemy's per-row parameter handling costs
        # more than the inserts themselves on big days; the statement is the same one, compiled.
        compiled = stmt.compile(dialect=self.engine.dialect, column_keys=names)
        params = compiled.construct_params(dict(zip(names, rows[0], strict=True)))
        position = {k: i for i, k in enumerate(names)}
        order: list[int] = []
        fixed: list[Any] = []  # the statement's own binds, if any, after the row's values
        for key in compiled.positiontup or []:
            if key not in position:
                position[key] = len(names) + len(fixed)
                fixed.append(params[key])
            order.append(position[key])
        pick = operator.itemgetter(*order)
        values = [pick(row + fixed) if fixed else pick(row) for row in rows]
        return conn.exec_driver_sql(str(compiled), values).rowcount

    def _insert_pages(self, conn: sa.Connection, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """PostgreSQL: ``INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT DO NOTHING``.

        A driver's ``executemany`` sends one statement per row (a million round trips on a big
        day). One statement per 5,000 rows, each column one array parameter, keeps the
        statement small and the count of rows really inserted exact, which the claim needs
        (rows a concurrent run inserted first are not ours).
        """
        prep = self.engine.dialect.identifier_preparer
        table = self.table
        arrays = ", ".join(f"%s::{_PG_ARRAY.get(type(table.c[name].type), 'text[]')}" for name in names)
        # Only quoted identifiers of our own table and fixed casts go into the text; values are parameters.
        into = f"{prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)})"
        key = ", ".join(prep.quote(k) for k in KEY)
        sql = f"INSERT INTO {into} SELECT * FROM unnest({arrays}) ON CONFLICT ({key}) DO NOTHING"  # noqa: S608
        inserted = 0
        for start in range(0, len(rows), 5000):
            columns = tuple(list(column) for column in zip(*rows[start : start + 5000], strict=True))
            inserted += conn.exec_driver_sql(sql, columns).rowcount
        self._rows_unanalyzed += inserted
        return inserted

    def _refresh_statistics(self) -> None:
        """PostgreSQL: ``ANALYZE`` the ledger after this try has grown it a lot.

        Until autovacuum gets to it, a new or fast-growing ledger is planned from statistics
        that say it is empty or small: every history read became a sequential scan of the
        whole table (87 ms for 5,000 accounts in a 300,000-row ledger, 9 ms after
        ``ANALYZE``), which made a day of a million outcomes quadratic. Refreshed when the
        rows inserted since the last refresh reach both :attr:`analyze_after_rows` and the
        size the statistics knew, so the count of refreshes grows with the logarithm of the
        table. Where the database user does not own the table, PostgreSQL skips it with a
        warning (not an error), and autovacuum remains the only refresh.
        """
        if self.engine.dialect.name != "postgresql":
            return
        if self._rows_unanalyzed < self.analyze_after_rows:
            return
        name = self.engine.dialect.identifier_preparer.format_table(self.table)
        size = sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)")
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if self._rows_known is None:  # this try's first look: what the statistics say now
                    self._rows_known = max(float(conn.execute(size, {"name": name}).scalar() or 0.0), 0.0)
                if self._rows_unanalyzed < self._rows_known:
                    return
                self._rows_unanalyzed = 0
                conn.exec_driver_sql(f"ANALYZE {name}")
                self._rows_known = max(float(conn.execute(size, {"name": name}).scalar() or 0.0), 0.0)
        except sa.exc.DBAPIError as exc:  # only ever a speed-up: the run goes on without it
            self._rows_unanalyzed = 0
            log.warning("Could not refresh the planner statistics of %s: %s", self.table.name, exc)
            return
        log.info("Refreshed the planner statistics of %s (%.0f rows)", self.table.name, self._rows_known)

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
            if self.engine.dialect.name == "postgresql":
                decision_lock.take(conn, self.table.name, self.decision_lock_seconds)
            else:
                h = self.holders  # any write starts SQLite's write transaction: this holder's own lease row
                conn.execute(sa.update(h).where(h.c.holder == self.holder).values(updated_at=now_iso()))
            yield Decider(self, conn)
        self._refresh_statistics()  # after the commit: never inside the locked step

    def read_history(
        self, pairs: Iterable[tuple[str, str]], conn: sa.Connection | None = None
    ) -> dict[tuple[str, str], History]:
        """Every ledger row of these (account id, attack type) pairs, as :class:`History` by pair."""
        t = self.table
        wanted = set(pairs)
        accounts = sorted({account for account, _ in wanted})
        columns = [t.c[f] for f in PastOutcome.__dataclass_fields__]
        found: dict[tuple[str, str], list[PastOutcome]] = {}

        # One statement, compiled once and cached: on PostgreSQL one array parameter for every
        # account (one round trip, planned once), elsewhere an expanding IN per 500 accounts.
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            accounts_are = t.c.account_id == sa.any_(sa.bindparam("accounts", type_=ARRAY(sa.String)))
            parts: Iterable[Sequence[str]] = [accounts] if accounts else []
        else:
            accounts_are = t.c.account_id.in_(sa.bindparam("accounts", expanding=True))
            parts = _parts(accounts)
        query = sa.select(t.c.account_id, t.c.attack_type, *columns).where(accounts_are)

        def read(c: sa.Connection) -> None:
            for part in parts:
                for account_id, attack_type, *rest in c.execute(query, {"accounts": list(part)}):
                    if (account_id, attack_type) in wanted:
                        found.setdefault((account_id, attack_type), []).append(PastOutcome(*rest))

        if conn is not None:
            read(conn)
        else:
            with self.engine.connect() as c:
                read(c)
        return {pair: History.of(rows) for pair, rows in found.items()}

    def claimed_by_me(self, outcomes: Sequence[CaseOutcome]) -> set[tuple[str, ...]]:
        """Keys (case, account, attack type, closed_at, fingerprint) of these outcomes this holder claimed."""
        if not outcomes:
            return set()
        t = self.table
        wanted = {(o.case_id, o.account_id, o.attack_type, o.closed_at_key, o.fingerprint) for o in outcomes}
        accounts = sorted({key[1] for key in wanted})
        columns = (t.c.case_id, t.c.account_id, t.c.attack_type, t.c.closed_at, t.c.fingerprint)
        found: set[tuple[str, ...]] = set()
        with self.engine.connect() as conn:
            for part in _parts(accounts):  # account_id leads the unique index
                query = sa.select(*columns).where(t.c.account_id.in_(part), t.c.holder == self.holder)
                found.update(key for key in map(tuple, conn.execute(query)) if key in wanted)
        return found

    def adopt(self, interval: tuple[str, str], owner: str, shard: tuple[int, int] | None = None) -> int:
        """Take over unfinished rows of this interval (and shard) whose lease has expired.

        A live holder is never overtaken: only rows whose lease ran out on the database's
        clock move, and the compare-and-set re-checks that inside the update.
        """
        t = self.table
        expired = sa.and_(t.c.state.in_([s.value for s in UNFINISHED]), t.c.holder.notin_(self._live_holders()))
        scope = sa.and_(self._in_interval(t, interval), expired, t.c.holder != self.holder)
        take = {"holder": self.holder, "owner": owner, "updated_at": now_iso()}
        with self.engine.begin() as conn:
            if shard is None:
                return conn.execute(sa.update(t).where(scope).values(**take)).rowcount
            candidates = [
                row_id
                for row_id, account_id in conn.execute(sa.select(t.c.id, t.c.account_id).where(scope))
                if in_shard(account_id, *shard)
            ]
            moved = 0
            for part in _parts(candidates):
                moved += conn.execute(sa.update(t).where(t.c.id.in_(part), expired).values(**take)).rowcount
            return moved

    def reopen_for_reprocess(
        self, interval: tuple[str, str], owner: str, run_key: str, shard: tuple[int, int] | None = None
    ) -> int:
        """``reprocess``: take this interval's outcomes that were decided but not sent back to ``claimed``.

        Sent rows stay sent (an upload cannot be taken back, and the same case outcome means
        the same thing); rows waiting for a person stay where they are. Each row is reopened
        at most once per run (``run_key``), so a retry of a reprocessing run repeats nothing.
        """
        t = self.table
        scope = sa.and_(
            self._in_interval(t, interval),
            t.c.state.in_([LedgerState.NOOP.value, LedgerState.FAILED.value]),
            sa.func.coalesce(t.c.decision, "") != "superseded",
            sa.func.coalesce(t.c.reprocessed_by, "") != run_key,
        )
        values = {
            **_NO_DECISION, "state": LedgerState.CLAIMED.value, "holder": self.holder, "owner": owner,
            "reprocessed_by": run_key, "lookup_failures": 0, "batch_id": None,
            "marked_at": None, "http_status": None, "error": None, "updated_at": now_iso(),
        }  # fmt: skip
        with self.engine.begin() as conn:
            ids = [
                row_id
                for row_id, account_id in conn.execute(sa.select(t.c.id, t.c.account_id).where(scope))
                if shard is None or in_shard(account_id, *shard)
            ]
            return sum(
                conn.execute(sa.update(t).where(t.c.id.in_(part), scope).values(**values)).rowcount
                for part in _parts(ids)
            )

    # ------------------------------------------------------------ reading

    def iter_mine(self, states: Iterable[LedgerState], chunk: int = 2000, **equal: Any) -> Iterator[list[LedgerRow]]:
        """Chunks of this holder's rows in the given states (keyset pagination on id)."""
        t = self.table
        last = 0
        columns = [t.c[f] for f in LedgerRow.__dataclass_fields__]
        states = list(states)
        while True:
            query = sa.select(*columns).where(self._mine(states), t.c.id > last).order_by(t.c.id).limit(chunk)
            for name, value in equal.items():
                query = query.where(t.c[name].is_(None) if value is None else t.c[name] == value)
            with self.engine.connect() as conn:
                rows = [LedgerRow(*r) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1].id

    def planned_groups(self) -> list[tuple[str, str, str | None, str | None]]:
        """Distinct (attack_type, status, result, comment) among this holder's planned rows."""
        t = self.table
        query = (
            sa.select(t.c.attack_type, t.c.feedback_status, t.c.feedback_result, t.c.feedback_comment)
            .where(self._mine([LedgerState.PLANNED]))
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted((tuple(r) for r in conn.execute(query)), key=lambda g: tuple(x or "" for x in g))

    def open_rows(self, interval: tuple[str, str], shard: tuple[int, int] | None = None) -> list[OpenRow]:
        """Rows of the interval (and shard) that are not done: unfinished, failed or waiting for a person."""
        t = self.table
        done = [LedgerState.SENT.value, LedgerState.NOOP.value]
        h = self.holders
        query = (
            sa.select(
                t.c.id, t.c.account_id, t.c.attack_type, t.c.state, t.c.feedback_result, t.c.batch_id,
                t.c.holder, t.c.owner, sa.func.coalesce(h.c.lease_until, 0.0), t.c.case_id, t.c.review,
                t.c.reason, t.c.detail,
            )
            .select_from(t.outerjoin(h, h.c.holder == t.c.holder))
            .where(self._in_interval(t, interval), t.c.state.notin_(done))
            .order_by(t.c.id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = [OpenRow(*r[:3], LedgerState(r[3]), *r[4:]) for r in conn.execute(query)]
        return [r for r in rows if shard is None or in_shard(r.account_id, *shard)]

    def interval_breakdown(self, interval: tuple[str, str]) -> list[tuple[str, str | None, str | None, int]]:
        """(state, decision, result or status, rows) among the interval's outcomes (all shards, all runs)."""
        t = self.table
        what = sa.func.coalesce(t.c.feedback_result, t.c.feedback_status)
        query = (
            sa.select(t.c.state, t.c.decision, what, sa.func.count())
            .where(self._in_interval(t, interval))
            .group_by(t.c.state, t.c.decision, what)
        )
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]

    def forget_planned(self, row_ids: Sequence[int]) -> int:
        """Delete this holder's rows still ``planned``: uploads no request carried, that no verdict stands behind.

        Only for the feedback operator's rows (:mod:`.told_outside`): a case outcome's row is never deleted."""
        t = self.table
        removed = 0
        with self.engine.begin() as conn:
            for part in _parts(row_ids):
                stmt = sa.delete(t).where(t.c.id.in_(part), self._still_mine([LedgerState.PLANNED]))
                removed += conn.execute(stmt).rowcount
        return removed

    def states_of_cases(self, prefix: str) -> Counter[str]:
        """Rows per state among case ids starting with ``prefix`` (one operator try's uploads)."""
        t = self.table
        query = sa.select(t.c.state, sa.func.count()).where(t.c.case_id.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            return Counter({state: n for state, n in conn.execute(query.group_by(t.c.state))})

    def interval_truth(self, interval: tuple[str, str]) -> dict[str, Any]:
        """The interval's state whichever runs did the work (see :func:`report.interval_truth`)."""
        from airflow_provider_human.reconciliation.report import interval_truth

        return interval_truth(self.interval_breakdown(interval), self.interval_rejects(interval))

    def interval_rejects(self, interval: tuple[str, str]) -> Counter[str]:
        """Rejected rows recorded for the interval, by reason (each broken row once, whichever run saw it)."""
        r = self.rejects
        query = sa.select(r.c.reason, sa.func.count()).where(r.c.interval_start == interval[0]).group_by(r.c.reason)
        with self.engine.connect() as conn:
            return Counter({reason: n for reason, n in conn.execute(query)})

    # ------------------------------------------------------------ transitions (compare-and-set)

    def move(self, row_ids: Sequence[int], expected: Iterable[LedgerState], to: LedgerState, **values: Any) -> int:
        """Move this holder's rows from an expected state to ``to``; returns how many really moved."""
        values = {**values, "state": to.value, "updated_at": now_iso()}
        with self.engine.begin() as conn:
            return self._by_id(conn, row_ids, self._still_mine(expected), **values)

    def record_decisions(self, updates: Sequence[dict[str, Any]]) -> int:
        """Decide ``claimed`` rows: each dict has ``row_id``, ``new_state`` and the decision columns."""
        if not updates:
            return 0
        with self.engine.begin() as conn:
            return self._record_decisions(conn, updates)

    def _record_decisions(self, conn: sa.Connection, updates: Sequence[dict[str, Any]]) -> int:
        if not updates:
            return 0
        t = self.table
        stmt = (
            sa.update(t)
            .where(  # no IN here: executemany cannot expand it
                t.c.id == sa.bindparam("row_id"), t.c.holder == self.holder, t.c.state == LedgerState.CLAIMED.value
            )
            .values(
                state=sa.bindparam("new_state"),
                **{column: sa.bindparam(column) for column in DECISION_COLUMNS},
                updated_at=now_iso(),
            )
        )
        return conn.execute(stmt, list(updates)).rowcount

    def record_waiting(self, row_ids: Sequence[int], reason: str, detail: str) -> None:
        """Claimed rows left undecided on purpose (an earlier upload of their pair has not landed)."""
        t = self.table
        values = {"reason": reason, "detail": detail[:1000], "updated_at": now_iso()}
        with self.engine.begin() as conn:
            for part in _parts(row_ids):
                guard = self._still_mine([LedgerState.CLAIMED])
                conn.execute(sa.update(t).where(t.c.id.in_(part), guard).values(**values))

    def record_lookup_failures(self, row_ids: Sequence[int], error: str, *, permanent: bool) -> None:
        """A claimed row's lookup failed again; permanent failures are counted toward giving up."""
        t = self.table
        # a claimed row has no decision: reason/detail could only say it waited, which it no longer does
        values: dict[str, Any] = {"error": error[:1000], "reason": None, "detail": None, "updated_at": now_iso()}
        if permanent:
            values["lookup_failures"] = t.c.lookup_failures + 1
        with self.engine.begin() as conn:
            for part in _parts(row_ids):
                guard = self._still_mine([LedgerState.CLAIMED])
                conn.execute(sa.update(t).where(t.c.id.in_(part), guard).values(**values))

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
        t = self.table
        attack_type, status, result, comment = group
        pick = (
            sa.select(t.c.id)
            .where(self._mine([LedgerState.PLANNED]), t.c.id > after_id)
            .where(t.c.attack_type == attack_type, t.c.feedback_status == status)
            .where(_equal(t.c.feedback_result, result), _equal(t.c.feedback_comment, comment))
            .order_by(t.c.id)
            .limit(limit)
            .scalar_subquery()
        )  # fmt: skip
        values = {
            "state": LedgerState.SENDING.value, "batch_id": batch_id, "marked_at": self.db_now(),
            "updated_at": now_iso(),
        }  # fmt: skip
        with self.engine.begin() as conn:
            guard = sa.and_(self._still_mine([LedgerState.PLANNED]), self._my_lease_is_valid())
            conn.execute(sa.update(t).where(t.c.id.in_(pick), guard).values(**values))
            moved = conn.execute(
                sa.select(t.c.id, t.c.account_id).where(t.c.batch_id == batch_id, self._mine([LedgerState.SENDING]))
            )
            return [tuple(r) for r in moved]  # type: ignore[misc]

    def finish_batch(self, batch_id: str, to: LedgerState, *, clear_batch: bool = False, **values: Any) -> int:
        """The answer to a batch: move its rows (still ``sending`` and this holder's) to ``to``.

        ``clear_batch`` forgets the batch (HUMAN refused it before acting: the rows are planned again).
        """
        t = self.table
        values = {**values, "state": to.value, "updated_at": now_iso()}
        if clear_batch:
            values.update(batch_id=None, marked_at=None)
        if to is LedgerState.SENT:
            values["sent_at"] = now_iso()
        with self.engine.begin() as conn:
            where = sa.and_(t.c.batch_id == batch_id, self._mine([LedgerState.SENDING]))
            return conn.execute(sa.update(t).where(where).values(**values)).rowcount

    def mark_sent(self, row_ids: Sequence[int], http_status: int | None, note: str | None = None) -> int:
        """A lookup showed HUMAN applied these in-doubt uploads."""
        return self.move(
            row_ids,
            [LedgerState.SENDING, LedgerState.IN_DOUBT],
            LedgerState.SENT,
            http_status=http_status,
            sent_at=now_iso(),
            error=note,
        )

    # ------------------------------------------------------------ what waits for a person

    def review_items(self, until: str | None = None) -> list[ReviewItem]:
        """Rows waiting for a person (``needs_review``, ``failed``) closed before ``until``, oldest first."""
        t = self.table
        columns = [t.c[f] for f in ReviewItem.__dataclass_fields__]
        waiting = t.c.state.in_([s.value for s in NEEDS_A_PERSON])
        query = sa.select(*columns).where(waiting).order_by(t.c.closed_at, t.c.id)
        if until is not None:
            query = query.where(t.c.closed_at < until)
        with self.engine.connect() as conn:
            return [ReviewItem(*r) for r in conn.execute(query)]

    def answered_unfinished(self, until: str | None = None) -> set[tuple[str, str]]:
        """Intervals with rows a person answered that are not finished yet (a resend still to do)."""
        t = self.table
        query = (
            sa.select(t.c.interval_start, t.c.interval_end)
            .where(t.c.answer.isnot(None), t.c.state.in_([s.value for s in UNFINISHED]))
            .distinct()
        )
        if until is not None:
            query = query.where(t.c.closed_at < until)
        with self.engine.connect() as conn:
            return {(start, end) for start, end in conn.execute(query)}

    def review_rows(self, row_ids: Iterable[int]) -> list[ReviewItem]:
        """These rows as they are now, whatever their state (to say why an answer did not apply)."""
        t = self.table
        columns = [t.c[f] for f in ReviewItem.__dataclass_fields__]
        found: list[ReviewItem] = []
        with self.engine.connect() as conn:
            for part in _parts(list(row_ids)):
                query = sa.select(*columns).where(t.c.id.in_(part)).order_by(t.c.closed_at, t.c.id)
                found += [ReviewItem(*r) for r in conn.execute(query)]
        return found

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
        t = self.table
        waiting = t.c.state.in_([s.value for s in NEEDS_A_PERSON])
        signed = {"answer": answer.value, "answered_by": user[:256], "answered_at": now_iso(), "updated_at": now_iso()}
        upload = t.c.feedback_status.isnot(None)  # in doubt or rejected; other items carry no upload
        moves: list[tuple[sa.ColumnElement[bool], dict[str, Any]]]
        free = {"holder": "", "batch_id": None, "marked_at": None, "http_status": None}
        if answer is Answer.LEAVE:
            moves = [(sa.true(), {})]
        elif answer is Answer.RESEND:
            moves = [
                (upload, {**free, "state": LedgerState.PLANNED.value}),
                (~upload, {**free, **{c: None for c in DECISION_COLUMNS if c != "review"},
                           "state": LedgerState.CLAIMED.value, "lookup_failures": 0}),
            ]  # fmt: skip
        else:
            moves = [
                (upload, {"state": LedgerState.SENT.value, "sent_at": now_iso()}),
                (~upload, {"state": LedgerState.NOOP.value}),
            ]
        moved: list[int] = []
        with self.engine.begin() as conn:
            for row_id, version in sorted(listed.items()):
                unchanged = sa.and_(t.c.id == row_id, waiting, _version_sql(t) == version)
                for where, values in moves:
                    if conn.execute(sa.update(t).where(unchanged, where).values(**signed, **values)).rowcount:
                        moved.append(row_id)
                        break
        return moved

    # ------------------------------------------------------------ rejects

    def record_rejects(self, rejects: Sequence[Rejected], *, owner: str, interval: tuple[str, str]) -> None:
        """Each broken row once (by its hash and reason), however many runs read it.

        What is stored cannot fail to store: ids and detail have unprintable characters escaped
        (a NUL, a lone surrogate), the raw row is ASCII JSON."""
        if not rejects:
            return
        now = now_iso()
        rows = [
            {
                "row_hash": r.row_hash, "reason": r.reason.value, "detail": escaped(r.detail, 1000),
                "case_id": _short(r.raw.get("case_id")), "account_id": _short(r.raw.get("account_id")),
                "raw": json.dumps(dict(r.raw), default=str)[:4000], "interval_start": interval[0],
                "interval_end": interval[1], "owner": owner, "created_at": now,
            }
            for r in rejects
        ]  # fmt: skip
        stmt = self._insert()(self.rejects).on_conflict_do_nothing(index_elements=["row_hash", "reason"])
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)


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


class LeaseKeeper:
    """Renews a holder's leases every quarter lease in a daemon thread, from start to stop.

    Renewal failures (a locked SQLite file, a dropped connection) are logged and retried at
    the next beat; if they last longer than the lease, other runs may adopt the rows, and
    the compare-and-set transitions make this try's later writes to them no-ops.
    """

    def __init__(self, ledger: Ledger) -> None:
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


def _equal(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _parts(ids: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """Slices small enough for one ``IN (...)`` (SQLite's bound-parameter limit)."""
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _short(value: Any) -> str | None:
    """An id as the rejects table keeps it: escaped where unprintable, cut to the column's length."""
    return None if value is None else escaped(value, ID_LENGTH)[:ID_LENGTH]
