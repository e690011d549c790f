"""One account's rate limit shared by every task using it at the same moment ("membership shares").

Each holder (one client, i.e. one task try) keeps a row with a short lease in a store the
deployment already has (the ledger's database, or Redis), and paces its own requests locally
at ``limit * factor / live holders``. The store is read by a heartbeat, never per request,
so a request costs no round trip. A holder that dies stops renewing its lease and drops out of
the count within ``lease_seconds``; one that ends leaves at once.

What no rate-limiting library does is written here: a ``Retry-After`` pauses every holder
(``pause``), and 429s that come back after it lower the shared ``factor`` for every holder
for a while (a first 429 alone is taken for a start-up burst and only pauses).

A holder that joins sends nothing until every holder already there has renewed its lease
since the join (and so counted it and lowered its pace), or has dropped out: shares never add
up to more than the limit while tasks start, even when another holder's heartbeat runs late on
a loaded machine. Requests of the others already waiting for a slot are re-planned at the
lower pace (:meth:`RateLimiter.set_rate`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from airflow_provider_human.client.rate_limit import RateLimiter

log = logging.getLogger(__name__)

#: How often a holder renews its lease and re-reads its share (seconds).
REFRESH_SECONDS = 0.5
#: A holder not heard of for this long is dead: its share goes back to the others.
LEASE_SECONDS = 3.0
#: After 429s that come back, every holder paces at ``factor`` times its share for ``SLOWDOWN_SECONDS``.
SLOWDOWN_FACTOR = 0.75
SLOWDOWN_SECONDS = 30.0
#: Several holders meeting 429s from one burst lower the factor once, not once each.
LOWER_AT_MOST_EVERY = 2.0
MIN_FACTOR = 1 / 16


@dataclass(frozen=True)
class BudgetView:
    """What the store says now: live holders, the shared factor, and how long everyone must still pause."""

    live_holders: int
    factor: float = 1.0
    pause_seconds: float = 0.0


@dataclass(frozen=True)
class Slowdown:
    """How a 429 changes the shared state (the store applies it atomically, on its own clock)."""

    factor: float = SLOWDOWN_FACTOR
    seconds: float = SLOWDOWN_SECONDS
    debounce: float = LOWER_AT_MOST_EVERY
    floor: float = MIN_FACTOR


class BudgetStore(Protocol):
    """Where the holders and the shared slowdown live (SQL: :mod:`.sql`, Redis: :mod:`.redis_store`)."""

    name: str

    def beat(self, key: str, holder: str, lease_seconds: float) -> BudgetView:
        """Register or renew ``holder``'s lease and read the budget (one round trip or transaction)."""

    def leave(self, key: str, holder: str) -> None:
        """``holder`` is done: its share goes back at once."""

    def lease_end(self, key: str, holder: str) -> float | None:
        """When ``holder``'s lease ends on the store's clock (None: it holds none)."""

    def behind(self, key: str, holder: str, since: float) -> int:
        """Other live holders whose lease ends before ``since`` (they have not renewed since then)."""

    def live_holders(self, key: str) -> int:
        """How many holders hold a lease now (read only)."""

    def rate_limited(self, key: str, retry_after: float | None, slowdown: Slowdown) -> BudgetView:
        """A holder met a 429: lower the shared factor (at most once per debounce) and pause everyone."""


def account_key(base_url: str, token: str) -> str:
    """The budget's key: the account (host and a hash of the token), never the token itself."""
    digest = hashlib.sha256(b"airflow-provider-human rate budget\0" + token.encode()).hexdigest()[:20]
    return f"{base_url}#{digest}"


class SharedBudget:
    """A rate limiter (``acquire``, ``notify_rate_limited``) whose rate is this holder's share of ``limit``.

    Joins on the first ``acquire`` (a task that never calls HUMAN takes no share), renews from
    a daemon thread, leaves on :meth:`close`.
    """

    def __init__(
        self,
        limit: float,
        store: BudgetStore,
        key: str,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        slowdown: Slowdown | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit <= 0:
            raise ValueError(f"limit={limit!r}: must be > 0")
        self.limit = float(limit)
        self.store = store
        self.key = key
        self.holder = uuid.uuid4().hex
        self.refresh_seconds = refresh_seconds
        self.lease_seconds = max(lease_seconds, 2 * refresh_seconds)
        self.slowdown = slowdown or Slowdown()
        self._local = RateLimiter(self.limit, sleep=sleep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.view = BudgetView(live_holders=1)

    @property
    def rate(self) -> float:
        return self._local.rate

    @property
    def current_rate(self) -> float:
        return self._local.rate

    def acquire(self) -> None:
        if self._thread is None:
            self._join()
        self._local.acquire()

    def notify_rate_limited(self, retry_after: float | None = None) -> None:
        """A 429: with ``Retry-After`` everyone pauses (this holder at once); 429s again slow everyone down."""
        if retry_after and retry_after > 0:
            self._local.hold(retry_after)
        try:
            self._apply(self.store.rate_limited(self.key, retry_after, self.slowdown))
        except Exception as exc:  # the store is out of reach: this holder still slows down alone
            log.warning("Could not share a 429 through the %s rate budget: %s", self.store.name, exc)
            self._local.set_rate(max(self._local.rate * self.slowdown.factor, self.limit * self.slowdown.floor))

    def close(self) -> None:
        """Leave the budget: the other holders' shares rise at their next refresh."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=10)
        try:
            self.store.leave(self.key, self.holder)
        except Exception as exc:  # the lease runs out by itself
            log.warning("Could not leave the %s rate budget (its lease runs out in %.0f s): %s",
                        self.store.name, self.lease_seconds, exc)  # fmt: skip

    def __enter__(self) -> SharedBudget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- inside

    def _join(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._apply(self.store.beat(self.key, self.holder, self.lease_seconds))  # a store error fails the task
            since = self.store.lease_end(self.key, self.holder)
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="human-rate-budget", daemon=True)
            self._thread.start()
            if since is not None:
                self._wait_until_counted(since)
        log.info("HUMAN rate budget (%s): %.3g requests/s for the account, %d holder(s) now: this task paces at %.3g",
                 self.store.name, self.limit, self.view.live_holders, self._local.rate)  # fmt: skip

    def _wait_until_counted(self, since: float) -> None:
        """Send nothing until every other live holder has renewed since this one joined (or its lease ran out)."""
        deadline = time.monotonic() + self.lease_seconds + self.refresh_seconds
        while time.monotonic() < deadline:
            if self.store.behind(self.key, self.holder, since) == 0:
                break
            self._stop.wait(self.refresh_seconds / 5)
        self._apply(self.store.beat(self.key, self.holder, self.lease_seconds))  # the count that now holds

    def _beat(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                view = self.store.beat(self.key, self.holder, self.lease_seconds)
            except Exception as exc:  # keep the last share; others count this holder until its lease ends
                if not self._failing:
                    log.warning("Could not renew the %s rate budget (will try again): %s", self.store.name, exc)
                self._failing = True
                continue
            self._failing = False
            self._apply(view)

    def _apply(self, view: BudgetView) -> None:
        self.view = view
        share = self.limit * max(min(view.factor, 1.0), self.slowdown.floor) / max(view.live_holders, 1)
        self._local.set_rate(share)
        if view.pause_seconds > 0:
            self._local.hold(view.pause_seconds)
