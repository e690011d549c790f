"""Rows entering this try: the claim (the exactly-once insert), adoption of expired leases, reprocessing."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.schema import CLAIM_COLUMNS, NO_DECISION, OUTCOME_COLUMNS, parts
from airflow_provider_human.reconciliation.ledger.states import Event, LedgerState, guarded_update, now_iso, sources
from airflow_provider_human.reconciliation.ledger.store import Store
from airflow_provider_human.reconciliation.outcomes import CaseOutcome
from airflow_provider_human.reconciliation.sharding import in_shard

#: (outcome, state, decision columns or None): one row to claim.
#:
#: The columns mapping is read-only once handed to a claim: rows that share one mapping
#: object share its values, which :func:`insert_claims` turns into a row tail once per
#: object (by ``id()``, for the length of one call, while the items keep every mapping
#: alive). The engine passes one mapping per decision, so a day's million rows build a few
#: tails; a caller that changes a mapping between two claims is fine, within one is not.
ClaimItem = tuple[CaseOutcome, LedgerState, Mapping[str, Any] | None]


def insert_claims(
    s: Store, conn: sa.Connection, outcomes: Sequence[ClaimItem], *, owner: str, interval: tuple[str, str]
) -> int:
    """Insert outcomes with their state and decision columns; returns how many were new (see ``Ledger.claim``)."""
    if not outcomes:
        return 0
    now = now_iso()
    # Every row has the same columns: the outcome's own, the state, then these (decision
    # columns overridden per row). Built as value lists, not dicts: a day is a million rows.
    names = list(CLAIM_COLUMNS)
    shared = dict.fromkeys(names[len(OUTCOME_COLUMNS) + 1 :])  # in CLAIM_COLUMNS' order
    shared.update(lookup_failures=0, interval_start=interval[0], interval_end=interval[1], owner=owner,
                  holder=s.holder, created_at=now, updated_at=now)  # fmt: skip
    defaults = tuple(shared.values())
    pick_shared = operator.itemgetter(*shared)  # a row's decision columns over the defaults, in C
    rows = []
    tails: dict[int, tuple[Any, ...]] = {}  # by the columns mapping's id: see ClaimItem
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
    return s.backend.insert_claims(conn, s.table, names, rows)


def claimed_by_me(s: Store, outcomes: Sequence[CaseOutcome]) -> set[tuple[str, ...]]:
    """Keys (case, account, attack type, closed_at, fingerprint) of these outcomes this holder claimed."""
    if not outcomes:
        return set()
    t = s.table
    wanted = {(o.case_id, o.account_id, o.attack_type, o.closed_at_key, o.fingerprint) for o in outcomes}
    accounts = sorted({key[1] for key in wanted})
    columns = (t.c.case_id, t.c.account_id, t.c.attack_type, t.c.closed_at, t.c.fingerprint)
    found: set[tuple[str, ...]] = set()
    with s.engine.connect() as conn:
        for part in parts(accounts):  # account_id leads the unique index
            query = sa.select(*columns).where(t.c.account_id.in_(part), t.c.holder == s.holder)
            found.update(key for key in map(tuple, conn.execute(query)) if key in wanted)
    return found


def adopt(s: Store, interval: tuple[str, str], owner: str, shard: tuple[int, int] | None = None) -> int:
    """Take over unfinished rows of this interval (and shard) whose lease has expired (see ``Ledger.adopt``)."""
    t = s.table
    expired = t.c.holder.notin_(s.live_holders())
    scope = (s.in_interval(interval), expired, t.c.holder != s.holder)
    take = {"holder": s.holder, "owner": owner, "updated_at": now_iso()}
    with s.engine.begin() as conn:
        if shard is None:
            return conn.execute(guarded_update(t, Event.ADOPT, take, where=scope)).rowcount
        unfinished = t.c.state.in_(sources(Event.ADOPT))
        candidates = [
            row_id
            for row_id, account_id in conn.execute(sa.select(t.c.id, t.c.account_id).where(*scope, unfinished))
            if in_shard(account_id, *shard)
        ]
        moved = 0
        for part in parts(candidates):
            stmt = guarded_update(t, Event.ADOPT, take, where=(t.c.id.in_(part), expired))
            moved += conn.execute(stmt).rowcount
        return moved


def reopen_for_reprocess(
    s: Store, interval: tuple[str, str], owner: str, run_key: str, shard: tuple[int, int] | None = None
) -> int:
    """Decided but not sent rows of the interval back to ``claimed``, once per run (see ``Ledger``)."""
    t = s.table
    scope = (
        s.in_interval(interval),
        sa.func.coalesce(t.c.decision, "") != "superseded",
        sa.func.coalesce(t.c.reprocessed_by, "") != run_key,
    )
    values = {
        **NO_DECISION, "holder": s.holder, "owner": owner, "reprocessed_by": run_key, "lookup_failures": 0,
        "batch_id": None, "marked_at": None, "http_status": None, "error": None, "updated_at": now_iso(),
    }  # fmt: skip
    reopenable = t.c.state.in_(sources(Event.REPROCESS))
    with s.engine.begin() as conn:
        ids = [
            row_id
            for row_id, account_id in conn.execute(sa.select(t.c.id, t.c.account_id).where(*scope, reopenable))
            if shard is None or in_shard(account_id, *shard)
        ]
        update = guarded_update(t, Event.REPROCESS, values, to=LedgerState.CLAIMED, where=scope)
        return sum(conn.execute(update.where(t.c.id.in_(part))).rowcount for part in parts(ids))
