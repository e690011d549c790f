"""Reads: history by (account, attack type), this try's rows, what an interval has left and its truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

# The module, not its names: history.py reads the states from this package, so whichever of the
# two is imported first, the other may still be loading (its names are read when a query runs).
from airflow_provider_human.reconciliation import history
from airflow_provider_human.reconciliation.ledger.rows import LedgerRow, OpenRow
from airflow_provider_human.reconciliation.ledger.states import DONE, LedgerState, values
from airflow_provider_human.reconciliation.ledger.store import Store
from airflow_provider_human.reconciliation.sharding import in_shard


def read_history(
    s: Store, pairs: Iterable[tuple[str, str]], conn: sa.Connection | None = None
) -> dict[tuple[str, str], history.History]:
    """Every ledger row of these (account id, attack type) pairs, as :class:`History` by pair."""
    t = s.table
    wanted = set(pairs)
    accounts = sorted({account for account, _ in wanted})
    columns = [t.c[f] for f in history.PastOutcome.__dataclass_fields__]
    found: dict[tuple[str, str], list[history.PastOutcome]] = {}
    past = history.PastOutcome

    # One statement, compiled once and cached; the backend says how the accounts are bound.
    accounts_are, chunks = s.backend.accounts_in(t.c.account_id, accounts)
    query = sa.select(t.c.account_id, t.c.attack_type, *columns).where(accounts_are)

    def read(c: sa.Connection) -> None:
        for part in chunks:
            for account_id, attack_type, *rest in c.execute(query, {"accounts": list(part)}):
                if (account_id, attack_type) in wanted:
                    found.setdefault((account_id, attack_type), []).append(past(*rest))

    if conn is not None:
        read(conn)
    else:
        with s.engine.connect() as c:
            read(c)
    return {pair: history.History.of(rows) for pair, rows in found.items()}


def iter_mine(s: Store, states: Iterable[LedgerState], chunk: int = 2000, **equal: Any) -> Iterator[list[LedgerRow]]:
    """Chunks of this holder's rows in the given states (keyset pagination on id)."""
    t = s.table
    last = 0
    columns = [t.c[f] for f in LedgerRow.__dataclass_fields__]
    states = list(states)
    while True:
        query = sa.select(*columns).where(s.mine(states), t.c.id > last).order_by(t.c.id).limit(chunk)
        for name, value in equal.items():
            query = query.where(t.c[name].is_(None) if value is None else t.c[name] == value)
        with s.engine.connect() as conn:
            rows = [LedgerRow(*r) for r in conn.execute(query)]
        if not rows:
            return
        yield rows
        last = rows[-1].id


def planned_groups(s: Store) -> list[tuple[str, str, str | None, str | None]]:
    """Distinct (attack_type, status, result, comment) among this holder's planned rows."""
    t = s.table
    query = (
        sa.select(t.c.attack_type, t.c.feedback_status, t.c.feedback_result, t.c.feedback_comment)
        .where(s.mine([LedgerState.PLANNED]))
        .distinct()
    )
    with s.engine.connect() as conn:
        return sorted((tuple(r) for r in conn.execute(query)), key=lambda g: tuple(x or "" for x in g))


def open_rows(s: Store, interval: tuple[str, str], shard: tuple[int, int] | None = None) -> list[OpenRow]:
    """Rows of the interval (and shard) that are not done: unfinished, failed or waiting for a person."""
    t, h = s.table, s.holders
    query = (
        sa.select(
            t.c.id, t.c.account_id, t.c.attack_type, t.c.state, t.c.feedback_result, t.c.batch_id,
            t.c.holder, t.c.owner, sa.func.coalesce(h.c.lease_until, 0.0), t.c.case_id, t.c.review,
            t.c.reason, t.c.detail,
        )
        .select_from(t.outerjoin(h, h.c.holder == t.c.holder))
        .where(s.in_interval(interval), t.c.state.notin_(values(DONE)))
        .order_by(t.c.id)
    )  # fmt: skip
    with s.engine.connect() as conn:
        rows = [OpenRow(*r[:3], LedgerState(r[3]), *r[4:]) for r in conn.execute(query)]
    return [r for r in rows if shard is None or in_shard(r.account_id, *shard)]


def interval_breakdown(s: Store, interval: tuple[str, str]) -> list[tuple[str, str | None, str | None, int]]:
    """(state, decision, result or status, rows) among the interval's outcomes (all shards, all runs)."""
    t = s.table
    what = sa.func.coalesce(t.c.feedback_result, t.c.feedback_status)
    query = (
        sa.select(t.c.state, t.c.decision, what, sa.func.count())
        .where(s.in_interval(interval))
        .group_by(t.c.state, t.c.decision, what)
    )
    with s.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]


def states_of_cases(s: Store, prefix: str) -> Counter[str]:
    """Rows per state among case ids starting with ``prefix`` (one operator try's uploads)."""
    t = s.table
    query = sa.select(t.c.state, sa.func.count()).where(t.c.case_id.startswith(prefix, autoescape=True))
    with s.engine.connect() as conn:
        return Counter({state: n for state, n in conn.execute(query.group_by(t.c.state))})


def interval_rejects(s: Store, interval: tuple[str, str]) -> Counter[str]:
    """Rejected rows recorded for the interval, by reason (each broken row once, whichever run saw it)."""
    r = s.rejects
    query = sa.select(r.c.reason, sa.func.count()).where(r.c.interval_start == interval[0]).group_by(r.c.reason)
    with s.engine.connect() as conn:
        return Counter({reason: n for reason, n in conn.execute(query)})
