"""Typed answers of the HUMAN endpoints, as the vendor pages document them.

Tolerant by design: unknown fields are kept, missing optional fields default, and a body
that does not fit raises :class:`HumanResponseError` naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_human.client.attack_types import AttackType, IncidentNames
from airflow_provider_human.exceptions import HumanResponseError


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class AccountInfoV1(_Response):
    """``GET /api/v1/account_defender/account/{account_id}``."""

    account_id: str
    is_under_attack: bool = False
    risk_score: int | None = Field(default=None, ge=0, le=100)
    is_manually_created: bool = False


class IncidentAdditional(_Response):
    account_age: float | None = None
    asn: str | None = None
    city: str | None = None
    country: str | None = None
    device_fingerprint: str | None = None
    email: str | None = None
    ip: str | None = None
    path: str | None = None
    user_agent: str | None = None
    vid: str | None = None


class ActiveIncident(_Response):
    attack_type: str
    event_type: str | None = None
    risk_score: float | None = None
    is_manually_created: bool = False
    incident_creation: datetime | None = None
    additional: IncidentAdditional | None = None

    @property
    def attack(self) -> AttackType | None:
        """The incident's attack type by the default names, or ``None`` for a name they do not list."""
        return AttackType.from_v2_incident(self.attack_type)


class AggregativeData(_Response):
    trigger_categories: list[str] = Field(default_factory=list)
    sensitive_transactions: list[str] = Field(default_factory=list)


class AccountInfoV2(_Response):
    """``GET /api/v2/account_defender/account/{account_id}``; holds personal data (email, IP, city)."""

    account_id: str
    exists: bool
    is_under_attack: bool = False
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    email: str | None = None
    registration_date: datetime | None = None
    active_incidents: list[ActiveIncident] = Field(default_factory=list)
    aggregative_data: AggregativeData | None = None

    def pending_attack_types(self, names: IncidentNames | None = None) -> set[AttackType]:
        """Attack types with a Pending incident (the v2 ``active_incidents``), named by ``names``
        (the ``v2_incident_names`` setting; default :data:`DEFAULT_INCIDENT_NAMES`). An unknown
        name is left out here: :func:`~airflow_provider_human.reconciliation.ad_state.read_ad_state`
        makes such a state ``ambiguous``, never "no incident"."""
        found = (AttackType.from_v2_incident(i.attack_type, names) for i in self.active_incidents)
        return {a for a in found if a is not None}


class InteractionDetails(_Response):
    asn: int | None = None
    at: float | None = None
    city: str | None = None
    country_code: str | None = None
    ja4_fingerprint: str | None = None
    lat_long: list[float] | None = None
    region_code: str | None = None
    remote_ip: str | None = None
    timezone: str | None = None
    user_agent: str | None = None


class IdentityFactorDetails(_Response):
    identifier: bool | None = None
    name: str | None = None
    nid: str | None = None
    persistent: bool | None = None
    type: str | None = None
    value: str | None = None


class IdentityDetails(_Response):
    """``details`` of a successful ``PUT /api/v1/identity/{identity_id}``."""

    id: str
    account_id: str | None = None
    domain_id: str | None = None
    pool_id: str | None = None
    status: str | None = None
    title: str | None = None
    type: str | None = None
    claims: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)
    factors: list[IdentityFactorDetails] = Field(default_factory=list)
    vid: str | None = None
    first_seen: InteractionDetails | None = None
    last_seen: InteractionDetails | None = None


_M = TypeVar("_M", bound=BaseModel)


def parse_response(model: type[_M], body: Any, *, method: str, path: str) -> _M:
    """Validate a 2xx body, turning pydantic's error into one that names the field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<body>"
        raise HumanResponseError(
            f"{model.__name__} response does not match the documented shape: field {where!r}: {first['msg']}",
            method=method,
            path=path,
        ) from None
