"""What waits for a person, and a person's answer applied only to the version they were shown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.rows import review_kind
from airflow_provider_human.reconciliation.ledger.schema import DECISION_COLUMNS, parts
from airflow_provider_human.reconciliation.ledger.states import (
    NEEDS_A_PERSON,
    UNFINISHED,
    Event,
    LedgerState,
    guarded_update,
    now_iso,
    values,
)
from airflow_provider_human.reconciliation.ledger.store import Store


class Answer(StrEnum):
    """A person's answer to a review item (the review step's options)."""

    RESEND = "resend"  # in doubt or rejected: send it (fenced); otherwise decide again by the table alone
    MARK_APPLIED = "mark_applied"  # in doubt or rejected: HUMAN has it; otherwise: handled, nothing to send
    LEAVE = "leave"  # stays waiting, listed again on the next run


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
        version readable in a listing. Computed in SQL the same way (:func:`version_sql`)."""
        return "|".join((self.state, self.batch_id or "", self.answered_at or "", self.updated_at))

    @property
    def upload(self) -> str:
        return f"{self.feedback_status}/{self.feedback_result or '-'}" if self.feedback_status else "-"


def version_sql(t: sa.Table) -> sa.ColumnElement[str]:
    """:attr:`ReviewItem.version`, computed by the database (``||`` on SQLite and PostgreSQL)."""
    blank = sa.literal("")
    return (
        t.c.state + "|" + sa.func.coalesce(t.c.batch_id, blank) + "|"
        + sa.func.coalesce(t.c.answered_at, blank) + "|" + t.c.updated_at
    )  # fmt: skip


def _listed(s: Store) -> list[sa.ColumnElement[Any]]:
    return [s.table.c[f] for f in ReviewItem.__dataclass_fields__]


def review_items(s: Store, until: str | None = None) -> list[ReviewItem]:
    """Rows waiting for a person (``needs_review``, ``failed``) closed before ``until``, oldest first."""
    t = s.table
    waiting = t.c.state.in_(values(NEEDS_A_PERSON))
    query = sa.select(*_listed(s)).where(waiting).order_by(t.c.closed_at, t.c.id)
    if until is not None:
        query = query.where(t.c.closed_at < until)
    with s.engine.connect() as conn:
        return [ReviewItem(*r) for r in conn.execute(query)]


def answered_unfinished(s: Store, until: str | None = None) -> set[tuple[str, str]]:
    """Intervals with rows a person answered that are not finished yet (a resend still to do)."""
    t = s.table
    query = (
        sa.select(t.c.interval_start, t.c.interval_end)
        .where(t.c.answer.isnot(None), t.c.state.in_(values(UNFINISHED)))
        .distinct()
    )
    if until is not None:
        query = query.where(t.c.closed_at < until)
    with s.engine.connect() as conn:
        return {(start, end) for start, end in conn.execute(query)}


def review_rows(s: Store, row_ids: Iterable[int]) -> list[ReviewItem]:
    """These rows as they are now, whatever their state (to say why an answer did not apply)."""
    t = s.table
    found: list[ReviewItem] = []
    with s.engine.connect() as conn:
        for part in parts(list(row_ids)):
            query = sa.select(*_listed(s)).where(t.c.id.in_(part)).order_by(t.c.closed_at, t.c.id)
            found += [ReviewItem(*r) for r in conn.execute(query)]
    return found


_Move = tuple[Event, LedgerState | None, sa.ColumnElement[bool], dict[str, Any]]


def _moves(t: sa.Table, answer: Answer) -> list[_Move]:
    """What an answer does, tried in order on each row: the first whose condition holds applies."""
    upload = t.c.feedback_status.isnot(None)  # in doubt or rejected; other items carry no upload
    free = {"holder": "", "batch_id": None, "marked_at": None, "http_status": None}
    if answer is Answer.LEAVE:
        return [(Event.ANSWER_LEAVE, None, sa.true(), {})]
    if answer is Answer.RESEND:
        undecided = {c: None for c in DECISION_COLUMNS if c != "review"}
        return [
            (Event.ANSWER_RESEND_UPLOAD, LedgerState.PLANNED, upload, free),
            (Event.ANSWER_RESEND_DECISION, LedgerState.CLAIMED, ~upload, {**free, **undecided, "lookup_failures": 0}),
        ]
    return [
        (Event.ANSWER_MARK_APPLIED, LedgerState.SENT, upload, {"sent_at": now_iso()}),
        (Event.ANSWER_MARK_HANDLED, LedgerState.NOOP, ~upload, {}),
    ]


def answer_review(s: Store, listed: Mapping[int, str], answer: Answer, user: str) -> list[int]:
    """Record a person's answer on the rows they were shown, and act on it (see ``Ledger.answer_review``)."""
    return answer_each(s, {row_id: (version, answer) for row_id, version in listed.items()}, user)


def answer_each(s: Store, answers: Mapping[int, tuple[str, Answer]], user: str) -> list[int]:
    """One answer per row, each applied only to the version it was listed with, in one transaction."""
    t = s.table
    moved: list[int] = []
    with s.engine.begin() as conn:
        for row_id, (version, answer) in sorted(answers.items()):
            signed = {"answer": answer.value, "answered_by": user[:256], "answered_at": now_iso(),
                      "updated_at": now_iso()}  # fmt: skip
            unchanged = (t.c.id == row_id, version_sql(t) == version)
            for event, to, where, columns in _moves(t, answer):
                update = guarded_update(t, event, {**signed, **columns}, to=to, where=(*unchanged, where))
                if conn.execute(update).rowcount:
                    moved.append(row_id)
                    break
    return moved
