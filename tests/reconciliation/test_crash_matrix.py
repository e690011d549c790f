"""The crash-point matrix: a real worker process is SIGKILLed at each step of the delivery
protocol, then the interval is recovered by (a) a retry of the same task, (b) another run
of the same interval, (c) two tries at once. Judged by what the fake API applied: each
expected feedback exactly once, or listed as ``needs_review`` and applied at most once;
and no run reports success while its interval has unfinished rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.reconciliation.conftest import DAY, NEXT_DAY, outcome
from tests.reconciliation.test_engine import seed_states

MIAR = "manually_identified_and_resolved"
#: account -> the one result the decision table sends for it
EXPECTED = {"tp": "resolved", "fp": "no_attack", "mi": "manually_identified", "miar": MIAR}
CLIENT_POINTS = ("after_claim", "after_mark", "after_answer")
SERVER_HOLDS = {"before_apply": "before_apply", "after_apply": "after_apply"}
# (where the worker dies, which batch it dies in)
POINTS = [("after_claim", None)] + [
    (point, result)
    for point in ("after_mark", "before_apply", "after_apply", "after_answer")
    for result in ("resolved", "manually_identified", MIAR)
]
RECOVERIES = ("retry", "other_run", "two_at_once")
SETTINGS = {"verify_after_seconds": 0.0, "wait_for_others_seconds": 20.0, "poll_seconds": 0.1, "batch_size": 10}
CRASHED_OWNER = "dag/run-1/reconcile/-1"


class Zygote:
    """Forks pre-imported workers (tests/reconciliation/zygote.py) and reads their results."""

    def __init__(self, log_path: Path) -> None:
        root = Path(__file__).resolve().parents[2]
        read_end, write_end = os.pipe()  # pids come back on their own pipe; logs go to a file
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reconciliation.zygote", str(write_end)],
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT, text=True, cwd=root,
            pass_fds=(write_end,),
        )  # fmt: skip
        os.close(write_end)
        self.answers = os.fdopen(read_end)
        assert self.answers.readline().strip() == "ready"

    def spawn(self, **job) -> int:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(self.answers.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.answers.close()
        self.log.close()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    forks = Zygote(tmp_path_factory.mktemp("zygote") / "workers.log")
    yield forks
    forks.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _result(path: Path, timeout: float = 120.0) -> dict:
    _wait(path.exists, f"worker result {path.name}", timeout)
    return json.loads(path.read_text())


@pytest.mark.parametrize("recovery", RECOVERIES)
@pytest.mark.parametrize(("point", "crash_result"), POINTS, ids=[f"{p}-{r or 'any'}" for p, r in POINTS])
def test_sigkill_at_every_step_then_recover(zygote, case_db, fake_api, tmp_path, point, crash_result, recovery):
    case_db.add(
        outcome("c-tp", "tp", "confirmed_fraud"), outcome("c-fp", "fp", "legitimate"),
        outcome("c-mi", "mi", "suspected_fraud"), outcome("c-miar", "miar", "confirmed_fraud"),
        outcome("c-ok", "ok", "legitimate"),
    )  # fmt: skip
    seed_states(fake_api, pending=["tp", "fp"], none=["mi", "miar", "ok"])
    job = {"db_url": case_db.url, "api_url": fake_api.url, "token": TOKEN, "start": DAY.isoformat(),
           "end": NEXT_DAY.isoformat(), "settings": SETTINGS, "lease_seconds": 1.0}  # fmt: skip

    # 1. a worker dies at the point
    if point in SERVER_HOLDS:
        fake_api.configure(hold_feedback=SERVER_HOLDS[point], hold_match={"result": crash_result})
    crashed = tmp_path / "crashed.json"
    pid = zygote.spawn(**job, owner=CRASHED_OWNER, out=str(crashed),
                       crash_at=point if point in CLIENT_POINTS else None, crash_result=crash_result)  # fmt: skip
    if point in CLIENT_POINTS:
        _wait(lambda: Path(f"{crashed}.at-{point}").exists() or crashed.exists(), f"the worker to reach {point}")
    else:
        _wait(lambda: fake_api.held() or crashed.exists(), f"HUMAN to hold the {crash_result} upload {point}")
    assert not crashed.exists(), f"the worker finished without reaching {point}: {crashed.read_text()}"
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: not _alive(pid), "the killed worker to be gone", 10)
    if point in SERVER_HOLDS:
        fake_api.release(apply=point == "after_apply")  # before_apply: the body never reached HUMAN's backend
        fake_api.configure(hold_feedback=None)

    # 2. recovery
    owners = {"retry": [CRASHED_OWNER], "other_run": ["dag/run-2/reconcile/-1"],
              "two_at_once": [CRASHED_OWNER, CRASHED_OWNER]}[recovery]  # fmt: skip
    gate = tmp_path / "go"
    outs = [tmp_path / f"recovery-{n}.json" for n in range(len(owners))]
    for owner, out in zip(owners, outs, strict=True):
        zygote.spawn(**job, owner=owner, out=str(out), gate=str(gate))
    gate.touch()
    results = [_result(out) for out in outs]

    # 3. judged by what HUMAN applied
    applied = Counter((e["account_id"], e["result"]) for e in fake_api.effects())
    rows = {r["account_id"]: r for r in case_db.ledger_rows()}
    assert sum(applied.values()) == sum(applied[(a, r)] for a, r in EXPECTED.items()), applied  # nothing else
    for account, result in EXPECTED.items():
        state, times = rows[account]["state"], applied[(account, result)]
        if state == "needs_review":
            # only an in-doubt manually_identified_and_resolved may need a person, and it is never applied twice
            assert result == MIAR == crash_result and point != "after_claim", (account, state)
            assert times == (1 if point in ("after_apply", "after_answer") else 0), (account, times)
        else:
            assert (state, times) == ("sent", 1), (account, state, times, results)
    assert rows["ok"]["state"] == "noop"
    unfinished = [r for r in rows.values() if r["state"] in ("claimed", "planned", "sending", "in_doubt")]
    assert unfinished == [], unfinished
    needs_person = any(r["state"] == "needs_review" for r in rows.values())
    for result in results:
        allowed = {"ReconciliationNeedsAttentionError"} if needs_person else {None}
        if recovery == "two_at_once":
            allowed.add("ReconciliationIncompleteError")  # the one that waited for the other may give up first
        assert result["error_type"] in allowed, result
    assert any(r["error_type"] in (None, "ReconciliationNeedsAttentionError") for r in results), results
