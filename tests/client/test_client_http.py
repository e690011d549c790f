"""The client against the fake HUMAN API over real HTTP on 127.0.0.1 (no patching of requests)."""

from __future__ import annotations

import itertools
import logging
import re
import socket
import threading
import time

import pytest

from airflow_provider_human import __version__
from airflow_provider_human.client import (
    AttackType,
    ClientSettings,
    HumanAuthError,
    HumanBadRequestError,
    HumanConfigError,
    HumanConnectionError,
    HumanFeedbackInDoubtError,
    HumanInputError,
    HumanNotFoundError,
    HumanRateLimitError,
    HumanServerError,
)
from tests.conftest import TOKEN


def _seed(fake_api):
    fake_api.seed_accounts(
        [
            {"account_id": "acct-1", "email": "p@example.com",
             "incidents": [{"attack_type": "ato", "risk_score": 0.6, "additional": {"ip": "1.1.1.1"}}]},
            {"account_id": "acct-2", "incidents": [{"attack_type": "fake_account", "status": "resolved",
                                                    "risk_score": 0.95, "is_manually_created": True}]},
        ]
    )  # fmt: skip


def test_v1_and_v2_lookups_parse(client, fake_api):
    _seed(fake_api)
    v1 = client.get_account_info("acct-1", attack_types=["ato"])
    assert (v1.is_under_attack, v1.risk_score) == (True, 60) and "exists" not in v1.model_dump()
    resolved = client.get_account_info("acct-2", attack_types=["fake_account"])
    assert (resolved.is_under_attack, resolved.is_manually_created, resolved.risk_score) == (False, True, 95)
    v2 = client.get_account_info_v2("acct-1", days_range=7)
    assert v2.pending_attack_types() == {AttackType.ATO}
    assert client.get_account_info_v2("nobody").exists is False
    requests = fake_api.requests()
    assert requests[0]["query"] == {"attack_types": ["['ato']"]}  # the vendor page's own spelling
    assert requests[2]["query"] == {"days_range": ["7"]}


@pytest.mark.parametrize(
    ("encoding", "attack_types", "query"),
    [
        ("python_list", ["ato", "fa"], {"attack_types": ["['ato', 'fake_account']"]}),
        ("python_list", [], {"attack_types": ["[]"]}),  # a documented value, not "absent"
        ("json", ["fake_account"], {"attack_types": ['["fake_account"]']}),
        ("json", [], {"attack_types": ["[]"]}),
        ("repeated", ["ato", "fa"], {"attack_types": ["ato", "fake_account"]}),
        ("python_list", None, {}),
    ],
)
def test_v1_attack_types_go_in_the_connections_encoding(make_client, fake_api, encoding, attack_types, query):
    fake_api.configure(v1_query_forms=["list_literal", "repeated"])
    _seed(fake_api)
    client = make_client(v1_attack_types_encoding=encoding)
    client.get_account_info("acct-1", attack_types=attack_types)
    assert fake_api.requests()[-1]["query"] == query


def test_an_empty_list_cannot_be_sent_repeated_and_nothing_is_sent(make_client, fake_api):
    client = make_client(v1_attack_types_encoding="repeated")
    with pytest.raises(HumanInputError, match=r"attack_types=\[\].*v1_attack_types_encoding='repeated'"):
        list(client.iter_account_info(["a", "b"], api_version=1, attack_types=[]))
    assert fake_api.requests() == []


def test_the_fake_answers_only_the_documented_v1_form_unless_told(make_client, fake_api):
    """A strict fake: the repeated form is a guess the vendor page does not show."""
    with pytest.raises(HumanBadRequestError, match=r"attack_types\.0"):
        make_client(v1_attack_types_encoding="repeated").get_account_info("acct-1", attack_types=["ato"])
    assert make_client().get_account_info("acct-1", attack_types=["ato"]).account_id == "acct-1"


def test_an_unknown_v1_encoding_is_a_config_error():
    with pytest.raises(HumanConfigError, match="v1_attack_types_encoding='csv'"):
        ClientSettings(token="t", v1_attack_types_encoding="csv")


def test_every_request_carries_bearer_user_agent_and_json(client, fake_api):
    client.get_account_info_v2("a")
    entry = fake_api.requests()[0]
    assert entry["authorised"] and entry["user_agent"] == f"airflow-provider-human/{__version__}"
    assert entry["content_type"] == "application/json"


@pytest.mark.parametrize("account_id", ["a/../b?x=1#y", "100%", "ünïcødé/ß", "...", ".a", " spaced id "])
def test_ids_are_one_percent_encoded_path_segment(client, fake_api, account_id):
    client.get_account_info_v2(account_id)
    entry = fake_api.requests()[0]
    assert entry["kind"] == "v2" and entry["id"] == account_id
    assert entry["path"].count("/") == "/api/v2/account_defender/account/".count("/")
    assert entry["query"] == {"days_range": ["30"]}


@pytest.mark.parametrize("bad", [".", ".."])
def test_dot_segment_ids_are_refused_before_any_request(client, fake_api, bad):
    with pytest.raises(HumanInputError, match=r"account_id.*dot-segment"):
        client.get_account_info_v2(bad)
    with pytest.raises(HumanInputError, match=r"identity_id.*dot-segment"):
        client.update_identity(bad, metadata={"k": "v"})
    assert fake_api.requests() == []


def test_feedback_2500_ids_batch_1000_is_exactly_three_valid_requests(client, fake_api):
    ids = [f"id-{i}" for i in range(2500)]
    result = client.upload_feedback(ids + ids[:10], attack_type="fa", status="resolved", result="no_attack",
                                    comment="weekly review", batch_size=1000)  # fmt: skip
    posts = fake_api.requests("feedback")
    assert [len(p["body"]["accountIds"]) for p in posts] == [1000, 1000, 500]
    assert all(p["status"] == 200 for p in posts)
    assert {p["body"]["attackType"] for p in posts} == {"fa"}
    assert sorted(i for p in posts for i in p["body"]["accountIds"]) == sorted(ids)
    assert (result.requests, result.duplicates_dropped, result.accounts_sent) == (3, 10, 2500)


def test_feedback_changes_state_that_a_later_lookup_sees(client, fake_api):
    _seed(fake_api)
    client.upload_feedback(["acct-1"], attack_type="ato", status="resolved", result="resolved")
    assert client.get_account_info_v2("acct-1").is_under_attack is False
    client.upload_feedback(["acct-3"], attack_type="ato", status="resolved", result="manually_identified")
    assert client.get_account_info_v2("acct-3").pending_attack_types() == {AttackType.ATO}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attack_type": "bot", "status": "resolved", "result": "resolved"}, "attack_type"),
        ({"attack_type": "ato", "status": "done", "result": "resolved"}, "status"),
        ({"attack_type": "ato", "status": "resolved", "result": "fixed"}, "result"),
        ({"attack_type": "ato", "status": "resolved"}, "result"),
    ],
)
def test_invalid_feedback_raises_before_any_request(client, fake_api, kwargs, field):
    with pytest.raises(HumanInputError) as err:
        client.upload_feedback(["a", "b"], **kwargs)
    assert err.value.field == field
    assert fake_api.requests() == []


@pytest.mark.parametrize(("ids", "field"), [(["a", ""], "account_ids[1]"), (["a", None], "account_ids[1]"),
                                            ([], "account_ids"), ("abc", "account_ids")])  # fmt: skip
def test_bad_account_ids_raise_before_any_request(client, fake_api, ids, field):
    with pytest.raises(HumanInputError) as err:
        client.upload_feedback(ids, attack_type="ato", status="pending")
    assert err.value.field == field
    assert fake_api.requests() == []


def test_invalid_lookup_arguments_raise_before_any_request(client, fake_api):
    with pytest.raises(HumanInputError, match="days_range=0"):
        client.get_account_info_v2("a", days_range=0)
    with pytest.raises(HumanInputError, match="attack_types='bot'"):
        client.get_account_info("a", attack_types=["bot"])
    with pytest.raises(HumanInputError, match="attack_types"):
        list(client.iter_account_info(["a"], api_version=1, attack_types=["bot"]))
    assert fake_api.requests() == []


def test_429_with_retry_after_waits_then_succeeds(make_client, fake_api):
    client = make_client(real_sleep=True)
    fake_api.configure(rate_limit_rps=1, rate_limit_burst=1, retry_after=1)
    client.get_account_info_v2("a")
    started = time.monotonic()
    info = client.get_account_info_v2("b")
    waited = time.monotonic() - started
    assert info.account_id == "b"
    assert [e["status"] for e in fake_api.requests()] == [200, 429, 200]
    assert waited >= 0.9


def test_retry_after_http_date_is_honoured(client, fake_api, sleeps, caplog):
    """Each retry waits until the server's date: whole seconds, so between 2 and 3 s from now.

    Only the retry policy's waits are checked. The recorder also holds the rate limiter's
    waits, which add the slowed pacing (a few ms per 429) on top of the date: started just
    after a second boundary, those exceed 3 s (seen in 2 of about 20 CI runs).
    """
    caplog.set_level(logging.WARNING, logger="airflow_provider_human.client.transport")
    fake_api.configure(rate_limit_rps=0.2, rate_limit_burst=1, retry_after=3, retry_after_format="http-date")
    client.get_account_info_v2("a")
    with pytest.raises(HumanRateLimitError):
        client.get_account_info_v2("b")
    policy_waits = [
        float(m[1]) for r in caplog.records if (m := re.search(r"retry \d+/\d+ in ([\d.]+) s", r.getMessage()))
    ]
    assert len(policy_waits) == 5 and all(2.0 <= s <= 3.0 for s in policy_waits), policy_waits
    assert min(s for s in sleeps.calls if s >= 1.0) >= 2.0, sleeps.calls
    assert [e["status"] for e in fake_api.requests()] == [200] + [429] * 6


def test_429_persisting_raises_rate_limit_error_after_max_retries(make_client, fake_api, sleeps):
    client = make_client(max_retries=2)
    fake_api.configure(rate_limit_rps=0.001, rate_limit_burst=1, retry_after=7)
    client.get_account_info_v2("a")
    with pytest.raises(HumanRateLimitError) as err:
        client.get_account_info_v2("b")
    assert err.value.http_status == 429 and sleeps.calls[0] == 7 and max(sleeps.calls) == pytest.approx(7, abs=0.05)
    assert len(fake_api.requests()) == 4
    assert client.transport.rate_limiter.current_rate < client.settings.requests_per_second


@pytest.mark.parametrize("kind", ["v2", "v1", "feedback"])
def test_bad_token_raises_auth_error_without_retrying(make_client, fake_api, kind, caplog):
    client = make_client(token="wrong-token-1234")
    caplog.set_level(logging.DEBUG)
    call = {
        "v2": lambda: client.get_account_info_v2("a"),
        "v1": lambda: client.get_account_info("a"),
        "feedback": lambda: client.upload_feedback(["a"], attack_type="ato", status="pending"),
    }[kind]
    with pytest.raises(HumanAuthError) as err:
        call()
    assert err.value.http_status in (401, 403)
    assert len(fake_api.requests()) == 1
    assert "wrong-token-1234" not in str(err.value) + repr(err.value) + caplog.text


def test_get_retries_503_500_and_502(client, fake_api, sleeps):
    fake_api.configure(failure_rate=1.0, failure_status=503)
    with pytest.raises(HumanServerError):
        client.get_account_info_v2("a")
    assert len(fake_api.requests()) == client.settings.max_retries + 1
    fake_api.clear_log()
    fake_api.configure(failure_rate=0.5, failure_status=500, seed=3)
    assert client.get_account_info_v2("b").account_id == "b"
    assert {e["status"] for e in fake_api.requests()} <= {500, 200}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_feedback_post_5xx_after_the_body_is_in_doubt_and_not_resent(client, fake_api, status):
    fake_api.configure(failure_rate=1.0, failure_status=status)
    with pytest.raises(HumanFeedbackInDoubtError) as err:
        client.upload_feedback(["a", "b"], attack_type="fa", status="resolved", result="manually_identified")
    assert len(fake_api.requests("feedback")) == 1
    assert err.value.batch.account_ids == ("a", "b") and err.value.http_status == status


def test_feedback_connection_reset_mid_response_is_in_doubt(client, fake_api):
    fake_api.configure(reset_rate=1.0)
    with pytest.raises(HumanFeedbackInDoubtError) as err:
        client.upload_feedback(["a"], attack_type="ato", status="resolved", result="manually_identified")
    assert len(fake_api.requests("feedback")) == 1
    assert err.value.upload_result.requests == 0
    # the server did act on it: exactly why it must not be resent blindly
    assert len(fake_api.account("a")["incidents"]) == 1


def test_get_connection_reset_is_retried(client, fake_api):
    fake_api.configure(reset_rate=0.5, seed=7)
    for account in ("a", "b", "c", "d"):
        assert client.get_account_info_v2(account).account_id == account


def test_feedback_read_timeout_is_in_doubt_but_get_timeout_is_retried(make_client, fake_api):
    client = make_client(timeout=0.2, max_retries=1)
    fake_api.configure(latency_ms=500)
    with pytest.raises(HumanFeedbackInDoubtError, match=r"did not answer within 0\.2 s"):
        client.upload_feedback(["a"], attack_type="ato", status="pending")
    assert len(fake_api.requests("feedback")) == 1
    with pytest.raises(HumanConnectionError, match="did not answer"):
        client.get_account_info_v2("a")
    assert len(fake_api.requests("v2")) == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_retried_even_for_feedback(make_client, caplog):
    client = make_client(base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=2)
    with pytest.raises(HumanConnectionError, match="Could not reach"):
        client.upload_feedback(["a"], attack_type="ato", status="pending")
    assert [r.getMessage().split("; ")[-1][:9] for r in caplog.records if "retry" in r.getMessage()] == [
        "retry 1/2",
        "retry 2/2",
    ]


def test_not_found_and_bad_request_errors_carry_status_message_method_path(client, fake_api):
    with pytest.raises(HumanNotFoundError) as err:
        client.update_identity("ghost", metadata={"k": "v"})
    assert (err.value.http_status, err.value.method, err.value.path) == (404, "PUT", "/api/v1/identity/ghost")
    assert "not_found" in err.value.api_message
    fake_api.configure(max_batch_size=2)
    with pytest.raises(HumanBadRequestError) as bad:
        client.upload_feedback(["a", "b", "c"], attack_type="ato", status="pending", batch_size=3)
    assert "exceeds the maximum" in bad.value.api_message and len(fake_api.requests("feedback")) == 1


def test_update_identity_round_trip(client, fake_api):
    fake_api.seed_identities([{"id": "013xrzp12g3nqk8nfsf13ajhjnj5hjp5"}])
    details = client.update_identity(
        "013xrzp12g3nqk8nfsf13ajhjnj5hjp5",
        factors=[{"name": "email", "type": "email", "value": "new@example.com"}],
        metadata={"tier": "gold"},
    )
    assert details.metadata == {"tier": "gold"} and details.factors[0].value == "new@example.com"
    assert fake_api.requests()[0]["body"] == {
        "factors": [{"name": "email", "type": "email", "value": "new@example.com"}],
        "metadata": {"tier": "gold"},
    }


def test_identity_base_url_is_separate(make_client, fake_api):
    with type(fake_api)(token=TOKEN) as identity_api:
        identity_api.seed_identities([{"id": "i1"}])
        client = make_client(identity_base_url=identity_api.url)
        client.update_identity("i1", metadata={"a": "b"})
        assert len(identity_api.requests()) == 1 and fake_api.requests() == []


def test_iter_account_info_is_concurrent_and_reports_per_account_errors(make_client, fake_api):
    client = make_client(max_workers=8)
    fake_api.configure(latency_ms=30)
    ids = [f"id-{i}" for i in range(40)] + [""]
    results = list(client.iter_account_info(ids))
    assert len(results) == 41 and sorted(r.account_id for r in results if r.ok) == sorted(ids[:-1])
    [bad] = [r for r in results if not r.ok]
    assert isinstance(bad.error, HumanInputError)
    assert 4 <= fake_api.max_in_flight <= 8


def test_iter_account_info_streams_without_materialising_its_input(make_client, fake_api):
    client = make_client(max_workers=4)
    pulled = itertools.count()

    def endless():
        for i in itertools.count():
            next(pulled)
            yield f"id-{i}"

    stream = client.iter_account_info(endless())
    first = [next(stream) for _ in range(20)]
    stream.close()
    assert len(first) == 20
    assert next(pulled) <= 20 + 2 * 4 + 1  # at most the bounded window ahead of the consumer


def test_iter_account_info_shares_one_rate_limiter_across_threads(make_client, fake_api):
    client = make_client(max_workers=8, requests_per_second=20, real_sleep=True)
    list(client.iter_account_info([f"id-{i}" for i in range(21)]))
    times = sorted(e["time"] for e in fake_api.requests())
    assert times[-1] - times[0] >= 20 / 20 * 0.9  # 21 requests at 20/s span >= 1 s despite 8 threads


def test_iter_account_info_stops_on_auth_error(make_client, fake_api):
    client = make_client(token="revoked-token-xyz")
    with pytest.raises(HumanAuthError):
        list(client.iter_account_info([f"id-{i}" for i in range(1000)]))
    assert len(fake_api.requests()) < 50


def test_v1_bulk_lookup(client, fake_api):
    _seed(fake_api)
    results = {r.account_id: r for r in client.iter_account_info(["acct-1", "acct-2"], api_version=1)}
    assert results["acct-1"].info.is_under_attack and not results["acct-2"].info.is_under_attack


def test_check_connection_tells_refused_token_from_unreachable_and_tls(make_client, fake_api):
    ok, message = make_client().check_connection()
    assert ok and "accepted" in message
    ok, message = make_client(token="bad-token-abc").check_connection()
    assert not ok and "refused the server token" in message and "bad-token-abc" not in message
    port = _closed_port()
    ok, message = make_client(base_url=f"http://127.0.0.1:{port}").check_connection()
    # the operating system's words, not urllib3's wrappers (object reprs, cut off before the reason)
    assert not ok and f"Could not reach HUMAN at 127.0.0.1:{port} ([Errno 111] Connection refused)" in message, message
    ok, message = make_client(base_url=f"https://127.0.0.1:{fake_api.port}").check_connection()
    assert not ok and "TLS" in message
    assert all(e["method"] == "GET" for e in fake_api.requests())


def test_one_pooled_session_sized_for_the_workers(make_client):
    client = make_client(max_workers=24)
    adapter = client.transport.session.get_adapter("https://console.humansecurity.com")
    assert adapter._pool_maxsize >= 24
    assert client.settings.token not in repr(client.transport.session.auth) + repr(client) + repr(client.settings)


def test_token_never_in_logs_or_errors_even_when_the_server_echoes_it(make_client, fake_api, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(max_retries=1)
    fake_api.configure(failure_rate=1.0, failure_status=502)
    errors = []
    for call in (lambda: client.get_account_info_v2("a"),
                 lambda: client.upload_feedback(["a"], attack_type="ato", status="pending")):  # fmt: skip
        try:
            call()
        except Exception as exc:
            errors.append(f"{exc!s} {exc!r}")
    assert len(errors) == 2
    assert TOKEN not in caplog.text + "".join(errors)
    assert client.transport.scrub(f"echo {TOKEN}") == "echo ***"


def test_identity_put_retries_500_because_it_is_idempotent(client, fake_api):
    fake_api.seed_identities([{"id": "i1"}])
    fake_api.configure(failure_rate=0.6, failure_status=500, seed=1)
    for n in range(4):
        assert client.update_identity("i1", metadata={"n": str(n)}).metadata == {"n": str(n)}
    assert 500 in {e["status"] for e in fake_api.requests("identity")}


def test_session_settings_tls_proxy_and_timeouts(make_client):
    default = make_client()
    assert default.transport.session.verify is True and default.transport.session.proxies == {}
    custom = make_client(verify_ssl=False, proxy="http://proxy.internal:3128")
    assert custom.transport.session.verify is False
    assert custom.transport.session.proxies == {
        "http": "http://proxy.internal:3128",
        "https": "http://proxy.internal:3128",
    }


def test_identity_errors_are_classified_by_their_code_whatever_the_status(client, fake_api):
    from airflow_provider_human.client import HumanAuthError, HumanBadRequestError

    fake_api.seed_identities([{"id": f"i{n}"} for n in range(5)])
    # a 200 whose body is an error: its code and message are kept
    fake_api.configure(override_kinds=["identity"], override_status=200,
                       override_body={"status": "error", "code": "invalid_value", "message": "Bad email"})  # fmt: skip
    with pytest.raises(HumanBadRequestError) as caught:
        client.update_identity("i0", metadata={"k": "v"})
    assert caught.value.api_message == "invalid_value: Bad email" and caught.value.http_status == 200
    # bad_authtoken answered with 400: the token is wrong for every identity, so the bulk loop stops
    fake_api.configure(override_status=400,
                       override_body={"status": "error", "code": "bad_authtoken", "message": "Invalid token"})  # fmt: skip
    fake_api.clear_log()
    with pytest.raises(HumanAuthError, match="bad_authtoken"):
        list(client.iter_update_identity([{"identity_id": f"i{n}", "metadata": {"k": "v"}} for n in range(5)],
                                         max_workers=1))  # fmt: skip
    assert len(fake_api.requests("identity")) < 5  # stopped, not sent for every identity


def test_a_refused_proxy_is_not_applied_so_feedback_is_retried(make_client, fake_api, caplog):
    # Nothing listens on the proxy's port: the connection never opened, no byte left.
    client = make_client(proxy=f"http://127.0.0.1:{_closed_port()}", max_retries=2)
    with pytest.raises(
        HumanConnectionError, match=r"Could not reach .*\(the proxy: \[Errno 111\] Connection refused\)"
    ):
        client.upload_feedback(["a"], attack_type="ato", status="pending")
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2
    assert fake_api.requests("feedback") == []


def test_a_proxy_that_takes_the_request_and_hangs_up_leaves_feedback_in_doubt(make_client, fake_api):
    # The proxy accepted the connection and read the request: it may have forwarded it.
    seen: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def take_and_hang_up() -> None:
            conn, _ = server.accept()
            with conn:
                seen.append(conn.recv(65536))

        thread = threading.Thread(target=take_and_hang_up, daemon=True)
        thread.start()
        client = make_client(proxy=f"http://127.0.0.1:{server.getsockname()[1]}", max_retries=2)
        with pytest.raises(HumanFeedbackInDoubtError):
            client.upload_feedback(["a"], attack_type="ato", status="pending")
        thread.join(timeout=10)
    assert len(seen) == 1  # one try only: it was not resent
    request_line = seen[0].split(b"\r\n", 1)[0]  # only this line: a failure must not print the headers' token
    assert request_line.startswith(b"POST ") and request_line.endswith(b"/account/update_status HTTP/1.1")


@pytest.mark.parametrize(("header_format", "kind"), [("seconds", "v2"), ("http-date", "v2"), ("seconds", "feedback")])
def test_a_rate_limit_error_carries_the_delay_the_api_asked_for(make_client, fake_api, header_format, kind):
    """Beyond the client's own cap (max_retry_after): what an Airflow retry should wait is HUMAN's ask."""
    client = make_client(max_retries=0, max_retry_after=5)
    fake_api.configure(rate_limit_rps=0.001, rate_limit_burst=1, retry_after=600, retry_after_format=header_format)
    client.get_account_info_v2("a")
    with pytest.raises(HumanRateLimitError) as err:
        if kind == "v2":
            client.get_account_info_v2("b")
        else:
            client.upload_feedback(["b"], attack_type="ato", status="pending")
    assert err.value.retry_after == pytest.approx(600, abs=2)
    assert "retry after 600 s" in str(err.value) or header_format == "http-date"


def test_errors_without_a_retry_after_carry_none(make_client, fake_api):
    client = make_client(max_retries=0)
    fake_api.configure(failure_rate=1.0, failure_status=503)
    with pytest.raises(HumanServerError) as err:
        client.get_account_info_v2("a")
    assert err.value.retry_after is None
