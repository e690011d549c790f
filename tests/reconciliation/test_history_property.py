"""Property: whatever the days, re-closes, reversals, edits and run orders, Account Defender is
told at most one opening incident per (case, account, attack type), and the last feedback it
applied for an (account, attack type) means what the latest verdict means, unless a review
item in the ledger says why not. Judged by the fake API's applied effects."""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_human.client import ClientSettings, HumanClient
from airflow_provider_human.exceptions import ReconciliationNeedsAttentionError
from airflow_provider_human.reconciliation.engine import Reconciler, ReconcileSettings
from airflow_provider_human.reconciliation.ledger import Ledger
from airflow_provider_human.reconciliation.sources import SqlOutcomeSource
from airflow_provider_human.testing.fake_api import FakeHumanAPI
from tests.conftest import TOKEN
from tests.reconciliation.conftest import CaseDB

DAYS = [datetime(2026, 11, 16 + d, tzinfo=UTC) for d in range(3)]
ACCOUNTS = ["a0", "a1", "a2"]
VERDICTS = ["confirmed_fraud", "legitimate", "suspected_fraud"]
OPENING = {"manually_identified", "manually_identified_and_resolved", None}  # None: status pending
FRAUD_RESULTS = {"manually_identified", "manually_identified_and_resolved", "resolved", None}

outcomes = st.lists(
    st.tuples(
        st.integers(0, 3),  # case number: the same case may close on several days (re-closed)
        st.sampled_from(ACCOUNTS),
        st.integers(0, len(DAYS) - 1),  # day
        st.integers(1, 20),  # hour
        st.sampled_from(VERDICTS),
    ),
    min_size=1,
    max_size=7,
)
scenario = st.fixed_dictionaries(
    {
        "outcomes": outcomes,
        "pending": st.sets(st.sampled_from(ACCOUNTS)),  # accounts AD already flags (ATO) at the start
        "runs": st.lists(st.integers(0, len(DAYS) - 1), min_size=1, max_size=6),  # days, in run order
        "edits": st.lists(st.tuples(st.integers(0, 6), st.sampled_from(VERDICTS)), max_size=2),
        "edit_after": st.integers(0, 6),  # edits happen after this many runs
    }
)


def _apply_edits(db: CaseDB, rows: list[tuple], edits: list[tuple[int, str]]) -> None:
    with db.engine.begin() as conn:
        for index, verdict in edits:
            if index < len(rows):
                case_id, _, _, _, closed_at, _ = rows[index]
                conn.exec_driver_sql("UPDATE case_outcomes SET verdict = ? WHERE case_id = ? AND closed_at = ?",
                                     (verdict, case_id, closed_at))  # fmt: skip


@settings(
    max_examples=int(__import__("os").environ.get("HUMAN_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenario)
def test_history_keeps_one_incident_per_case_and_the_latest_meaning(s):
    with tempfile.TemporaryDirectory(prefix="human-history-") as tmp, FakeHumanAPI(token=TOKEN) as api:
        db = CaseDB(Path(tmp) / "cases.sqlite")
        rows = {}
        for case, account, day, hour, verdict in s["outcomes"]:
            closed = (DAYS[day] + timedelta(hours=hour)).isoformat()
            rows[(f"K{case}", account, closed)] = (f"K{case}", account, "ato", verdict, closed, None)
        rows = list(rows.values())
        db.add(*rows)
        api.seed_accounts([{"account_id": a, "incidents": [{"attack_type": "ato"}]} for a in s["pending"]])
        api.seed_accounts([{"account_id": a} for a in ACCOUNTS if a not in s["pending"]])
        client = HumanClient(ClientSettings(token=TOKEN, base_url=api.url, requests_per_second=1000))
        seen: dict[int, list[dict]] = {}  # day -> the export's rows of that day when it last ran
        try:
            for n, day in enumerate(s["runs"]):
                if n == s["edit_after"]:
                    _apply_edits(db, rows, s["edits"])
                seen[day] = [
                    r for r in _export(db) if datetime.fromisoformat(r["closed_at"]).date() == DAYS[day].date()
                ]
                reconciler = Reconciler(client, SqlOutcomeSource(engine=db.engine), Ledger(db.engine),
                                        settings=ReconcileSettings(wait_for_others_seconds=0.0))  # fmt: skip
                result = reconciler.run(DAYS[day], DAYS[day] + timedelta(days=1), f"run-{n}")
                assert result.ok or isinstance(result.error, ReconciliationNeedsAttentionError), result.error
        finally:
            client.close()
        ledger = db.ledger_rows()
        db.engine.dispose()
        _check(api, ledger, [row for rows_of_day in seen.values() for row in rows_of_day])


def _export(db: CaseDB) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM case_outcomes")]


def _check(api: FakeHumanAPI, ledger: list[dict], export: list[dict]) -> None:
    """``export``: each day's rows as they were when that day last ran (an edit no run saw is not a verdict yet)."""
    # 1. Each applied opening effect is a ledger row sent with an opening upload, one per case at most.
    opened = Counter(
        e["account_id"] for e in api.effects() if e["status"] == "pending" or e["result"] in OPENING - {None}
    )
    sent_opening = [r for r in ledger if r["state"] == "sent" and (r["feedback_status"] == "pending"
                                                                   or r["feedback_result"] in OPENING - {None})]  # fmt: skip
    assert opened == Counter(r["account_id"] for r in sent_opening), (opened, sent_opening)
    per_case = Counter((r["case_id"], r["account_id"], r["attack_type"]) for r in sent_opening)
    assert max(per_case.values(), default=0) <= 1, per_case

    # 2. The last feedback applied for an account means what its latest verdict (of the days run) means,
    #    unless the ledger holds an item for a person about that account.
    last_effect: dict[str, dict] = {}
    for effect in api.effects():
        last_effect[effect["account_id"]] = effect
    latest: dict[str, dict] = {}
    for row in sorted(export, key=lambda r: r["closed_at"]):
        latest[row["account_id"]] = row
    review = defaultdict(list)
    for r in ledger:
        if r["state"] in ("needs_review", "failed"):
            review[r["account_id"]].append(r)
    for account, effect in last_effect.items():
        verdict = latest[account]["verdict"] if account in latest else None
        said_fraud = effect["status"] == "pending" or effect["result"] in FRAUD_RESULTS
        if verdict is None or said_fraud == (verdict != "legitimate"):
            continue
        assert review[account], (account, verdict, effect, [r for r in ledger if r["account_id"] == account])
