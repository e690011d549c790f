"""The shared rate budget in Redis (where a Celery deployment already runs one): the optional ``redis`` extra.

Per budget key, a sorted set of holders scored by lease end and a hash with the slowdown
state. Each operation is one Lua script, so it is atomic and uses the Redis server's clock
(``TIME``): holders on different machines agree on who is alive.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_human.budget.shares import BudgetView, Slowdown
from airflow_provider_human.exceptions import HumanConfigError

PREFIX = "human:rate_budget:"

_NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
_VIEW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
local s = redis.call('HMGET', KEYS[2], 'factor', 'slow_until', 'pause_until')
local factor = 1.0
if s[1] and tonumber(s[2]) > now then factor = tonumber(s[1]) end
local pause = 0.0
if s[3] then pause = math.max(tonumber(s[3]) - now, 0.0) end
return {live, tostring(factor), tostring(pause)}
"""
_BEAT = _NOW + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], 3600)
""" + _VIEW  # fmt: skip
_RATE_LIMITED = _NOW + """
local s = redis.call('HMGET', KEYS[2], 'factor', 'slow_until', 'lowered_at', 'pause_until')
local watching = s[1] and tonumber(s[2]) > now
local factor = 1.0
if watching then factor = tonumber(s[1]) end
local slow_for, lower, debounce, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not watching then
  redis.call('HSET', KEYS[2], 'lowered_at', tostring(now))
elseif (now - tonumber(s[3] or '0')) >= debounce then
  factor = math.max(factor * lower, floor)
  redis.call('HSET', KEYS[2], 'lowered_at', tostring(now))
end
redis.call('HSET', KEYS[2], 'factor', tostring(factor), 'slow_until', tostring(now + slow_for))
local retry_after = tonumber(ARGV[5])
if retry_after > 0 then
  redis.call('HSET', KEYS[2], 'pause_until', tostring(math.max(tonumber(s[4] or '0'), now + retry_after)))
end
redis.call('EXPIRE', KEYS[2], math.ceil(slow_for + retry_after + 60))
""" + _VIEW  # fmt: skip


_BEHIND = (
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '(' .. ARGV[1])
"""
)


def redis_client(**kwargs: Any) -> Any:
    """A ``redis.Redis``; a clear error where the optional package is missing."""
    try:
        import redis
    except ImportError:
        raise HumanConfigError(
            "The rate budget names a Redis connection, but the redis package is not installed: "
            "pip install 'airflow-provider-human[redis]'"
        ) from None
    return redis.Redis(**kwargs)


class RedisBudgetStore:
    """The budget's holders and slowdown in Redis; one round trip per beat."""

    name = "redis"

    def __init__(self, client: Any) -> None:
        self.client = client
        self._beat = client.register_script(_BEAT)
        self._rate_limited = client.register_script(_RATE_LIMITED)
        self._behind = client.register_script(_BEHIND)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"{PREFIX}{key}:holders", f"{PREFIX}{key}:state"]

    @staticmethod
    def _view(answer: list[Any]) -> BudgetView:
        live, factor, pause = answer
        return BudgetView(live_holders=max(int(live), 1), factor=float(factor), pause_seconds=float(pause))

    def beat(self, key: str, holder: str, lease_seconds: float) -> BudgetView:
        return self._view(self._beat(keys=self._keys(key), args=[holder, lease_seconds]))

    def live_holders(self, key: str) -> int:
        """How many holders of ``key`` hold a lease now (read only: for reports and tests)."""
        seconds, micros = self.client.time()
        return int(self.client.zcount(self._keys(key)[0], f"({seconds + micros / 1e6}", "+inf"))

    def lease_end(self, key: str, holder: str) -> float | None:
        """When ``holder``'s lease ends (the server's clock), or None if it holds none."""
        score = self.client.zscore(self._keys(key)[0], holder)
        return None if score is None else float(score)

    def behind(self, key: str, holder: str, since: float) -> int:
        """Other live holders whose lease ends before ``since``: they have not beaten since it was given."""
        return int(self._behind(keys=self._keys(key)[:1], args=[repr(since)]))

    def leave(self, key: str, holder: str) -> None:
        self.client.zrem(self._keys(key)[0], holder)

    def rate_limited(self, key: str, retry_after: float | None, slowdown: Slowdown) -> BudgetView:
        args = [slowdown.seconds, slowdown.factor, slowdown.debounce, slowdown.floor, retry_after or 0]
        return self._view(self._rate_limited(keys=self._keys(key), args=args))
