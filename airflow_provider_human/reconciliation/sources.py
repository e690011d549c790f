"""Where case outcomes come from: a SQL table (any common-sql connection) or a CSV / JSON Lines file.

Sources yield raw rows (dicts with the logical field names) for one interval, in chunks,
never the whole export at once. Validation happens later, so a bad row becomes a reject
instead of an exception.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.reconciliation.db_errors import is_unknown_hook_type, missing_provider
from airflow_provider_human.reconciliation.ledger.dialect import for_source
from airflow_provider_human.reconciliation.outcomes import (
    FIELDS,
    SOURCE_REJECT_KEY,
    UNPARSEABLE_ROW_KEY,
    RejectReason,
    as_utc,
    escaped,
    parse_timestamp,
)

#: A CSV field longer than this is a reject (``csv_field_too_long``): no case field is this long,
#: an unbalanced quote that swallowed the rows after it is.
MAX_FIELD_CHARS = 4096
# Text that is not UTF-8 is read, not raised: each bad byte becomes one lone surrogate
# (U+DC80-U+DCFF), which validation rejects with its position instead of failing the whole day.
_DECODE_ERRORS = "surrogateescape"


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
    try:
        hook = conn.get_hook()
    except Exception as exc:  # Airflow's AirflowException, whose text is all that tells it apart
        if is_unknown_hook_type(exc, conn.conn_type):
            raise missing_provider(conn_id, conn.conn_type) from exc
        raise
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

    ``closed_at`` is compared in UTC whatever the column holds: on PostgreSQL the read runs in
    a UTC session (a ``timestamp without time zone`` is UTC, as the docs say, not the session
    zone's wall clock); on SQLite text is normalised by ``datetime()`` and compared with UTC
    bounds. Text that is not UTF-8 in a SQLite column is read with the bad bytes escaped.
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
        start, end = as_utc(start), as_utc(end)
        backend = for_source(engine)  # how this database compares times and reads text
        where = backend.closed_in(closed, start, end)
        query = sa.select(*(table.c[actual].label(logical) for logical, actual in names.items())).where(where)
        with engine.connect() as conn, backend.reading(conn):
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
    #: CSV: a field longer than this many characters makes its row a reject naming its line.
    max_field_chars: int = MAX_FIELD_CHARS

    def describe(self) -> str:
        return f"file {self.path}"

    def iter_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        names = column_map(self.columns)
        kind = self.format or ("csv" if str(self.path).lower().endswith(".csv") else "jsonl")
        if kind not in ("csv", "jsonl"):
            raise HumanInputError("format", kind, "must be csv or jsonl")
        with _open_text(self.path) as handle:
            records = _csv_records(handle, self.max_field_chars) if kind == "csv" else _jsonl_records(handle)
            for record in records:
                if UNPARSEABLE_ROW_KEY in record:
                    yield record
                    continue
                row = {logical: record.get(actual) for logical, actual in names.items()}
                if SOURCE_REJECT_KEY in record:
                    row[SOURCE_REJECT_KEY] = record[SOURCE_REJECT_KEY]
                closed_at = parse_timestamp(row["closed_at"])
                if closed_at is not None and not (start <= closed_at < end):
                    continue
                yield row


class _Lines:
    """The file's physical lines for ``csv.reader``, numbered, with the ones a record used kept
    so that a record spanning lines can give back all but its first line to be read again."""

    def __init__(self, handle: Iterable[str]) -> None:
        self._handle = iter(handle)
        self._again: list[str] = []  # given back, last line first
        self.taken: list[str] = []
        self.number = 0  # of the last line handed out

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._again.pop() if self._again else next(self._handle)
        self.number += 1
        self.taken.append(line)
        return line

    def take(self) -> list[str]:
        taken, self.taken = self.taken, []
        return taken

    def give_back(self, lines: list[str]) -> None:
        self._again.extend(reversed(lines))
        self.number -= len(lines)


def _csv_records(handle: io.TextIOBase, max_field_chars: int = MAX_FIELD_CHARS) -> Iterator[dict[str, Any]]:
    """Rows as dicts by header name, ``""`` as ``None``; a broken row is a reject naming its line.

    A quoted field may not span lines: one unbalanced quote would swallow every row up to the
    next quote into one field. Such a row is rejected (``csv_row_spans_lines``, its fields as
    its first line holds them) and the lines after its first are read again as rows.
    """
    lines = _Lines(handle)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    lines.take()
    while True:
        first = lines.number + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field beyond the csv module's own limit
            taken = lines.take()
            lines.give_back(taken[1:])
            yield {UNPARSEABLE_ROW_KEY: f"line {first}: {exc}: {escaped(taken[0] if taken else '', 80)}"}
            continue
        taken = lines.take()
        if len(taken) > 1:
            lines.give_back(taken[1:])
            record = _csv_record(header, _fields_of_line(taken[0]))
            record[SOURCE_REJECT_KEY] = (
                RejectReason.CSV_ROW_SPANS_LINES.value,
                f"line {first}: a quoted field does not end on its line (an unbalanced quote?); "
                "the lines after it are read as rows of their own",
            )
            yield record
            continue
        if not fields:
            continue  # a blank line
        record = _csv_record(header, fields)
        for name, value in zip(header, fields, strict=False):
            if len(value) > max_field_chars:
                record[SOURCE_REJECT_KEY] = (
                    RejectReason.CSV_FIELD_TOO_LONG.value,
                    f"line {first}: field {escaped(name, 40)!r} holds {len(value)} characters, more than "
                    f"max_field_chars={max_field_chars}",
                )
                break
        yield record


def _csv_record(header: list[str], fields: list[str]) -> dict[str, Any]:
    """Like ``csv.DictReader``: missing fields absent, extra fields dropped, ``""`` as ``None``."""
    return {k: (v if v != "" else None) for k, v in zip(header, fields, strict=False)}


def _fields_of_line(line: str) -> list[str]:
    """One physical line's fields, its open quoted field cut at the line's end."""
    try:
        return next(csv.reader([line.rstrip("\r\n")]), [])
    except csv.Error:
        return []


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

        return ObjectStoragePath(path).open("r", encoding="utf-8", newline="", errors=_DECODE_ERRORS)
    local = str(path).removeprefix("file://")
    return open(local, encoding="utf-8", newline="", errors=_DECODE_ERRORS)
