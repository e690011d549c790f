"""What the review records for its links: the console, the listed day's HUMAN page, the full list.

(The links themselves are rendered through Airflow's API in tests/test_assets_and_links.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.reconciliation.test_review_step import reversal_day, review  # noqa: F401 - the fixture

ALL_DAYS = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_review_of_one_day_links_that_day_and_its_list(case_db, fake_api, reconcile, review):  # noqa: F811
    reversal_day(case_db, fake_api, reconcile)
    _, context, body = review(ALL_DAYS)
    listing = body.split("Full list: `")[1].split("`")[0]
    assert context["ti"].xcom["human_links"] == {
        "console": "https://console.humansecurity.com",  # the connection names no console_url
        "day": "/human/ledger/human_case_db/days/2026-11-19",  # the reversal's day; [api] base_url unset
        "report": f"file://{listing}",
    }


def test_a_review_with_nothing_listed_links_the_overview(case_db, fake_api, reconcile, review, human_conn):  # noqa: F811
    human_conn(console_url="https://portal.example.test")
    reconcile()
    _, context, result = review(ALL_DAYS)
    assert result == {"items": 0, "answer": None}
    assert context["ti"].xcom["human_links"] == {"console": "https://portal.example.test", "day": "/human/"}
