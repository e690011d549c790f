"""What the client's bulk calls return: one result per account, batch or identity."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import FeedbackResult, FeedbackStatus
from airflow_provider_human.client.responses import AccountInfoV1, AccountInfoV2, IdentityDetails
from airflow_provider_human.exceptions import HumanError


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
