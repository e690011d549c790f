"""Parsing the vendor's own example bodies, tolerance, and request validation."""

from __future__ import annotations

import pytest

from airflow_provider_human.client import AccountInfoV1, AccountInfoV2, AttackType, HumanInputError, HumanResponseError
from airflow_provider_human.client.builders import FeedbackGroupKey, FeedbackResult, FeedbackStatus, IdentityUpdate
from airflow_provider_human.client.responses import IdentityDetails, parse_response

# Verbatim from ../shared/seeds/001 (v2) and 002 (v1), 004 (identity).
V2_EXAMPLE = {
    "account_id": "123456789",
    "exists": True,
    "is_under_attack": True,
    "first_seen": "2023-10-06T19:52:12.132Z",
    "last_seen": "2025-01-21T13:00:41.008Z",
    "email": "email@email.com",
    "registration_date": "2021-01-06T19:25:28Z",
    "active_incidents": [
        {
            "attack_type": "account_takeover",
            "event_type": "single",
            "risk_score": 0.707,
            "is_manually_created": False,
            "incident_creation": "2025-01-20T14:19:49.028Z",
            "additional": {
                "account_age": 35394,
                "asn": "Mobile Telecommunications Company",
                "city": "City",
                "country": "KCountryW",
                "device_fingerprint": "16427277324375911310",
                "email": "email@email.com",
                "ip": "1.1.1.1",
                "path": "/inbox/conversations/messages",
                "user_agent": "Mozilla/5.0",
                "vid": "111",
            },
        }
    ],
    "aggregative_data": {
        "trigger_categories": ["network", "behavior"],
        "sensitive_transactions": ["send_message", "send_attachment"],
    },
}
V1_EXAMPLE = {"account_id": "123456789", "is_under_attack": True, "is_manually_created": True, "risk_score": 100}


def test_v2_vendor_example_parses():
    info = parse_response(AccountInfoV2, V2_EXAMPLE, method="GET", path="/x")
    assert info.exists and info.is_under_attack
    assert info.first_seen.year == 2023 and info.registration_date.tzinfo is not None
    assert info.active_incidents[0].attack is AttackType.ATO
    assert info.pending_attack_types() == {AttackType.ATO}
    assert info.aggregative_data.sensitive_transactions == ["send_message", "send_attachment"]


def test_v1_vendor_example_parses():
    info = parse_response(AccountInfoV1, V1_EXAMPLE, method="GET", path="/x")
    assert (info.is_under_attack, info.is_manually_created, info.risk_score) == (True, True, 100)


def test_unknown_fields_are_kept_not_rejected():
    info = AccountInfoV2.model_validate({"account_id": "a", "exists": False, "brand_new_field": {"x": 1}})
    assert info.model_extra == {"brand_new_field": {"x": 1}}


def test_a_wrong_type_names_the_field():
    with pytest.raises(HumanResponseError, match="is_under_attack"):
        parse_response(
            AccountInfoV2, {"account_id": "a", "exists": True, "is_under_attack": "maybe"}, method="GET", path="/p"
        )
    with pytest.raises(HumanResponseError, match="risk_score"):
        parse_response(AccountInfoV1, {"account_id": "a", "risk_score": 101}, method="GET", path="/p")


def test_identity_details_parse():
    details = IdentityDetails.model_validate(
        {
            "id": "013x",
            "status": "extant",
            "type": "identity",
            "factors": [
                {
                    "identifier": True,
                    "name": "email",
                    "nid": "n",
                    "persistent": True,
                    "type": "email",
                    "value": "a@b.co",
                }
            ],
            "first_seen": {"asn": 4764, "at": 1234567890, "lat_long": [-37.8, 144.9], "country_code": "AU"},
        }
    )
    assert details.factors[0].value == "a@b.co" and details.first_seen.asn == 4764


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("ato", AttackType.ATO), ("fa", AttackType.FAKE_ACCOUNT), ("fake_account", AttackType.FAKE_ACCOUNT),
     ("account_takeover", AttackType.ATO), ("ATO", AttackType.ATO)],
)  # fmt: skip
def test_attack_type_spellings_map_to_one_enum(spelling, expected):
    assert AttackType.parse(spelling) is expected


def test_attack_type_wire_spellings():
    assert (AttackType.FAKE_ACCOUNT.feedback_code, AttackType.FAKE_ACCOUNT.v1_query) == ("fa", "fake_account")
    assert (AttackType.ATO.feedback_code, AttackType.ATO.v1_query, AttackType.ATO.v2_incident) == (
        "ato",
        "ato",
        "account_takeover",
    )
    assert AttackType.from_v2_incident("credential_stuffing") is None


def test_unknown_attack_type_names_field_and_value():
    with pytest.raises(HumanInputError, match="attack_type='bot'"):
        AttackType.parse("bot")


def test_feedback_key_requires_result_when_resolved_and_forbids_it_when_pending():
    with pytest.raises(HumanInputError, match="result=None: is required when status is 'resolved'"):
        FeedbackGroupKey.build(attack_type="ato", status="resolved")
    with pytest.raises(HumanInputError, match="result='no_attack'"):
        FeedbackGroupKey.build(attack_type="ato", status="pending", result="no_attack")
    with pytest.raises(HumanInputError, match="status='closed'"):
        FeedbackGroupKey.build(attack_type="ato", status="closed", result="resolved")
    key = FeedbackGroupKey.build(attack_type="fake_account", status="resolved", result="manually_identified")
    assert key.result is FeedbackResult.MANUALLY_IDENTIFIED and key.result.creates_incident
    assert key.request(["a"]).to_body() == {
        "accountIds": ["a"],
        "attackType": "fa",
        "status": "resolved",
        "result": "manually_identified",
    }
    assert FeedbackStatus("pending") is FeedbackStatus.PENDING


def test_identity_update_validation_names_the_field():
    with pytest.raises(HumanInputError, match=r"factors\[0\]\.value=<identity data not shown: str of 12 characters>"):
        IdentityUpdate.build("id1", [{"name": "email", "type": "email", "value": "not-an-email"}])
    with pytest.raises(HumanInputError, match=r"factors\[0\]\.type='phone'"):
        IdentityUpdate.build("id1", [{"name": "email", "type": "phone", "value": "a@b.co"}])
    with pytest.raises(HumanInputError, match=r"metadata\['k'\]=<identity data not shown: int>"):
        IdentityUpdate.build("id1", metadata={"k": 1})
    with pytest.raises(HumanInputError, match="identity_id=''"):
        IdentityUpdate.build("", metadata={"k": "v"})
    with pytest.raises(HumanInputError, match="give factors, metadata or both"):
        IdentityUpdate.build("id1")
