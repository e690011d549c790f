"""Typed request and response shapes of the four HUMAN endpoints.

Responses are tolerant: unknown fields are kept, missing optional fields default, and a
body that does not fit raises :class:`HumanResponseError` naming the field. Requests are
validated up front so that nothing invalid is ever sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.errors import HumanError, HumanInputError, HumanResponseError

# ---------------------------------------------------------------- enums


class FeedbackStatus(StrEnum):
    """``status`` of an ``update_status`` upload."""

    PENDING = "pending"
    RESOLVED = "resolved"


class FeedbackResult(StrEnum):
    """``result`` of an ``update_status`` upload; required when status is ``resolved``."""

    NO_ATTACK = "no_attack"
    RESOLVED = "resolved"
    MANUALLY_IDENTIFIED_AND_RESOLVED = "manually_identified_and_resolved"
    MANUALLY_IDENTIFIED = "manually_identified"

    @property
    def meaning(self) -> str:
        return _RESULT_MEANING[self]

    @property
    def creates_incident(self) -> bool:
        """True for the false-negative results, which open a new incident each time they are sent."""
        return self in (FeedbackResult.MANUALLY_IDENTIFIED, FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED)


_RESULT_MEANING = {
    FeedbackResult.NO_ATTACK: "false positive",
    FeedbackResult.RESOLVED: "true positive",
    FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED: "false negative (Resolved tab)",
    FeedbackResult.MANUALLY_IDENTIFIED: "false negative (Pending tab)",
}


class IdentityStatus(StrEnum):
    EXTANT = "extant"
    DELETED = "deleted"


class FactorType(StrEnum):
    EMAIL = "email"


class IdentityErrorCode(StrEnum):
    """``code`` of the identity service's error body."""

    BAD_REQUEST = "bad_request"
    BAD_AUTHTOKEN = "bad_authtoken"
    NOT_AUTHENTICATED = "not_authenticated"
    NOT_PERMITTED = "not_permitted"
    NOT_IMPLEMENTED = "not_implemented"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"
    UNEXPECTED_REF_TYPE = "unexpected_ref_type"
    UNEXPECTED = "unexpected"
    INVALID_ACTION = "invalid_action"
    INVALID_VALUE = "invalid_value"
    REQUIRED_VALUE = "required_value"


# ---------------------------------------------------------------- responses


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
        """The incident's attack type, or ``None`` if HUMAN reports one this provider does not know."""
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

    def pending_attack_types(self) -> set[AttackType]:
        """Attack types with a Pending incident (the v2 ``active_incidents``)."""
        return {i.attack for i in self.active_incidents if i.attack is not None}


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


class IdentityErrorBody(_Response):
    status: str = "error"
    code: str | None = None
    message: str | None = None


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


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class FeedbackRequest:
    """One ``update_status`` call: many accounts sharing (attack type, status, result, comment)."""

    account_ids: tuple[str, ...]
    attack_type: AttackType
    status: FeedbackStatus
    result: FeedbackResult | None = None
    comment: str | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "accountIds": list(self.account_ids),
            "attackType": self.attack_type.feedback_code,
            "status": self.status.value,
        }
        if self.result is not None:
            body["result"] = self.result.value
        if self.comment is not None:
            body["comment"] = self.comment
        return body


@dataclass(frozen=True)
class FeedbackGroupKey:
    """What a batch shares: outcomes with equal keys travel in one request."""

    attack_type: AttackType
    status: FeedbackStatus
    result: FeedbackResult | None
    comment: str | None

    @classmethod
    def build(
        cls,
        *,
        attack_type: object,
        status: object,
        result: object = None,
        comment: object = None,
    ) -> FeedbackGroupKey:
        """Validate the shared values; raises :class:`HumanInputError` naming the field."""
        attack = AttackType.parse(attack_type, "attack_type")
        status_ = _parse_enum(FeedbackStatus, status, "status")
        result_ = None if result in (None, "") else _parse_enum(FeedbackResult, result, "result")
        if status_ is FeedbackStatus.RESOLVED and result_ is None:
            raise HumanInputError("result", result, "is required when status is 'resolved'")
        if status_ is FeedbackStatus.PENDING and result_ is not None:
            raise HumanInputError("result", result, "must be empty when status is 'pending'")
        if comment is not None and not isinstance(comment, str):
            raise HumanInputError("comment", comment, "must be a string")
        return cls(attack, status_, result_, comment)

    def request(self, account_ids: Iterable[str]) -> FeedbackRequest:
        return FeedbackRequest(tuple(account_ids), self.attack_type, self.status, self.result, self.comment)


def validate_account_id(value: object, field: str = "account_id") -> str:
    """Account ids are non-empty strings (ints are accepted and converted)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise HumanInputError(field, value, "must be a non-empty string")
    text = str(value)
    if not text.strip():
        raise HumanInputError(field, value, "must be a non-empty string")
    return text


def refuse_dot_segment(text: str, field: str) -> str:
    """An id that goes into a URL path: ``.`` and ``..`` are dot-segments, which URL
    normalisation removes (``requests`` turns ``%2E`` back into ``.``); no encoding carries them."""
    if text in (".", ".."):
        raise HumanInputError(field, text, "is a dot-segment ('.' or '..'), which no URL can carry as an id")
    return text


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class IdentityFactor:
    """An email factor (the only kind the identity API documents today)."""

    name: str
    value: str
    type: FactorType = FactorType.EMAIL

    @classmethod
    def parse(cls, raw: object, field: str = "factors") -> IdentityFactor:
        if isinstance(raw, IdentityFactor):
            return raw
        if not isinstance(raw, Mapping):
            raise HumanInputError(field, raw, "each factor must be an object {name, type, value}")
        name, value = raw.get("name"), raw.get("value")
        type_ = _parse_enum(FactorType, raw.get("type", "email"), f"{field}.type")
        if not isinstance(name, str) or not name.strip():
            raise HumanInputError(f"{field}.name", name, "must be a non-empty factor name")
        if not isinstance(value, str) or not _EMAIL.match(value):
            raise HumanInputError(f"{field}.value", value, "must be an email address")
        return cls(name=name, value=value, type=type_)

    def to_body(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type.value, "value": self.value}


@dataclass(frozen=True)
class IdentityUpdate:
    """``Identity_DetailsForUpdate``: the body of an identity PUT."""

    identity_id: str
    factors: tuple[IdentityFactor, ...] | None = None
    metadata: Mapping[str, str] | None = field(default=None)

    @classmethod
    def build(cls, identity_id: object, factors: object = None, metadata: object = None) -> IdentityUpdate:
        ident = refuse_dot_segment(validate_account_id(identity_id, "identity_id"), "identity_id")
        parsed_factors = None
        if factors is not None:
            if isinstance(factors, str | bytes | Mapping) or not isinstance(factors, Iterable):
                raise HumanInputError("factors", factors, "must be a list of factor objects")
            parsed_factors = tuple(IdentityFactor.parse(f, f"factors[{i}]") for i, f in enumerate(factors))
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise HumanInputError("metadata", metadata, "must be an object of string to string")
            for key, value in metadata.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise HumanInputError(f"metadata[{key!r}]", value, "keys and values must be strings")
            metadata = dict(metadata)
        if parsed_factors is None and metadata is None:
            raise HumanInputError("factors/metadata", None, "give factors, metadata or both")
        return cls(ident, parsed_factors, metadata)  # type: ignore[arg-type]

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.factors is not None:
            body["factors"] = [f.to_body() for f in self.factors]
        if self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        return body


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class AccountLookupResult:
    """One account's outcome in :meth:`HumanClient.iter_account_info`: the info or the error."""

    account_id: str
    info: AccountInfoV1 | AccountInfoV2 | None = None
    error: HumanError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class FeedbackBatchResult:
    batch_number: int
    attack_type: AttackType
    status: FeedbackStatus
    result: FeedbackResult | None
    account_count: int
    status_code: int


@dataclass
class FeedbackUploadResult:
    """What :meth:`HumanClient.upload_feedback` sent: one entry per batch (request)."""

    batches: list[FeedbackBatchResult] = field(default_factory=list)
    accounts_submitted: int = 0
    duplicates_dropped: int = 0

    @property
    def requests(self) -> int:
        return len(self.batches)

    @property
    def accounts_sent(self) -> int:
        return sum(b.account_count for b in self.batches)


@dataclass(frozen=True)
class IdentityUpdateResult:
    identity_id: str
    details: IdentityDetails | None = None
    error: HumanError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_E = TypeVar("_E", bound=Enum)


def _parse_enum(enum: type[_E], value: object, field: str) -> _E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value.strip().lower())
        except ValueError:
            pass
    raise HumanInputError(field, value, f"must be one of {[m.value for m in enum]}")
