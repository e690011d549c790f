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


class SleepThen:
    """A sleep that moves the fake clock, and does something once while the first caller sleeps."""

    def __init__(self, clock: FakeClock, during) -> None:
        self.clock, self.during, self.slept = clock, during, []

    def __call__(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        if len(self.slept) == 1:
            self.clock.now += 0.05
            self.during()
            self.clock.now += seconds - 0.05
        else:
            self.clock.now += seconds


def test_a_slot_taken_before_the_pace_was_lowered_waits_again_at_the_new_pace():
    """A shared budget lowers the pace when a task joins: slots queued at the old pace must not go at it."""
    clock = FakeClock()
    sleep = SleepThen(clock, lambda: limiter.set_rate(1.0))
    limiter = RateLimiter(10, clock=clock, sleep=sleep)
    for _ in range(3):
        limiter.reserve()  # three requests already on their way (0, 0.1, 0.2 s)
    limiter.acquire()  # its slot was at 0.3 s; the pace drops to 1/s at 0.05 s
    assert sleep.slept == [0.3, pytest.approx(0.75)]  # then one interval of the new pace from the drop


def test_a_pause_given_while_a_slot_waits_holds_that_slot_too():
    """A Retry-After another holder met pauses requests already waiting for their slot."""
    clock = FakeClock()
    sleep = SleepThen(clock, lambda: limiter.hold(2.0))
    limiter = RateLimiter(10, clock=clock, sleep=sleep)
    for _ in range(3):
        limiter.reserve()
    limiter.acquire()
    assert sleep.slept == [0.3, pytest.approx(1.75)]  # 0.05 + 2.0 from the start


def test_raising_the_pace_keeps_the_slots_already_taken():
    clock = FakeClock()
    sleep = SleepThen(clock, lambda: limiter.set_rate(100.0))
    limiter = RateLimiter(10, clock=clock, sleep=sleep)
    for _ in range(3):
        limiter.reserve()
    limiter.acquire()
    assert sleep.slept == [0.3]
