"""What a v2 lookup says about one (account, attack type): pending, none, unknown, or ambiguous.

v2 lists only Pending incidents, each with an ``attack_type`` name. The vendor pages show
one name (``account_takeover``); the fake-account name is not shown anywhere. Which names
mean which attack type is therefore a setting, :class:`IncidentNames`, whose default is a
guess, documented as one. A name outside it is never read as "no incident": when the
answer could depend on it, the state is ``ambiguous`` and a person decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.responses import AccountInfoV2, ActiveIncident
from airflow_provider_human.exceptions import HumanInputError


class ADState(StrEnum):
    """Account Defender's view of one (account, attack type) when we decide."""

    PENDING = "pending"  # a Pending incident of that attack type
    NONE = "none"  # the account exists, no Pending incident of that type, nothing unexplained
    UNKNOWN = "unknown"  # exists == false
    AMBIGUOUS = "ambiguous"  # incidents this provider cannot map, or under attack with no mapped incident


#: Today's guesses (``account_takeover`` is on the vendor pages; the others are not).
DEFAULT_INCIDENT_NAMES: dict[str, tuple[str, ...]] = {
    AttackType.ATO.value: ("account_takeover", "ato"),
    AttackType.FAKE_ACCOUNT.value: ("fake_account", "fa"),
}


@dataclass(frozen=True)
class IncidentNames:
    """v2 incident ``attack_type`` names per attack type (compared case-insensitively)."""

    names: Mapping[str, Iterable[str]] = field(default_factory=lambda: dict(DEFAULT_INCIDENT_NAMES))

    def __post_init__(self) -> None:
        if not isinstance(self.names, Mapping):
            raise HumanInputError("v2_incident_names", self.names, "must map ato / fake_account to lists of names")
        lookup: dict[str, AttackType] = {}
        for key, names in self.names.items():
            attack_type = AttackType.parse(key, field="v2_incident_names")
            if isinstance(names, str) or not all(isinstance(n, str) and n.strip() for n in names):
                raise HumanInputError(f"v2_incident_names.{key}", names, "must be a list of non-empty names")
            for name in names:
                seen = lookup.setdefault(name.strip().lower(), attack_type)
                if seen is not attack_type:
                    raise HumanInputError("v2_incident_names", name, f"names both {seen.value} and {attack_type.value}")
        object.__setattr__(self, "_lookup", lookup)

    def attack_of(self, incident: ActiveIncident) -> AttackType | None:
        return self._lookup.get(incident.attack_type.strip().lower())  # type: ignore[attr-defined]

    def unmapped(self, incidents: Iterable[ActiveIncident]) -> list[str]:
        return sorted({i.attack_type for i in incidents if self.attack_of(i) is None})


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
