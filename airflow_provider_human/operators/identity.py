"""HumanUpdateIdentityOperator: update identities' email factors and metadata, one or in bulk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_human.client import HumanError, HumanInputError
from airflow_provider_human.client.models import IdentityUpdate
from airflow_provider_human.operators.base import HumanBaseOperator, as_bool, as_list


class HumanIdentityUpdateFailedError(HumanError):
    """Some identity updates failed; the others were applied."""


class HumanUpdateIdentityOperator(HumanBaseOperator):
    """``PUT /api/v1/identity/{identity_id}`` for one identity or many.

    Give ``identity_id`` with ``factors`` and/or ``metadata``, or ``updates=[{identity_id,
    factors, metadata}, ...]`` for bulk (applied concurrently, rate limited). Every update
    is validated before the first request. XCom gets counts and ids, never the identity
    details (they hold personal data).

    :param identity_id: the identity to update (templated).
    :param factors: e.g. ``[{"name": "email", "type": "email", "value": "a@example.com"}]`` (templated).
    :param metadata: string-to-string map (templated).
    :param updates: bulk form, instead of the three above (templated).
    :param fail_on_error: fail the task if any update failed (after applying the rest).
    :param max_workers: concurrent updates; default from the connection.

    Like every HUMAN operator it also takes ``human_conn_id`` (see :class:`HumanBaseOperator`).
    """

    template_fields: Sequence[str] = ("identity_id", "factors", "metadata", "updates")
    template_fields_renderers = {"factors": "json", "metadata": "json", "updates": "json"}

    def __init__(
        self,
        *,
        identity_id: str | None = None,
        factors: Any = None,
        metadata: Any = None,
        updates: Any = None,
        fail_on_error: bool = True,
        max_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (identity_id is None) == (updates is None):
            raise HumanInputError("identity_id/updates", None, "give exactly one of identity_id or updates")
        self.identity_id = identity_id
        self.factors = factors
        self.metadata = metadata
        self.updates = updates
        self.fail_on_error = fail_on_error
        self.max_workers = max_workers

    def run(self, context: Any) -> dict[str, Any]:
        updates = self._validated_updates()
        if not updates:  # a quiet day upstream: nothing changed, nothing to send, nothing wrong
            self.log.info("HUMAN identities: 0 identities to update (updates is empty)")
            return {"updated": 0, "failed": 0, "failures": []}
        results = self.hook.iter_update_identity(
            ({"identity_id": u.identity_id, "factors": u.factors, "metadata": u.metadata} for u in updates),
            max_workers=self.max_workers,
        )
        updated: list[str] = []
        failures: list[dict[str, str]] = []
        for result in results:
            if result.ok:
                updated.append(result.identity_id)
            else:
                failures.append({"identity_id": result.identity_id, "error": str(result.error)})
        self.log.info("HUMAN identities: %d updated, %d failed", len(updated), len(failures))
        if failures and as_bool(self.fail_on_error, "fail_on_error"):
            shown = "; ".join(f"{f['identity_id']}: {f['error']}" for f in failures[:5])
            raise HumanIdentityUpdateFailedError(f"{len(failures)} of {len(updates)} identity updates failed: {shown}")
        return {"updated": len(updated), "failed": len(failures), "failures": failures[:100]}

    def _validated_updates(self) -> list[IdentityUpdate]:
        if self.updates is None:
            return [IdentityUpdate.build(self.identity_id, _maybe_list(self.factors), self.metadata)]
        items = as_list(self.updates, "updates")
        validated = []
        for index, item in enumerate(items):
            where = f"updates[{index}]"
            if not isinstance(item, Mapping):
                raise HumanInputError(where, item, "must be an object {identity_id, factors, metadata}")
            unknown = set(item) - {"identity_id", "factors", "metadata"}
            if unknown:
                raise HumanInputError(f"{where}.{sorted(unknown)[0]}", item[sorted(unknown)[0]], "is not a known key")
            try:
                validated.append(
                    IdentityUpdate.build(item.get("identity_id"), item.get("factors"), item.get("metadata"))
                )
            except HumanInputError as exc:
                raise HumanInputError(f"{where}.{exc.field}", exc.value, exc.problem) from None
        return validated


def _maybe_list(value: Any) -> Any:
    return None if value is None else as_list(value, "factors")
