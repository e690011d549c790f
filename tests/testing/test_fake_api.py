"""The fake HUMAN API itself, spoken to with raw HTTP: strict where the vendor pages are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FEEDBACK = "/api/v1/account_defender/account/update_status"


def post_feedback(api, body, headers=AUTH):
    return requests.post(api.url + FEEDBACK, json=body, headers=headers, timeout=5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"accountIds": ["a"], "attackType": "bot", "status": "pending"}, "attackType"),
        ({"accountIds": ["a"], "attackType": "ato", "status": "closed"}, "status"),
        ({"accountIds": ["a"], "attackType": "ato", "status": "resolved"}, "result is required"),
        ({"accountIds": ["a"], "attackType": "ato", "status": "resolved", "result": "ok"}, "result"),
        ({"accountIds": ["a"], "attackType": "ato", "status": "pending", "result": "resolved"}, "Mismatched"),
        ({"accountIds": [], "attackType": "ato", "status": "pending"}, "accountIds"),
        ({"accountIds": ["a", 5], "attackType": "ato", "status": "pending"}, "accountIds.1"),
        ({"accountIds": ["a"], "attackType": "ato", "status": "pending", "extra": 1}, "Unknown field"),
    ],
)
def test_feedback_validation_is_strict(fake_api, body, message):
    response = post_feedback(fake_api, body)
    assert response.status_code == 400 and message in response.json()["content"]
    assert response.json()["result"] is False


def test_feedback_success_is_empty_object_and_changes_state(fake_api):
    fake_api.seed_accounts([{"account_id": "a", "incidents": [{"attack_type": "fake_account"}]}])
    response = post_feedback(fake_api, {"accountIds": ["a"], "attackType": "fa", "status": "resolved",
                                        "result": "no_attack", "comment": "fp"})  # fmt: skip
    assert (response.status_code, response.json()) == (200, {})
    assert fake_api.account("a")["incidents"][0]["status"] == "resolved"
    v2 = requests.get(fake_api.url + "/api/v2/account_defender/account/a", headers=AUTH, timeout=5).json()
    assert v2["is_under_attack"] is False and "active_incidents" not in v2


def test_false_negative_twice_opens_two_incidents(fake_api):
    body = {"accountIds": ["x"], "attackType": "ato", "status": "resolved", "result": "manually_identified"}
    post_feedback(fake_api, body)
    post_feedback(fake_api, body)
    assert len(fake_api.account("x")["incidents"]) == 2


def test_auth_failures_use_each_endpoints_documented_shape(fake_api):
    bad = {"Authorization": "Bearer nope"}
    assert post_feedback(fake_api, {}, headers=bad).status_code == 401
    v1 = requests.get(fake_api.url + "/api/v1/account_defender/account/a", headers=bad, timeout=5)
    v2 = requests.get(fake_api.url + "/api/v2/account_defender/account/a", timeout=5)
    ident = requests.put(fake_api.url + "/api/v1/identity/i", json={}, headers=bad, timeout=5)
    assert (v1.status_code, v2.status_code, ident.status_code) == (401, 403, 401)
    assert ident.json() == {"status": "error", "code": "bad_authtoken", "message": "Invalid or expired token"}


def test_v1_attack_types_validation_and_forms(fake_api):
    url = fake_api.url + "/api/v1/account_defender/account/a"
    bad = requests.get(url, params={"attack_types": "bot"}, headers=AUTH, timeout=5)
    assert bad.status_code == 400 and bad.json() == {"result": False, "content": "Invalid value: attack_types.0"}
    bad_literal = requests.get(url, params={"attack_types": "['bot']"}, headers=AUTH, timeout=5)
    assert bad_literal.status_code == 400
    for params in ({"attack_types": "['ato']"}, {"attack_types": "['ato', 'fake_account']"}, {"attack_types": "[]"}):
        assert requests.get(url, params=params, headers=AUTH, timeout=5).status_code == 200
    # the forms the page does not show are refused unless the knob allows them
    guesses = ({"attack_types": ["ato", "fake_account"]}, {"attack_types[]": "ato"})
    assert [requests.get(url, params=p, headers=AUTH, timeout=5).status_code for p in guesses] == [400, 400]
    fake_api.configure(v1_query_forms=["list_literal", "repeated", "brackets"])
    assert [requests.get(url, params=p, headers=AUTH, timeout=5).status_code for p in guesses] == [200, 200]


def test_v1_prefers_pending_then_highest_risk(fake_api):
    fake_api.seed_accounts([{"account_id": "a", "incidents": [
        {"attack_type": "ato", "status": "pending", "risk_score": 0.6},
        {"attack_type": "fake_account", "status": "archived", "risk_score": 1.0},
    ]}])  # fmt: skip
    body = requests.get(fake_api.url + "/api/v1/account_defender/account/a", headers=AUTH, timeout=5).json()
    assert (body["is_under_attack"], body["risk_score"]) == (True, 60)
    assert "is_manually_created" not in body


def test_v2_days_range_validated(fake_api):
    url = fake_api.url + "/api/v2/account_defender/account/a"
    assert requests.get(url, params={"days_range": "x"}, headers=AUTH, timeout=5).status_code == 400
    assert requests.get(url, params={"days_range": "0"}, headers=AUTH, timeout=5).status_code == 400


def test_identity_errors_use_the_documented_shape(fake_api):
    fake_api.seed_identities([{"id": "i1"}])
    url = fake_api.url + "/api/v1/identity/i1"
    bad = requests.put(url, json={"factors": [{"name": "email", "type": "email", "value": "nope"}]},
                       headers=AUTH, timeout=5)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["status"] == "error" and bad.json()["code"] == "invalid_value"
    missing = requests.put(url, json={"factors": [{"type": "email", "value": "a@b.co"}]}, headers=AUTH, timeout=5)
    assert missing.json()["code"] == "required_value"
    ok = requests.put(url, json={"metadata": {"k": "v"}}, headers=AUTH, timeout=5).json()
    assert ok["status"] == "success" and ok["details"]["metadata"] == {"k": "v"}


def test_request_log_never_records_the_token(fake_api):
    post_feedback(fake_api, {"accountIds": ["a"], "attackType": "ato", "status": "pending"})
    assert TOKEN not in repr(fake_api.requests())


def test_rate_limit_answers_429_with_retry_after(fake_api):
    fake_api.configure(rate_limit_rps=0.01, rate_limit_burst=1, retry_after=4)
    url = fake_api.url + "/api/v2/account_defender/account/a"
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 200
    limited = requests.get(url, headers=AUTH, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "4"


def test_unknown_knob_is_refused(fake_api):
    response = requests.post(fake_api.url + "/_fake/config", json={"latency": 5}, timeout=5)
    assert response.status_code == 400 and "unknown fake API knob" in response.text


def test_cli_runs_as_a_process_and_stops_on_sigterm(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_human.testing.fake_api", "--port", "0", "--token", "cli-token-1",
         "--port-file", str(port_file), "--latency-ms", "1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        assert requests.get(base + "/_fake/health", timeout=5).json() == {"status": "ok"}
        response = requests.get(base + "/api/v2/account_defender/account/a",
                                headers={"Authorization": "Bearer cli-token-1"}, timeout=5)  # fmt: skip
        assert response.json() == {"account_id": "a", "exists": False}
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
