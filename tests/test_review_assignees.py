"""Who may answer the review: ``[human] review_assignees`` read into the example DAG's assigned_users."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_human.exceptions import HumanInputError
from airflow_provider_human.review_assignees import configured_assignees, parse_assignees

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "human_case_review.py"


@pytest.mark.parametrize(
    ("value", "users"),
    [
        (None, None),
        ("  ", None),
        ("fraud-lead", [{"id": "fraud-lead", "name": "fraud-lead"}]),
        (
            "fraud-lead:Fraud Lead, 42:Analyst",
            [{"id": "fraud-lead", "name": "Fraud Lead"}, {"id": "42", "name": "Analyst"}],
        ),
        ('[{"id": 7, "name": "Ana"}, {"id": "bo"}]', [{"id": "7", "name": "Ana"}, {"id": "bo", "name": "bo"}]),
    ],
)
def test_the_forms_it_reads(value, users):
    assert parse_assignees(value) == users


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[{", "is not valid JSON"),
        ('[{"name": "x"}]', "must be an object with an id"),
        (":Name", "has no user id"),
        (",", "names no user"),
        ("[]", "names no user"),
    ],  # fmt: skip
)
def test_a_bad_value_names_the_option_and_the_value(value, says):
    with pytest.raises(HumanInputError, match=r"\[human\] review_assignees") as info:
        parse_assignees(value)
    assert says in str(info.value) and value.strip() in str(info.value)


def test_the_example_dag_restricts_its_review_to_the_configured_users(monkeypatch):
    from airflow.sdk.definitions.dag import DAG

    monkeypatch.setenv("AIRFLOW__HUMAN__REVIEW_ASSIGNEES", "fraud-lead:Fraud Lead")
    assert configured_assignees() == [{"id": "fraud-lead", "name": "Fraud Lead"}]
    import importlib.util

    spec = importlib.util.spec_from_file_location("dag_under_test", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(v for v in vars(module).values() if isinstance(v, DAG))
    assert dag.get_task("review").assigned_users == [{"id": "fraud-lead", "name": "Fraud Lead"}]

    monkeypatch.delenv("AIRFLOW__HUMAN__REVIEW_ASSIGNEES")
    spec.loader.exec_module(module)
    dag = next(v for v in vars(module).values() if isinstance(v, DAG))
    assert dag.get_task("review").assigned_users is None
