"""The one coercion: what each spelling becomes, and that a refusal names the field and the value."""

from __future__ import annotations

import re

import pytest

from airflow_provider_human.client.coerce import to_bool, to_int, to_list, to_number, to_optional_int, to_optional_list
from airflow_provider_human.exceptions import HumanInputError


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), (" TRUE ", True), ("False", False), ("yes", True), ("no", False),
     ("1", True), ("0", False)],
)  # fmt: skip
def test_to_bool_accepts_one_set_of_spellings(value, expected):
    assert to_bool(value, "flag") is expected


@pytest.mark.parametrize("value", [None, "", "maybe", 1, 0, 1.0, [], "None"])
def test_to_bool_refuses_the_rest_naming_field_and_value(value):
    with pytest.raises(HumanInputError, match=re.escape(f"Invalid flag={value!r}: must be true or false")):
        to_bool(value, "flag")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        ("5", 5),
        (" +7 ", 7),
        (3.0, 3),
        ("-2", -2),
        ("5.0", 5),
        (" -3.00 ", -3),
        ("12345678901234567890.0", 12345678901234567890),
    ],
)
def test_to_int_accepts_ints_their_text_and_integral_floats(value, expected):
    assert to_int(value, "n", minimum=None) == expected


@pytest.mark.parametrize(
    "value", [True, 2.5, "2.5", "5.01", "1e3", ".0", "5.0.0", "nan", "inf", "--5", "", None, "five", [1], "١٢"]
)
def test_to_int_refuses_what_is_not_an_integer(value):
    with pytest.raises(HumanInputError, match=r"Invalid n=.*must be an integer"):
        to_int(value, "n")


def test_to_int_minimum_is_inclusive_and_named():
    assert to_int("1", "batch_size") == 1
    with pytest.raises(HumanInputError, match=r"Invalid batch_size=0: must be an integer >= 1"):
        to_int(0, "batch_size")
    assert to_int(0, "shard_index", minimum=0) == 0


@pytest.mark.parametrize(("value", "expected"), [(0.05, 0.05), ("0.05", 0.05), (1, 1.0), (" 2 ", 2.0)])
def test_to_number_accepts_numbers_and_their_text(value, expected):
    assert to_number(value, "x") == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [(True, "must be a finite number"), ("nan", "must be a finite number"), ("abc", "must be a finite number"),
     ("inf", "must be a finite number"), (float("inf"), "must be a finite number"), (-1, ">= 0.0"),
     (1.5, "<= 1.0")],
)  # fmt: skip
def test_to_number_bounds(value, problem):
    with pytest.raises(HumanInputError, match=problem):
        to_number(value, "ratio", maximum=1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(["a", "b"], ["a", "b"]), (("a",), ["a"]), ("a", ["a"]), ('["a", "b"]', ["a", "b"]), ("['a', 'b']", ["a", "b"]),
     ("[not a list", ["[not a list"]), (7, [7]), ({"k": 1}, [{"k": 1}]), (range(2), [0, 1])],
)  # fmt: skip
def test_to_list_takes_lists_iterables_single_items_and_the_text_of_a_list(value, expected):
    assert to_list(value, "ids") == expected


def test_to_list_requires_a_value_and_the_optional_forms_mean_not_given():
    with pytest.raises(HumanInputError, match="Invalid ids=None: is required"):
        to_list(None, "ids")
    assert to_optional_list("", "ids") is None and to_optional_list(None, "ids") is None
    assert to_optional_int("", "batch_size") is None and to_optional_int("10", "batch_size") == 10


def test_text_that_looks_like_a_list_but_is_not_one_is_refused_and_bytes_are_one_item():
    with pytest.raises(HumanInputError, match=r"Invalid ids='\[a, b\]': looks like a list"):
        to_list("[a, b]", "ids")
    assert to_list(b"ab", "ids") == [b"ab"]
