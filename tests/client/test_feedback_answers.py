"""What an answer to the feedback POST means (docs/errors.md), judged by what the fake API applied."""

from __future__ import annotations

import pytest

from airflow_provider_human.client import (
    HumanAuthError,
    HumanBadRequestError,
    HumanConfigError,
    HumanFeedbackInDoubtError,
    HumanRateLimitError,
)
from airflow_provider_human.client.settings import ClientSettings


def send(client):
    return client.upload_feedback(["a"], attack_type="ato", status="resolved", result="manually_identified")


def test_a_200_whose_body_is_not_json_is_applied_and_not_resent(client, fake_api):
    fake_api.configure(after_apply="non_json")
    result = send(client)
    assert result.requests == 1
    assert len(fake_api.requests("feedback")) == 1 and len(fake_api.effects()) == 1


@pytest.mark.parametrize("status", [503, 500, 502, 504, 408, 404])
def test_an_error_after_the_upload_was_applied_is_in_doubt_and_never_resent(client, fake_api, status):
    fake_api.configure(after_apply="status", after_apply_status=status)
    with pytest.raises(HumanFeedbackInDoubtError) as err:
        send(client)
    assert err.value.http_status == status
    assert len(fake_api.requests("feedback")) == 1
    assert len(fake_api.effects()) == 1  # applied once, and the client knows it may have been


def test_a_stall_after_applying_is_in_doubt(make_client, fake_api):
    client = make_client(timeout=0.3, max_retries=3)
    fake_api.configure(after_apply="stall", stall_seconds=1.0)
    with pytest.raises(HumanFeedbackInDoubtError, match="did not answer"):
        send(client)
    assert len(fake_api.requests("feedback")) == 1 and len(fake_api.effects()) == 1


def test_429_is_not_applied_and_is_retried_until_it_passes(client, fake_api, sleeps):
    fake_api.configure(rate_limit_rps=0.001, rate_limit_burst=1)
    send(client)  # uses the burst
    with pytest.raises(HumanRateLimitError):
        send(client)
    assert [e["status"] for e in fake_api.requests("feedback")] == [200] + [429] * (client.settings.max_retries + 1)
    assert len(fake_api.effects()) == 1


@pytest.mark.parametrize(
    ("status", "error"), [(400, HumanBadRequestError), (401, HumanAuthError), (403, HumanAuthError)]
)
def test_answers_before_processing_are_not_applied_and_not_retried(client, fake_api, status, error):
    fake_api.configure(failure_rate=1.0, failure_status=status)
    with pytest.raises(error):
        send(client)
    assert len(fake_api.requests("feedback")) == 1 and fake_api.effects() == []


def test_a_token_with_a_trailing_newline_is_stripped(make_client, fake_api, token):
    client = make_client(token=token + "\n")
    assert send(client).requests == 1 and len(fake_api.effects()) == 1
    assert client.check_connection()[0]


def test_a_token_with_control_characters_is_refused_without_echoing_it(token):
    with pytest.raises(HumanConfigError) as err:
        ClientSettings(token=token[:5] + "\x00" + token[5:])
    assert token[:5] not in str(err.value) and "not shown" in str(err.value)


def test_no_http_stack_error_carries_the_authorization_header(make_client, token):
    client = make_client()
    client.transport.session.auth._token = token + "\nX-Evil: 1"  # as if a bad value slipped past the settings
    with pytest.raises(HumanConfigError) as err:
        client.get_account_info_v2("a")
    assert token not in str(err.value) and err.value.__cause__ is None and err.value.__suppress_context__
    ok, message = client.check_connection()
    assert not ok and token not in message and "not shown" in message
