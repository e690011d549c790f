"""Operators executed directly against the fake API (templating and mapping: tests/test_example_dags.py)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_human.client import HumanAuthError, HumanInputError
from airflow_provider_human.exceptions import HumanIdentityUpdateFailedError, HumanLookupFailedError
from airflow_provider_human.operators.account import HumanAccountInfoOperator
from airflow_provider_human.operators.feedback import HumanUploadFeedbackOperator
from airflow_provider_human.operators.identity import HumanUpdateIdentityOperator
from tests.conftest import TOKEN

PII_ACCOUNT = {
    "account_id": "a1",
    "email": "person@example.com",
    "incidents": [
        {
            "attack_type": "ato",
            "additional": {"email": "person@example.com", "ip": "203.0.113.9", "city": "Springfield",
                           "user_agent": "Mozilla/5.0 X", "device_fingerprint": "fp-998877", "asn": "AS1", "vid": "v"},
        }
    ],
}  # fmt: skip
PII_VALUES = ["person@example.com", "203.0.113.9", "Springfield", "Mozilla/5.0 X", "fp-998877"]


def test_lookup_to_xcom_drops_pii_by_default(human_conn, fake_api):
    fake_api.seed_accounts([PII_ACCOUNT])
    out = HumanAccountInfoOperator(task_id="t", account_ids=["a1", "nobody"]).execute({})
    assert (out["total"], out["found"], out["unknown"], out["under_attack"], out["failed"]) == (2, 1, 1, 1, 0)
    text = json.dumps(out)
    assert not [v for v in PII_VALUES if v in text]
    [a1] = [r for r in out["results"] if r["account_id"] == "a1"]
    assert a1["info"]["active_incidents"][0]["additional"] == {"asn": "AS1", "vid": "v"}


def test_lookup_include_pii_keeps_them(human_conn, fake_api):
    fake_api.seed_accounts([PII_ACCOUNT])
    out = HumanAccountInfoOperator(task_id="t", account_ids="a1", include_pii=True).execute({})
    assert all(v in json.dumps(out) for v in PII_VALUES)


def test_lookup_to_jsonl_file_keeps_xcom_small(human_conn, fake_api, tmp_path):
    target = tmp_path / "out" / "lookups.jsonl"
    ids = [f"id-{i}" for i in range(1500)]
    out = HumanAccountInfoOperator(task_id="t", account_ids=ids, output_path=str(target)).execute({})
    assert out == {"total": 1500, "found": 0, "unknown": 1500, "under_attack": 0, "failed": 0,
                   "output_path": f"file://{target}"}  # fmt: skip
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(r["account_id"] for r in lines) == sorted(ids)


def test_lookup_refuses_big_xcom_before_any_request(human_conn, fake_api):
    with pytest.raises(HumanInputError, match="set output_path"):
        HumanAccountInfoOperator(task_id="t", account_ids=[str(i) for i in range(1001)]).execute({})
    assert fake_api.requests() == []


def test_lookup_accepts_rendered_list_text_and_one_id(human_conn, fake_api):
    assert HumanAccountInfoOperator(task_id="t", account_ids="['a', 'b']").execute({})["total"] == 2
    assert HumanAccountInfoOperator(task_id="t", account_ids='["a", "b", "c"]').execute({})["total"] == 3
    assert HumanAccountInfoOperator(task_id="t", account_ids=12345).execute({})["results"][0]["account_id"] == "12345"


def test_lookup_failures_fail_the_task_after_writing_the_rest(human_conn, fake_api, tmp_path):
    fake_api.configure(lookup_status={"gone": 404})
    target = tmp_path / "l.jsonl"
    op = HumanAccountInfoOperator(task_id="t", account_ids=["ok", "also-ok", "gone"], output_path=str(target))
    with pytest.raises(HumanLookupFailedError, match="1 of 3 lookups failed: gone: "):
        op.execute({})
    assert len(target.read_text().splitlines()) == 3
    lenient = HumanAccountInfoOperator(task_id="t", account_ids=["ok", "gone"], fail_on_error=False).execute({})
    assert lenient["failed"] == 1


@pytest.mark.parametrize("bad", ["", "   ", None, True, 1.5])
def test_lookup_names_a_bad_id_before_any_request(human_conn, fake_api, bad):
    """Seen by a new user: ["acct-1", ""] looked acct-1 up, then failed with "1 of 2 lookups failed: : …"."""
    with pytest.raises(HumanInputError, match=r"account_ids\[1\]"):
        HumanAccountInfoOperator(task_id="t", account_ids=["acct-1", bad, "acct-2"]).execute({})
    assert fake_api.requests() == []


def test_lookup_v1_with_attack_types(human_conn, fake_api):
    fake_api.seed_accounts([PII_ACCOUNT])
    out = HumanAccountInfoOperator(
        task_id="t", account_ids=["a1"], api_version=1, attack_types=["fake_account"]
    ).execute({})
    assert out["results"][0]["info"]["is_under_attack"] is False
    assert fake_api.requests()[0]["query"] == {"attack_types": ["['fake_account']"]}


def test_feedback_single_group(human_conn, fake_api, capfd):
    out = HumanUploadFeedbackOperator(
        task_id="t", account_ids=["a", "b", "a"], attack_type="fa", status="resolved", result="no_attack",
        comment="Q3 review", batch_size="1",
    ).execute({})  # fmt: skip
    assert (out["requests"], out["accounts"], out["duplicates_dropped"]) == (2, 2, 1)
    assert [p["body"]["comment"] for p in fake_api.requests("feedback")] == ["Q3 review", "Q3 review"]
    assert "HUMAN feedback: 2 accounts sent in 2 requests" in capfd.readouterr().out


def test_feedback_of_one_account_says_one_account_one_request(human_conn, fake_api, capfd, caplog):
    with caplog.at_level("INFO", logger="airflow_provider_human.client"):
        out = HumanUploadFeedbackOperator(
            task_id="t", account_ids=["a"], attack_type="ato", status="resolved", result="no_attack"
        ).execute({})
    assert out["requests"] == 1 and len(fake_api.requests("feedback")) == 1
    said = capfd.readouterr().out
    assert "HUMAN feedback: 1 account sent in 1 request (1 group)" in said
    assert "HUMAN feedback batch 1: 1 account, ato/resolved/no_attack" in caplog.text  # the client's own line
    HumanUploadFeedbackOperator(
        task_id="t", account_ids=["a"], attack_type="ato", status="resolved", result="no_attack", dry_run=True
    ).execute({})
    assert "HUMAN feedback DRY RUN: 1 account in 1 group would take 1 request; nothing sent." in capfd.readouterr().out
    assert len(fake_api.requests("feedback")) == 1  # the dry run sent nothing


def test_feedback_outcomes_are_grouped(human_conn, fake_api):
    outcomes = [
        {"account_id": f"tp-{i}", "attack_type": "ato", "status": "resolved", "result": "resolved"} for i in range(3)
    ] + [
        {"account_id": "fp-1", "attack_type": "fake_account", "status": "resolved", "result": "no_attack"},
        {"account_id": "fn-1", "attack_type": "ato", "status": "resolved", "result": "manually_identified",
         "comment": "case 77"},
    ]  # fmt: skip
    out = HumanUploadFeedbackOperator(task_id="t", outcomes=outcomes).execute({})
    assert (out["groups"], out["requests"], out["accounts"]) == (3, 3, 5)
    bodies = sorted((p["body"]["attackType"], p["body"]["result"], len(p["body"]["accountIds"]))
                    for p in fake_api.requests("feedback"))  # fmt: skip
    assert bodies == [("ato", "manually_identified", 1), ("ato", "resolved", 3), ("fa", "no_attack", 1)]


def test_feedback_invalid_outcome_named_and_nothing_sent(human_conn, fake_api):
    outcomes = [
        {"account_id": "a", "attack_type": "ato", "status": "resolved", "result": "resolved"},
        {"account_id": "b", "attack_type": "ato", "status": "resolved", "result": "maybe"},
    ]
    with pytest.raises(HumanInputError, match=r"outcomes\[1\]\.result='maybe'"):
        HumanUploadFeedbackOperator(task_id="t", outcomes=outcomes).execute({})
    assert fake_api.requests() == []


def test_feedback_dry_run_sends_nothing(human_conn, fake_api):
    out = HumanUploadFeedbackOperator(
        task_id="t", account_ids=[str(i) for i in range(1200)], attack_type="ato", status="pending", dry_run="True"
    ).execute({})
    assert out["dry_run"] and out["requests_planned"] == 3 and out["requests"] == 0
    assert fake_api.requests() == []


def test_feedback_argument_shapes_checked_at_parse_time():
    with pytest.raises(HumanInputError, match="exactly one of account_ids or outcomes"):
        HumanUploadFeedbackOperator(task_id="t")
    with pytest.raises(HumanInputError, match="inside each outcome"):
        HumanUploadFeedbackOperator(task_id="t", outcomes=[], status="resolved")


def test_identity_single_and_bulk(human_conn, fake_api):
    fake_api.seed_identities([{"id": f"i{n}"} for n in range(5)])
    one = HumanUpdateIdentityOperator(task_id="t", identity_id="i0", metadata={"a": "b"}).execute({})
    assert one == {"updated": 1, "failed": 0, "failures": []}
    updates = [{"identity_id": f"i{n}", "factors": [{"name": "email", "type": "email", "value": f"u{n}@example.com"}]}
               for n in range(1, 5)]  # fmt: skip
    bulk = HumanUpdateIdentityOperator(task_id="t", updates=updates).execute({})
    assert bulk["updated"] == 4
    assert fake_api.state.identities["i3"]["factors"][0]["value"] == "u3@example.com"


def test_identity_bulk_validates_everything_first(human_conn, fake_api):
    updates = [{"identity_id": "i1", "metadata": {"a": "b"}}, {"identity_id": "i2", "metadata": {"a": 3}}]
    with pytest.raises(HumanInputError, match=r"updates\[1\]\.metadata\['a'\]=<identity data not shown: int>"):
        HumanUpdateIdentityOperator(task_id="t", updates=updates).execute({})
    assert fake_api.requests() == []


def test_identity_failures_reported_and_task_fails(human_conn, fake_api):
    fake_api.seed_identities([{"id": "known"}])
    op = HumanUpdateIdentityOperator(
        task_id="t", updates=[{"identity_id": "known", "metadata": {}}, {"identity_id": "ghost", "metadata": {}}]
    )
    with pytest.raises(HumanIdentityUpdateFailedError, match="ghost"):
        op.execute({})
    assert fake_api.state.identities["known"]["updates"] == 1


def test_auth_error_fails_operators_without_leaking_the_token(human_conn, fake_api):
    fake_api.set_tokens("rotated-token-999")
    with pytest.raises(HumanAuthError) as err:
        HumanAccountInfoOperator(task_id="t", account_ids=["a"]).execute({})
    assert TOKEN not in str(err.value)


def test_operators_declare_templates_and_renderers():
    assert {"account_ids", "output_path", "days_range"} <= set(HumanAccountInfoOperator.template_fields)
    assert {"outcomes", "account_ids", "comment", "plan_only"} <= set(HumanUploadFeedbackOperator.template_fields)
    assert {"updates", "factors", "metadata"} <= set(HumanUpdateIdentityOperator.template_fields)
    assert HumanUploadFeedbackOperator.template_fields_renderers["outcomes"] == "json"


def test_no_operator_attribute_shadows_a_base_operator_method(human_conn):
    """``self.dry_run = ...`` once hid ``BaseOperator.dry_run()``; each operator is built and checked."""
    from airflow.sdk import BaseOperator

    from airflow_provider_human.operators.account import HumanAccountInfoOperator
    from airflow_provider_human.operators.feedback import HumanUploadFeedbackOperator
    from airflow_provider_human.operators.identity import HumanUpdateIdentityOperator
    from airflow_provider_human.operators.reconciliation import HumanCaseReconciliationOperator
    from airflow_provider_human.operators.review import HumanReconciliationReviewOperator

    operators = [
        HumanAccountInfoOperator(task_id="a", account_ids=["x"]),
        HumanUploadFeedbackOperator(task_id="f", account_ids=["x"], attack_type="ato", status="pending", dry_run=True),
        HumanUpdateIdentityOperator(task_id="i", identity_id="x", metadata={"k": "v"}),
        HumanCaseReconciliationOperator(task_id="r", dry_run=True),
        HumanReconciliationReviewOperator(task_id="v", dry_run=True),
    ]
    for op in operators:
        shadowing = [k for k in vars(op) if callable(getattr(BaseOperator, k, None))]
        assert shadowing == [], (type(op).__name__, shadowing)
        assert callable(op.dry_run)


def test_input_and_config_errors_are_not_retried_by_airflow():
    """A DAG's retries=2 must not retry what can never succeed: bad input, an unusable connection."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_human.client import HumanConfigError, HumanInputError

    assert issubclass(HumanInputError, AirflowFailException) and issubclass(HumanConfigError, AirflowFailException)
    with pytest.raises(AirflowFailException, match=r"Invalid api_version=3"):
        HumanAccountInfoOperator(task_id="t", account_ids=["a"], api_version=3)


def test_identity_updates_from_a_file_name_the_line_and_a_missing_file_says_why(human_conn, fake_api, tmp_path):
    path = tmp_path / "changes.jsonl"
    path.write_text('{"identity_id": "i1", "metadata": {"a": "b"}}\n\n{"identity_id": "i2", "colour": "red"}\n')
    with pytest.raises(
        HumanInputError, match=r"Invalid updates_path line 3\.colour=<identity data not shown: str of 3 characters>"
    ):
        HumanUpdateIdentityOperator(task_id="t", updates_path=str(path)).execute({})
    assert fake_api.requests() == [] and path.exists()  # nothing sent, nothing lost
    path.write_text('{"identity_id": "i1", "metadata": {"a": "b"}}\nidentity_id=i2 email=jane.doe@example.com\n')
    with pytest.raises(
        HumanInputError, match=r"Invalid updates_path line 2=<identity data not shown: str of 41 "
    ) as err:
        HumanUpdateIdentityOperator(task_id="t", updates_path=str(path)).execute({})
    assert "jane.doe" not in str(err.value) and fake_api.requests() == []
    with pytest.raises(HumanInputError, match=r"updates_path=.*does not exist \(it is deleted once"):
        HumanUpdateIdentityOperator(task_id="t", updates_path=str(tmp_path / "gone.jsonl")).execute({})


def _shape(value):
    """Keys and value types, recursively (a list by its first element): what a reader of the docs relies on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_the_lookup_xcom_is_shaped_as_operators_md_shows(human_conn, fake_api):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operators.md").read_text()
    section = doc.split("### What it returns (XCom and JSON lines)", 1)[1]
    documented = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    fake_api.seed_accounts([PII_ACCOUNT])
    fake_api.configure(lookup_status={"a3": 400})
    out = HumanAccountInfoOperator(task_id="t", account_ids=["a1", "a2", "a3"], fail_on_error=False).execute({})
    assert {k: _shape(v) for k, v in out.items() if k != "results"} == {
        k: _shape(v) for k, v in documented.items() if k != "results"
    } and set(out) == set(documented)
    got = {r["account_id"]: r for r in out["results"]}  # in the order the lookups finished
    assert {a: _shape(r) for a, r in got.items()} == {r["account_id"]: _shape(r) for r in documented["results"]}
    assert {k: out[k] for k in ("total", "found", "unknown", "under_attack", "failed")} == {
        k: documented[k] for k in ("total", "found", "unknown", "under_attack", "failed")
    }
    assert got["a3"]["error"] == documented["results"][2]["error"]
    v1 = HumanAccountInfoOperator(task_id="t", account_ids=["a1", "a2"], api_version=1).execute({})
    assert (v1["found"], v1["unknown"]) == (2, 0)  # as the page says: v1 cannot tell an unknown account


def test_identity_retry_with_a_ledger_sends_only_what_the_earlier_try_did_not_apply(human_conn, fake_api, tmp_path,
                                                                                 monkeypatch):  # fmt: skip
    """Issue 26: what the identity operator sends is recorded next to the ledger (ids and times only)."""
    from types import SimpleNamespace

    db = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_HUMAN_CASE_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    fake_api.seed_identities([{"id": "i1"}, {"id": "i2"}])  # i3 is not there yet: its PUT answers 404
    updates = [{"identity_id": f"i{n}", "factors": [{"name": "email", "type": "email", "value": f"u{n}@example.com"}]}
               for n in (1, 2, 3)]  # fmt: skip
    context = {"ti": SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1)}

    def one_try():
        return HumanUpdateIdentityOperator(task_id="t", updates=updates, ledger_conn_id="human_case_db").execute(
            context
        )

    with pytest.raises(HumanIdentityUpdateFailedError, match="i3"):
        one_try()
    fake_api.seed_identities([{"id": "i3"}])
    assert one_try() == {"updated": 1, "failed": 0, "failures": [], "already_updated": 2}  # the retry
    assert {i: fake_api.state.identities[i].get("updates", 0) for i in ("i1", "i2", "i3")} == {
        "i1": 1,
        "i2": 1,
        "i3": 1,
    }
    assert b"example.com" not in db.read_bytes()  # no personal data next to the ledger
