"""A thread-safe client-side rate limiter shared by every thread of one client.

Peers leave rate limiting to the server's 429s; we keep under the customer's limit by
spacing requests ourselves, and slow down for a while when HUMAN still says 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token bucket (as virtual scheduling): ``acquire()`` blocks until a request may go.

    :param rate: sustained requests per second.
    :param burst: requests allowed back to back after idle time.
    :param slowdown_factor: rate multiplier applied after a 429.
    :param slowdown_seconds: how long a 429 keeps the rate lowered.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        slowdown_factor: float = 0.5,
        slowdown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate={rate!r}: must be > 0")
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self.slowdown_factor = slowdown_factor
        self.slowdown_seconds = slowdown_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = clock()  # theoretical arrival time of the next request (GCRA)
        self._slow_until = float("-inf")
        self._slow_rate = self.rate
        self._generation = 0  # bumped when slots already handed out were planned at a pace no longer allowed

    @property
    def current_rate(self) -> float:
        return self._slow_rate if self._clock() < self._slow_until else self.rate

    def reserve(self) -> float:
        """Take a slot and return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            rate = self._slow_rate if now < self._slow_until else self.rate
            interval = 1.0 / rate
            tolerance = (self.burst - 1) * interval
            due = max(self._next_start, now)
            start = max(now, due - tolerance)
            self._next_start = due + interval
            return start - now

    def acquire(self) -> None:
        """Wait for a slot; a slot planned before the pace was lowered or paused is planned again."""
        while True:
            with self._lock:
                generation = self._generation
            wait = self.reserve()
            if wait <= 0:
                return
            self._sleep(wait)
            with self._lock:
                if self._generation == generation:
                    return

    def set_rate(self, rate: float) -> None:
        """Pace at ``rate`` from now on (a shared budget's share changes as holders come and go)."""
        if rate <= 0:
            raise ValueError(f"rate={rate!r}: must be > 0")
        with self._lock:
            if rate < self.rate:  # slots already waiting were spaced for the old pace: they wait again
                now = self._clock()
                last = min(now, self._next_start - 1.0 / self.rate)  # the latest slot already used
                self._next_start = last + 1.0 / rate
                self._generation += 1
            self.rate = float(rate)

    def hold(self, seconds: float) -> None:
        """No request starts for ``seconds`` from now (a Retry-After another holder was given)."""
        if seconds > 0:
            with self._lock:
                self._next_start = max(self._next_start, self._clock() + seconds)
                self._generation += 1  # requests already waiting for their slot pause too

    def notify_rate_limited(self, retry_after: float | None = None) -> None:
        """A 429 arrived: lower the rate for a while and, with Retry-After, pause everyone."""
        with self._lock:
            now = self._clock()
            floor = self._slow_rate if now < self._slow_until else self.rate
            self._slow_rate = max(floor * self.slowdown_factor, self.rate / 64)
            self._slow_until = now + self.slowdown_seconds
            if retry_after and retry_after > 0:
                tolerance = (self.burst - 1) / self._slow_rate
                self._next_start = max(self._next_start, now + retry_after + tolerance)
                self._generation += 1
