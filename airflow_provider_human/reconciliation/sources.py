"""Where case outcomes come from: a SQL table (any common-sql connection) or a CSV / JSON Lines file.

Sources yield raw rows (dicts with the logical field names) for one interval, in chunks,
never the whole export at once. Validation happens later, so a bad row becomes a reject
instead of an exception.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.reconciliation.outcomes import FIELDS, UNPARSEABLE_ROW_KEY, parse_timestamp


class OutcomeSource(Protocol):
    def describe(self) -> str: ...

    def iter_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]: ...


def column_map(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Logical field -> the export's column name; unknown logical names are an input error."""
    mapping = {name: name for name in FIELDS}
    for logical, actual in (columns or {}).items():
        if logical not in mapping:
            raise HumanInputError("columns", logical, f"unknown field; known: {list(FIELDS)}")
        if not isinstance(actual, str) or not actual.strip():
            raise HumanInputError(f"columns.{logical}", actual, "must be a column name")
        mapping[logical] = actual
    return mapping


def sql_engine(conn_id: str, **engine_kwargs: Any) -> sa.Engine:
    """A SQLAlchemy engine for any Airflow SQL connection (common-sql ``DbApiHook``)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    hook = conn.get_hook()
    if not hasattr(hook, "get_sqlalchemy_engine"):
        raise HumanInputError("conn_id", conn_id, "is not a SQL connection (needs a common-sql DbApiHook)")
    if conn.conn_type == "sqlite":
        # Several reconciliations may write one SQLite file at once: wait for the lock, do not fail.
        engine_kwargs.setdefault("connect_args", {"timeout": 120})
    return hook.get_sqlalchemy_engine(engine_kwargs=engine_kwargs)


@dataclass
class SqlOutcomeSource:
    """Rows of ``table`` whose ``closed_at`` is in ``[start, end)``, streamed ``chunk_size`` at a time.

    Rows whose ``closed_at`` is NULL (or, on SQLite's text columns, unparseable) cannot be
    placed in any interval: they are read by every run so they show up as rejects until fixed.
    """

    conn_id: str = "human_case_db"
    table: str = "case_outcomes"
    columns: Mapping[str, str] | None = None
    chunk_size: int = 10_000
    engine: sa.Engine | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"SQL table {self.table} on connection {self.conn_id}"

    def iter_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        engine = self.engine or sql_engine(self.conn_id)
        names = column_map(self.columns)
        schema, _, name = self.table.rpartition(".")
        table = sa.table(name, *(sa.column(c) for c in names.values()), schema=schema or None)
        closed = table.c[names["closed_at"]]
        if engine.dialect.name == "sqlite":
            normalised = sa.func.datetime(closed)  # UTC text, NULL when unparseable
            low, high = (t.strftime("%Y-%m-%d %H:%M:%S") for t in (start, end))
            where = sa.or_(sa.and_(normalised >= low, normalised < high), normalised.is_(None))
        else:
            where = sa.or_(sa.and_(closed >= start, closed < end), closed.is_(None))
        query = sa.select(*(table.c[actual].label(logical) for logical, actual in names.items())).where(where)
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=self.chunk_size).execute(query)
            keys = list(result.keys())
            for chunk in result.partitions(self.chunk_size):
                for row in chunk:
                    yield dict(zip(keys, row, strict=True))


@dataclass
class FileOutcomeSource:
    """A CSV or JSON Lines export (local path or object-storage URL), filtered to the interval."""

    path: str
    columns: Mapping[str, str] | None = None
    format: str | None = None  # "csv" or "jsonl"; from the extension when None

    def describe(self) -> str:
        return f"file {self.path}"

    def iter_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        names = column_map(self.columns)
        kind = self.format or ("csv" if str(self.path).lower().endswith(".csv") else "jsonl")
        if kind not in ("csv", "jsonl"):
            raise HumanInputError("format", kind, "must be csv or jsonl")
        with _open_text(self.path) as handle:
            records = _csv_records(handle) if kind == "csv" else _jsonl_records(handle)
            for record in records:
                if UNPARSEABLE_ROW_KEY in record:
                    yield record
                    continue
                row = {logical: record.get(actual) for logical, actual in names.items()}
                closed_at = parse_timestamp(row["closed_at"])
                if closed_at is not None and not (start <= closed_at < end):
                    continue
                yield row


def _csv_records(handle: io.TextIOBase) -> Iterator[dict[str, Any]]:
    for record in csv.DictReader(handle):
        yield {k: (v if v != "" else None) for k, v in record.items() if k is not None}


def _jsonl_records(handle: io.TextIOBase) -> Iterator[dict[str, Any]]:
    for line in handle:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        yield record if isinstance(record, dict) else {UNPARSEABLE_ROW_KEY: line.strip()}


def _open_text(path: str):
    if "://" in str(path) and not str(path).startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(path).open("r", encoding="utf-8", newline="")
    local = str(path).removeprefix("file://")
    return open(local, encoding="utf-8", newline="")
