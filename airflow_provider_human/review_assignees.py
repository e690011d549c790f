"""Who may answer the reconciliation's review: ``[human] review_assignees``.

Without assigned users, Airflow lets any user who may edit the DAG answer a HITL request
(``Mark as applied`` records an upload as sent without sending it). A deployment names the
people once, in airflow.cfg or ``AIRFLOW__HUMAN__REVIEW_ASSIGNEES``, and the example DAG
passes them as the review's ``assigned_users``. Read at DAG parse time from Airflow's
configuration only (no database, no Variable), so parsing stays cheap.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_human.exceptions import HumanInputError

CONFIG_SECTION = "human"
CONFIG_KEY = "review_assignees"
FIELD = f"[{CONFIG_SECTION}] {CONFIG_KEY}"


def parse_assignees(value: str | None) -> list[dict[str, str]] | None:
    """``"id1:Name One, id2"`` or a JSON list of ``{"id", "name"}`` → HITL users; empty → ``None``.

    The id is what the auth manager calls the user's id: the user name with the simple auth
    manager, the numeric id with FAB (Airflow compares it with ``user.get_id()``).
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            entries: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HumanInputError(FIELD, text, f"is not valid JSON ({exc.msg})") from None
        users = [_from_json(entry, text) for entry in entries]
    else:
        users = [_from_text(part.strip(), text) for part in text.split(",") if part.strip()]
    if not users:
        raise HumanInputError(FIELD, text, "names no user")
    return users


def configured_assignees() -> list[dict[str, str]] | None:
    """The review's ``assigned_users`` from Airflow's configuration (``None``: anyone who may edit the DAG)."""
    from airflow.sdk import conf

    return parse_assignees(conf.get(CONFIG_SECTION, CONFIG_KEY, fallback=None))


def _from_text(part: str, whole: str) -> dict[str, str]:
    user_id, _, name = part.partition(":")
    if not user_id.strip():
        raise HumanInputError(FIELD, whole, f"entry {part!r} has no user id (use id or id:name)")
    return {"id": user_id.strip(), "name": name.strip() or user_id.strip()}


def _from_json(entry: Any, whole: str) -> dict[str, str]:
    if not isinstance(entry, dict) or not str(entry.get("id") or "").strip():
        raise HumanInputError(FIELD, whole, f"entry {entry!r} must be an object with an id (and a name)")
    user_id = str(entry["id"]).strip()
    return {"id": user_id, "name": str(entry.get("name") or user_id)}
