"""Property-based tests: whatever comes in, only documented exceptions escape and nothing invalid is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_human.client import HumanError, HumanInputError
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.operators.feedback import HumanUploadFeedbackOperator
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Rejected, Verdict, format_utc, parse_outcome

SLOW_OK = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
field_values = st.one_of(
    json_values,  # JSON Lines rows can hold lists and objects in any field
    st.sampled_from(
        [
            "ato",
            "fa",
            "fake_account",
            "confirmed_fraud",
            "legitimate",
            "suspected_fraud",
            "2026-11-18T10:00:00Z",
            "0001-01-01T00:00:00+05:00",  # valid ISO text with no UTC form: a reject, not an OverflowError
            "9999-12-31T23:59:59-05:00",
            "",
            "  ",
        ]
    ),
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["case_id", "account_id", "attack_type", "verdict", "closed_at", "comment", "extra", "_unparseable_row"]
        ),
        field_values,
    )
)
def test_any_outcome_row_becomes_an_outcome_or_a_reject(raw):
    parsed = parse_outcome(raw)
    assert isinstance(parsed, CaseOutcome | Rejected)
    if isinstance(parsed, CaseOutcome):
        assert parsed.closed_at.tzinfo is not None and parsed.account_id.strip()
        # built without the dataclass's __init__: equal, key and fingerprint included, to one built with it
        again = CaseOutcome(parsed.case_id, parsed.account_id, parsed.attack_type, parsed.verdict, parsed.closed_at,
                            parsed.comment)  # fmt: skip
        assert (again, again.closed_at_key, again.fingerprint) == (parsed, parsed.closed_at_key, parsed.fingerprint)


moments = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
        lambda offset: timezone(timedelta(minutes=int(offset.total_seconds() // 60)))
    ),
)


# Comments a row may carry (issue 25: other control characters and lone surrogates are rejects).
comments = st.none() | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\n\r"), max_size=10
)


@given(moments, st.sampled_from(["ato", "fa"]), st.sampled_from(list(Verdict)), comments)
def test_ledger_key_of_any_moment_is_fixed_width_utc_and_survives_staging(moment, attack_type, verdict, comment):
    # The fast key (isoformat with "Z" for "+00:00") against a reference written another way.
    reference = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if moment.astimezone(UTC).year < 1000:
        reference = reference.zfill(27)  # strftime's %Y does not pad years below 1000 on every platform
    assert format_utc(moment) == reference
    raw = {"case_id": "c", "account_id": "a", "attack_type": attack_type, "verdict": verdict.value,
           "closed_at": moment.isoformat(), "comment": comment}  # fmt: skip
    parsed = parse_outcome(raw)
    assert isinstance(parsed, CaseOutcome) and parsed.closed_at_key == reference
    # what the staging table gives back is the same outcome, key and fingerprint included
    restored = CaseOutcome.restore(parsed.case_id, parsed.account_id, parsed.attack_type, parsed.verdict,
                                   parsed.closed_at_key, parsed.comment, parsed.fingerprint)  # fmt: skip
    assert (restored, restored.closed_at_key, restored.fingerprint) == (parsed, parsed.closed_at_key,
                                                                         parsed.fingerprint)  # fmt: skip
    assert restored.closed_at == moment


outcome_dicts = st.fixed_dictionaries(
    {
        "account_id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
        "attack_type": st.sampled_from(["ato", "fa", "fake_account", "bot", "", None]),
        "status": st.sampled_from(["pending", "resolved", "closed", None]),
        "result": st.sampled_from(
            ["no_attack", "resolved", "manually_identified", "manually_identified_and_resolved", "fixed", None]
        ),
        "comment": st.one_of(st.none(), st.text(max_size=40), st.integers()),
    }
)


@SLOW_OK
@given(st.lists(outcome_dicts, min_size=0, max_size=6))
def test_feedback_operator_raises_only_input_errors_and_never_sends_an_invalid_body(human_conn, fake_api, outcomes):
    fake_api.clear_log()
    try:
        HumanUploadFeedbackOperator(task_id="t", outcomes=outcomes).execute({})
    except HumanInputError:
        assert fake_api.requests() == []  # rejected before the first request
    assert all(entry["status"] == 200 for entry in fake_api.requests())  # the strict fake never saw a bad body


@SLOW_OK
@given(body=json_values, status=st.sampled_from([200, 200, 200, 400, 403, 404, 500, 502]))
def test_any_lookup_response_parses_or_raises_a_documented_error(make_client, fake_api, body, status):
    client = make_client(max_retries=0)
    fake_api.configure(override_kinds=["v2", "v1"], override_status=status, override_body=body)
    for call in (lambda: client.get_account_info_v2("acct-1"), lambda: client.get_account_info("acct-1")):
        try:
            info = call()
        except HumanError:
            continue
        assert status == 200 and isinstance(body, dict)
        assert info.account_id == str(body["account_id"])


@SLOW_OK
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k not in AccountInfoV2.model_fields), json_values, max_size=4
    )
)
def test_unknown_response_fields_never_break_parsing(make_client, fake_api, extra):
    client = make_client()
    fake_api.configure(override_kinds=["v2"], override_status=200,
                       override_body={"account_id": "a", "exists": False, **extra})  # fmt: skip
    assert client.get_account_info_v2("a").exists is False


@SLOW_OK
@given(account_id=st.text(min_size=1, max_size=3000).filter(lambda s: s.strip() and s not in (".", "..")))
def test_any_account_id_reaches_the_api_as_one_encoded_segment(make_client, fake_api, account_id):
    fake_api.clear_log()
    make_client().get_account_info_v2(account_id)
    [entry] = fake_api.requests()
    assert entry["id"] == account_id and entry["kind"] == "v2"
    assert entry["path"] == "/api/v2/account_defender/account/" + entry["path"].rsplit("/", 1)[1]
    assert entry["query"] == {"days_range": ["30"]}
    assert quote(account_id, safe="") == entry["path"].rsplit("/", 1)[1]


def test_list_or_object_in_a_text_field_is_a_reject_not_a_crash():
    """JSON Lines can put any JSON value in any field; the parser's fast paths are dict lookups."""
    good = {"case_id": "c1", "account_id": "a1", "attack_type": "ato", "verdict": "legitimate",
            "closed_at": "2026-11-18T10:00:00Z"}  # fmt: skip
    for field, reason in (("attack_type", "unknown_attack_type"), ("verdict", "unknown_verdict")):
        for value in (["ato"], {"v": "legitimate"}):
            parsed = parse_outcome({**good, field: value})
            assert isinstance(parsed, Rejected) and parsed.reason.value == reason, (field, value, parsed)
    assert parse_outcome({**good, "comment": ["a", 1]}).comment == "['a', 1]"
