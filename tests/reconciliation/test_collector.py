"""The run keeps the cyclic collector off the objects it did not create, and gives them back."""

from __future__ import annotations

import gc
import threading

import pytest

from airflow_provider_human.reconciliation import collector
from airflow_provider_human.reconciliation.collector import frozen_heap
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from tests.reconciliation.conftest import outcome


@pytest.fixture(autouse=True)
def unfrozen_heap():
    """Each test starts and ends with nothing frozen (a failed test must not freeze the rest of the suite)."""
    gc.unfreeze()
    yield
    gc.unfreeze()
    collector._runs = 0


def test_objects_that_exist_before_the_run_are_frozen_during_it_and_given_back_after():
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_they_are_given_back_when_the_run_fails():
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_the_last_of_two_runs_at_once_gives_them_back():
    first_in, second_out = threading.Event(), threading.Event()
    counts: dict[str, int] = {}

    def second() -> None:
        first_in.wait()
        with frozen_heap():
            pass
        counts["after_second"] = gc.get_freeze_count()
        second_out.set()

    thread = threading.Thread(target=second)
    thread.start()
    with frozen_heap():
        first_in.set()
        second_out.wait(10)
        counts["during_first"] = gc.get_freeze_count()
    thread.join(10)
    assert counts["after_second"] > 0 and counts["during_first"] > 0  # the second ending did not unfreeze the first
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_before_the_run_stays_frozen():
    """Airflow freezes before it forks (LocalExecutor workers): that choice is the process's, not ours to undo."""
    gc.freeze()
    frozen_by_the_process = gc.get_freeze_count()
    with frozen_heap():
        pass
    assert gc.get_freeze_count() >= frozen_by_the_process > 0


def test_a_reconciliation_runs_with_the_heap_frozen(case_db, fake_api, reconcile, monkeypatch):
    seen: list[int] = []
    real = SqlOutcomeSource.iter_rows

    def recording(self, start, end):
        seen.append(gc.get_freeze_count())
        yield from real(self, start, end)

    monkeypatch.setattr(SqlOutcomeSource, "iter_rows", recording)
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    fake_api.seed_accounts([{"account_id": "a1"}])
    report, _ = reconcile()
    assert report.counts["requests_sent"] == 1
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0
