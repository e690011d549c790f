"""A day of one account says "1 account", "1 request", "1 item waits": never "1 accounts" (issue 26)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pytest

from airflow_provider_human.words import counted
from tests.reconciliation.conftest import NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states

ON_DAY_2 = "2026-11-19T10:00:00Z"
WRONG = re.compile(r"\b1 (accounts|requests|groups|rows|outcomes|items|uploads|valid outcomes)\b")


def _said(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def test_counted():
    assert [counted(n, "account") for n in (0, 1, 2)] == ["0 accounts", "1 account", "2 accounts"]
    assert counted(1, "item waits", "items wait") == "1 item waits"
    assert counted(3, "item waits", "items wait") == "3 items wait"


def test_a_one_account_day_says_its_counts_in_the_singular(case_db, fake_api, reconcile, caplog):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    with caplog.at_level(logging.INFO):
        reconcile(batch_size=1)
    said = _said(caplog)
    assert len(fake_api.requests("feedback")) == 1  # one account was sent, in one request
    assert "Read 1 row: 1 valid outcome," in said
    assert "Uploading feedback in 1 group, up to 1 account per request" in said
    assert re.search(r"Sent batch \w+: 1 account, ato/resolved/", said)
    assert WRONG.findall(said) == []


def test_a_dry_run_of_one_account_says_one_request(case_db, fake_api, reconcile, caplog):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])
    with caplog.at_level(logging.INFO):
        reconcile(dry_run=True)
    assert fake_api.requests("feedback") == []
    assert "DRY RUN: would send 1 request for 1 account" in _said(caplog)
    assert WRONG.findall(_said(caplog)) == []


def test_an_item_for_a_person_without_a_batch_says_no_batch(case_db, fake_api, reconcile):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"), outcome("c2", "a1", "legitimate", closed_at=ON_DAY_2))
    seed_states(fake_api, none=["a1"])
    reconcile()
    _, result = reconcile(NEXT_DAY, datetime(2026, 11, 20, tzinfo=UTC), owner="dag/day-2", check=False)
    message = str(result.error)
    assert "1 item waits for a person" in message
    assert "no batch (reversal)" in message and "batch -" not in message


@pytest.mark.parametrize("n", [1, 2])
def test_what_is_left_agrees_in_number(case_db, fake_api, reconcile, make_client, n):
    accounts = [f"a{i}" for i in range(n)]
    case_db.add(*(outcome(f"c{i}", a, "confirmed_fraud") for i, a in enumerate(accounts)))
    seed_states(fake_api, pending=accounts)
    fake_api.configure(failure_rate=1.0, failure_status=503)  # every lookup fails: nothing is decided
    _, result = reconcile(client=make_client(max_retries=0), check=False)
    expected = "1 outcome not decided yet" if n == 1 else f"{n} outcomes not decided yet"
    assert expected in str(result.error) and fake_api.requests("feedback") == []
