"""Pacing: never more than `limit` sends in any window of `per` seconds.

Platforms count requests in sliding windows (Telegram: about 30 a second per bot, 20 a minute per
group; WhatsApp: 80 a second per number). A token bucket lets a full burst through and then refills,
which can put twice the limit into one window; this limiter remembers the last `limit` grants and
waits until the oldest leaves the window, with a margin of 1 % (10 ms a second) for the jitter
between the moment a send is granted and the moment the platform counts it. (Telegram sends also
pass the channel's FloodGuard, which counts them as Telegram does.)

A limiter that had to sleep sleeps again no sooner than TICK after it woke: the sends that became
due in between go together, so the pacing wakes the process at most 1/TICK times a second per
channel account whatever the rate (each wake-up of a sleeping process costs CPU, on virtual
machines more than the work of a send). Nothing leaves earlier than the window allows and a send
leaves at most TICK later; the throughput stays the limit's, because sends that went together
become due together one window later, when the limiter wakes for them at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

TICK = 0.05  # seconds
# A wake-up this close before the window allows counts as on time: event loops fire timers up to
# their clock's resolution early, and sleeping again for that would cost a tick.
EARLY = 0.001


class RateLimiter:
    def __init__(self, limit: int, per: float = 1.0, *, margin: float = 0.01) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = per * (1 + margin)
        self._grants: deque[float] = deque(maxlen=limit)
        self._lock = asyncio.Lock()
        self._paused_until = 0.0
        self._woke_at = -TICK  # when acquire() last woke from a sleep

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
            while (wait := self.delay()) > EARLY:
                await asyncio.sleep(max(wait, self._woke_at + TICK - time.monotonic()))
                self._woke_at = time.monotonic()
            self.take()
