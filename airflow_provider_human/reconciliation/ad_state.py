"""What a v2 lookup says about one (account, attack type): pending, none, unknown, or ambiguous.

v2 lists only Pending incidents, each with an ``attack_type`` name. The vendor pages show
one name (``account_takeover``); the fake-account name is not shown anywhere. Which names
mean which attack type is therefore a setting, :class:`IncidentNames` (the client's one
mapping), whose default is a guess, documented as one. A name outside it is never read as
"no incident": when the answer could depend on it, the state is ``ambiguous`` and a person decides.
"""

from __future__ import annotations

from enum import StrEnum

from airflow_provider_human.client.attack_types import DEFAULT_INCIDENT_NAMES, AttackType, IncidentNames
from airflow_provider_human.client.responses import AccountInfoV2

__all__ = ["DEFAULT_INCIDENT_NAMES", "ADState", "IncidentNames", "read_ad_state"]


class ADState(StrEnum):
    """Account Defender's view of one (account, attack type) when we decide."""

    PENDING = "pending"  # a Pending incident of that attack type
    NONE = "none"  # the account exists, no Pending incident of that type, nothing unexplained
    UNKNOWN = "unknown"  # exists == false
    AMBIGUOUS = "ambiguous"  # incidents this provider cannot map, or under attack with no mapped incident


def read_ad_state(
    info: AccountInfoV2, attack_type: AttackType, names: IncidentNames | None = None
) -> tuple[ADState, list[str]]:
    """(state, incident types this provider cannot map) for one attack type of one account."""
    if not info.exists:
        return ADState.UNKNOWN, []
    names = names or IncidentNames()
    mapped: set[AttackType] = set()
    unknown: set[str] = set()
    for incident in info.active_incidents:  # one pass: a day reads this for every outcome
        attack = names.attack_of(incident)
        if attack is None:
            unknown.add(incident.attack_type)
        else:
            mapped.add(attack)
    unmapped = sorted(unknown)
    if attack_type in mapped:
        return ADState.PENDING, unmapped
    if unmapped or (info.is_under_attack and not mapped):
        return ADState.AMBIGUOUS, unmapped
    return ADState.NONE, []
