"""Pacing: never more than `limit` sends in any window of `per` seconds.

Platforms count requests in sliding windows (Telegram: about 30 a second per bot, 20 a minute per
group; WhatsApp: 80 a second per number). A token bucket lets a full burst through and then refills,
which can put twice the limit into one window; this limiter remembers the last `limit` grants and
waits until the oldest leaves the window, with a small margin for network jitter.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class RateLimiter:
    def __init__(self, limit: int, per: float = 1.0, *, margin: float = 0.02) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = per * (1 + margin)
        self._grants: deque[float] = deque(maxlen=limit)
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (the platform said retry_after)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def delay(self) -> float:
        """Seconds until the next send may go, without taking it (0 when it may go now)."""
        now = time.monotonic()
        wait = self._paused_until - now
        if len(self._grants) == self.limit:
            wait = max(wait, self._grants[0] + self.window - now)
        return max(0.0, wait)

    def take(self) -> None:
        """Record a send made now (after delay() said 0)."""
        self._grants.append(time.monotonic())

    async def acquire(self) -> None:
        """Wait until a send may go, and count it."""
        async with self._lock:
            # A computed wait, not a poll: the window tells exactly when the next send may go.
            while (wait := self.delay()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
            self.take()
