"""A rate limit per client, kept in this process's memory: a leaky bucket per key.

Each key may make `per_minute` requests at once, then one more for every 60/per_minute seconds
that pass. The caller passes the time in (the hub's clock), so tests move it by hand. Behind a
load balancer each process keeps its own buckets: a client reaching several processes gets the
limit of each.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict

KEEP = 10_000  # keys remembered; the least recently seen are forgotten beyond this


class RateLimiter:
    """Counts requests per key; `take()` answers how long the key must wait."""

    def __init__(self, per_minute: int, keep: int = KEEP) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.keep = keep
        self._buckets: OrderedDict[str, tuple[float, dt.datetime]] = OrderedDict()

    def _level(self, key: str, now: dt.datetime) -> float:
        level, at = self._buckets.get(key, (0.0, now))
        leaked = max(0.0, (now - at).total_seconds()) * self.per_minute / 60
        return max(0.0, level - leaked)

    def take(self, key: str, now: dt.datetime) -> float:
        """Count one request of `key` and answer 0, or refuse it (not counted) and answer the
        seconds until one more is allowed. Synchronous: no other request comes in between."""
        level = self._level(key, now)
        if level + 1 > self.per_minute:
            return (level + 1 - self.per_minute) * 60 / self.per_minute
        self._buckets.pop(key, None)
        self._buckets[key] = (level + 1, now)
        while len(self._buckets) > self.keep:
            self._buckets.popitem(last=False)
        return 0.0
