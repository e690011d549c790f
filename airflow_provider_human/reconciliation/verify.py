"""Does Account Defender already reflect a feedback upload whose fate is unknown?

Used only for in-doubt batches (a crash or an ambiguous error after the body may have
arrived). Resending blindly could open a second incident; this looks instead.
"""

from __future__ import annotations

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.models import AccountInfoV1, AccountInfoV2, FeedbackResult, FeedbackStatus


def needs_v1(result: FeedbackResult | None) -> bool:
    """v2 lists only Pending incidents; a Resolved false negative shows only through v1."""
    return result is FeedbackResult.MANUALLY_IDENTIFIED_AND_RESOLVED


def is_reflected(
    attack_type: AttackType,
    status: FeedbackStatus,
    result: FeedbackResult | None,
    v2: AccountInfoV2,
    v1: AccountInfoV1 | None = None,
) -> bool:
    """True when the account's current state is what the feedback would have produced.

    - ``resolved``/``no_attack`` and ``resolved``/``resolved`` close Pending incidents: reflected
      when no Pending incident of that type is left.
    - ``manually_identified`` and ``pending`` open a Pending incident: reflected when one is there.
    - ``manually_identified_and_resolved`` opens a Resolved, manually created incident: reflected
      when v1 (asked for that attack type) shows a manually created incident and no Pending one.
      HUMAN shows manually created incidents with risk 100, so v1 picks them among resolved ones.
    """
    pending = attack_type in v2.pending_attack_types() if v2.exists else False
    if status is FeedbackStatus.PENDING or result is FeedbackResult.MANUALLY_IDENTIFIED:
        return pending
    if result in (FeedbackResult.RESOLVED, FeedbackResult.NO_ATTACK):
        return not pending
    if v1 is None:
        raise ValueError("a v1 lookup is needed to verify manually_identified_and_resolved")
    return bool(v1.exists) and not v1.is_under_attack and v1.is_manually_created
