"""Bounded, streaming fan-out over a thread pool.

Input is pulled lazily and at most ``window`` calls are in flight, so memory stays flat
however many items come in; results are yielded as they complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


def bounded_map(
    func: Callable[[_T], _R],
    items: Iterable[_T],
    *,
    max_workers: int,
    window: int | None = None,
    thread_name_prefix: str = "human",
) -> Iterator[_R]:
    """Yield ``func(item)`` for every item, in completion order, with bounded concurrency.

    ``func`` must not raise for per-item failures (return them instead); an exception
    escaping it stops the iteration. Closing the iterator early cancels queued work.
    """
    limit = window or max_workers * 2
    source = iter(items)
    pending: set[Future[_R]] = set()
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(pool.submit(func, item))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
