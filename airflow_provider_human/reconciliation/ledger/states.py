"""The ledger's states, what each one means, and the only moves a row may make between them.

A row is claimed (inserted) in one state, then moved only by a compare-and-set update built
by :func:`guarded_update`, which refuses a move this table does not hold. Every set of
states the ledger reads by (the partial index, "mine", "open", "waiting for a person",
history's "told") is derived from the flags below, so a new state is one line here, its
moves, and the tests that walk them.

    claimed ---------> planned -> sending -> sent
       |  (decided)       ^          |  \\-> failed        (HUMAN refused the batch: 400)
       |                  |          v
       +-> noop           +----- in_doubt -> needs_review  (no documented field can tell)

``sending`` is written and committed before the request leaves, so after a crash those
rows are treated exactly like ``in_doubt``: verified by lookup, never resent blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa


class LedgerState(StrEnum):
    CLAIMED = "claimed"  # undecided: its lookup failed; the next try decides it
    PLANNED = "planned"  # decided to upload; not sent
    SENDING = "sending"  # in a batch whose request may have left (after a crash: in doubt)
    IN_DOUBT = "in_doubt"  # the answer did not say whether HUMAN applied it
    SENT = "sent"  # HUMAN applied it (a 2xx, or verified by lookup)
    NOOP = "noop"  # nothing to send: consistent, skipped or superseded
    FAILED = "failed"  # HUMAN refused the batch (400): needs a person, never resent automatically
    NEEDS_REVIEW = "needs_review"  # in doubt and no documented field can tell: a person decides


@dataclass(frozen=True)
class Flags:
    """What a state means to the readers. Exactly one of the first three is true for every state."""

    unfinished: bool = False  # a try's work: it holds the row until it is done (the partial index)
    needs_a_person: bool = False  # waits for an answer in the review step
    done: bool = False  # final: nothing moves it on its own
    may_have_reached_human: bool = False  # its upload (if it has one) may have been applied


FLAGS: Mapping[LedgerState, Flags] = {
    LedgerState.CLAIMED: Flags(unfinished=True),
    LedgerState.PLANNED: Flags(unfinished=True, may_have_reached_human=True),  # perhaps sent before (in doubt)
    LedgerState.SENDING: Flags(unfinished=True, may_have_reached_human=True),
    LedgerState.IN_DOUBT: Flags(unfinished=True, may_have_reached_human=True),
    LedgerState.SENT: Flags(done=True, may_have_reached_human=True),
    LedgerState.NOOP: Flags(done=True),
    LedgerState.FAILED: Flags(needs_a_person=True),  # refused: nothing reached HUMAN
    LedgerState.NEEDS_REVIEW: Flags(needs_a_person=True, may_have_reached_human=True),
}


def _having(flag: str) -> frozenset[LedgerState]:
    return frozenset(s for s in LedgerState if getattr(FLAGS[s], flag))


UNFINISHED = _having("unfinished")
NEEDS_A_PERSON = _having("needs_a_person")
DONE = _having("done")
#: Rows whose upload may have reached HUMAN (``failed`` was refused; ``claimed`` is undecided).
MAY_HAVE_REACHED_HUMAN = _having("may_have_reached_human")
#: Of those, the ones not final: the upload may not have landed (yet, or ever). A newer outcome waits.
UNLANDED = MAY_HAVE_REACHED_HUMAN - DONE

#: The partial index's condition, repeated word for word in queries so that SQLite uses it.
OPEN_STATES_SQL = "state IN (" + ", ".join(f"'{s.value}'" for s in sorted(UNFINISHED)) + ")"


def values(states: Iterable[LedgerState]) -> list[str]:
    """The states as the column holds them, in a fixed order (one statement text per set)."""
    order = list(LedgerState)
    return [s.value for s in sorted(set(states), key=order.index)]


class Event(StrEnum):
    """Why a row moves. Each has its from-states and to-states in :data:`TRANSITIONS`."""

    CLAIM = "claim"  # inserted (from no row)
    DECIDE = "decide"  # a claimed row decided under the decision lock
    WAIT = "wait"  # left undecided on purpose: an earlier upload of its pair has not landed
    LOOKUP_FAILED = "lookup_failed"
    ADOPT = "adopt"  # a crashed or finished try's unfinished row taken by another try
    TAKE_BATCH = "take_batch"  # marked in a batch, committed before the request leaves
    BATCH_SENT = "batch_sent"  # 2xx
    BATCH_IN_DOUBT = "batch_in_doubt"  # the answer did not say
    BATCH_REJECTED = "batch_rejected"  # 400: HUMAN refused it
    BATCH_REFUSED_BEFORE_ACTING = "batch_refused_before_acting"  # 401/403/429: nothing applied
    VERIFIED_APPLIED = "verified_applied"  # a lookup shows the in-doubt upload landed
    VERIFIED_NOT_APPLIED = "verified_not_applied"  # it did not: send it again
    GIVE_TO_PERSON = "give_to_person"  # no documented field can tell
    REPROCESS = "reprocess"  # a reprocessing run decides a not-sent row again
    ANSWER_LEAVE = "answer_leave"
    ANSWER_RESEND_UPLOAD = "answer_resend_upload"
    ANSWER_RESEND_DECISION = "answer_resend_decision"
    ANSWER_MARK_APPLIED = "answer_mark_applied"
    ANSWER_MARK_HANDLED = "answer_mark_handled"
    FORGET = "forget"  # the feedback operator deletes its planned rows no request carried


@dataclass(frozen=True)
class Transition:
    sources: frozenset[LedgerState]  # empty: a new row (the claim)
    targets: frozenset[LedgerState]  # empty: the row keeps its state (only other columns change)
    deletes: bool = False


def _t(sources: Iterable[LedgerState], targets: Iterable[LedgerState] = (), deletes: bool = False) -> Transition:
    return Transition(frozenset(sources), frozenset(targets), deletes)


S = LedgerState
#: Uploads whose request may have left without an answer that says: verified by lookup, never resent
#: blindly (after a crash, ``sending`` is as much in doubt as ``in_doubt``).
IN_FLIGHT = frozenset((S.SENDING, S.IN_DOUBT))
_IN_FLIGHT = IN_FLIGHT
TRANSITIONS: Mapping[Event, Transition] = {
    Event.CLAIM: _t((), (S.CLAIMED, S.PLANNED, S.NOOP, S.NEEDS_REVIEW)),
    Event.DECIDE: _t((S.CLAIMED,), (S.PLANNED, S.NOOP, S.NEEDS_REVIEW)),
    Event.WAIT: _t((S.CLAIMED,)),
    Event.LOOKUP_FAILED: _t((S.CLAIMED,)),
    Event.ADOPT: _t(UNFINISHED),
    Event.TAKE_BATCH: _t((S.PLANNED,), (S.SENDING,)),
    Event.BATCH_SENT: _t((S.SENDING,), (S.SENT,)),
    Event.BATCH_IN_DOUBT: _t((S.SENDING,), (S.IN_DOUBT,)),
    Event.BATCH_REJECTED: _t((S.SENDING,), (S.FAILED,)),
    Event.BATCH_REFUSED_BEFORE_ACTING: _t((S.SENDING,), (S.PLANNED,)),
    Event.VERIFIED_APPLIED: _t(_IN_FLIGHT, (S.SENT,)),
    Event.VERIFIED_NOT_APPLIED: _t(_IN_FLIGHT, (S.PLANNED,)),
    Event.GIVE_TO_PERSON: _t(_IN_FLIGHT, (S.NEEDS_REVIEW,)),
    Event.REPROCESS: _t((S.NOOP, S.FAILED), (S.CLAIMED,)),
    Event.ANSWER_LEAVE: _t(NEEDS_A_PERSON),
    Event.ANSWER_RESEND_UPLOAD: _t(NEEDS_A_PERSON, (S.PLANNED,)),
    Event.ANSWER_RESEND_DECISION: _t(NEEDS_A_PERSON, (S.CLAIMED,)),
    Event.ANSWER_MARK_APPLIED: _t(NEEDS_A_PERSON, (S.SENT,)),
    Event.ANSWER_MARK_HANDLED: _t(NEEDS_A_PERSON, (S.NOOP,)),
    Event.FORGET: _t((S.PLANNED,), deletes=True),
}
del S


class IllegalTransition(AssertionError):
    """A move the transition table does not hold: a bug in the ledger's code, never a run's condition."""


def check(event: Event, expected: Iterable[LedgerState] | None = None, to: Iterable[LedgerState] = ()) -> list[str]:
    """The from-states (as stored) of a move ``event`` may make from ``expected`` to ``to``; refuses any other."""
    transition = TRANSITIONS[event]
    sources = transition.sources if expected is None else frozenset(expected)
    targets = frozenset(to)
    if not sources or not sources <= transition.sources:
        raise IllegalTransition(f"{event}: not from {sorted(sources - transition.sources) or 'nothing'}")
    if targets != (targets & transition.targets) or (transition.targets and not targets):
        raise IllegalTransition(f"{event}: not to {sorted(targets - transition.targets) or 'the same state'}")
    return values(sources)


def sources(event: Event) -> list[str]:
    """The states (as stored) a row may be in for ``event`` to move it: what its candidates are selected by."""
    return values(TRANSITIONS[event].sources)


def event_for(expected: Collection[LedgerState], to: LedgerState) -> Event:
    """The most specific event moving rows from all of ``expected`` to ``to`` (for the generic moves)."""
    fits = [e for e, t in TRANSITIONS.items() if to in t.targets and set(expected) <= t.sources]
    if not fits:
        raise IllegalTransition(f"no move from {sorted(expected)} to {to}")
    return min(fits, key=lambda e: len(TRANSITIONS[e].sources))


Guard = Callable[[Sequence[LedgerState]], sa.ColumnElement[bool]]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def guarded_update(
    table: sa.Table,
    event: Event,
    values: Mapping[str, Any] | None = None,
    *,
    to: LedgerState | None = None,
    expected: Iterable[LedgerState] | None = None,
    guard: Guard | None = None,
    where: Iterable[sa.ColumnElement[bool]] = (),
    per_row: tuple[str, Collection[LedgerState]] | None = None,
) -> sa.Update:
    """The one UPDATE every move of a row is: ``... WHERE <where> AND <guard(from-states)>``.

    ``expected`` narrows the event's from-states; ``guard`` turns them into the compare-and-set
    condition (default ``state IN (...)``; the ledger's own add this try's holder, in the form
    its indexes need). ``per_row`` = (bind name, every state the rows go to) when each row of
    an executemany has its own target. ``values`` are the other columns it writes;
    ``updated_at`` is written unless given.
    """
    values = dict(values or {})
    if per_row is not None:
        name, targets = per_row
        states = check(event, expected, targets)
        values["state"] = sa.bindparam(name)
    else:
        states = check(event, expected, () if to is None else (to,))
        if to is not None:
            values["state"] = to.value
    values.setdefault("updated_at", now_iso())
    condition = (guard or _state_in(table))(tuple(LedgerState(s) for s in states))
    return sa.update(table).where(*where, condition).values(**values)


def guarded_delete(
    table: sa.Table, event: Event, *, guard: Guard | None = None, where: Iterable[sa.ColumnElement[bool]] = ()
) -> sa.Delete:
    """The one DELETE of rows: only for an event that deletes, from its from-states."""
    if not TRANSITIONS[event].deletes:
        raise IllegalTransition(f"{event} does not delete rows")
    states = check(event)
    return sa.delete(table).where(*where, (guard or _state_in(table))(tuple(LedgerState(s) for s in states)))


def _state_in(table: sa.Table) -> Guard:
    return lambda states: table.c.state.in_(values(states))
