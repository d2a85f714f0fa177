"""Telegram's limits on the wire: the flood guard and each chat's pace."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from channels.base import SendError, SendErrorReason
from channels.pacing import RateLimiter

# Seconds send() waits for a chat's turn; longer: a held THROTTLED (the hub sends it again then).
MAX_CHAT_WAIT = 1.5
CHAT_IDLE_SECONDS = 60.0  # per-chat pacing state is forgotten after this long unused
# Round trips the flood guard remembers; the fastest of them stands for the network's delay.
ROUND_TRIP_SAMPLES = 100


class FloodGuard:
    """At most `limit` requests in any `window` seconds as Telegram counts them, jitter or not.

    The hub paces the bot with a RateLimiter at the moment it grants a send; between that moment
    and Telegram's own count lie our event loop, the network and Telegram's queues, and a burst
    that arrives late against the next one that arrives early trips the limit. This guard counts
    a request from when it leaves until `window` after Telegram counted it, which is at the
    latest its answer less the way back. The way back is not measured apart; half the fastest
    recent round trip stands for it: a request that leaves a window after that moment still
    arrives a window after the earlier one was counted, as its own way there takes at least the
    other half (see docs/telegram.md). Keeping (in flight + counted within the window) below
    `limit` keeps Telegram's count within it.
    Used as `async with guard.request():` around each request; waiters queue in order. It counts
    on `clock` and waits with `sleep` (monotonic seconds; tests pass a clock of their own).
    """

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._counted: deque[float] = (
            deque()
        )  # when Telegram counted answered requests, oldest first
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._answer = asyncio.Event()
        self._round_trips: deque[float] = deque(maxlen=ROUND_TRIP_SAMPLES)

    def _wait(self) -> float | None:
        """Seconds until a request may leave; 0 for now, None until the next answer."""
        now = self._clock()
        while self._counted and self._counted[0] <= now - self.window:
            self._counted.popleft()
        if len(self._counted) + self._in_flight < self.limit:
            return 0.0
        if not self._counted:
            return None
        return self._counted[0] + self.window - now

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Wait for the request's turn, then hold its place until a window after its count."""
        if self._lock.locked() or self._wait() != 0.0:
            async with self._lock:  # one waiter polls the clock; the rest queue behind it
                while (wait := self._wait()) != 0.0:
                    if wait is None:
                        self._answer.clear()
                        await self._answer.wait()
                    else:
                        await self._sleep(wait)
        self._in_flight += 1
        left_at = self._clock()
        try:
            yield
        finally:
            answered_at = self._clock()
            self._round_trips.append(answered_at - left_at)
            self._in_flight -= 1
            counted_at = answered_at - min(self._round_trips) / 2
            # Kept in order, later rather than sooner: the oldest leaves the window first.
            if self._counted and counted_at < self._counted[-1]:
                counted_at = self._counted[-1]
            self._counted.append(counted_at)
            self._answer.set()


@dataclass
class _Chat:
    limiter: RateLimiter
    last_used: float
    waiting: int = 0


class ChatPace:
    """Each chat's own limit: one message a second to a private chat, `group_messages_per_minute`
    to a group. A send waits for its chat's turn when it comes within `max_wait` seconds; a later
    one is a held THROTTLED SendError, which the hub sends again then without counting it."""

    def __init__(
        self,
        *,
        group_messages_per_minute: int,
        private_window: float = 1.0,
        group_window: float = 60.0,
        max_wait: float = MAX_CHAT_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._group_limit = group_messages_per_minute
        self._private_window = private_window
        self._group_window = group_window
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self.chats: dict[int, _Chat] = {}
        self._next_sweep = 0.0

    async def pace(self, chat_id: int) -> None:
        """Wait for the chat's turn if it comes within max_chat_wait; else a held SendError."""
        now = self._clock()
        if now >= self._next_sweep:
            self.forget_idle(now)
        pace = self.chats.get(chat_id)
        if pace is None:
            if chat_id < 0:
                limiter = RateLimiter(
                    self._group_limit,
                    self._group_window,
                    clock=self._clock,
                    sleep=self._sleep,
                )
            else:
                limiter = RateLimiter(1, self._private_window, clock=self._clock, sleep=self._sleep)
            pace = self.chats[chat_id] = _Chat(limiter, now)
        limiter = pace.limiter
        wait = limiter.delay()
        if pace.waiting:
            # Sends already queued for this chat go first; assume each takes a full slot.
            wait += pace.waiting * limiter.window / limiter.limit
        if wait > self._max_wait:
            # Our own pacing, not Telegram's answer: the hub sends it when the chat's turn comes.
            raise SendError(
                SendErrorReason.THROTTLED,
                f"chat {chat_id} is at Telegram's per-chat limit",
                retry_after=round(wait, 3),
                held=True,
            )
        pace.last_used = now
        if wait == 0:
            limiter.take()  # no await between delay() and take(): no other send slips in
            return
        pace.waiting += 1
        try:
            await limiter.acquire()
        finally:
            pace.waiting -= 1
            pace.last_used = self._clock()

    def forget_idle(self, now: float) -> None:
        """Keep the per-chat map bounded: drop chats unused for a minute (their window is empty)."""
        self._next_sweep = now + CHAT_IDLE_SECONDS / 4
        idle = [
            chat_id
            for chat_id, pace in self.chats.items()
            if not pace.waiting
            and now - pace.last_used > max(CHAT_IDLE_SECONDS, pace.limiter.window)
        ]
        for chat_id in idle:
            del self.chats[chat_id]
