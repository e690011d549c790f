"""Plain-Python client for the HUMAN Account Defender and identity APIs (no Airflow import)."""

from __future__ import annotations

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.client.errors import (
    HumanAPIError,
    HumanAuthError,
    HumanBadRequestError,
    HumanConfigError,
    HumanConnectionError,
    HumanError,
    HumanFeedbackInDoubtError,
    HumanInputError,
    HumanNotFoundError,
    HumanRateLimitError,
    HumanResponseError,
    HumanServerError,
)
from airflow_provider_human.client.models import (
    AccountInfoV1,
    AccountInfoV2,
    AccountLookupResult,
    FeedbackRequest,
    FeedbackResult,
    FeedbackStatus,
    FeedbackUploadResult,
    IdentityDetails,
    IdentityUpdateResult,
)
from airflow_provider_human.client.settings import ClientSettings

__all__ = [
    "AccountInfoV1",
    "AccountInfoV2",
    "AccountLookupResult",
    "AttackType",
    "ClientSettings",
    "FeedbackRequest",
    "FeedbackResult",
    "FeedbackStatus",
    "FeedbackUploadResult",
    "HumanAPIError",
    "HumanAuthError",
    "HumanBadRequestError",
    "HumanClient",
    "HumanConfigError",
    "HumanConnectionError",
    "HumanError",
    "HumanFeedbackInDoubtError",
    "HumanInputError",
    "HumanNotFoundError",
    "HumanRateLimitError",
    "HumanResponseError",
    "HumanServerError",
    "IdentityDetails",
    "IdentityUpdateResult",
]
