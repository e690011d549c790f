"""HumanUpdateIdentityOperator: update identities' email factors and metadata, one or in bulk."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_human.client.builders import IdentityUpdate, identity_update, identity_updates
from airflow_provider_human.client.coerce import to_bool, to_list
from airflow_provider_human.exceptions import HumanIdentityUpdateFailedError, HumanInputError, Redacted
from airflow_provider_human.operators.base import HumanBaseOperator, task_owner


class HumanUpdateIdentityOperator(HumanBaseOperator):
    """``PUT /api/v1/identity/{identity_id}`` for one identity or many.

    Give ``identity_id`` with ``factors`` and/or ``metadata``, or ``updates=[{identity_id,
    factors, metadata}, ...]`` for bulk (applied concurrently, rate limited), or
    ``updates_path``: a JSON Lines file of such objects, so that e-mail addresses never pass
    through XCom. Every update is validated before the first request. XCom gets counts and
    ids, never the identity details (they hold personal data).

    :param identity_id: the identity to update (templated).
    :param factors: e.g. ``[{"name": "email", "type": "email", "value": "a@example.com"}]`` (templated).
    :param metadata: string-to-string map (templated).
    :param updates: bulk form, instead of the three above (templated).
    :param updates_path: bulk form from a JSON Lines file, local path or object-storage URL
        (templated); an upstream task writes it and passes only the path.
    :param delete_updates_file: delete ``updates_path`` once every update was applied (it holds
        personal data); kept when some failed, for the retry.
    :param fail_on_error: fail the task if any update failed (after applying the rest).
    :param max_workers: concurrent updates; default from the connection.
    :param ledger_conn_id: SQL connection of the reconciliation's ledger: each applied update is
        recorded there (``human_identity_updates``: ids and times, never the details), and a
        retry of this task instance sends only the identities not recorded yet. Off when ``None``.

    Like every HUMAN operator it also takes ``human_conn_id`` (see :class:`HumanBaseOperator`).
    """

    template_fields: Sequence[str] = ("identity_id", "factors", "metadata", "updates", "updates_path")
    template_fields_renderers = {"factors": "json", "metadata": "json", "updates": "json"}

    def __init__(
        self,
        *,
        identity_id: str | None = None,
        factors: Any = None,
        metadata: Any = None,
        updates: Any = None,
        updates_path: str | None = None,
        delete_updates_file: bool = True,
        fail_on_error: bool = True,
        max_workers: int | None = None,
        ledger_conn_id: str | None = None,
        identity_table: str = "human_identity_updates",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id
        self.identity_table = identity_table
        if sum(x is not None for x in (identity_id, updates, updates_path)) != 1:
            raise HumanInputError(
                "identity_id/updates/updates_path", None, "give exactly one of identity_id, updates or updates_path"
            )
        self.identity_id = identity_id
        self.factors = factors
        self.metadata = metadata
        self.updates = updates
        self.updates_path = updates_path
        self.delete_updates_file = delete_updates_file
        self.fail_on_error = fail_on_error
        self.max_workers = max_workers

    def run(self, context: Any) -> dict[str, Any]:
        updates = self._validated_updates()
        if not updates:  # a quiet day upstream: nothing changed, nothing to send, nothing wrong
            self.log.info("HUMAN identities: 0 identities to update (updates is empty)")
            self._forget_updates_file()
            return {"updated": 0, "failed": 0, "failures": []}
        record, owner, skipped = self._record(context), task_owner(context, self.task_id), 0
        if record is not None:
            done = record.applied(owner)
            skipped = sum(1 for u in updates if u.identity_id in done)
            updates = [u for u in updates if u.identity_id not in done]
            if skipped:
                self.log.info("HUMAN identities: %d already updated by an earlier try of this task: not sent again",
                              skipped)  # fmt: skip
        results = self.hook.iter_update_identity(updates, max_workers=self.max_workers) if updates else []
        updated: list[str] = []
        failures: list[dict[str, str]] = []
        errors: list[BaseException] = []  # for a retry policy: which failures another try can fix
        for result in results:
            if result.ok:
                updated.append(result.identity_id)
                if record is not None:
                    record.record(owner, [result.identity_id])  # at once: a crash later loses none of it
            else:
                failures.append({"identity_id": result.identity_id, "error": str(result.error)})
                errors.append(result.error)  # type: ignore[arg-type]
        self.log.info("HUMAN identities: %d updated, %d failed%s", len(updated), len(failures),
                      f", {skipped} updated by an earlier try" if skipped else "")  # fmt: skip
        if failures and to_bool(self.fail_on_error, "fail_on_error"):
            shown = "; ".join(f"{f['identity_id']}: {f['error']}" for f in failures[:5])
            raise HumanIdentityUpdateFailedError(
                f"{len(failures)} of {len(updates)} identity updates failed: {shown}", errors=errors
            )
        if not failures:
            self._forget_updates_file()
        summary = {"updated": len(updated), "failed": len(failures), "failures": failures[:100]}
        return {**summary, "already_updated": skipped} if record is not None else summary

    def _record(self, context: Any) -> Any:
        if not self.ledger_conn_id:
            return None
        from airflow_provider_human.reconciliation.identity_record import IdentityRecord
        from airflow_provider_human.reconciliation.sources import sql_engine

        record = IdentityRecord(sql_engine(self.ledger_conn_id), table=self.identity_table)
        record.ensure_schema()
        return record

    def _validated_updates(self) -> list[IdentityUpdate]:
        if self.updates_path is not None:
            lines = _read_jsonl(str(self.updates_path))
            return [identity_update(item, f"updates_path line {number}") for number, item in lines]
        if self.updates is None:
            return [IdentityUpdate.build(self.identity_id, _maybe_list(self.factors), self.metadata)]
        return identity_updates(to_list(self.updates, "updates"))

    def _forget_updates_file(self) -> None:
        if self.updates_path is not None and to_bool(self.delete_updates_file, "delete_updates_file"):
            ObjectStoragePath(str(self.updates_path)).unlink(missing_ok=True)
            self.log.info("Deleted %s (it held personal data and every update was applied)", self.updates_path)


def _read_jsonl(location: str) -> list[tuple[int, Any]]:
    """(line number, update object) of a JSON Lines file; a line that is not JSON is refused by number."""
    items: list[tuple[int, Any]] = []
    path = ObjectStoragePath(location)
    if not path.exists():
        raise HumanInputError("updates_path", location, "does not exist (it is deleted once every update was "
                              "applied: to apply a day again, run the task that writes it first)")  # fmt: skip
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                items.append((number, json.loads(line)))
            except ValueError:
                raise HumanInputError(f"updates_path line {number}", Redacted(line.strip()), "is not JSON") from None
    return items


def _maybe_list(value: Any) -> Any:
    return None if value is None else to_list(value, "factors")
