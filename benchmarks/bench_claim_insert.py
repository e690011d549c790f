"""What one ledger row costs to claim on SQLite, apart from the engine: the floor under the ledger path.

Inserts ``--rows`` rows shaped like the engine's claims (the ledger's own DDL, 5,000-row
transactions, ``ON CONFLICT DO NOTHING`` on the unique key) into a fresh WAL file, three ways:
with every index the ledger has, with its unique key only, and in memory with no index at
all (the row itself). A fourth way measures a prospect, not the project's schema: a narrow
row that keeps only what differs from row to row (the outcome, its state and holder) and
refers to its decision and its run by number, with the same three indexes. Prints µs per
row for each.

    .venv/bin/python benchmarks/bench_claim_insert.py [--rows 300000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time

import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger import CLAIM_COLUMNS, KEY, build_tables

COLUMNS = list(CLAIM_COLUMNS)  # the ledger's own list: a new claimed column fails here, loudly


def rows(n: int) -> list[tuple]:
    """``n`` claims of one day's shape: one decision and one run for all, 10% of accounts twice."""
    accounts = int(n * 0.9)
    shared = {
        "attack_type": "ato", "fingerprint": "0123456789abcdef", "verdict": "confirmed_fraud", "comment": None,
        "state": "planned", "ad_state": "none", "decision": "upload", "reason": None, "detail": None, "review": None,
        "feedback_status": "resolved", "feedback_result": "manually_identified",
        "feedback_comment": "Reconciled by airflow-provider-human for [2026-11-18T00:00:00Z, 2026-11-19T00:00:00Z)",
        "lookup_failures": 0, "error": None, "interval_start": "2026-11-18T00:00:00.000000Z",
        "interval_end": "2026-11-19T00:00:00.000000Z", "owner": "bench/ledger",
        "holder": "0123456789abcdef0123456789abcdef", "created_at": "2026-11-22T09:00:00.000000Z",
        "updated_at": "2026-11-22T09:00:00.000000Z",
    }  # fmt: skip
    out = []
    for i in range(n):
        own = {"case_id": f"case-{i}", "account_id": f"acct-{i % accounts}",
               "closed_at": f"2026-11-18T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000000Z"}  # fmt: skip
        values = {**shared, **own}
        out.append(tuple(values[name] for name in COLUMNS))
    account = COLUMNS.index("account_id")
    out.sort(key=lambda r: r[account])  # the engine claims in account order, chunk by chunk
    return out


def ledger_file(directory: str, indexes: bool) -> str:
    path = os.path.join(directory, f"ledger-{indexes}.sqlite")
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata = sa.MetaData()
    table, _, _ = build_tables(metadata, "ledger", "rejects")
    metadata.create_all(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    if not indexes:  # keep the table and its unique key's conflict target, drop what is secondary
        for name in [i.name for i in table.indexes]:
            db.execute(f'DROP INDEX "{name}"')
    db.close()
    return path


#: The narrow row's own columns (the ledger's definitions), then two references in place of the rest.
NARROW = ["case_id", "account_id", "attack_type", "closed_at", "fingerprint", "verdict", "comment", "state", "holder"]


def narrow_file(directory: str) -> str:
    """A ledger whose rows keep NARROW and refer to their decision and run: the same unique key and indexes."""
    path = os.path.join(directory, "ledger-narrow.sqlite")
    ledger, _, _ = build_tables(sa.MetaData(), "ledger", "rejects")
    metadata = sa.MetaData()
    table = sa.Table(
        "ledger", metadata, sa.Column("id", sa.Integer, primary_key=True),
        *(ledger.c[name]._copy() for name in NARROW),
        sa.Column("decision_ref", sa.Integer), sa.Column("run_ref", sa.Integer, nullable=False),
        sa.UniqueConstraint(*KEY),
    )  # fmt: skip
    for index in ledger.indexes:  # those on its own columns (the day index's are in the decision and the run)
        if all(c.name in table.c for c in index.columns):
            sa.Index(index.name, *(table.c[c.name] for c in index.columns), **index.dialect_kwargs)
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    return path


def insert(db: sqlite3.Connection, data: list[tuple], conflict: bool, columns: list[str] = COLUMNS) -> float:
    sql = f"INSERT INTO ledger ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608 (our names)
    if conflict:
        sql += f" ON CONFLICT ({', '.join(KEY)}) DO NOTHING"
    started = time.perf_counter()
    for start in range(0, len(data), 5000):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, data[start : start + 5000])
        db.execute("COMMIT")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    n = parser.parse_args().rows
    data = rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        for label, indexes in (("every ledger index (unique key, closed_at, open rows, day)", True),
                               ("unique key only, no secondary index", False)):  # fmt: skip
            db = sqlite3.connect(ledger_file(tmp, indexes), isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            seconds = insert(db, data, conflict=True)
            db.close()
            print(f"{label:60s}: {seconds:6.2f} s, {seconds / n * 1e6:5.1f} µs/row")
        keep = [COLUMNS.index(name) for name in NARROW]
        narrow = [(*(row[i] for i in keep), 3, 7) for row in data]  # one decision and one run for all: as a day's rows
        db = sqlite3.connect(narrow_file(tmp), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        seconds = insert(db, narrow, conflict=True, columns=[*NARROW, "decision_ref", "run_ref"])
        db.close()
        label = "narrow row (a prospect), the same three indexes"
        print(f"{label:60s}: {seconds:6.2f} s, {seconds / n * 1e6:5.1f} µs/row")
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(f"CREATE TABLE ledger (id INTEGER PRIMARY KEY, {', '.join(COLUMNS)})")
    seconds = insert(db, data, conflict=False)
    print(f"{'in memory, no index at all':55s}: {seconds:6.2f} s, {seconds / n * 1e6:5.1f} µs/row")


if __name__ == "__main__":
    main()
