"""Plain-Python client for the HUMAN Account Defender and identity APIs (no Airflow import)."""

from __future__ import annotations

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import FeedbackRequest, FeedbackResult, FeedbackStatus
from airflow_provider_human.client.client import HumanClient
from airflow_provider_human.client.responses import AccountInfoV1, AccountInfoV2, IdentityDetails
from airflow_provider_human.client.results import AccountLookupResult, FeedbackUploadResult, IdentityUpdateResult
from airflow_provider_human.client.settings import ClientSettings
from airflow_provider_human.exceptions import (
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
