"""Stable account sharding, so mapped tasks can split one day's work across Airflow workers."""

from __future__ import annotations

import zlib


def shard_of(account_id: str, count: int) -> int:
    """The same account always lands in the same shard, on every worker and Python version."""
    return zlib.crc32(account_id.encode("utf-8")) % count


def in_shard(account_id: str, index: int, count: int) -> bool:
    return count <= 1 or shard_of(account_id, count) == index
