"""Request builders: input for an endpoint is converted and checked here, once, before any request."""

from __future__ import annotations

import pytest

from airflow_provider_human.client import builders
from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import IdentityUpdate
from airflow_provider_human.exceptions import HumanInputError


def test_account_ids_keeps_order_drops_repeats_and_counts_what_came_in():
    assert builders.account_ids(["b", "a", "b", 7]) == (["b", "a", "7"], 4)


@pytest.mark.parametrize(
    ("values", "field"), [("abc", "account_ids"), (["a", ""], r"account_ids\[1\]"), (["a", None], r"account_ids\[1\]")]
)
def test_account_ids_refuses_text_and_empty_ids_naming_the_item(values, field):
    with pytest.raises(HumanInputError, match=rf"Invalid {field}="):
        builders.account_ids(values)


def test_identity_updates_are_built_once_and_name_the_item_that_is_wrong():
    built = builders.identity_updates([{"identity_id": "i1", "metadata": {"k": "v"}}])
    assert built == [IdentityUpdate("i1", None, {"k": "v"})]
    assert builders.identity_update(built[0]) is built[0]  # already built: not checked again
    with pytest.raises(
        HumanInputError, match=r"Invalid updates\[1\]\.colour=<identity data not shown: str of 3 characters>: is not"
    ):
        builders.identity_updates([{"identity_id": "i1", "metadata": {}}, {"identity_id": "i2", "colour": "red"}])
    with pytest.raises(HumanInputError, match=r"Invalid updates\[0\]\.identity_id='\.\.'"):
        builders.identity_updates([{"identity_id": "..", "metadata": {}}])
    with pytest.raises(
        HumanInputError, match=r"Invalid updates\[0\]=<identity data not shown: str of 2 characters>: must be"
    ):
        builders.identity_updates(["i1"])
    with pytest.raises(HumanInputError, match=r"Invalid updates="):
        builders.identity_updates({"identity_id": "i1"})


def test_v1_attack_types_none_means_absent_and_an_empty_list_stays_a_list():
    assert builders.v1_attack_types(None) is None
    assert builders.v1_attack_types([]) == []
    assert builders.v1_attack_types("fa") == [AttackType.FAKE_ACCOUNT]
    with pytest.raises(HumanInputError, match="attack_types='bot'"):
        builders.v1_attack_types(["ato", "bot"])


def test_days_range_and_path_segment():
    assert builders.days_range("7") == 7
    with pytest.raises(HumanInputError, match="days_range=0"):
        builders.days_range(0)
    assert builders.path_segment("a/b?c#d%") == "a%2Fb%3Fc%23d%25"
    with pytest.raises(HumanInputError, match=r"identity_id='\.'.*dot-segment"):
        builders.path_segment(".", "identity_id")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"identity_id": "i1", "factors": [{"name": "email", "value": "jane.doe@example"}]}, r"factors\[0\]\.value"),
        ({"identity_id": "i1", "factors": ["jane.doe@example.com"]}, r"factors\[0\]"),
        ({"identity_id": "i1", "factors": "jane.doe@example.com"}, "factors"),
        ({"identity_id": "i1", "email": "jane.doe@example.com"}, "email"),
        ({"identity_id": "i1", "metadata": {"email": ["jane.doe@example.com"]}}, r"metadata\['email'\]"),
        ("jane.doe@example.com", ""),
    ],
)
def test_identity_errors_name_the_field_but_never_show_personal_values(item, field):
    """Task logs keep errors: an e-mail address is named by where it is, never copied into them."""
    with pytest.raises(
        HumanInputError, match=rf"Invalid updates\[0\]\.?{field}=<identity data not shown: \w+"
    ) as caught:
        builders.identity_updates([item])
    assert "jane.doe" not in str(caught.value) and "jane.doe" not in repr(caught.value.value)
