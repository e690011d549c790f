"""The decide core as a table: outcome x history x AD's answer -> decision, without HTTP or a database.

The claim path, the held path and the dry run all decide through ``DecideCore.decide``;
this pins what it says for each kind of input in milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_human.client.attack_types import AttackType, IncidentNames
from airflow_provider_human.client.responses import AccountInfoV2, ActiveIncident
from airflow_provider_human.reconciliation.ad_state import ADState
from airflow_provider_human.reconciliation.deciding import NO_HISTORY, DecideCore
from airflow_provider_human.reconciliation.history import History, PastOutcome
from airflow_provider_human.reconciliation.outcomes import CaseOutcome, Verdict
from airflow_provider_human.reconciliation.policy import Category, DecisionPolicy, ReviewKind

DAY_1 = datetime(2026, 11, 18, 10, tzinfo=UTC)
DAY_2 = datetime(2026, 11, 19, 10, tzinfo=UTC)
CORE = DecideCore(DecisionPolicy(), IncidentNames(), clock_skew_seconds=300.0)


def case(verdict: str, when: datetime = DAY_2, case_id: str = "c2") -> CaseOutcome:
    return CaseOutcome(case_id, "a1", AttackType.ATO, Verdict(verdict), when)


def info(*incidents: str, exists: bool = True) -> AccountInfoV2:
    return AccountInfoV2(account_id="a1", exists=exists, is_under_attack=bool(incidents),
                         active_incidents=[ActiveIncident(attack_type=n) for n in incidents])  # fmt: skip


def told(verdict: str, result: str, state: str = "sent") -> History:
    """Day 1's case, told to AD as resolved/<result>."""
    past = case(verdict, DAY_1, "c1")
    return History((PastOutcome(1, "c1", past.closed_at_key, verdict, past.fingerprint, state, "x", "resolved",
                                result, "b1", 0.0),))  # fmt: skip


@pytest.mark.parametrize(
    ("verdict", "history", "answer", "state", "category", "result", "review"),
    [
        # nothing told before: the policy table by AD's state
        ("confirmed_fraud", NO_HISTORY, info("account_takeover"), ADState.PENDING, Category.TRUE_POSITIVE,
         "resolved", None),
        ("confirmed_fraud", NO_HISTORY, info(), ADState.NONE, Category.FALSE_NEGATIVE,
         "manually_identified_and_resolved", None),
        ("legitimate", NO_HISTORY, info("account_takeover"), ADState.PENDING, Category.FALSE_POSITIVE,
         "no_attack", None),
        ("legitimate", NO_HISTORY, info(), ADState.NONE, Category.CONSISTENT, None, None),
        ("suspected_fraud", NO_HISTORY, info(), ADState.NONE, Category.FALSE_NEGATIVE, "manually_identified", None),
        ("confirmed_fraud", NO_HISTORY, info(exists=False), ADState.UNKNOWN, Category.SKIP, None, None),
        # an incident type nobody mapped: never "no incident", a person decides
        ("confirmed_fraud", NO_HISTORY, info("credential_stuffing"), ADState.AMBIGUOUS, None, None,
         ReviewKind.AMBIGUOUS_AD_STATE),
        # told before: history decides first, AD's state unread
        ("confirmed_fraud", told("legitimate", "no_attack"), info("account_takeover"), None, Category.REVERSAL, None,
         ReviewKind.REVERSAL),
    ],
)  # fmt: skip
def test_the_decide_core_table(verdict, history, answer, state, category, result, review):
    decided = CORE.decide(case(verdict), history, answer)
    assert decided is not None and decided.state is state
    if category is not None:
        assert decided.decision.category is category
    assert (decided.decision.result.value if decided.decision.result else None) == result
    assert decided.decision.review is review


def test_history_alone_decides_without_a_lookup_and_a_missing_lookup_is_undecided():
    reversal = told("legitimate", "no_attack")
    assert not CORE.needs_lookup(case("confirmed_fraud"), reversal)
    decided = CORE.decide(case("confirmed_fraud"), reversal, None)
    assert decided is not None and decided.state is None and decided.decision.category is Category.REVERSAL
    assert CORE.needs_lookup(case("confirmed_fraud"), NO_HISTORY)
    assert CORE.decide(case("confirmed_fraud"), NO_HISTORY, None) is None


def test_an_unlanded_earlier_upload_makes_the_newer_outcome_wait():
    in_flight = told("confirmed_fraud", "manually_identified_and_resolved", state="sending")
    decided = CORE.decide(case("legitimate"), in_flight, None)
    assert decided is not None and decided.waiting


def test_a_persons_resend_is_decided_by_the_table_alone():
    reversal = told("legitimate", "no_attack")
    decided = CORE.decide(case("confirmed_fraud"), reversal, info("account_takeover"), table_only=True)
    assert decided is not None and decided.decision.category is Category.TRUE_POSITIVE
    team = DecideCore(DecisionPolicy({"confirmed_fraud": {"pending": "skip:team_rule"}}), IncidentNames(), 300.0)
    assert team.decide(
        case("confirmed_fraud"), reversal, info("account_takeover"), table_only=True
    ).decision.reason == ("team_rule")
    names = DecideCore(DecisionPolicy(), IncidentNames({"ato": ["credential_abuse"]}), 300.0)
    assert names.decide(case("confirmed_fraud"), NO_HISTORY, info("credential_abuse")).state is ADState.PENDING
