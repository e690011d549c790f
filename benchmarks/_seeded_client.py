"""A client whose lookups come from a pre-seeded state (for engine benchmarks).

The engine benchmark measures reading, deduplicating, deciding and grouping a million
outcomes; a million HTTP lookups would only measure the rate limit. Uploads are counted
(or passed to a real client when one is given).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from airflow_provider_human.client import ClientSettings
from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import FeedbackRequest
from airflow_provider_human.client.responses import AccountInfoV2
from airflow_provider_human.client.results import AccountLookupResult

ATO_PENDING = AccountInfoV2.model_validate(
    {
        "account_id": "x",
        "exists": True,
        "is_under_attack": True,
        "active_incidents": [{"attack_type": "account_takeover"}],
    }
)
FA_PENDING = AccountInfoV2.model_validate(
    {"account_id": "x", "exists": True, "is_under_attack": True, "active_incidents": [{"attack_type": "fake_account"}]}
)
NONE = AccountInfoV2.model_validate({"account_id": "x", "exists": True, "is_under_attack": False})
UNKNOWN = AccountInfoV2.model_validate({"account_id": "x", "exists": False})
STATES = [ATO_PENDING, FA_PENDING, NONE, UNKNOWN]


def seeded_state(account_id: str) -> AccountInfoV2:
    """Deterministic per account: a quarter each pending ATO, pending fake account, none, unknown."""
    return STATES[zlib.crc32(account_id.encode()) % 4]


class SeededLookupClient:
    def __init__(self, batch_size: int = 1000, upload_client=None) -> None:
        self.settings = ClientSettings(token="benchmark-token", feedback_batch_size=batch_size)
        self.upload_client = upload_client
        self.uploads: list[tuple[AttackType, str, str | None, int]] = []

    def iter_account_info(self, account_ids: Iterable[str], **_: object) -> Iterator[AccountLookupResult]:
        for account_id in account_ids:
            yield AccountLookupResult(account_id, info=seeded_state(account_id))

    def send_feedback(self, batch: FeedbackRequest) -> int:
        self.uploads.append((batch.attack_type, batch.status.value, batch.result.value if batch.result else None,
                             len(batch.account_ids)))  # fmt: skip
        return self.upload_client.send_feedback(batch) if self.upload_client else 200
