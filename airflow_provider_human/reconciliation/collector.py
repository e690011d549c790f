"""Keep Python's cyclic garbage collector off the objects a run did not create.

A day of a million outcomes allocates millions of short-lived objects, and enough of them
outlive a young collection to set off a full one again and again. Each full collection
walks every object in the process, Airflow's own modules included (the figures are in
docs/benchmarks.md, "the run freezes the heap it found"). :func:`gc.freeze` moves what
already exists to the permanent generation for the run, so full collections walk only the
run's own objects; :func:`gc.unfreeze` gives them back
when the last run in the process ends. Nothing is disabled: reference cycles the run
creates are still collected. A process whose heap was frozen already (Airflow freezes
before it forks, e.g. LocalExecutor workers) is left frozen: unfreezing would undo its
choice, which cannot be told apart from ours.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_runs = 0  # runs in this process inside frozen_heap(); the last one out unfreezes
_unfreeze_after = False  # the heap was not frozen when the first run came in


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects that exist now for the duration of the block (reentrant across threads)."""
    global _runs, _unfreeze_after
    with _lock:
        if _runs == 0:
            _unfreeze_after = gc.get_freeze_count() == 0
            gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and _unfreeze_after:
                gc.unfreeze()
