"""Did HUMAN apply a feedback upload whose answer never said so? Rules from the vendor pages only.

Used for uploads in doubt (a crash or an ambiguous answer after the body may have arrived).
Resending blindly could open a second incident, marking as sent blindly could lose one, so
each result is judged by what v2 documents, and where nothing documented can tell, a
person decides (``needs_review``). v1 is not used: its documented fields cannot tell a
new resolved manual incident from an older one.

=====================================  ======================================================
result sent                            judged applied when
=====================================  ======================================================
resolved/resolved, resolved/no_attack  no Pending incident of that attack type is left
                                       (closing feedback; the state it asks for holds)
resolved/manually_identified, pending  a Pending, manually created incident of that type
                                       created after the batch was marked (minus clock skew)
resolved/manually_identified_and_      never: it opens a Resolved incident and v2 lists only
resolved                               Pending ones. Never resent, never marked sent.
=====================================  ======================================================

An incident whose v2 ``attack_type`` this provider cannot map might be of the type in
question: where one is present and the answer depends on it, the upload needs review.
"""

from __future__ import annotations

from datetime import UTC
from enum import StrEnum

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import FeedbackResult, FeedbackStatus
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.reconciliation.ad_state import IncidentNames


class Applied(StrEnum):
    YES = "applied"  # mark sent
    NO = "not_applied"  # send again (through the fenced path)
    UNKNOWN = "unknown"  # needs a person


def was_applied(
    attack_type: AttackType,
    status: FeedbackStatus,
    result: FeedbackResult | None,
    info: AccountInfoV2,
    *,
    marked_at: float | None,
    clock_skew_seconds: float = 300.0,
    names: IncidentNames | None = None,
) -> tuple[Applied, str]:
    """Judge one in-doubt upload from a fresh v2 lookup; returns the answer and why, in words."""
    names = names or IncidentNames()
    if result is FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED:
        return Applied.UNKNOWN, "manually_identified_and_resolved opens a Resolved incident, which no lookup shows"
    incidents = info.active_incidents if info.exists else []
    of_type = [i for i in incidents if names.attack_of(i) is attack_type]
    unmapped = names.unmapped(incidents)
    if status is FeedbackStatus.RESOLVED and result in (FeedbackResult.RESOLVED, FeedbackResult.NO_ATTACK):
        if of_type:
            return Applied.NO, f"a Pending {attack_type.value} incident is still open"
        if unmapped:
            return Applied.UNKNOWN, f"Pending incidents of types this provider cannot map: {unmapped}"
        return Applied.YES, f"no Pending {attack_type.value} incident is left"
    # manually_identified or pending: opens a Pending, manually created incident
    manual = [i for i in of_type if i.is_manually_created]
    if marked_at is not None:
        since = marked_at - clock_skew_seconds
        fresh = [
            i
            for i in manual
            if i.incident_creation is not None and i.incident_creation.astimezone(UTC).timestamp() >= since
        ]
    else:
        fresh = []
    if fresh:
        return Applied.YES, "a Pending manually created incident opened after the upload"
    if manual:
        return Applied.UNKNOWN, "a Pending manually created incident exists, but not clearly opened by this upload"
    if unmapped:
        return Applied.UNKNOWN, f"Pending incidents of types this provider cannot map: {unmapped}"
    return Applied.NO, f"no Pending manually created {attack_type.value} incident"
