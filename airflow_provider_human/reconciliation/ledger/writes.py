"""This try's moves of its own rows (compare-and-set), and the rejects it records.

Every update is built by :func:`.states.guarded_update` with this holder's guard: a try acts
only on the rows its update really moved, and a try that lost its rows (adopted after its
lease expired) cannot write them again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.schema import DECISION_COLUMNS, ID_LENGTH, parts
from airflow_provider_human.reconciliation.ledger.states import (
    Event,
    LedgerState,
    event_for,
    guarded_delete,
    guarded_update,
    now_iso,
)
from airflow_provider_human.reconciliation.ledger.store import Store, equal
from airflow_provider_human.reconciliation.outcomes import Rejected, escaped


def move(s: Store, row_ids: Sequence[int], expected: Iterable[LedgerState], to: LedgerState, **values: Any) -> int:
    """Move this holder's rows from an expected state to ``to``; returns how many really moved."""
    expected = list(expected)
    t = s.table
    update = guarded_update(t, event_for(expected, to), values, to=to, expected=expected, guard=s.still_mine)
    with s.engine.begin() as conn:
        return sum(conn.execute(update.where(t.c.id.in_(part))).rowcount for part in parts(row_ids))


def record_decisions(s: Store, conn: sa.Connection, updates: Sequence[dict[str, Any]]) -> int:
    """Decide ``claimed`` rows: each dict has ``row_id``, ``new_state`` and the decision columns."""
    if not updates:
        return 0
    t = s.table
    targets = {LedgerState(state) for state in {u["new_state"] for u in updates}}
    stmt = guarded_update(
        t, Event.DECIDE, {column: sa.bindparam(column) for column in DECISION_COLUMNS}, per_row=("new_state", targets),
        guard=lambda states: sa.and_(t.c.holder == s.holder, t.c.state == _only(states).value),
        where=(t.c.id == sa.bindparam("row_id"),),  # no IN here: executemany cannot expand it
    )  # fmt: skip
    return conn.execute(stmt, list(updates)).rowcount


def _only(states: Sequence[LedgerState]) -> LedgerState:
    (state,) = states  # an executemany's guard: one state, compared with =
    return state


def _keep_claimed(s: Store, event: Event, row_ids: Sequence[int], values: dict[str, Any]) -> None:
    t = s.table
    update = guarded_update(t, event, values, guard=s.still_mine)
    with s.engine.begin() as conn:
        for part in parts(row_ids):
            conn.execute(update.where(t.c.id.in_(part)))


def record_waiting(s: Store, row_ids: Sequence[int], reason: str, detail: str) -> None:
    """Claimed rows left undecided on purpose (an earlier upload of their pair has not landed)."""
    _keep_claimed(s, Event.WAIT, row_ids, {"reason": reason, "detail": detail[:1000]})


def record_lookup_failures(s: Store, row_ids: Sequence[int], error: str, *, permanent: bool) -> None:
    """A claimed row's lookup failed again; permanent failures are counted toward giving up."""
    # a claimed row has no decision: reason/detail could only say it waited, which it no longer does
    values: dict[str, Any] = {"error": error[:1000], "reason": None, "detail": None}
    if permanent:
        values["lookup_failures"] = s.table.c.lookup_failures + 1
    _keep_claimed(s, Event.LOOKUP_FAILED, row_ids, values)


def take_batch(
    s: Store, group: tuple[str, str, str | None, str | None], limit: int, batch_id: str, after_id: int = 0
) -> list[tuple[int, str]]:
    """Move up to ``limit`` planned rows of one upload group to ``sending`` (see ``Ledger.take_batch``)."""
    t = s.table
    attack_type, status, result, comment = group
    pick = (
        sa.select(t.c.id)
        .where(s.mine([LedgerState.PLANNED]), t.c.id > after_id)
        .where(t.c.attack_type == attack_type, t.c.feedback_status == status)
        .where(equal(t.c.feedback_result, result), equal(t.c.feedback_comment, comment))
        .order_by(t.c.id)
        .limit(limit)
        .scalar_subquery()
    )  # fmt: skip
    update = guarded_update(
        t, Event.TAKE_BATCH, {"batch_id": batch_id, "marked_at": s.backend.now()}, to=LedgerState.SENDING,
        guard=s.still_mine, where=(t.c.id.in_(pick), s.my_lease_is_valid()),
    )  # fmt: skip
    with s.engine.begin() as conn:
        conn.execute(update)
        moved = conn.execute(
            sa.select(t.c.id, t.c.account_id).where(t.c.batch_id == batch_id, s.mine([LedgerState.SENDING]))
        )
        return [tuple(r) for r in moved]  # type: ignore[misc]


def finish_batch(s: Store, batch_id: str, to: LedgerState, *, clear_batch: bool = False, **values: Any) -> int:
    """The answer to a batch: move its rows (still ``sending`` and this holder's) to ``to``."""
    t = s.table
    if clear_batch:
        values.update(batch_id=None, marked_at=None)
    if to is LedgerState.SENT:
        values["sent_at"] = now_iso()
    sending = [LedgerState.SENDING]
    update = guarded_update(
        t, event_for(sending, to), values, to=to, expected=sending, guard=s.mine, where=(t.c.batch_id == batch_id,)
    )
    with s.engine.begin() as conn:
        return conn.execute(update).rowcount


def mark_sent(s: Store, row_ids: Sequence[int], http_status: int | None, note: str | None = None) -> int:
    """A lookup showed HUMAN applied these in-doubt uploads."""
    in_flight = [LedgerState.SENDING, LedgerState.IN_DOUBT]
    return move(s, row_ids, in_flight, LedgerState.SENT, http_status=http_status, sent_at=now_iso(), error=note)


def forget_planned(s: Store, row_ids: Sequence[int]) -> int:
    """Delete this holder's rows still ``planned`` (the feedback operator's only: see ``Ledger``)."""
    t = s.table
    removed = 0
    with s.engine.begin() as conn:
        for part in parts(row_ids):
            stmt = guarded_delete(t, Event.FORGET, guard=s.still_mine, where=(t.c.id.in_(part),))
            removed += conn.execute(stmt).rowcount
    return removed


def record_rejects(s: Store, rejects: Sequence[Rejected], *, owner: str, interval: tuple[str, str]) -> None:
    """Each broken row once (by its hash and reason), however many runs read it (see ``Ledger``)."""
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
    stmt = s.backend.insert(s.rejects).on_conflict_do_nothing(index_elements=["row_hash", "reason"])
    with s.engine.begin() as conn:
        conn.execute(stmt, rows)


def _short(value: Any) -> str | None:
    """An id as the rejects table keeps it: escaped where unprintable, cut to the column's length."""
    return None if value is None else escaped(value, ID_LENGTH)[:ID_LENGTH]
