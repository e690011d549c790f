"""The report owns its counters: a category it does not name is refused when counted, never dropped."""

from __future__ import annotations

import pytest

from airflow_provider_human.reconciliation.policy import Category
from airflow_provider_human.reconciliation.report import COUNTERS, ReconciliationReport


def _report() -> ReconciliationReport:
    return ReconciliationReport("2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z", "dag/run/task/-1", "test")


def test_an_unknown_category_is_refused_when_counted_not_dropped_from_the_summary():
    report = _report()
    with pytest.raises(KeyError, match="brand_new_category"):
        report.counts["brand_new_category"] += 1  # what a new engine step counting a new name would do
    assert "brand_new_category" not in report.summary()


def test_every_decision_category_the_engine_counts_is_a_counter():
    # skip goes to the skipped reasons, waiting to waits_for_earlier: every other category is its own counter
    counted_as_itself = set(Category) - {Category.SKIP, Category.WAITING}
    assert {c.value for c in counted_as_itself} <= set(COUNTERS)
    report = _report()
    for category in counted_as_itself:
        report.count(category.value)
    assert all(report.summary()[c.value] == 1 for c in counted_as_itself)
