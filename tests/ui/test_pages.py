"""The pages and the JSON API show the ledger's figures, link into Airflow, and carry no personal data."""

from __future__ import annotations

import re

import pytest

from airflow_provider_human.ui.figures import ledger_days
from airflow_provider_human.ui.ledger_access import LedgerTables, sqlite_read_only
from tests.ui.conftest import PII, READER

FIGURES = ("outcomes", "decided", "requests", "nothing_to_send", "waiting", "in_doubt", "needs_review", "rejected")


@pytest.fixture
def reader(client_as):
    return client_as(READER)


@pytest.fixture
def truth(built_ledger):
    engine = sqlite_read_only(built_ledger.path)
    with engine.connect() as conn:
        days = {d.day: d for d in ledger_days(conn, LedgerTables())}
    engine.dispose()
    return days


def _cells(html: str, day: str) -> dict[str, int]:
    row = re.search(rf'<tr data-day="{day}">(.*?)</tr>', html, re.S).group(1)
    found = dict(re.findall(r'data-figure="(\w+)">\s*(?:<span[^>]*>)?([\d,]+)', row))
    return {k: int(v.replace(",", "")) for k, v in found.items()}


def test_the_overview_shows_each_days_figures_as_the_ledger_holds_them(reader, truth):
    html = reader.get("/human/").text
    for day, figures in truth.items():
        cells = _cells(html, day)
        assert {k: cells[k] for k in FIGURES} == {k: getattr(figures, k) for k in FIGURES}, day
        assert cells["sent_total"] == figures.sent_total
        assert f'href="/human/ledger/human_case_db/days/{day}"' in html


def test_the_api_gives_the_same_figures(reader, truth):
    body = reader.get("/human/api/ledger/human_case_db/days").json()
    assert [d["day"] for d in body["days"]] == sorted(truth, reverse=True)
    for d in body["days"]:
        assert d == truth[d["day"]].as_json()


def test_a_days_page_lists_its_items_and_links_the_run_and_the_review(reader):
    html = reader.get("/human/ledger/human_case_db/days/2026-11-20").text
    assert re.search(r'data-figure="needs_review"><b><span class="bad">1</span>', html)
    assert "<code>a9</code>" in html and ">rejected<" in html and "HTTP 400" in html
    run = "/dags/human_case_reconciliation/runs/scheduled__2026-11-20T00%3A00%3A00%2B00%3A00"
    assert f'href="{run}" target="_top"' in html  # the day's run, from Airflow's database
    assert f'href="{run}/tasks/reconcile" target="_top"' in html  # the task holding the item, from the ledger
    assert 'href="/required_actions" target="_top"' in html


def test_a_days_api_lists_items_with_account_kind_batch_and_evidence_only(reader):
    body = reader.get("/human/api/ledger/human_case_db/days/2026-11-19").json()
    [item] = body["items"]
    assert (item["account_id"], item["kind"], item["attack_type"]) == ("a1", "reversal", "ato")
    assert set(item) == {"id", "account_id", "attack_type", "kind", "state", "batch_id", "decision", "reason",
                         "detail", "upload", "http_status", "answer", "owner", "dag_id", "run_id", "task_id",
                         "map_index", "run_link", "task_link"}  # fmt: skip
    assert item["task_link"] == ("/dags/human_case_reconciliation/runs/scheduled__2026-11-19T00%3A00%3A00%2B00%3A00"
                                 "/tasks/reconcile")  # fmt: skip
    [run] = body["runs"]  # the reconciliation's run of the day; another DAG's run that day is not listed
    assert (run["dag_id"], run["run_id"], run["state"]) == ("human_case_reconciliation",
                                                            "scheduled__2026-11-19T00:00:00+00:00", "success")  # fmt: skip
    assert run["link"] == "/dags/human_case_reconciliation/runs/scheduled__2026-11-19T00%3A00%3A00%2B00%3A00"
    assert body["open_review"] is None and body["required_actions"] == "/required_actions"


def test_no_page_or_answer_carries_personal_data_or_case_comments(reader, built_ledger):
    comments = [c for (c,) in built_ledger.engine.connect().exec_driver_sql(
        "SELECT comment FROM human_feedback_ledger WHERE comment IS NOT NULL")]  # fmt: skip
    assert comments, "the scenario must hold a comment carrying personal data"
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    paths = ["/human/", "/human/api/ledger/human_case_db/days"]
    paths += [f"/human/ledger/human_case_db/days/{d}" for d in days]
    paths += [f"/human/api/ledger/human_case_db/days/{d}" for d in days]
    for path in paths:
        text = reader.get(path).text
        assert not [p for p in PII + comments if p in text], path


def test_a_day_without_rows_and_a_day_that_is_not_a_date(reader):
    empty = reader.get("/human/api/ledger/human_case_db/days/2026-01-01").json()
    assert empty["outcomes"] == 0 and empty["items"] == [] and empty["runs"] == []
    assert reader.get("/human/api/ledger/human_case_db/days/2026-1-1").status_code == 404
    assert reader.get("/human/ledger/human_case_db/days/yesterday").status_code == 404


def test_a_ledger_not_created_yet_reads_as_empty_and_a_missing_connection_says_so(reader, monkeypatch, tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "fresh.sqlite").close()
    monkeypatch.setenv("AIRFLOW_CONN_FRESH_DB", f'{{"conn_type": "sqlite", "host": "{tmp_path / "fresh.sqlite"}"}}')
    monkeypatch.setenv("AIRFLOW__HUMAN__UI_LEDGER_CONN_IDS", "human_case_db, fresh_db, missing_db")
    assert reader.get("/human/api/ledger/fresh_db/days").json()["days"] == []
    html = reader.get("/human/").text
    assert html.index('data-ledger="human_case_db"') < html.index('data-ledger="fresh_db"')
    assert "Nothing reconciled into this ledger yet" in html
    missing = html.split('data-ledger="missing_db"')[1]
    assert '<div class="error"' in missing and "missing_db" in missing
    assert reader.get("/human/api/ledger/missing_db/days").status_code == 503


def test_links_keep_the_path_of_airflows_base_url(reader, monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/airflow")
    body = reader.get("/human/api/ledger/human_case_db/days/2026-11-18").json()
    assert body["runs"][0]["link"].startswith("/airflow/dags/human_case_reconciliation/runs/")
    assert body["required_actions"] == "/airflow/required_actions"


def test_the_page_follows_airflows_light_and_dark_theme(reader):
    html = reader.get("/human/").text
    assert "prefers-color-scheme: dark" in html and ":root[data-theme=dark]" in html
    assert "--chakra-colors-" in html  # takes the Airflow UI's own tokens when shown inside it


def test_the_days_come_a_page_at_a_time_newest_first(reader):
    first = reader.get("/human/api/ledger/human_case_db/days?limit=2").json()
    assert [d["day"] for d in first["days"]] == ["2026-11-20", "2026-11-19"]
    assert first["next_before"] == "2026-11-19"
    second = reader.get(f"/human/api/ledger/human_case_db/days?limit=2&before={first['next_before']}").json()
    assert [d["day"] for d in second["days"]] == ["2026-11-18"] and second["next_before"] is None
    assert reader.get("/human/api/ledger/human_case_db/days?limit=0").status_code == 422


def test_the_overview_links_the_older_days(reader, monkeypatch):
    from airflow_provider_human.ui import app

    monkeypatch.setattr(app, "DAYS_SHOWN", 1)
    html = reader.get("/human/").text
    assert 'data-day="2026-11-20"' in html and 'data-day="2026-11-19"' not in html
    assert 'href="/human/?before=2026-11-20"' in html
    older = reader.get("/human/?before=2026-11-20").text
    assert 'data-day="2026-11-19"' in older and 'data-day="2026-11-20"' not in older


def test_a_days_page_links_the_open_request_that_lists_that_day_for_answers_per_item(reader, monkeypatch):
    from airflow_provider_human.ui import app

    asked = []

    def open_review_url(conn_id, day, *, session):
        asked.append((conn_id, str(day)))
        return (
            "/dags/human_case_review/runs/r1/tasks/review/required_actions?map_index=-1"
            if str(day) == "2026-11-20"
            else None
        )

    monkeypatch.setattr(app, "open_review_url", open_review_url)
    html = reader.get("/human/ledger/human_case_db/days/2026-11-20").text
    assert 'href="/dags/human_case_review/runs/r1/tasks/review/required_actions?map_index=-1"' in html
    assert 'data-link="day-review"' in html
    body = reader.get("/human/api/ledger/human_case_db/days/2026-11-20").json()
    assert body["day_review_link"].endswith("required_actions?map_index=-1")
    assert 'data-link="day-review"' not in reader.get("/human/ledger/human_case_db/days/2026-11-19").text
    assert ("human_case_db", "2026-11-19") in asked
