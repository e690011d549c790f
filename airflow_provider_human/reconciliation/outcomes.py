"""Case outcomes: what a row from the case-management export must hold, and why a row is rejected."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.exceptions import HumanInputError


class Verdict(StrEnum):
    """What the fraud team concluded when it closed the case."""

    CONFIRMED_FRAUD = "confirmed_fraud"
    LEGITIMATE = "legitimate"
    SUSPECTED_FRAUD = "suspected_fraud"


class RejectReason(StrEnum):
    MISSING_CASE_ID = "missing_case_id"
    MISSING_ACCOUNT_ID = "missing_account_id"
    INVALID_CASE_ID = "invalid_case_id"
    INVALID_ACCOUNT_ID = "invalid_account_id"
    UNKNOWN_VERDICT = "unknown_verdict"
    UNKNOWN_ATTACK_TYPE = "unknown_attack_type"
    UNPARSEABLE_CLOSED_AT = "unparseable_closed_at"
    UNPARSEABLE_ROW = "unparseable_row"
    INVALID_TEXT = "invalid_text"  # not UTF-8, or NUL / control characters (the comment)
    CSV_ROW_SPANS_LINES = "csv_row_spans_lines"  # a quoted field that does not end on its line
    CSV_FIELD_TOO_LONG = "csv_field_too_long"  # a field longer than the source's max_field_chars


FIELDS = ("case_id", "account_id", "attack_type", "verdict", "closed_at", "comment")
# A source that cannot even split a row into fields yields {UNPARSEABLE_ROW_KEY: <the text>}.
UNPARSEABLE_ROW_KEY = "_unparseable_row"
# A source that split a row but saw it is broken (a CSV row spanning lines) adds
# {SOURCE_REJECT_KEY: (RejectReason, detail)}: the row is still dated, so only its own day rejects it.
SOURCE_REJECT_KEY = "_source_reject"
#: Characters a comment may hold beyond printable text; every other control character is a reject.
COMMENT_CONTROLS = frozenset("\t\n\r")


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One validated case outcome; ``closed_at`` is timezone-aware UTC."""

    case_id: str
    account_id: str
    attack_type: AttackType
    verdict: Verdict
    closed_at: datetime
    comment: str | None = None
    #: The ledger's spelling of ``closed_at``: fixed-width UTC ISO, so keys compare exactly (computed once).
    closed_at_key: str = field(init=False, compare=False, repr=False)
    #: What the export says beyond the key (verdict, comment): another value means the row was edited in place.
    fingerprint: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "closed_at_key", format_utc(self.closed_at))
        object.__setattr__(self, "fingerprint", fingerprint(self.verdict, self.comment))

    @classmethod
    def restore(
        cls,
        case_id: str,
        account_id: str,
        attack_type: AttackType,
        verdict: Verdict,
        closed_at_key: str,
        comment: str | None,
        fingerprint: str,
    ) -> CaseOutcome:
        """An outcome this run already validated and keyed (the staging table): nothing is computed again."""
        closed_at = datetime.fromisoformat(closed_at_key)
        return cls._assemble(case_id, account_id, attack_type, verdict, closed_at, comment, closed_at_key, fingerprint)

    @classmethod
    def _assemble(
        cls,
        case_id: str,
        account_id: str,
        attack_type: AttackType,
        verdict: Verdict,
        closed_at: datetime,
        comment: str | None,
        closed_at_key: str,
        fingerprint: str,
    ) -> CaseOutcome:
        """Every field set as the frozen dataclass's own ``__init__`` would, through the slots'
        own setters (faster than a loop of ``object.__setattr__``: docs/benchmarks.md, "CaseOutcome.build")."""
        outcome = _new(cls)
        _set_case_id(outcome, case_id)
        _set_account_id(outcome, account_id)
        _set_attack_type(outcome, attack_type)
        _set_verdict(outcome, verdict)
        _set_closed_at(outcome, closed_at)
        _set_comment(outcome, comment)
        _set_closed_at_key(outcome, closed_at_key)
        _set_fingerprint(outcome, fingerprint)
        return outcome


_new = object.__new__
# Each slot's descriptor writes its field directly (a frozen dataclass only guards __setattr__).
_SETTERS = {f.name: CaseOutcome.__dict__[f.name].__set__ for f in dataclass_fields(CaseOutcome)}
# By name (a property test compares _assemble with the dataclass's own __init__).
_set_case_id, _set_account_id = _SETTERS["case_id"], _SETTERS["account_id"]
_set_attack_type, _set_verdict = _SETTERS["attack_type"], _SETTERS["verdict"]
_set_closed_at, _set_comment = _SETTERS["closed_at"], _SETTERS["comment"]
_set_closed_at_key, _set_fingerprint = _SETTERS["closed_at_key"], _SETTERS["fingerprint"]


def fingerprint(verdict: Verdict, comment: str | None) -> str:
    """What an export row says beyond its key: a changed value means the row was edited in place."""
    text = f"{verdict._value_}\x1f{comment or ''}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


_FINGERPRINTS: dict[tuple[Verdict, str | None], str] = {}  # most rows share a few (verdict, comment) pairs


def _fingerprint_of(verdict: Verdict, comment: str | None) -> str:
    """:func:`fingerprint`, remembered for up to 4,096 (verdict, comment) pairs."""
    key = (verdict, comment)
    found = _FINGERPRINTS.get(key)
    if found is None:
        if len(_FINGERPRINTS) >= 4096:
            _FINGERPRINTS.clear()
        found = _FINGERPRINTS[key] = fingerprint(verdict, comment)
    return found


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: RejectReason
    detail: str
    raw: Mapping[str, Any]

    @property
    def row_hash(self) -> str:
        keys = (*FIELDS, UNPARSEABLE_ROW_KEY)
        canonical = json.dumps({k: _jsonable(self.raw.get(k)) for k in keys}, sort_keys=True, default=str)
        return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()


def format_utc(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds and ``Z`` (isoformat: several times faster than strftime)."""
    return _utc_key(moment.astimezone(UTC))


def _utc_key(moment: datetime) -> str:
    """:func:`format_utc` of a moment already in UTC: its isoformat with ``Z`` for ``+00:00``
    (``replace(tzinfo=None)`` first cost as much as the formatting itself)."""
    text = moment.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware moment as a plain ``datetime`` in UTC, whatever its zone (pendulum's too)."""
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """Datetimes and ISO 8601 text; naive values are taken as UTC. ``None`` when unparseable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return _as_utc(moment)


def _as_utc(moment: datetime) -> datetime | None:
    """Naive values are UTC; ``None`` when the moment has no UTC form (year 1 with a positive offset)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def parse_outcome(
    raw: Mapping[str, Any], within: tuple[datetime, datetime] | None = None
) -> CaseOutcome | Rejected | None:
    """Validate one row; a bad row becomes a :class:`Rejected` with the reason, never an exception.

    ``closed_at`` is checked first: a row that cannot be dated belongs to no interval (every
    run reads it, and it is rejected the same way each time). With ``within``, a row dated
    outside ``[start, end)`` is another interval's and gives ``None``, whatever else is wrong
    with it; the source's own filter is not trusted for this (SQLite compares text). A row
    its source marked broken (``SOURCE_REJECT_KEY``) is rejected with the source's reason.
    """
    if UNPARSEABLE_ROW_KEY in raw:
        return Rejected(RejectReason.UNPARSEABLE_ROW, escaped(raw[UNPARSEABLE_ROW_KEY], 200), raw)
    get = raw.get
    closed_at = _parse_closed_at(get("closed_at"))
    if closed_at is not None and within is not None and not within[0] <= closed_at < within[1]:
        return None
    if SOURCE_REJECT_KEY in raw:
        reason, detail = raw[SOURCE_REJECT_KEY]
        return Rejected(RejectReason(reason), detail, raw)
    if closed_at is None:
        shown = f"case {_shown_case(get('case_id'))}: closed_at={excerpt(get('closed_at'))}"
        return Rejected(RejectReason.UNPARSEABLE_CLOSED_AT, shown, raw)
    case_id = _text(get("case_id"))
    if case_id is None:
        return Rejected(RejectReason.MISSING_CASE_ID, "case_id is empty", raw)
    if not _storable(case_id):
        return Rejected(RejectReason.INVALID_CASE_ID, f"case_id={excerpt(case_id, 80)}: {_why_not(case_id)}", raw)
    account_id = _text(get("account_id"))
    if account_id is None:
        return Rejected(RejectReason.MISSING_ACCOUNT_ID, f"case {case_id}: account_id is empty", raw)
    if not _storable(account_id):
        return Rejected(
            RejectReason.INVALID_ACCOUNT_ID,
            f"case {case_id}: account_id={excerpt(account_id, 80)}: {_why_not(account_id)}",
            raw,
        )
    given = get("attack_type")
    attack_type = _ATTACK_TYPES.get(given) if type(given) is str else None  # exact spellings: a dict lookup
    if attack_type is None:
        try:
            attack_type = AttackType.parse(get("attack_type"))
        except HumanInputError:
            return Rejected(
                RejectReason.UNKNOWN_ATTACK_TYPE, f"case {case_id}: attack_type={excerpt(get('attack_type'))}", raw
            )
    given = get("verdict")
    verdict = _VERDICTS.get(given) if type(given) is str else None
    if verdict is None:
        verdict = _VERDICTS.get((_text(get("verdict")) or "").lower())
        if verdict is None:
            return Rejected(RejectReason.UNKNOWN_VERDICT, f"case {case_id}: verdict={excerpt(get('verdict'))}", raw)
    comment = get("comment")
    if comment is not None and type(comment) is not str:
        comment = str(comment)
    comment = comment or None
    if comment is not None and not comment.isprintable():  # the common case costs one C call
        problem = text_problem(comment, COMMENT_CONTROLS)
        if problem is not None:
            return Rejected(RejectReason.INVALID_TEXT, f"case {case_id}: comment holds {problem}", raw)
    # Checked above, closed_at already UTC: built without the dataclass's per-field __init__ and
    # __post_init__, which cost more than the parsing itself on a million rows.
    return CaseOutcome._assemble(
        case_id, account_id, attack_type, verdict, closed_at, comment, _utc_key(closed_at),
        _fingerprint_of(verdict, comment),
    )  # fmt: skip


def _parse_closed_at(value: Any) -> datetime | None:
    """:func:`parse_timestamp`, with the common case (ISO text with an offset) first."""
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return parse_timestamp(value)  # surrounding spaces, or not a timestamp at all
        return moment if moment.tzinfo is UTC else _as_utc(moment)
    return parse_timestamp(value)


_VERDICTS = {v.value: v for v in Verdict}  # a dict lookup: Enum's constructor is slow on a million rows
_ATTACK_TYPES: dict[Any, AttackType] = {a.value: a for a in AttackType}

#: The ledger's id columns hold this many characters; longer ids could never be claimed.
MAX_ID_LENGTH = 255


def _storable(text: str) -> bool:
    return len(text) <= MAX_ID_LENGTH and text.isprintable() and text not in (".", "..")


def _why_not(text: str) -> str:
    if len(text) > MAX_ID_LENGTH:
        return f"{len(text)} characters, more than the ledger's {MAX_ID_LENGTH}"
    if text in (".", ".."):
        return "a dot-segment, which no URL can carry as an id"
    return f"holds {text_problem(text) or 'characters that are not printable'}"


def text_problem(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """What makes ``text`` unfit to store or send, with its position; ``None`` when nothing does.

    Lone surrogates (a JSON ``"\\ud800"``, or a byte that is not UTF-8, which the sources read as
    ``\\udc80``-``\\udcff``) cannot be encoded as UTF-8; NUL cannot be stored by PostgreSQL; other
    control characters (C0, DEL, C1) are refused unless ``allowed``. Never the whole text.
    """
    for position, char in enumerate(text):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            what = (f"byte 0x{code - 0xDC00:02x}, which is not UTF-8," if code >= 0xDC80
                    else f"a lone surrogate U+{code:04X}, which is not UTF-8,")  # fmt: skip
        elif (code < 0x20 or 0x7F <= code <= 0x9F) and char not in allowed:
            what = "NUL" if code == 0 else f"control character U+{code:04X}"
        else:
            continue
        return f"{what} at position {position} (near {escaped(text[max(0, position - 10) : position + 10], 20)})"
    return None


def excerpt(value: Any, limit: int = 40) -> str:
    """A value as a message may show it: escaped (``repr``), at most ``limit`` characters of it."""
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def escaped(value: Any, limit: int = 80) -> str:
    """Up to ``limit`` characters of ``value`` with every unprintable one escaped, without quotes."""
    text = str(value)[:limit]
    return text if text.isprintable() else repr(text)[1:-1]


def _shown_case(value: Any) -> str:
    """A case id for a message, escaped when it is long or unprintable (not yet validated)."""
    text = _text(value)
    if text is None:
        return "?"
    return text if len(text) <= 80 and text.isprintable() else excerpt(text)


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
