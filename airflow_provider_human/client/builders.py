"""Request builders: the one place where input for a HUMAN endpoint is converted and validated.

Every builder refuses bad input with a :class:`HumanInputError` naming the field and the
value, before any request is sent; what it returns can only be sent as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.coerce import to_int
from airflow_provider_human.exceptions import HumanInputError, Redacted


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
    def creates_incident(self) -> bool:
        """True for the false-negative results, which open a new incident each time they are sent."""
        return self in (FeedbackResult.MANUALLY_IDENTIFIED, FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED)


class FactorType(StrEnum):
    EMAIL = "email"


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
            raise HumanInputError(field, Redacted(raw), "each factor must be an object {name, type, value}")
        name, value = raw.get("name"), raw.get("value")
        type_ = _parse_enum(FactorType, raw.get("type", "email"), f"{field}.type")
        if not isinstance(name, str) or not name.strip():
            raise HumanInputError(f"{field}.name", name, "must be a non-empty factor name")
        if not isinstance(value, str) or not _EMAIL.match(value):
            raise HumanInputError(f"{field}.value", Redacted(value), "must be an email address")
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
                raise HumanInputError("factors", Redacted(factors), "must be a list of factor objects")
            parsed_factors = tuple(IdentityFactor.parse(f, f"factors[{i}]") for i, f in enumerate(factors))
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise HumanInputError("metadata", Redacted(metadata), "must be an object of string to string")
            for key, value in metadata.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise HumanInputError(f"metadata[{key!r}]", Redacted(value), "keys and values must be strings")
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


IDENTITY_UPDATE_KEYS = frozenset({"identity_id", "factors", "metadata"})


def identity_updates(items: Iterable[object], field: str = "updates") -> list[IdentityUpdate]:
    """Every bulk identity update built and checked, before the first request; errors say which item."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise HumanInputError(field, Redacted(items), "must be a list of objects {identity_id, factors, metadata}")
    return [identity_update(item, f"{field}[{index}]") for index, item in enumerate(items)]


def identity_update(item: object, where: str = "updates[]") -> IdentityUpdate:
    """One bulk item (an :class:`IdentityUpdate` already built, or a mapping) as an :class:`IdentityUpdate`."""
    if isinstance(item, IdentityUpdate):
        return item
    if not isinstance(item, Mapping):
        raise HumanInputError(where, Redacted(item), "must be an object {identity_id, factors, metadata}")
    unknown = sorted(set(item) - IDENTITY_UPDATE_KEYS)
    if unknown:
        raise HumanInputError(f"{where}.{unknown[0]}", Redacted(item[unknown[0]]), "is not a known key")
    try:
        return IdentityUpdate.build(item.get("identity_id"), item.get("factors"), item.get("metadata"))
    except HumanInputError as exc:
        raise HumanInputError(f"{where}.{exc.field}", exc.value, exc.problem) from None


def account_ids(values: Iterable[object], field: str = "account_ids") -> tuple[list[str], int]:
    """Every id checked and repeats dropped (order kept); returns (unique ids, how many came in)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise HumanInputError(field, values, "must be a list of account ids")
    unique: dict[str, None] = {}
    count = 0
    for index, raw in enumerate(values):
        unique[validate_account_id(raw, f"{field}[{index}]")] = None
        count += 1
    return list(unique), count


def days_range(value: object) -> int:
    """The v2 lookup's window in days."""
    return to_int(value, "days_range")


def v1_attack_types(values: Iterable[object] | object | None) -> list[AttackType] | None:
    """The v1 lookup's ``attack_types`` filter: ``None`` (absent), or a list, possibly empty (``[]``)."""
    if values is None:
        return None
    if isinstance(values, str | AttackType):
        values = [values]
    if not isinstance(values, Iterable):
        raise HumanInputError("attack_types", values, "must be a list of attack types")
    return [AttackType.parse(a, "attack_types") for a in values]


def path_segment(value: str, field: str = "account_id") -> str:
    """Percent-encode an id as exactly one path segment (``/ ? #`` and ``%`` included).

    ``.`` and ``..`` are refused: they are dot-segments, which URL normalisation removes
    (``requests`` itself turns ``%2E`` back into ``.``), so no encoding reaches HUMAN intact.
    """
    return quote(refuse_dot_segment(value, field), safe="")
