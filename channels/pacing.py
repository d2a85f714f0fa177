"""Pacing: never more than `limit` sends in any window of `per` seconds.

Platforms count requests in sliding windows (Telegram: about 30 a second per bot, 20 a minute per
group; WhatsApp: 80 a second per number). A token bucket lets a full burst through and then refills,
which can put twice the limit into one window; this limiter remembers the last `limit` grants and
waits until the oldest leaves the window, with a margin of 1 % (10 ms a second) for the jitter
between the moment a send is granted and the moment the platform counts it. (Telegram sends also
pass the channel's FloodGuard, which counts them as Telegram does.)

A limiter that has to wait wakes on a grid of ticks shared by every limiter in the process (about
a tenth of a second, a whole fraction of its window): the sends that became due in between go
together, and the limiters of all channel accounts wake at the same moments. Each wake-up of a
sleeping process costs CPU (on a virtual machine, more than the work of several sends), so the
pacing wakes the process about ten times a second whatever the rates and the number of accounts.
Nothing leaves earlier than the window allows and a send leaves at most a tick later; the
throughput stays the limit's, because the window is a whole number of ticks: sends that went
together on a tick become due together exactly on a later tick.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

# The longest tick. A limiter's own tick divides its window: 0.101 s for the usual 1.01 s.
MAX_TICK = 0.101


class RateLimiter:
    def __init__(
        self,
        limit: int,
        per: float = 1.0,
        *,
        margin: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = per * (1 + margin)
        self.tick = self.window / math.ceil(self.window / MAX_TICK)
        # A send due this close ahead may go now: a timer fires a little early or late, and
        # waiting a whole tick for that would lose throughput. Half the margin: the window
        # still holds, with half of its margin left for the jitter.
        self.early = per * margin / 2
        self._grants: deque[float] = deque(maxlen=limit)
        self._lock = asyncio.Lock()
        self._paused_until = 0.0
        self._clock = clock
        self._sleep = sleep

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (the platform said retry_after)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def delay(self) -> float:
        """Seconds until the next send may go, without taking it (0 when it may go now)."""
        now = self._clock()
        wait = self._paused_until - now
        if len(self._grants) == self.limit:
            wait = max(wait, self._grants[0] + self.window - now)
        return max(0.0, wait)

    def take(self) -> None:
        """Record a send made now (after delay() said 0)."""
        self._grants.append(self._clock())

    async def acquire(self, ready: Callable[[], Awaitable[object]] | None = None) -> None:
        """Wait until a send may go, and count it.

        `ready`, when given, is awaited once the window allows and before the send is counted:
        the caller's own limit (a place among the sends in flight) is waited for in turn, so a
        send waiting for the window holds no such place, and a send is counted only when it goes.
        """
        async with self._lock:
            await self._wait_for_window()
            if ready is not None:
                await ready()
                await self._wait_for_window()  # a pause may have come meanwhile
            self.take()

    async def _wait_for_window(self) -> None:
        # A computed wait, not a poll: the window tells exactly when the next send may go.
        while True:
            now = self._clock()
            due = now + max(0.0, self._paused_until - now)  # the platform's pause: not a bit early
            if len(self._grants) == self.limit:
                due = max(due, self._grants[0] + self.window - self.early)
            if due <= now:
                return
            await self._sleep(math.ceil(due / self.tick) * self.tick - now)
