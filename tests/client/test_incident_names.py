"""One mapping of v2 incident names: the ``v2_incident_names`` setting, whose default the client uses too."""

from __future__ import annotations

from airflow_provider_human.client.attack_types import DEFAULT_INCIDENT_NAMES, AttackType, IncidentNames
from airflow_provider_human.client.responses import AccountInfoV2, ActiveIncident
from airflow_provider_human.reconciliation.ad_state import ADState, read_ad_state
from airflow_provider_human.reconciliation.settings import ReconcileSettings


def _info(*names: str) -> AccountInfoV2:
    return AccountInfoV2(account_id="a1", exists=True, is_under_attack=True,
                         active_incidents=[ActiveIncident(attack_type=n) for n in names])  # fmt: skip


def test_a_non_default_v2_incident_names_changes_what_pending_attack_types_sees():
    info = _info("credential_stuffing")
    assert info.pending_attack_types() == set()  # unknown by default: never read as a type
    names = IncidentNames(ReconcileSettings(v2_incident_names={"ato": ["credential_stuffing"]}).v2_incident_names)
    assert info.pending_attack_types(names) == {AttackType.ATO}
    # the same names the engine reads AD's state with
    assert read_ad_state(info, AttackType.ATO, names)[0] is ADState.PENDING
    # and a name the setting leaves out is unknown for pending_attack_types too (not an alias of the enum)
    only_custom = IncidentNames({"ato": ["credential_stuffing"]})
    assert _info("account_takeover").pending_attack_types(only_custom) == set()
    assert AttackType.from_v2_incident("account_takeover", only_custom) is None


def test_without_a_setting_every_reader_uses_the_one_default():
    assert IncidentNames().names == DEFAULT_INCIDENT_NAMES and ReconcileSettings().v2_incident_names is None
    assert AttackType.from_v2_incident("account_takeover") is AttackType.ATO
    assert _info("account_takeover", "credential_stuffing").pending_attack_types() == {AttackType.ATO}
    assert read_ad_state(_info("credential_stuffing"), AttackType.ATO)[0] is ADState.AMBIGUOUS  # unknown stays so
