"""The backends behind one object each: nothing else in the package asks which database it is on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.ledger.dialect import AnySQL, PostgreSQL, SQLite, for_ledger, for_source

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_human"


def test_only_the_dialect_modules_ask_for_the_backends_name():
    """The ledger's dialect module, and once the rate budget's SQL store (a layer below the reconciliation)."""
    asking = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"dialect\.name\b", line)
    ]
    assert sorted(place.split(":")[0] for place in asking) == [
        "budget/sql.py",
        "reconciliation/ledger/dialect.py",
    ], asking


def _mysql() -> sa.Engine:
    return sa.create_mock_engine("mysql://", lambda *a, **k: None)  # type: ignore[return-value]


def test_a_third_backend_is_refused_for_the_ledger_and_read_portably_as_a_source():
    with pytest.raises(NotImplementedError, match="ledger on 'mysql' is not supported; use PostgreSQL or SQLite"):
        Ledger(_mysql())
    with pytest.raises(NotImplementedError):
        for_ledger(_mysql())
    source = for_source(_mysql())
    assert type(source) is AnySQL
    closed = sa.column("closed_at")
    start = datetime(2026, 11, 18, tzinfo=UTC)
    sql = str(source.closed_in(closed, start, start + timedelta(days=1)).compile())
    assert "datetime(" not in sql and "closed_at >=" in sql


def test_each_ledger_backend_is_its_own_object(tmp_path):
    assert isinstance(for_ledger(sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")), SQLite)
    assert isinstance(Ledger(sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")).dialect, SQLite)
    assert isinstance(for_source(sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")), SQLite)
    assert isinstance(PostgreSQL(), AnySQL)  # a ledger backend can be a source too


def test_sqlite_source_bounds_are_utc_text_whole_seconds():
    """The bounds SQLite's text is compared with: UTC, floored, the end a second later when it has a fraction."""
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2026, 11, 18, 2, 0, 0, 500, tzinfo=plus_two).astimezone(UTC)
    end = datetime(2026, 11, 19, 2, 0, 0, 1, tzinfo=plus_two).astimezone(UTC)
    where = SQLite().closed_in(sa.column("closed_at"), start, end)
    params = where.compile().params
    assert sorted(params.values()) == ["2026-11-18 00:00:00", "2026-11-19 00:00:01"]
