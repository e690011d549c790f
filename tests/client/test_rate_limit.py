from __future__ import annotations

import threading

import pytest

from airflow_provider_human.client.rate_limit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_at_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock)
    waits = [limiter.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_burst_lets_idle_capacity_go_back_to_back():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=3, clock=clock)
    clock.now += 10
    assert [limiter.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_429_halves_the_rate_for_a_while_then_recovers():
    clock = FakeClock()
    limiter = RateLimiter(10, slowdown_seconds=30, clock=clock)
    limiter.notify_rate_limited()
    assert limiter.current_rate == 5
    clock.now += 31
    assert limiter.current_rate == 10


def test_retry_after_pauses_every_caller():
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock)
    limiter.notify_rate_limited(retry_after=2.0)
    assert limiter.reserve() == pytest.approx(2.0)


def test_thread_safe_under_contention():
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(50):
            wait = limiter.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 400 reservations at 100/s with a frozen clock: every slot distinct, 10 ms apart.
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.01, 6) for i in range(400)]
