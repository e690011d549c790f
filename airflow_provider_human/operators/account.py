"""HumanAccountInfoOperator: look up many accounts (v1 or v2), results to XCom or a JSON Lines file."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_human.assets import file_uri, lookup_files_alias
from airflow_provider_human.client import AccountLookupResult
from airflow_provider_human.client.attack_types import AttackType
from airflow_provider_human.client.builders import validate_account_id
from airflow_provider_human.client.coerce import to_bool, to_int, to_list, to_optional_list
from airflow_provider_human.exceptions import HumanAPIError, HumanInputError, HumanLookupFailedError
from airflow_provider_human.operators.base import HumanBaseOperator
from airflow_provider_human.pii import drop_pii
from airflow_provider_human.words import counted


class HumanAccountInfoOperator(HumanBaseOperator):
    """Look accounts up in Account Defender, concurrently and rate limited.

    Small results go to XCom. With ``output_path`` every result is written as one JSON line
    and XCom carries only the path and counts. Personal fields (email, IP, city, user
    agent, device fingerprint) are dropped unless ``include_pii=True``.

    :param account_ids: one id, a list, or an XCom of a list (templated).
    :param api_version: 2 (default, recommended by HUMAN) or 1.
    :param days_range: v2 window for aggregative data, in days (templated).
    :param attack_types: v1 only: ``ato`` and/or ``fake_account`` (templated).
    :param output_path: local path or object storage URL for JSON Lines output (templated).
    :param include_pii: keep personal fields in the output.
    :param fail_on_error: fail the task if any lookup failed (after writing the rest).
    :param max_xcom_results: without ``output_path``, refuse more ids than this (XCom is not a data store).
    :param max_workers: concurrent lookups; default from the connection.

    Like every HUMAN operator it also takes ``human_conn_id`` (see :class:`HumanBaseOperator`).
    With ``output_path`` its outlet is the alias :func:`~airflow_provider_human.assets.lookup_files_alias`
    of the connection: a try that succeeds adds an event of the file it wrote (``file:///…``,
    ``s3://bucket/key``) with the five counts.
    """

    template_fields: Sequence[str] = (
        "account_ids", "api_version", "attack_types", "days_range", "output_path", "include_pii",
    )  # fmt: skip
    template_fields_renderers = {"account_ids": "json", "attack_types": "json"}

    def __init__(
        self,
        *,
        account_ids: Any,
        api_version: int = 2,
        days_range: int | str = 30,
        attack_types: Any = None,
        output_path: str | ObjectStoragePath | None = None,
        include_pii: bool = False,
        fail_on_error: bool = True,
        max_xcom_results: int = 1000,
        max_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(api_version, str):  # a template is checked once rendered
            _api_version(api_version)
        self.account_ids = account_ids
        self.api_version = api_version
        self.days_range = days_range
        self.attack_types = attack_types
        self.output_path = output_path
        self.include_pii = include_pii
        self.fail_on_error = fail_on_error
        self.max_xcom_results = max_xcom_results
        self.max_workers = max_workers
        if output_path not in (None, ""):
            alias = lookup_files_alias(self.human_conn_id)
            self.outlets = [*[o for o in self.outlets if getattr(o, "name", None) != alias.name], alias]

    def run(self, context: Any) -> dict[str, Any]:
        # every id checked before the first request (the client, which streams, reports a bad one per account)
        ids = [
            validate_account_id(raw, f"account_ids[{i}]")
            for i, raw in enumerate(to_list(self.account_ids, "account_ids"))
        ]
        days_range = to_int(self.days_range, "days_range")
        attack_types = to_optional_list(self.attack_types, "attack_types")
        if attack_types is not None:
            attack_types = [AttackType.parse(a, "attack_types") for a in attack_types]
        include_pii = to_bool(self.include_pii, "include_pii")
        api_version = _api_version(self.api_version)
        output = _output_path(self.output_path)
        if output is None and len(ids) > self.max_xcom_results:
            raise HumanInputError(
                "account_ids",
                f"<{len(ids)} ids>",
                f"more than max_xcom_results={self.max_xcom_results}: set output_path to write a file",
            )
        results = self.hook.iter_account_info(
            ids,
            api_version=api_version,
            days_range=days_range,
            attack_types=attack_types,
            max_workers=self.max_workers,
        )
        counts: Counter[str] = Counter()
        failures: list[dict[str, Any]] = []
        errors: list[BaseException] = []  # for a retry policy: which failures another try can fix
        records: list[dict[str, Any]] = []

        def consume(write: Any) -> None:
            for result in results:
                record = lookup_record(result, include_pii)
                _count(counts, result)
                if not result.ok:
                    failures.append(record)
                    errors.append(result.error)  # type: ignore[arg-type]
                write(record)

        if output is None:
            consume(records.append)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w") as handle:
                consume(lambda r: handle.write(json.dumps(r, default=str) + "\n"))

        where = f" -> {output}" if output is not None else " -> XCom"
        self.log.info(
            "HUMAN lookup (v%d): %s, %d found, %d unknown, %d under attack, %d failed%s",
            api_version,
            counted(counts["total"], "account"),
            counts["found"],
            counts["unknown"],
            counts["under_attack"],
            counts["failed"],
            where,
        )
        if failures and to_bool(self.fail_on_error, "fail_on_error"):
            shown = "; ".join(f"{f['account_id']}: {f['error']['message']}" for f in failures[:5])
            raise HumanLookupFailedError(f"{len(failures)} of {counts['total']} lookups failed: {shown}", errors=errors)
        summary = {k: counts[k] for k in ("total", "found", "unknown", "under_attack", "failed")}
        if output is None:
            return {**summary, "results": records}
        self._file_event(context, output, summary)
        return {**summary, "output_path": str(output)}

    def _file_event(self, context: Any, output: ObjectStoragePath, summary: dict[str, int]) -> None:
        """The file written, as lineage and as an event of its asset (through the connection's alias)."""
        uri = file_uri(output)
        self.touched.wrote(uri, output)
        events = context.get("outlet_events") if context else None
        if events is not None:
            from airflow.sdk import Asset

            events[lookup_files_alias(self.human_conn_id)].add(Asset(name=uri, uri=uri), extra=dict(summary))


def _api_version(value: Any) -> int:
    version = to_int(value, "api_version")
    if version not in (1, 2):
        raise HumanInputError("api_version", value, "must be 1 or 2")
    return version


def lookup_record(result: AccountLookupResult, include_pii: bool) -> dict[str, Any]:
    """One JSON-ready line per account: ``{account_id, ok, info}`` or ``{account_id, ok, error}``."""
    if result.info is not None:
        info = result.info.model_dump(mode="json", exclude_none=True)
        return {"account_id": result.account_id, "ok": True, "info": info if include_pii else drop_pii(info)}
    error = result.error
    return {
        "account_id": result.account_id,
        "ok": False,
        "error": {
            "type": type(error).__name__,
            "status_code": error.http_status if isinstance(error, HumanAPIError) else None,
            "message": str(error),
        },
    }


def _count(counts: Counter[str], result: AccountLookupResult) -> None:
    counts["total"] += 1
    if result.info is None:
        counts["failed"] += 1
        return
    exists = getattr(result.info, "exists", None)
    counts["unknown" if exists is False else "found"] += 1
    if result.info.is_under_attack:
        counts["under_attack"] += 1


def _output_path(value: Any) -> ObjectStoragePath | None:
    if value in (None, ""):
        return None
    if isinstance(value, ObjectStoragePath):
        return value
    text = str(value)
    if "://" not in text:
        text = "file://" + os.path.abspath(text)
    return ObjectStoragePath(text)
