"""A proxy requests cannot use, met by the day's upload (issue 25 item 9), judged by the fake's effects.

Before: the upload was in doubt with 0 requests sent; its verification could not look up either,
and the `manually_identified_and_resolved` went to a person, where "Mark as applied" would lose it.
"""

from __future__ import annotations

import pytest

from airflow_provider_human.exceptions import HumanConfigError, HumanNonRetryableError, ReconciliationIncompleteError
from tests.reconciliation.conftest import outcome
from tests.reconciliation.test_engine import seed_states
from tests.reconciliation.test_why import effects

UPLOAD = ("a1", "ato", "resolved", "manually_identified_and_resolved")


@pytest.fixture
def proxy_env(monkeypatch):
    """Sets the worker's HTTP_PROXY (the fake is plain HTTP on 127.0.0.1); nothing bypasses it."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    return lambda value: monkeypatch.setenv("HTTP_PROXY", value)


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1080", "ftp://127.0.0.1:21", "http://127.0.0.1:99999"])
def test_item9_an_unusable_proxy_leaves_the_upload_planned_never_in_doubt_or_for_a_person(
    proxy, case_db, fake_api, reconcile, make_client, proxy_env, monkeypatch
):
    case_db.add(outcome("c1", "a1", "confirmed_fraud"))
    seed_states(fake_api, none=["a1"])  # confirmed fraud, no incident: manually_identified_and_resolved
    fake_api.configure(failure_rate=1.0, failure_status=429, fault_kinds=["feedback"])
    _, first = reconcile(check=False, client=make_client(max_retries=0))  # decided and planned; HUMAN said 429
    assert isinstance(first.error, ReconciliationIncompleteError)
    assert [r["state"] for r in case_db.ledger_rows()] == ["planned"]
    fake_api.configure(failure_rate=0.0)
    proxy_env(proxy)  # the worker's environment changed before the retry
    report, second = reconcile(check=False, client=make_client(max_retries=3))
    assert isinstance(second.error, HumanConfigError) and isinstance(second.error, HumanNonRetryableError)
    assert "HTTP_PROXY" in str(second.error) and "nothing was sent" in str(second.error)
    rows = case_db.ledger_rows()
    assert [(r["state"], r["batch_id"], r["review"]) for r in rows] == [("planned", None, None)]
    assert report.counts["in_doubt"] == 0 and report.counts["needs_review"] == 0 and not report.for_review
    assert effects(fake_api) == {} and len(fake_api.requests("feedback")) == 1  # only the first try's 429
    monkeypatch.delenv("HTTP_PROXY")  # the setting fixed: the next try sends it, once
    reconcile(client=make_client())
    assert effects(fake_api) == {UPLOAD: 1} and [r["state"] for r in case_db.ledger_rows()] == ["sent"]
