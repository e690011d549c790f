"""One answer per review item: the choices a request offers each item, and reading them back.

A request carries one field per listed item, keyed ``item_<ledger id>``, whose choices are worded
for the item's kind (an upload is resent or marked applied; a reversal, edited row or ambiguous
state is decided again or marked handled; a reversal is never "applied"). Reading the answer back
checks every field against what the request listed *before* anything is written, so an unknown
item, an item answered twice, a missing answer or a word the item was not offered fails as a
whole, naming the items, and every item stays for the next request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_human.reconciliation.ledger import Answer, ReviewItem

RESEND = "Resend"
MARK_APPLIED = "Mark as applied"
LEAVE = "Leave for later"
DECIDE_AGAIN = "Decide again by the table"
MARK_HANDLED = "Mark as handled (nothing sent)"
WORDS = {RESEND: Answer.RESEND, MARK_APPLIED: Answer.MARK_APPLIED, LEAVE: Answer.LEAVE,
         DECIDE_AGAIN: Answer.RESEND, MARK_HANDLED: Answer.MARK_APPLIED}  # fmt: skip

_KEY = re.compile(r"item_(\d+)")


def item_key(ledger_id: int) -> str:
    """The field of one item in a request (and in the answer's ``params_input``)."""
    return f"item_{ledger_id}"


def choices_for(item: ReviewItem) -> list[str]:
    """The item's choices, *Leave for later* (the default) first, worded for its kind."""
    if item.feedback_status is not None:  # an upload: in doubt or rejected
        return [LEAVE, RESEND, MARK_APPLIED]
    return [LEAVE, DECIDE_AGAIN, MARK_HANDLED]


class ReviewAnswerError(ValueError):
    """A per-item answer that does not fit the request: nothing of it is written or sent."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "The answer does not fit the request, so nothing was written or sent: " + "; ".join(problems)
            + ". Every listed item stays waiting and is listed again (this task's retry or the next review)"
        )  # fmt: skip


def _name(ledger_id: int, described: Mapping[int, str]) -> str:
    return f"ledger id {ledger_id}{f' ({described[ledger_id]})' if ledger_id in described else ''}"


def read_answers(
    params_input: Mapping[str, Any], choices: Mapping[int, Sequence[str]], described: Mapping[int, str] | None = None
) -> dict[int, Answer]:
    """Each listed item's answer, from the request's fields; raises :class:`ReviewAnswerError`.

    ``choices`` maps each listed ledger id to the words its field offered; ``described`` names
    an item for a person ("case c1, account a1").
    """
    described = described or {}
    problems: list[str] = []
    words: dict[int, str] = {}
    for key, value in params_input.items():
        match = _KEY.fullmatch(str(key))
        ledger_id = int(match.group(1)) if match else None
        if ledger_id is None or ledger_id not in choices:
            problems.append(f"{key} names no item of this request")
        elif ledger_id in words:
            problems.append(f"{_name(ledger_id, described)} is answered twice ({key})")
        elif value in (None, ""):  # a field cleared on the page
            problems.append(f"{_name(ledger_id, described)} has no answer (its field is empty)")
            words[ledger_id] = ""
        elif value not in choices[ledger_id]:
            problems.append(f"{_name(ledger_id, described)}: {value!r} is not one of {list(choices[ledger_id])}")
            words[ledger_id] = ""
        else:
            words[ledger_id] = str(value)
    problems += [f"{_name(i, described)} has no answer" for i in choices if i not in words]
    if problems:
        raise ReviewAnswerError(problems)
    return {i: WORDS[w] for i, w in words.items()}
