"""CSV / JSON Lines sources, column mapping, and outcome validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_human.client import HumanInputError
from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Rejected, RejectReason, Verdict, parse_outcome
from airflow_provider_human.reconciliation.sources import FileOutcomeSource, SqlOutcomeSource
from airflow_provider_human.reconciliation.staging import OutcomeStaging
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome


def test_csv_source_filters_to_the_interval_and_keeps_bad_dates(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "case_id,account_id,attack_type,verdict,closed_at,comment\n"
        "c1,a1,ato,legitimate,2026-11-18T10:00:00Z,\n"
        "c2,a2,fa,confirmed_fraud,2026-11-17T10:00:00Z,yesterday\n"
        "c3,a3,ato,legitimate,not a date,\n"
    )
    rows = list(FileOutcomeSource(str(path)).iter_rows(DAY, NEXT_DAY))
    assert [r["case_id"] for r in rows] == ["c1", "c3"]
    assert rows[0]["comment"] is None


def test_jsonl_source_with_renamed_columns_and_a_broken_line(tmp_path):
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps(
            {"id": "c1", "user": "a1", "type": "fa", "outcome": "confirmed_fraud", "closed": "2026-11-18T01:00:00Z"}
        ),
        "{not json",
        "",
    ]
    path.write_text("\n".join(lines))
    columns = {
        "case_id": "id",
        "account_id": "user",
        "attack_type": "type",
        "verdict": "outcome",
        "closed_at": "closed",
    }
    rows = list(FileOutcomeSource(str(path), columns).iter_rows(DAY, NEXT_DAY))
    parsed = [parse_outcome(r) for r in rows]
    assert isinstance(parsed[0], CaseOutcome) and parsed[0].attack_type is AttackType.FAKE_ACCOUNT
    assert isinstance(parsed[1], Rejected) and parsed[1].reason == "unparseable_row"


def test_unknown_column_mapping_is_an_input_error(tmp_path):
    with pytest.raises(HumanInputError, match="columns='customer'"):
        list(FileOutcomeSource(str(tmp_path / "x.csv"), {"customer": "c"}).iter_rows(DAY, NEXT_DAY))


def test_sql_source_reads_renamed_columns_in_chunks(case_db):
    case_db.add(*[outcome(f"c{i}", f"a{i}", "legitimate") for i in range(25)], outcome("late", "z", "legitimate",
                "2026-11-19T00:00:00Z"))  # fmt: skip
    source = SqlOutcomeSource(engine=case_db.engine, chunk_size=7)
    assert sorted(r["case_id"] for r in source.iter_rows(DAY, NEXT_DAY)) == sorted(f"c{i}" for i in range(25))


def test_sql_source_bounds_given_with_an_offset_are_the_same_moments_in_utc(case_db):
    # [2026-11-18T02:00+02:00, 2026-11-19T02:00+02:00) is [00:00Z, 00:00Z): read in UTC, not by wall clock
    case_db.add(outcome("in", "a1", "legitimate", "2026-11-18T00:30:00Z"),
                outcome("after", "a2", "legitimate", "2026-11-19T01:30:00Z"),  # before 02:00 on the wall clock
                outcome("before", "a3", "legitimate", "2026-11-17T23:30:00Z"))  # fmt: skip
    plus_two = timezone(timedelta(hours=2))
    start, end = datetime(2026, 11, 18, 2, tzinfo=plus_two), datetime(2026, 11, 19, 2, tzinfo=plus_two)
    assert [r["case_id"] for r in SqlOutcomeSource(engine=case_db.engine).iter_rows(start, end)] == ["in"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"case_id": None, "account_id": "a", "attack_type": "ato", "verdict": "legitimate", "closed_at": "2026-11-18"},
         "missing_case_id"),
        ({"case_id": "c", "account_id": "  ", "attack_type": "ato", "verdict": "legitimate", "closed_at": "2026-11-18"},
         "missing_account_id"),
        ({"case_id": "c", "account_id": "a", "attack_type": "ato", "verdict": "LEGIT", "closed_at": "2026-11-18"},
         "unknown_verdict"),
    ],
)  # fmt: skip
def test_each_reject_reason(raw, reason):
    parsed = parse_outcome(raw)
    assert isinstance(parsed, Rejected) and parsed.reason == reason


def test_timestamps_become_utc_and_keys_are_fixed_width():
    parsed = parse_outcome({"case_id": "c", "account_id": "a", "attack_type": "fake_account",
                            "verdict": "Confirmed_Fraud", "closed_at": "2026-11-18T12:00:00+05:00"})  # fmt: skip
    assert parsed.closed_at == datetime(2026, 11, 18, 7, tzinfo=UTC)
    assert parsed.closed_at_key == "2026-11-18T07:00:00.000000Z"


def test_staging_groups_per_account_and_type_latest_first(tmp_path):
    def make(case, account, hour, attack=AttackType.ATO):
        return CaseOutcome(case, account, attack, Verdict.LEGITIMATE, datetime(2026, 11, 18, hour, tzinfo=UTC))

    with OutcomeStaging(str(tmp_path)) as staging:
        for o in (
            make("c1", "b", 1),
            make("c2", "a", 5),
            make("c3", "a", 9),
            make("c4", "a", 7, AttackType.FAKE_ACCOUNT),
        ):
            staging.add(o)
        groups = [(w.case_id, [s.case_id for s in sup]) for w, sup in staging.grouped()]
        path = staging.path
    assert groups == [("c3", ["c2"]), ("c4", []), ("c1", [])]
    assert not (tmp_path / path).exists()


@pytest.mark.parametrize("bad", [".", ".."])
def test_a_dot_segment_account_id_is_a_reject_not_a_lookup(bad):
    parsed = parse_outcome({"case_id": "c1", "account_id": bad, "attack_type": "ato", "verdict": "legitimate",
                            "closed_at": "2026-11-18T07:00:00Z"})  # fmt: skip
    assert isinstance(parsed, Rejected) and parsed.reason is RejectReason.INVALID_ACCOUNT_ID
    assert "dot-segment" in parsed.detail
