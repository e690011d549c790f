"""The server token never lands in an artifact: task logs, XCom, rendered fields, errors, reports, ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.reconciliation.conftest import CaseDB, outcome
from tests.reconciliation.test_engine import seed_states


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                continue
    return hits


def test_token_appears_in_no_artifact_of_a_reconciliation_and_a_lookup(airflow_db, fake_api, tmp_path):
    token = f"sec-{uuid.uuid4().hex}"
    fake_api.set_tokens(token)
    db = CaseDB(tmp_path / "cases.sqlite")
    db.add(
        outcome("c1", "a1", "confirmed_fraud", "2026-11-05T08:00:00Z"),
        outcome("c2", "a2", "legitimate", "2026-11-05T09:00:00Z"),
        outcome("c3", None, "legitimate", "2026-11-05T09:30:00Z"),  # a reject
    )
    seed_states(fake_api, pending=["a1", "a2"])
    env = os.environ.copy()
    env["AIRFLOW_CONN_HUMAN_DEFAULT"] = json.dumps({"conn_type": "human", "host": fake_api.url, "password": token})
    env["AIRFLOW_CONN_HUMAN_CASE_DB"] = json.dumps({"conn_type": "sqlite", "host": db.path})
    outputs = []
    for n, args in enumerate((
        ["dags", "test", "human_case_reconciliation", "2026-11-06", "--conf", json.dumps({"max_reject_ratio": 0.5})],
        ["dags", "test", "human_account_lookup", "--conf",
         json.dumps({"account_ids": ["a1", "a2"], "output_path": str(tmp_path / "lookups")})],
    )):  # fmt: skip
        if n == 1:  # the lookups fail with API errors, so exception texts reach the log
            fake_api.configure(failure_rate=1.0, failure_status=400, fault_kinds=["v2"])
        run = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
        outputs.append(run.stdout + run.stderr)
    assert "HUMAN reconciliation report" in outputs[0] and "Sent batch" in outputs[0]
    assert "lookups failed" in outputs[1] and "status: 400" in outputs[1]  # API error texts were logged
    assert all(token not in text for text in outputs)
    home = Path(airflow_db)  # metadata DB (XCom, rendered template fields), task logs, reports
    assert _files_containing(home, token.encode()) == []
    assert _files_containing(tmp_path, token.encode()) == []  # ledger, rejects, lookup output
    ledger_text = json.dumps(db.ledger_rows() + db.rejects(), default=str)
    assert "missing_account_id" in ledger_text and token not in ledger_text
