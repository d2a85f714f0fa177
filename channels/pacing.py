"""Pacing: never more than `limit` sends in any window of `per` seconds.

Platforms count requests in sliding windows (Telegram: about 30 a second per bot, 20 a minute per
group; WhatsApp: 80 a second per number). A token bucket lets a full burst through and then refills,
which can put twice the limit into one window; this limiter remembers the last `limit` grants and
waits until the oldest leaves the window, with a margin of 1 % (10 ms a second) for the jitter
between the moment a send is counted here and the moment the platform counts it. (Telegram sends
also pass the channel's FloodGuard, which counts them as Telegram does.)

A limiter that had to sleep sleeps again no sooner than TICK after it woke: the sends that became
due in between go together, so the pacing wakes the process at most 1/TICK times a second per
channel account whatever the rate (each wake-up of a sleeping process costs CPU, on a virtual
machine as much as the work of a send). Nothing leaves earlier than the window allows and a send
leaves at most TICK later; the throughput stays the limit's, because sends that went together
become due together one window later, when the limiter wakes for them at once, exactly then.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

TICK = 0.1  # seconds
# A wake-up this close before the window allows counts as on time: event loops fire timers up to
# their clock's resolution early, and sleeping again for that would cost a tick.
EARLY = 0.001


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
        self._woke_at = -TICK  # when a wait for the window last ended
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

    async def acquire(self, ready: Callable[[], Awaitable[bool]] | None = None) -> bool:
        """Wait until a send may go, and count it; False if `ready` said it is not to go.

        `ready`, when given, is awaited once the window allows and before the send is counted:
        what the caller must wait for or look at first (a place among the sends in flight, the
        database) is done in turn, so a send waiting for the window holds no such place, and the
        send is counted right before it goes: the time counted is the time it leaves, whatever
        `ready` waited for.
        """
        async with self._lock:
            await self._wait_for_window()
            if ready is not None:
                if not await ready():
                    return False
                await self._wait_for_window()  # a pause may have come meanwhile
            self.take()
            return True

    async def _wait_for_window(self) -> None:
        # A computed wait, not a poll: the window tells exactly when the next send may go.
        while (wait := self.delay()) > EARLY:
            await self._sleep(max(wait, self._woke_at + TICK - self._clock()))
            self._woke_at = self._clock()
