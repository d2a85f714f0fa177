"""Monotonic seconds that pass only when a test says so, for the pacing of channels and sender.

Pacing code takes `clock` and `sleep` (channels.pacing.RateLimiter, the Telegram channel and its
FloodGuard); tests pass a ManualTime for both, so what the pacing lets through and what it holds
back is the same on a loaded machine as on an idle one. Timing goals live in bench/.
"""

from __future__ import annotations

import asyncio


class ManualTime:
    """Monotonic seconds that move only by `advance()` or, with `autojump`, by a sleep.

    A sleep waits until `advance()` moves the clock to its deadline; with `autojump` it moves the
    clock there itself, at once, so a test runs its waits without waiting. Sleeps are recorded.
    """

    def __init__(self, *, autojump: bool = False) -> None:
        # Seconds in [512, 1024): differences of whole and hundredth seconds come out exact.
        self.now = 1000.0
        self.autojump = autojump
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    @property
    def sleeping(self) -> int:
        """Sleeps waiting for the clock to move."""
        return sum(1 for _, waiter in self._sleepers if not waiter.done())

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has reached now + seconds (with autojump: move it there)."""
        self.sleeps.append(seconds)
        deadline = self.now + max(0.0, seconds)
        if self.autojump or deadline <= self.now:
            self.now = max(self.now, deadline)
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline, waiter))
        await waiter

    def advance(self, seconds: float) -> None:
        """Move the clock on and wake the sleeps it reached."""
        self.now += seconds
        due = [entry for entry in self._sleepers if entry[0] <= self.now]
        for entry in due:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)
