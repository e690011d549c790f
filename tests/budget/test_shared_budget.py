"""One rate budget for the account, shared by real processes (issue 28).

Judged by what the fake HUMAN API counted (its 429s, the requests it served) and by the
budget's own state (live holders). Speed goals are the benchmark's
(benchmarks/bench_rate_budget.py): here the aggregate rate is only checked loosely.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from airflow_provider_human.budget.shares import SharedBudget, Slowdown, account_key
from tests.budget.conftest import dispose, finished, live, open_store, start_holder, wait_for
from tests.conftest import TOKEN

LIMIT = 20.0  # the account's limit: the fake answers 429 past it, and every holder is told it


def served(fake_api, status: int) -> list[dict]:
    return [e for e in fake_api.requests() if e.get("kind") == "v2" and e.get("status") == status]


@pytest.mark.parametrize("holders", [3])
def test_processes_sharing_one_budget_meet_no_429_and_use_most_of_the_limit(fake_api, store_url, holders):
    fake_api.configure(rate_limit_rps=LIMIT, retry_after=1.0)
    start_at = time.time() + 3.0  # every process imported and ready: they start together
    procs = [start_holder(store_url, fake_api.url, TOKEN, LIMIT, seconds=6.0, start_at=start_at)
             for _ in range(holders)]  # fmt: skip
    results = [finished(p) for p in procs]
    assert served(fake_api, 429) == []
    ok = served(fake_api, 200)  # (a holder stops counting at its deadline; its lookups in flight still land)
    assert all(r["failed"] == 0 for r in results)
    span = max(r["ended"] for r in results) - min(r["started"] for r in results)
    assert len(ok) / (LIMIT * span) >= 0.7, (len(ok), span)


def test_per_task_limiters_at_the_account_limit_exceed_it(fake_api, tmp_path):
    """Today's behaviour, for contrast: three tasks each at the account's limit meet 429s."""
    fake_api.configure(rate_limit_rps=LIMIT, retry_after=1.0)
    start_at = time.time() + 3.0
    procs = [start_holder("", fake_api.url, TOKEN, LIMIT, seconds=4.0, per_task=True, start_at=start_at)
             for _ in range(3)]  # fmt: skip
    for p in procs:
        finished(p)
    assert len(served(fake_api, 429)) > 0


def test_a_killed_holders_share_returns_to_the_survivor(fake_api, store_url):
    key = account_key(fake_api.url, TOKEN)
    store = open_store(store_url)
    try:
        victim, survivor = (start_holder(store_url, fake_api.url, TOKEN, LIMIT, seconds=120) for _ in range(2))
        wait_for(lambda: live(store, key) == 2, 60, "both holders joined")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        wait_for(lambda: live(store, key) == 1, 8, "the killed holder's lease ran out")
        os.killpg(survivor.pid, signal.SIGTERM)
        survivor.wait(timeout=10)
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        dispose(store)


def test_a_retry_after_pauses_every_holder(fake_api, store_url):
    """A 429 with Retry-After met by one holder: the other process starts no request until it has passed."""
    key = account_key(fake_api.url, TOKEN)
    store = open_store(store_url)
    other = start_holder(store_url, fake_api.url, TOKEN, LIMIT, seconds=120)
    try:
        wait_for(lambda: len(served(fake_api, 200)) >= 10, 60, "the other holder is sending")
        with SharedBudget(LIMIT, store, key) as me:
            me.acquire()  # joined: two holders
            paused_at = time.time()
            me.notify_rate_limited(4.0)  # what the transport does on a 429 with Retry-After: 4
            time.sleep(5.0)
        reaction = 1.0 + 0.5  # the other holder's refresh interval, and slack for a loaded machine
        during = [e for e in served(fake_api, 200) if paused_at + reaction <= e["time"] < paused_at + 4.0]
        after = [e for e in served(fake_api, 200) if e["time"] >= paused_at + 4.0]
        assert during == [] and after, (len(during), len(after))
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait(timeout=10)
        dispose(store)


def test_429s_that_come_back_lower_every_holders_share_once_per_burst(store_url):
    """A first 429 (a start-up burst) leaves the pace alone; 429s again lower every holder's share, once per burst."""
    key = "https://example.test#k"
    store = open_store(store_url)
    slow = Slowdown(debounce=0.3)
    try:
        with SharedBudget(LIMIT, store, key, slowdown=slow) as a, SharedBudget(LIMIT, store, key, slowdown=slow) as b:
            a.acquire()
            b.acquire()
            a.notify_rate_limited(None)
            b.notify_rate_limited(None)
            assert b.view.live_holders == 2 and b.view.factor == 1.0 and b.rate == LIMIT / 2
            time.sleep(0.4)
            a.notify_rate_limited(None)  # again, after the first burst: the limit is lower than configured
            b.notify_rate_limited(None)  # the same burst: not lowered twice
            assert b.view.factor == pytest.approx(0.75)
            assert b.rate == pytest.approx(LIMIT * 0.75 / 2)
        assert live(store, key) == 0  # both left on close
    finally:
        dispose(store)


def _acquire_in_thread(budget: SharedBudget) -> threading.Event:
    done = threading.Event()
    threading.Thread(target=lambda: (budget.acquire(), done.set()), daemon=True).start()
    return done


def test_a_joining_holder_sends_nothing_until_a_late_heartbeat_has_counted_it(store_url):
    """On a loaded machine another holder's heartbeat can run late: until it has counted the joiner it paces
    at its old, larger share, so the joiner's first request would go over the account's limit."""
    key = f"https://example.test#late-{uuid.uuid4().hex[:6]}"
    store = open_store(store_url)
    try:
        store.beat(key, "late-beater", 3.0)  # a holder already there, whose next heartbeat is late
        with SharedBudget(LIMIT, store, key) as joiner:
            done = _acquire_in_thread(joiner)
            assert not done.wait(1.5), "the joiner sent while the other still paced at the whole limit"
            store.beat(key, "late-beater", 3.0)  # the late heartbeat: it now counts two holders
            assert done.wait(5.0), "the joiner still waits after every holder has counted it"
            assert joiner.view.live_holders == 2 and joiner.rate == LIMIT / 2
    finally:
        dispose(store)


def test_a_joining_holder_waits_for_a_dead_holder_no_longer_than_its_lease(store_url):
    key = f"https://example.test#dead-{uuid.uuid4().hex[:6]}"
    store = open_store(store_url)
    try:
        store.beat(key, "dead", 2.0)  # never renews: a killed task
        with SharedBudget(LIMIT, store, key) as joiner:
            done = _acquire_in_thread(joiner)
            assert done.wait(8.0), "a dead holder kept the joiner waiting past its lease"
            assert joiner.view.live_holders == 1 and joiner.rate == LIMIT
    finally:
        dispose(store)
