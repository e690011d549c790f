"""Counts said in words: "1 account", "2 accounts", never "1 accounts" (issue 26).

Log lines and messages are read by people; a count with the wrong number reads as a bug.
"""

from __future__ import annotations


def counted(n: int, one: str, many: str | None = None) -> str:
    """``counted(1, "item waits", "items wait")`` -> ``1 item waits``; ``many`` defaults to ``one + "s"``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
