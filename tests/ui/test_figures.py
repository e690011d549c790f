"""The page's figures equal direct SQL counts on a ledger the real engine built, and they read only the ledger."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from airflow_provider_human.ui.day_detail import RunRef, review_rows
from airflow_provider_human.ui.figures import day_bounds, ledger_days, one_day
from airflow_provider_human.ui.ledger_access import LedgerTables, sqlite_read_only
from tests.ui.conftest import OWNER, direct

TABLES = LedgerTables()


@pytest.fixture
def conn(built_ledger):
    engine = sqlite_read_only(built_ledger.path)
    with engine.connect() as c:
        yield c
    engine.dispose()


def test_the_scenario_holds_every_column_the_page_shows(built_ledger):
    """Else the comparisons below would compare zeros."""
    states = {s for (s,) in direct(built_ledger, "SELECT DISTINCT state FROM human_feedback_ledger")}
    assert states == {"sent", "noop", "claimed", "needs_review", "failed"}
    assert direct(built_ledger, "SELECT count(*) FROM human_feedback_rejects") == [(1,)]


#: Direct SQL over one day's rows (fixed text, the day bound as parameters).
DAY_ROWS = "FROM human_feedback_ledger WHERE interval_start >= :start AND interval_start < :end"
DAY_REJECTS = "SELECT count(*) FROM human_feedback_rejects WHERE interval_start >= :start AND interval_start < :end"


def test_each_days_figures_equal_direct_counts_of_the_ledger(built_ledger, conn):
    days = ledger_days(conn, TABLES)
    assert [d.day for d in days] == ["2026-11-20", "2026-11-19", "2026-11-18"]
    for d in days:
        start, end = day_bounds(date.fromisoformat(d.day))

        def count(extra: str = "1=1", start: str = start, end: str = end) -> int:
            return direct(built_ledger, f"SELECT count(*) {DAY_ROWS} AND {extra}", start=start, end=end)[0][0]

        assert d.outcomes == count()
        assert d.decided == count("state <> 'claimed'")
        assert d.nothing_to_send == count("state = 'noop'")
        assert d.waiting == count("state IN ('claimed', 'planned')")
        assert d.in_doubt == count("state IN ('sending', 'in_doubt')")
        assert d.needs_review == count("state IN ('needs_review', 'failed')")
        by_result = f"SELECT feedback_result, count(*) {DAY_ROWS} AND state = 'sent' GROUP BY feedback_result"
        assert dict(d.sent) == dict(direct(built_ledger, by_result, start=start, end=end))
        [(batches,)] = direct(built_ledger, f"SELECT count(DISTINCT batch_id) {DAY_ROWS}", start=start, end=end)
        assert d.requests == batches
        assert d.rejected == direct(built_ledger, DAY_REJECTS, start=start, end=end)[0][0]


def test_the_figures_say_what_the_engine_did_on_each_day(conn):
    first, second, third = (one_day(conn, TABLES, date(2026, 11, d)) for d in (18, 19, 20))
    assert dict(first.sent) == {"resolved": 1, "manually_identified_and_resolved": 1, "no_attack": 1,
                                "manually_identified": 1}  # fmt: skip
    assert (first.outcomes, first.nothing_to_send, first.waiting, first.rejected) == (7, 2, 1, 1)
    assert first.requests == 4 and not first.done  # one request per (attack type, status, result)
    assert (second.needs_review, second.sent_total, second.outcomes) == (1, 1, 2)
    assert (third.needs_review, third.sent_total, third.requests) == (1, 0, 1)
    assert one_day(conn, TABLES, date(2026, 11, 1)).outcomes == 0


def test_a_days_items_for_a_person_with_the_task_that_holds_each(conn):
    [item] = review_rows(conn, TABLES, day_bounds(date(2026, 11, 19)))
    assert (item.account_id, item.kind, item.state) == ("a1", "reversal", "needs_review")
    assert RunRef(item.owner).parts == ("human_case_reconciliation", "scheduled__2026-11-19T00:00:00+00:00",
                                        "reconcile", "-1")  # fmt: skip
    [refused] = review_rows(conn, TABLES, day_bounds(date(2026, 11, 20)))
    assert (refused.account_id, refused.kind, refused.http_status) == ("a9", "rejected", 400)
    assert refused.batch_id and refused.owner == OWNER.format(d=20)
    assert RunRef("adhoc/feedback").parts is None


def test_the_counts_read_the_day_index_only(built_ledger, conn):
    """Every per-state count is served by ix_<ledger>_day without reading a row (SQLite's plan says so)."""
    t = TABLES.table
    query = sa.select(t.c.interval_start, t.c.state, t.c.feedback_result, sa.func.count()).group_by(
        t.c.interval_start, t.c.state, t.c.feedback_result
    )
    sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
    plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "COVERING INDEX ix_human_feedback_ledger_day" in plan, plan


def test_the_page_cannot_write_the_ledger(conn):
    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        conn.exec_driver_sql("DELETE FROM human_feedback_ledger")


def test_the_newest_days_and_the_next_older_one(conn):
    from airflow_provider_human.ui.figures import recent_days

    assert recent_days(conn, TABLES, 2) == ([date(2026, 11, 20), date(2026, 11, 19)], date(2026, 11, 18))
    assert recent_days(conn, TABLES, 2, before=date(2026, 11, 19)) == ([date(2026, 11, 18)], None)
    assert recent_days(conn, TABLES, 5, before=date(2026, 11, 18)) == ([], None)
