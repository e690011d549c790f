"""The one place that maps attack-type spellings between HUMAN's endpoints.

Feedback uploads say ``fa`` / ``ato``, the v1 lookup's ``attack_types`` query says
``fake_account`` / ``ato`` and v2 incidents say ``account_takeover`` / ... . Everything
in this provider speaks :class:`AttackType` and converts only at the wire.
"""

from __future__ import annotations

from enum import StrEnum

from airflow_provider_human.exceptions import HumanInputError


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
    def from_v2_incident(cls, name: str | None) -> AttackType | None:
        """Map a v2 incident's ``attack_type``; ``None`` for types this provider does not know."""
        if not isinstance(name, str):
            return None
        return _ALIASES.get(name.strip().lower())


_FEEDBACK = {AttackType.ATO: "ato", AttackType.FAKE_ACCOUNT: "fa"}
_V1 = {AttackType.ATO: "ato", AttackType.FAKE_ACCOUNT: "fake_account"}
# The vendor pages show "account_takeover"; the fake-account incident name is not shown,
# so "fake_account" is assumed and "fa" is accepted too (see docs/api-mapping.md).
_V2 = {AttackType.ATO: "account_takeover", AttackType.FAKE_ACCOUNT: "fake_account"}

_ALIASES: dict[str, AttackType] = {}
for _member in AttackType:
    for _spelling in (_member.value, _FEEDBACK[_member], _V1[_member], _V2[_member]):
        _ALIASES[_spelling] = _member
