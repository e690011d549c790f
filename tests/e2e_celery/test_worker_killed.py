"""Four days backfilled on two Celery workers; one worker SIGKILLed while its uploads are in flight (issue 28).

HUMAN (the fake) holds every feedback upload until both workers' tasks have one in flight;
then one worker dies as a machine would (its process group and its tasks' groups), HUMAN
applies what it held, and Airflow retries the dead worker's tasks on the other worker. Judged
by what HUMAN applied, the ledger, and Airflow's REST API.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

import pytest
import sqlalchemy as sa

from airflow_provider_human.reconciliation.ledger.states import NEEDS_A_PERSON
from airflow_provider_human.reconciliation.sharding import shard_of
from tests.e2e.expected import expected_for
from tests.e2e_celery.conftest import DAG_ID, DAYS, SHARDS, WORKERS, worker_name
from tests.support.demo_cases import case_rows

pytestmark = pytest.mark.e2e

RECONCILE = "reconcile_case_outcomes"
ROWS, _ = case_rows(DAYS)
DAY_OF_ACCOUNT = {row[1]: row[4][:10] for row in ROWS if row[1]}
DAY_OF_CASE = {row[0]: row[4][:10] for row in ROWS}
VICTIM, SURVIVOR = (worker_name(w) for w in WORKERS)


def _runs(stack) -> dict[str, dict]:
    """Day -> its backfill run."""
    runs = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
    return {r["data_interval_start"][:10]: r for r in runs if r["run_type"] == "backfill"}


def _reconcile_tis(stack, runs: dict[str, dict]) -> dict[tuple[str, int], dict]:
    """(day, shard) -> its reconcile task instance (the latest try)."""
    day_of_run = {run["dag_run_id"]: day for day, run in runs.items()}
    body = stack.rest("GET", f"/dags/{DAG_ID}/dagRuns/~/taskInstances", params={"limit": 200})
    return {(day_of_run[ti["dag_run_id"]], ti["map_index"]): ti for ti in body["task_instances"]
            if ti["task_id"] == RECONCILE and ti["dag_run_id"] in day_of_run}  # fmt: skip


def _held(fake) -> set[tuple[str, int]]:
    """(day, shard) of every upload HUMAN holds."""
    return {(DAY_OF_ACCOUNT[a], shard_of(a, SHARDS)) for e in fake.held() for a in e["body"]["accountIds"]}


def _in_flight_on_both(stack, fake) -> dict[str, list[dict]] | None:
    """Worker -> its running reconcile tasks, once each worker runs one whose upload HUMAN holds."""
    held = _held(fake)
    if not held:
        return None
    running: dict[str, list[dict]] = {}
    uploading: set[str] = set()
    for key, ti in _reconcile_tis(stack, _runs(stack)).items():
        if ti["state"] == "running":
            running.setdefault(ti["hostname"], []).append(ti)
            if key in held:
                uploading.add(ti["hostname"])
    return running if {VICTIM, SURVIVOR} <= uploading else None


def _ended(stack, backfill_id: int) -> dict[str, dict] | None:
    if not stack.rest("GET", f"/backfills/{backfill_id}")["completed_at"]:
        return None
    runs = _runs(stack)
    return runs if set(runs) == set(DAYS) and all(r["state"] in ("success", "failed") for r in runs.values()) else None


def _tries(stack, ti: dict) -> list[dict]:
    path = f"/dags/{DAG_ID}/dagRuns/{ti['dag_run_id']}/taskInstances/{RECONCILE}/{ti['map_index']}/tries"
    return stack.rest("GET", path)["task_instances"]


def _log(stack, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    params = {"full_content": "true", "map_index": map_index}
    return str(stack.rest("GET", path, params=params, headers={"Accept": "application/json"}))


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _ledger_states(url: str) -> dict[str, str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT case_id, state FROM human_feedback_ledger")).all())
    finally:
        engine.dispose()


def _left_behind(url: str, victims: list[dict], label: dict[str, str]) -> dict[str, dict[str, int]]:
    """(day[shard]) of each dead task -> its ledger rows by state, as the kill left them."""
    account_of = {row[0]: row[1] for row in ROWS}
    left: dict[str, dict[str, int]] = {}
    for victim in victims:
        day, shard = label[victim["dag_run_id"]], victim["map_index"]
        mine = [state for case, state in _ledger_states(url).items()
                if DAY_OF_CASE.get(case) == day and account_of.get(case) and shard_of(account_of[case], SHARDS) == shard]  # fmt: skip
        left[f"{day}[{shard}]"] = dict(Counter(mine)) or {"nothing claimed": 0}
    return left


def test_a_celery_worker_killed_mid_upload_leaves_nothing_applied_twice_and_its_tasks_finish_on_the_other(
    celery_provisioned, celery_fake_api, cases_db, timings
):
    stack, fake = celery_provisioned, celery_fake_api
    fake.configure(hold_feedback="before_apply")  # HUMAN sits on every upload until released
    began = time.monotonic()
    backfill = stack.create_backfill({"dag_id": DAG_ID, "from_date": f"{DAYS[0]}T00:00:00Z",
                                      "to_date": f"{DAYS[-1]}T00:00:00Z", "max_active_runs": len(DAYS),
                                      "dag_run_conf": {"shards": SHARDS}})  # fmt: skip

    # Tasks of different days on both workers at once, each worker with an upload in flight.
    at_kill = stack.wait_for("uploads in flight from both workers' tasks", lambda: _in_flight_on_both(stack, fake),
                             timeout=600, every=0.5)  # fmt: skip
    timings["backfill created to uploads in flight on both workers"] = time.monotonic() - began
    days_at_once = {ti["dag_run_id"] for tis in at_kill.values() for ti in tis}
    assert set(at_kill) == {VICTIM, SURVIVOR} and len(days_at_once) >= 2, at_kill
    label = {r["dag_run_id"]: day for day, r in _runs(stack).items()}
    running = {w: [f"{label[t['dag_run_id']]}[{t['map_index']}]" for t in tis] for w, tis in at_kill.items()}
    print(f"\nat the kill, running reconcile tasks: {running}; {len(fake.held())} uploads held by HUMAN")

    held = _held(fake)  # nothing is released before the kill: these uploads are in flight at it
    groups = stack.kill_tree(f"worker-{WORKERS[0]}")
    killed_at, killed_wall = time.monotonic(), time.time()
    victims = at_kill[VICTIM]
    print(f"the dead worker left in the ledger: {_left_behind(cases_db, victims, label)}")
    fake.configure(hold_feedback=None)
    fake.release(apply=True)  # HUMAN applies every upload it held: the dead worker's tasks never hear back
    print(f"SIGKILLed {VICTIM}: process groups {groups}; its running tasks: {running[VICTIM]}")

    runs = stack.wait_for(f"backfill {backfill['id']} to complete", lambda: _ended(stack, backfill["id"]),
                          timeout=1200, every=2.0)  # fmt: skip
    timings["kill to backfill complete"] = time.monotonic() - killed_at
    timings["backfill"] = time.monotonic() - began

    # The dead worker's tasks: failed on it (no heartbeat), retried and finished on the survivor.
    tis = _reconcile_tis(stack, runs)
    retried = []
    for victim in victims:
        day = label[victim["dag_run_id"]]
        final = tis[(day, victim["map_index"])]
        tries = _tries(stack, final)
        assert final["state"] == "success" and final["try_number"] > 1, (final, tries)
        assert final["hostname"] == SURVIVOR, (final, tries)
        assert [t["hostname"] for t in tries if t["try_number"] == victim["try_number"]] == [VICTIM], tries
        if (day, victim["map_index"]) in held:  # it left its in-flight batch behind: the retry takes it over
            story = _log(stack, final["dag_run_id"], RECONCILE, final["try_number"], map_index=victim["map_index"])
            assert "Adopted" in story and "unfinished outcomes" in story, story[-3000:]
        started, ended = (_seconds(final[k]) - killed_wall for k in ("start_date", "end_date"))
        retried.append(f"{day}[{victim['map_index']}] try {final['try_number']} ran {started:.0f}-{ended:.0f} s after")
    print(f"retried on {SURVIVOR}: {'; '.join(retried)} the kill")
    spans = sorted(round(_seconds(t["end_date"]) - _seconds(t["start_date"])) for t in tis.values())
    print(
        f"reconcile tasks' last tries took {spans} s; {len(fake.requests('v2'))} lookups, "
        f"{len(fake.requests('feedback'))} uploads in {timings['backfill']:.0f} s"
    )

    # Every expected feedback applied exactly once, or listed for a person; nothing else applied.
    expected = expected_for(DAYS, DAYS)
    applied = Counter((e["account_id"], e["attackType"], e["status"], e["result"]) for e in fake.effects())
    states = _ledger_states(cases_db)
    for_review = {case for case, state in states.items() if state in {s.value for s in NEEDS_A_PERSON}}
    review_accounts = {row[1] for row in ROWS if row[0] in for_review}
    assert not {k: n for k, n in applied.items() if n > 1}, "applied more than once"
    assert set(applied) <= set(expected.uploads), set(applied) - set(expected.uploads)
    missing = [key for key in expected.uploads if not applied[key]]
    assert {account for account, *_ in missing} <= review_accounts, (missing, for_review)

    # Every run green, or failed by day_done naming what is left for a person.
    for day, run in runs.items():
        waiting = sorted(c for c in for_review if DAY_OF_CASE[c] == day)
        if run["state"] == "success":
            assert not waiting, (day, waiting)
            continue
        assert waiting, (day, run)
        log = _log(stack, run["dag_run_id"], "day_done", 1)
        assert f"{len(waiting)} item" in log and "wait for a person" in log, log[-3000:]
    print(f"runs: {({d: r['state'] for d, r in runs.items()})}; applied {sum(applied.values())} of "
          f"{len(expected.uploads)} expected feedbacks; listed for review: {sorted(for_review)}")  # fmt: skip

    # The connection's requests_per_second is the account's limit: concurrent tasks together stay under it.
    rate_limited = [r for r in fake.requests() if r.get("status") == 429]
    print(f"429 answers: {len(rate_limited)} of {len(fake.requests())} API requests")
    assert not rate_limited, f"HUMAN answered 429 {len(rate_limited)} times"
