"""Which lookup fields are personal data, and how to drop them before results leave a task."""

from __future__ import annotations

from typing import Any

# v2 top level, and each active incident's ``additional`` block.
ACCOUNT_PII_FIELDS = frozenset({"email"})
INCIDENT_PII_FIELDS = frozenset({"email", "ip", "city", "user_agent", "device_fingerprint"})


def drop_pii(info: dict[str, Any]) -> dict[str, Any]:
    """A copy of a serialised lookup without email, IP, city, user agent or device fingerprint."""
    clean = {k: v for k, v in info.items() if k not in ACCOUNT_PII_FIELDS}
    incidents = clean.get("active_incidents")
    if isinstance(incidents, list):
        clean["active_incidents"] = [_clean_incident(i) for i in incidents]
    return clean


def _clean_incident(incident: Any) -> Any:
    if not isinstance(incident, dict) or not isinstance(incident.get("additional"), dict):
        return incident
    additional = {k: v for k, v in incident["additional"].items() if k not in INCIDENT_PII_FIELDS}
    return {**incident, "additional": additional}
