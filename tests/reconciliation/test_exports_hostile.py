"""Exports a hostile or careless user hands over (issue 25, items 5-8): rows no run reads, rows a
broken quote swallows, text that blocked a day, a day with nothing placeable. One test per item
and variant, judged by what the fake API applied and what the rejects table holds."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pendulum
import pytest

from airflow_provider_human.exceptions import ReconciliationAbortedError
from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import FileOutcomeSource, SqlOutcomeSource
from tests.reconciliation.conftest import DAY, FAST, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_postgres import PgCaseDB
from tests.reconciliation.test_review_step import FakeTI
from tests.test_report_location import env, memory  # noqa: F401 - fixtures: a case database connection, memory://

HEADER = "case_id,account_id,attack_type,verdict,closed_at,comment\n"


def applied(fake_api) -> Counter:
    """account -> how many feedback uploads HUMAN applied for it."""
    return Counter(e["account_id"] for e in fake_api.effects())


def run(make_client, source, engine, start=DAY, end=NEXT_DAY, owner="hostile/run/reconcile/-1", **settings):
    """One run; its RunResult (the error is not raised)."""
    reconciler = Reconciler(make_client(), source, Ledger(engine), settings=ReconcileSettings(**{**FAST, **settings}))
    return reconciler.run(start, end, owner)


def rejects(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM human_feedback_rejects ORDER BY id")]


def csv_line(case_id, account_id, comment="", closed_at="2026-11-18T10:00:00Z", verdict="suspected_fraud"):
    return f"{case_id},{account_id},ato,{verdict},{closed_at},{comment}\n"


# 5 ------------------------------------------------------------------------------------------------
def test_5a_pg_timestamp_without_time_zone_in_a_new_york_session_is_read_by_its_utc_day(
    postgres, fake_api, make_client
):
    """Item 5: a naive ``timestamp`` is UTC (as documented), not the session zone's wall clock.

    22:00 UTC on the 18th is 17:00 in New York: the day of the 18th must read it, whatever
    the database's TimeZone."""
    db = PgCaseDB(postgres, timezone="America/New_York", closed_at_type="timestamp")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "America/New_York"
    db.add(
        ("late", "a-late", "ato", "suspected_fraud", datetime(2026, 11, 18, 22, 0), None),
        ("early", "a-early", "ato", "suspected_fraud", datetime(2026, 11, 18, 1, 0), None),
        ("next", "a-next", "ato", "suspected_fraud", datetime(2026, 11, 19, 3, 0), None),
    )
    seed_states(fake_api, none=["a-late", "a-early", "a-next"])
    for start in (DAY, NEXT_DAY):
        result = run(make_client, SqlOutcomeSource(engine=db.engine), db.engine, start, start + timedelta(days=1),
                     owner=f"pg-naive/{start:%d}/reconcile/-1")  # fmt: skip
        assert result.ok, result.error
    assert applied(fake_api) == {"a-late": 1, "a-early": 1, "a-next": 1}
    days = {r["case_id"]: r["interval_start"][:10] for r in db.ledger()}
    assert days == {"late": "2026-11-18", "early": "2026-11-18", "next": "2026-11-19"}
    with db.engine.connect() as conn:  # the reading connection was given back in its own zone
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "America/New_York"
    db.engine.dispose()


NEW_YORK = "America/New_York"
#: Three New York days around the end of DST (2026-11-01 has 25 hours).
NY_DAYS = [pendulum.datetime(2026, 10, 31, tz=NEW_YORK).add(days=n) for n in range(4)]


def dst_rows() -> list[datetime]:
    """Every 30 minutes across the three days, and one microsecond before each local midnight."""
    first, last = NY_DAYS[0].in_timezone("UTC"), NY_DAYS[-1].in_timezone("UTC")
    moments, moment = [], datetime(first.year, first.month, first.day, first.hour, tzinfo=UTC)
    while moment < last:
        moments.append(moment)
        moment += timedelta(minutes=30)
    for edge in NY_DAYS[1:]:
        utc = edge.in_timezone("UTC")
        moments.append(datetime(utc.year, utc.month, utc.day, utc.hour, tzinfo=UTC) - timedelta(microseconds=1))
    return moments


@pytest.mark.parametrize("kind", ["sqlite_text", "pg_timestamp", "pg_timestamptz", "csv"])
def test_5b_consecutive_new_york_days_across_dst_read_every_row_exactly_once(
    kind, request, case_db, fake_api, make_client, tmp_path
):
    """Item 5: the engine takes bounds in any zone (pendulum New York days, as a timetable in
    that zone passes them); every source compares in UTC, so three consecutive days across the
    DST change read every row once, each in the day that holds it."""
    moments = dst_rows()
    accounts = [f"acct-{n:03d}" for n in range(len(moments))]
    seed_states(fake_api, none=accounts)
    rows = [
        (f"case-{n:03d}", a, "ato", "suspected_fraud", m)
        for n, (a, m) in enumerate(zip(accounts, moments, strict=True))
    ]
    if kind.startswith("pg_"):
        db = PgCaseDB(request.getfixturevalue("postgres"), timezone=NEW_YORK, closed_at_type=kind[3:])
        request.addfinalizer(db.engine.dispose)
        naive = kind == "pg_timestamp"
        db.add(*[(*r[:4], r[4].replace(tzinfo=None) if naive else r[4], None) for r in rows])
        engine, source = db.engine, SqlOutcomeSource(engine=db.engine)
    elif kind == "sqlite_text":
        case_db.add(*[outcome(c, a, v, m.isoformat().replace("+00:00", "Z")) for c, a, _, v, m in rows])
        engine, source = case_db.engine, SqlOutcomeSource(engine=case_db.engine)
    else:
        path = tmp_path / "export.csv"
        path.write_text(HEADER + "".join(csv_line(c, a, closed_at=m.isoformat()) for c, a, _, _, m in rows))
        engine, source = case_db.engine, FileOutcomeSource(str(path))
    for n, (start, end) in enumerate(pairwise(NY_DAYS)):
        result = run(make_client, source, engine, start, end, owner=f"ny/day-{n}/reconcile/-1")
        assert result.ok, result.error
    assert applied(fake_api) == dict.fromkeys(accounts, 1)
    with engine.connect() as conn:
        ledger = conn.exec_driver_sql("SELECT case_id, interval_start FROM human_feedback_ledger").all()
    expected = {}
    for case_id, _, _, _, moment in rows:
        day = next(s for s, e in pairwise(NY_DAYS) if s <= moment < e)
        expected[case_id] = day.in_timezone("UTC").strftime("%Y-%m-%dT%H:%M")
    assert {c: s[:16] for c, s in ledger} == expected and len(ledger) == len(rows)


# 6 ------------------------------------------------------------------------------------------------
def test_6a_an_unbalanced_quote_is_one_reject_naming_its_line_and_the_rows_after_it_are_read(
    case_db, fake_api, make_client, tmp_path
):
    """Item 6: one unbalanced quote used to swallow the 50 rows after it into one comment."""
    path = tmp_path / "export.csv"
    lines = [csv_line(f"c{i}", f"a{i}", '"see attached' if i == 49 else "ok") for i in range(100)]
    path.write_text(HEADER + "".join(lines))
    seed_states(fake_api, none=[f"a{i}" for i in range(100)])
    result = run(make_client, FileOutcomeSource(str(path)), case_db.engine)
    assert result.ok, result.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(100) if i != 49}
    (reject,) = case_db.rejects()
    assert (reject["reason"], reject["case_id"]) == ("csv_row_spans_lines", "c49")
    assert reject["detail"].startswith("line 51: ")  # the header is line 1
    assert dict(result.report.rejected) == {"csv_row_spans_lines": 1}


def test_6b_a_field_beyond_max_field_chars_is_a_reject_naming_its_line(case_db, fake_api, make_client, tmp_path):
    """Item 6: a field longer than the source's ``max_field_chars`` (default 4,096) is a reject."""
    path = tmp_path / "export.csv"
    lines = [csv_line(f"c{i}", f"a{i}", "x" * 5000 if i == 7 else "fine") for i in range(40)]
    path.write_text(HEADER + "".join(lines))
    seed_states(fake_api, none=[f"a{i}" for i in range(40)])
    result = run(make_client, FileOutcomeSource(str(path)), case_db.engine, max_reject_ratio=0.05)
    assert result.ok, result.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(40) if i != 7}
    (reject,) = case_db.rejects()
    assert reject["reason"] == "csv_field_too_long" and reject["case_id"] == "c7"
    assert reject["detail"] == "line 9: field 'comment' holds 5000 characters, more than max_field_chars=4096"


def test_6c_max_field_chars_is_a_setting(case_db, fake_api, make_client, tmp_path):
    """Item 6: the limit is the source's ``max_field_chars``; a smaller one rejects shorter fields."""
    path = tmp_path / "export.csv"
    path.write_text(HEADER + csv_line("c1", "a1", "y" * 300) + csv_line("c2", "a2", "short"))
    seed_states(fake_api, none=["a1", "a2"])
    result = run(make_client, FileOutcomeSource(str(path), max_field_chars=256), case_db.engine, max_reject_ratio=0.5)
    assert result.ok, result.error
    assert applied(fake_api) == {"a2": 1}
    assert [r["reason"] for r in case_db.rejects()] == ["csv_field_too_long"]


# 7 ------------------------------------------------------------------------------------------------
LONG_NOTE = "confidential-note " * 20  # a bad comment's text must not be echoed whole


def assert_rejected_not_echoed(engine, expected: dict[str, str]) -> None:
    """case id (as stored, escaped) -> reason; no detail repeats the long comment."""
    found = rejects(engine)
    assert {r["case_id"]: r["reason"] for r in found} == expected
    for r in found:
        assert LONG_NOTE not in r["detail"] and len(r["detail"]) < 300


def write_jsonl(path, bad: list[dict], n_valid: int) -> None:
    rows = [{"case_id": f"c{i}", "account_id": f"a{i}", "attack_type": "ato", "verdict": "suspected_fraud",
             "closed_at": "2026-11-18T10:00:00Z", "comment": "fine"} for i in range(n_valid)]  # fmt: skip
    base = {"attack_type": "ato", "verdict": "suspected_fraud", "closed_at": "2026-11-18T10:00:00Z"}
    path.write_text("\n".join(json.dumps(r) for r in rows + [{**base, **b} for b in bad]) + "\n")


def test_7a_a_json_lone_surrogate_is_a_reject_and_the_99_valid_rows_are_sent(case_db, fake_api, make_client, tmp_path):
    """Item 7: a JSON ``"\\ud800"`` (in a comment, in a case id) raised UnicodeEncodeError every try."""
    path = tmp_path / "export.jsonl"
    write_jsonl(path, [{"case_id": "bad-comment", "account_id": "b1", "comment": LONG_NOTE + "\ud800"},
                       {"case_id": "bad-\udfff-id", "account_id": "b2"}], 98)  # fmt: skip
    seed_states(fake_api, none=[f"a{i}" for i in range(98)] + ["b1", "b2"])
    result = run(make_client, FileOutcomeSource(str(path)), case_db.engine)
    assert result.ok, result.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(98)}
    assert_rejected_not_echoed(case_db.engine, {"bad-comment": "invalid_text", "bad-\\udfff-id": "invalid_case_id"})
    assert "lone surrogate U+D800" in case_db.rejects()[0]["detail"]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_7b_a_byte_that_is_not_utf8_in_a_file_is_a_reject(kind, case_db, fake_api, make_client, tmp_path):
    """Item 7: one 0xff byte in a JSONL or CSV file raised UnicodeDecodeError on every try."""
    path = tmp_path / f"export.{kind}"
    if kind == "jsonl":
        write_jsonl(path, [{"case_id": "bad", "account_id": "b1", "comment": LONG_NOTE + "@@"}], 99)
    else:
        path.write_text(HEADER + "".join(csv_line(f"c{i}", f"a{i}", "fine") for i in range(99))
                        + csv_line("bad", "b1", LONG_NOTE + "@@"))  # fmt: skip
    path.write_bytes(path.read_bytes().replace(b"@@", b"\xff!"))
    seed_states(fake_api, none=[f"a{i}" for i in range(99)] + ["b1"])
    result = run(make_client, FileOutcomeSource(str(path)), case_db.engine)
    assert result.ok, result.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(99)}
    assert_rejected_not_echoed(case_db.engine, {"bad": "invalid_text"})
    assert "byte 0xff, which is not UTF-8," in case_db.rejects()[0]["detail"]


def test_7c_invalid_utf8_in_a_sqlite_text_column_is_a_reject(case_db, fake_api, make_client):
    """Item 7: SQLite's OperationalError ("Could not decode to UTF-8", echoing the comment) every try."""
    case_db.add(*[outcome(f"c{i}", f"a{i}", "suspected_fraud", comment="fine") for i in range(99)])
    with case_db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO case_outcomes VALUES ('bad', 'b1', 'ato', 'suspected_fraud', '2026-11-18T10:00:00Z',"
            " CAST(? || X'ff' AS TEXT))", (LONG_NOTE,)
        )  # fmt: skip
    seed_states(fake_api, none=[f"a{i}" for i in range(99)] + ["b1"])
    result = run(make_client, SqlOutcomeSource(engine=case_db.engine), case_db.engine)
    assert result.ok, result.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(99)}
    assert_rejected_not_echoed(case_db.engine, {"bad": "invalid_text"})
    with case_db.engine.connect() as conn:  # the engine's other connections still decode strictly
        assert conn.connection.dbapi_connection.text_factory is str


@pytest.mark.parametrize("ledger", ["sqlite", "postgresql"])
def test_7d_a_nul_in_a_comment_or_a_case_id_is_a_reject_on_either_ledger(
    ledger, request, case_db, fake_api, make_client, tmp_path
):
    """Item 7: on a PostgreSQL ledger a NUL raised "A string literal cannot contain NUL" in the
    claim and in the reject record itself, on every try."""
    engine = case_db.engine
    if ledger == "postgresql":
        db = PgCaseDB(request.getfixturevalue("postgres"))
        request.addfinalizer(db.engine.dispose)
        engine = db.engine
    path = tmp_path / "export.jsonl"
    write_jsonl(path, [{"case_id": "nul-comment", "account_id": "b1", "comment": LONG_NOTE + "\x00"},
                       {"case_id": "nul\x00id", "account_id": "b2"}], 98)  # fmt: skip
    seed_states(fake_api, none=[f"a{i}" for i in range(98)] + ["b1", "b2"])
    result = run(make_client, FileOutcomeSource(str(path)), engine)
    assert result.ok, result.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(98)}
    assert_rejected_not_echoed(engine, {"nul-comment": "invalid_text", "nul\\x00id": "invalid_case_id"})
    assert "NUL at position" in rejects(engine)[0]["detail"]


# 8 ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_reject_ratio", [0.05, 1.0])
def test_8a_a_wholly_undated_export_fails_before_sending_naming_the_field_and_a_value(
    max_reject_ratio, case_db, fake_api, make_client
):
    """Item 8: 200 rows dated "18/11/2026 10:00" were 0 read, 0 decided, green. Whatever the
    ratio allowed, a day whose rows none can be placed fails, before any request."""
    case_db.add(*[outcome(f"c{i}", f"a{i}", "suspected_fraud", "18/11/2026 10:00") for i in range(200)])
    seed_states(fake_api, none=[f"a{i}" for i in range(200)])
    result = run(make_client, SqlOutcomeSource(engine=case_db.engine), case_db.engine,
                 max_reject_ratio=max_reject_ratio)  # fmt: skip
    assert isinstance(result.error, ReconciliationAbortedError)
    message = str(result.error)
    assert "closed_at" in message and "'18/11/2026 10:00'" in message and "200 rows" in message
    assert fake_api.requests("feedback") == [] and fake_api.effects() == []
    assert len(case_db.rejects()) == 200


def test_8b_undated_rows_count_against_max_reject_ratio(case_db, fake_api, make_client):
    """Item 8: undated rows were held against no day; 10 of 110 (9%) is above 5%: nothing is sent."""
    case_db.add(*[outcome(f"c{i}", f"a{i}", "suspected_fraud") for i in range(100)],
                *[outcome(f"u{i}", f"u{i}", "suspected_fraud", "18/11/2026 10:00") for i in range(10)])  # fmt: skip
    seed_states(fake_api, none=[f"a{i}" for i in range(100)])
    result = run(make_client, SqlOutcomeSource(engine=case_db.engine), case_db.engine)
    assert isinstance(result.error, ReconciliationAbortedError)
    assert "10 of 110 rows rejected" in str(result.error) and "unparseable_closed_at: 10" in str(result.error)
    assert fake_api.effects() == [] and fake_api.requests("feedback") == []
    ok = run(make_client, SqlOutcomeSource(engine=case_db.engine), case_db.engine, max_reject_ratio=0.1)
    assert ok.ok, ok.error
    assert applied(fake_api) == {f"a{i}": 1 for i in range(100)}


def test_5c_sqlite_bounds_with_a_fraction_of_a_second_keep_the_row_just_before_the_end(case_db, fake_api, make_client):
    """Item 5: SQLite's datetime() drops fractions: an end of 10:00:00.5 still reads 10:00:00.25."""
    case_db.add(outcome("c1", "a1", "suspected_fraud", "2026-11-18T10:00:00.250Z"))
    seed_states(fake_api, none=["a1"])
    end = datetime(2026, 11, 18, 10, 0, 0, 500000, tzinfo=UTC)
    result = run(make_client, SqlOutcomeSource(engine=case_db.engine), case_db.engine, DAY, end)
    assert result.ok, result.error
    assert applied(fake_api) == {"a1": 1}


def test_6d_the_operator_takes_max_field_chars_for_a_file_in_object_storage(env, memory, fake_api):  # noqa: F811
    """Item 6 (and 7) through the operator: ``max_field_chars`` reaches the CSV source, and a
    byte that is not UTF-8 in an object-storage file is a reject too."""
    fs, root = memory
    lines = [csv_line("c1", "a1", "z" * 100), csv_line("c2", "a2", "bad @@ byte")]
    lines += [csv_line(f"c{i}", f"a{i}", "fine") for i in range(3, 41)]
    fs.pipe(f"/{root}/export.csv", (HEADER + "".join(lines)).encode().replace(b"@@", b"\xff"))
    seed_states(fake_api, none=[f"a{i}" for i in range(1, 41)])
    op = HumanCaseReconciliationOperator(task_id="reconcile", source_path=f"memory://{root}/export.csv",
                                         max_field_chars="64", interval_start=DAY.isoformat(),
                                         interval_end=NEXT_DAY.isoformat(), verify_after_seconds=0.0)  # fmt: skip
    op.execute({"ti": FakeTI()})
    assert applied(fake_api) == {f"a{i}": 1 for i in range(3, 41)}
    assert {r["case_id"]: r["reason"] for r in env.rejects()} == {"c1": "csv_field_too_long", "c2": "invalid_text"}
