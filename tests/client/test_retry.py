from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_human.client.retry import parse_retry_after

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("-4", 0.0), ("9999", 120.0), ("Sat, 21 Nov 2026 12:00:07 GMT", 7.0),
     ("Sat, 21 Nov 2026 11:00:00 GMT", 0.0), ("soon", None), ("", None), (None, None)],
)  # fmt: skip
def test_retry_after_seconds_and_http_date_capped(header, expected):
    assert parse_retry_after(header, cap=120.0, now=NOW) == expected
