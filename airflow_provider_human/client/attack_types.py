"""The one place that maps attack-type spellings between HUMAN's endpoints.

Feedback uploads say ``fa`` / ``ato``, the v1 lookup's ``attack_types`` query says
``fake_account`` / ``ato`` and v2 incidents say ``account_takeover`` / ... . Everything
in this provider speaks :class:`AttackType` and converts only at the wire.

v2 incident names are read through one mapping, :class:`IncidentNames`: the reconciliation's
``v2_incident_names`` setting, whose default (:data:`DEFAULT_INCIDENT_NAMES`) every reader
without a setting uses too. The vendor pages show one name (``account_takeover``); the
others are guesses, documented as such (docs/api-mapping.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from airflow_provider_human.exceptions import HumanInputError


class _Incident(Protocol):
    """A v2 ``active_incidents`` entry (``responses.ActiveIncident``), as far as its name goes."""

    attack_type: str


class AttackType(StrEnum):
    """An Account Defender attack type, independent of any endpoint's spelling."""

    ATO = "ato"
    FAKE_ACCOUNT = "fake_account"

    @property
    def feedback_code(self) -> str:
        """Value of ``attackType`` in ``update_status`` bodies."""
        return _FEEDBACK[self]

    @property
    def v1_query(self) -> str:
        """Value of the v1 lookup's ``attack_types`` query parameter."""
        return _V1[self]

    @property
    def v2_incident(self) -> str:
        """Value of ``active_incidents[].attack_type`` in v2 lookups."""
        return _V2[self]

    @classmethod
    def parse(cls, value: object, field: str = "attack_type") -> AttackType:
        """Accept any documented spelling (``ato``, ``fa``, ``fake_account``, ``account_takeover``)."""
        if isinstance(value, AttackType):
            return value
        if isinstance(value, str):
            found = _ALIASES.get(value.strip().lower())
            if found is not None:
                return found
        raise HumanInputError(field, value, f"must be one of {sorted(_ALIASES)}")

    @classmethod
    def from_v2_incident(cls, name: str | None, names: IncidentNames | None = None) -> AttackType | None:
        """Map a v2 incident's ``attack_type`` by ``names`` (default: :data:`DEFAULT_INCIDENT_NAMES`);
        ``None`` for a name it does not list (never read as "no incident": see ad_state)."""
        if not isinstance(name, str):
            return None
        return (names or _DEFAULT_NAMES).attack_of_name(name)


_FEEDBACK = {AttackType.ATO: "ato", AttackType.FAKE_ACCOUNT: "fa"}
_V1 = {AttackType.ATO: "ato", AttackType.FAKE_ACCOUNT: "fake_account"}
# The vendor pages show "account_takeover"; the fake-account incident name is not shown,
# so "fake_account" is assumed and "fa" is accepted too (see docs/api-mapping.md).
_V2 = {AttackType.ATO: "account_takeover", AttackType.FAKE_ACCOUNT: "fake_account"}

_ALIASES: dict[str, AttackType] = {}
for _member in AttackType:
    for _spelling in (_member.value, _FEEDBACK[_member], _V1[_member], _V2[_member]):
        _ALIASES[_spelling] = _member


#: The v2 names of each attack type when nothing else is configured: ``account_takeover`` is on
#: the vendor pages; ``ato``, ``fake_account`` and ``fa`` are guesses (docs/api-mapping.md).
DEFAULT_INCIDENT_NAMES: dict[str, tuple[str, ...]] = {
    AttackType.ATO.value: ("account_takeover", "ato"),
    AttackType.FAKE_ACCOUNT.value: ("fake_account", "fa"),
}


@dataclass(frozen=True)
class IncidentNames:
    """v2 incident ``attack_type`` names per attack type (compared case-insensitively).

    The one mapping of v2 names: the ``v2_incident_names`` setting builds it, and
    :meth:`AttackType.from_v2_incident` and ``AccountInfoV2.pending_attack_types`` read it.
    """

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

    def attack_of_name(self, name: str) -> AttackType | None:
        return self._lookup.get(name.strip().lower())  # type: ignore[attr-defined]

    def attack_of(self, incident: _Incident) -> AttackType | None:
        return self.attack_of_name(incident.attack_type)

    def unmapped(self, incidents: Iterable[_Incident]) -> list[str]:
        return sorted({i.attack_type for i in incidents if self.attack_of(i) is None})


_DEFAULT_NAMES = IncidentNames()
