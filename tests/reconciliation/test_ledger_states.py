"""The ledger's state machine as a table: its flags, its moves, and the one builder every move goes through."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import deque
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.reconciliation import history
from airflow_provider_human.reconciliation.ledger import Ledger, LedgerState, build_tables
from airflow_provider_human.reconciliation.ledger.states import (
    DONE,
    FLAGS,
    MAY_HAVE_REACHED_HUMAN,
    NEEDS_A_PERSON,
    OPEN_STATES_SQL,
    TRANSITIONS,
    UNFINISHED,
    UNLANDED,
    Event,
    IllegalTransition,
    guarded_delete,
    guarded_update,
)
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict


def _next(state: LedgerState) -> dict[Event, set[LedgerState]]:
    """Where each event may take a row in ``state`` (a kept state is a loop; a delete goes nowhere)."""
    moves: dict[Event, set[LedgerState]] = {}
    for event, t in TRANSITIONS.items():
        if state in t.sources:
            moves[event] = set() if t.deletes else set(t.targets) or {state}
    return moves


def _reaches_done(state: LedgerState) -> bool:
    seen, queue = {state}, deque([state])
    while queue:
        current = queue.popleft()
        if current in DONE:
            return True
        for targets in _next(current).values():
            for nxt in targets - seen:
                seen.add(nxt)
                queue.append(nxt)
    return False


CLAIMED_INTO = sorted(TRANSITIONS[Event.CLAIM].targets)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_walk_from_a_claim_leaves_a_row_where_nothing_moves_it_on_except_a_final_state(data):
    state = data.draw(st.sampled_from(CLAIMED_INTO), label="claimed as")
    for _ in range(data.draw(st.integers(0, 25), label="steps")):
        assert _reaches_done(state), f"{state}: no sequence of moves reaches {sorted(DONE)}"
        moves = {e: sorted(targets) for e, targets in _next(state).items() if targets}
        if not moves:
            assert state in DONE, f"{state} is a dead end but not final"
            return
        event = data.draw(st.sampled_from(sorted(moves)), label="event")
        state = data.draw(st.sampled_from(moves[event]), label=f"{event} to")
    assert _reaches_done(state)


def test_every_state_is_in_some_move_and_only_final_states_have_no_way_on():
    named = {s for t in TRANSITIONS.values() for s in (*t.sources, *t.targets)}
    assert named == set(LedgerState)
    stuck = {s for s in LedgerState if not any(targets - {s} for targets in _next(s).values())}
    assert stuck <= DONE, stuck
    assert all(_reaches_done(s) for s in LedgerState)


def test_the_flags_are_consistent():
    assert set(FLAGS) == set(LedgerState)
    for state, flags in FLAGS.items():  # each state is exactly one of: a try's work, a person's, done
        assert [flags.unfinished, flags.needs_a_person, flags.done].count(True) == 1, state
    assert UNFINISHED | NEEDS_A_PERSON | DONE == set(LedgerState)
    assert not UNFINISHED & DONE and not NEEDS_A_PERSON & DONE and not UNFINISHED & NEEDS_A_PERSON
    assert UNLANDED == MAY_HAVE_REACHED_HUMAN - DONE and LedgerState.SENT in MAY_HAVE_REACHED_HUMAN
    assert LedgerState.FAILED not in MAY_HAVE_REACHED_HUMAN and LedgerState.CLAIMED not in MAY_HAVE_REACHED_HUMAN
    assert TRANSITIONS[Event.ADOPT].sources == UNFINISHED  # what a try holds is what another may adopt


def test_history_reads_the_flags_not_its_own_lists():
    assert history.UNLANDED_STATES == UNLANDED and history._TOLD_STATES == MAY_HAVE_REACHED_HUMAN


def test_the_partial_index_covers_exactly_the_unfinished_states(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'l.db'}")
    Ledger(engine).ensure_schema()
    with engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_human_feedback_ledger_open'"
        ).scalar_one()
    listed = re.search(r"WHERE\s+state IN \(([^)]*)\)", sql)
    assert listed is not None, sql
    assert {s.strip().strip("'") for s in listed.group(1).split(",")} == {s.value for s in UNFINISHED}
    assert OPEN_STATES_SQL in sql


def test_the_builder_refuses_a_move_the_table_does_not_hold():
    t, _, _ = build_tables(sa.MetaData(), "l", "r")
    with pytest.raises(IllegalTransition):
        guarded_update(t, Event.BATCH_SENT, to=LedgerState.NOOP)
    with pytest.raises(IllegalTransition):
        guarded_update(t, Event.TAKE_BATCH, to=LedgerState.SENDING, expected=[LedgerState.CLAIMED])
    with pytest.raises(IllegalTransition):
        guarded_update(t, Event.DECIDE)  # a move needs its target
    with pytest.raises(IllegalTransition):
        guarded_update(t, Event.WAIT, to=LedgerState.PLANNED)  # an event that keeps the state
    with pytest.raises(IllegalTransition):
        guarded_update(t, Event.DECIDE, per_row=("new_state", {LedgerState.SENT}))
    with pytest.raises(IllegalTransition):
        guarded_delete(t, Event.ADOPT)
    sql = str(guarded_update(t, Event.VERIFIED_NOT_APPLIED, to=LedgerState.PLANNED).compile())
    assert "l.state IN" in sql


def test_a_move_outside_the_table_leaves_the_row_as_it_was(tmp_path):
    """``Ledger.move`` took any (from, to) before the table: a claimed row could be marked sent unsent."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'l.db'}")
    ledger = Ledger(engine)
    ledger.ensure_schema()
    ledger.register("t/1")
    outcome = CaseOutcome("c1", "a1", AttackType.ATO, Verdict.LEGITIMATE, datetime(2026, 11, 18, tzinfo=UTC))
    ledger.claim([(outcome, LedgerState.CLAIMED, None)], owner="t/1", interval=("a", "z"))
    (row_id,) = [r.id for rows in ledger.iter_mine([LedgerState.CLAIMED]) for r in rows]
    with pytest.raises(IllegalTransition):
        ledger.move([row_id], [LedgerState.CLAIMED], LedgerState.SENT)
    with pytest.raises(IllegalTransition):
        ledger.finish_batch("b", LedgerState.NOOP)
    with engine.connect() as conn:
        assert conn.execute(sa.select(ledger.table.c.state)).scalar_one() == "claimed"


def test_rows_sharing_one_columns_mapping_share_its_values_within_a_claim_only(tmp_path):
    """The claim builds a row tail once per columns mapping (by ``id()``) for the length of one call:
    a mapping changed between two claims is read again, and separate mappings keep their own values."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'l.db'}")
    ledger = Ledger(engine)
    ledger.ensure_schema()
    ledger.register("t/1")
    when = datetime(2026, 11, 18, tzinfo=UTC)
    o = [CaseOutcome(f"c{i}", f"a{i}", AttackType.ATO, Verdict.LEGITIMATE, when) for i in range(4)]
    shared = {"decision": "consistent", "reason": "first"}
    ledger.claim([(o[0], LedgerState.NOOP, shared), (o[1], LedgerState.NOOP, {"decision": "skip"})],
                 owner="t/1", interval=("a", "z"))  # fmt: skip
    shared["reason"] = "second"  # the same object (the same id) with other values, in the next claim
    ledger.claim([(o[2], LedgerState.NOOP, shared), (o[3], LedgerState.NOOP, shared)], owner="t/1",
                 interval=("a", "z"))  # fmt: skip
    t = ledger.table
    with engine.connect() as conn:
        stored = {r.case_id: (r.decision, r.reason) for r in conn.execute(sa.select(t.c.case_id, t.c.decision,
                                                                                    t.c.reason))}  # fmt: skip
    assert stored == {"c0": ("consistent", "first"), "c1": ("skip", None), "c2": ("consistent", "second"),
                      "c3": ("consistent", "second")}  # fmt: skip


@pytest.mark.parametrize(
    "first",
    [
        "airflow_provider_human.reconciliation.history",
        "airflow_provider_human.reconciliation.ledger.states",
        "airflow_provider_human.reconciliation.ledger.queries",
        "airflow_provider_human.reconciliation.sources",
    ],
)
def test_any_module_of_the_ledger_and_history_can_be_imported_first(first):
    # history.py reads the states from the ledger package, whose queries read history: no import-time circle
    code = f"import {first}; from airflow_provider_human.reconciliation.ledger import Ledger"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
