"""The rate limiter on a simulated clock: the window holds, sends go in clumps, none is lost."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from channels.pacing import EARLY, TICK, RateLimiter


class SimulatedTime:
    """A clock that moves only when a limiter sleeps; every sleep is recorded."""

    def __init__(self, start: float = 1000.03) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, "a limiter never sleeps for nothing"
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def limiter(time: SimulatedTime, limit: int, per: float = 1.0) -> RateLimiter:
    return RateLimiter(limit, per, clock=time.clock, sleep=time.sleep)


async def grant_times(rate_limiter: RateLimiter, time: SimulatedTime, count: int) -> list[float]:
    times = []
    for _ in range(count):
        await rate_limiter.acquire()
        times.append(time.now)
    return times


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of grants within any span of `window` seconds (sliding)."""
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


@pytest.mark.parametrize(("limit", "per"), [(30, 1.0), (80, 1.0), (20, 60.0), (1, 1.0)])
async def test_never_more_than_the_limit_in_any_window(limit: int, per: float) -> None:
    time = SimulatedTime()
    times = await grant_times(limiter(time, limit, per), time, limit * 5)
    # The platform's own window (without our margin), less what the limiter may spend on a
    # timer firing early, still never sees more than the limit.
    assert most_in_any_window(times, per * 1.01 - EARLY) <= limit


async def test_a_limiter_wakes_at_most_once_a_tick() -> None:
    time = SimulatedTime()
    rate_limiter = limiter(time, 80)
    await grant_times(rate_limiter, time, 80 * 10)
    woke_at = []
    at = 1000.03
    for seconds in time.sleeps:
        at += seconds
        woke_at.append(at)
    assert woke_at, "the limiter had to wait"
    gaps = [later - earlier for earlier, later in itertools.pairwise(woke_at)]
    assert min(gaps) >= TICK - 1e-9  # the sends due in between went together
    assert len(woke_at) <= 10 / TICK + 1


async def test_throughput_is_the_limit_despite_the_ticks() -> None:
    time = SimulatedTime()
    rate_limiter = limiter(time, 30)
    times = await grant_times(rate_limiter, time, 30 * 20)
    elapsed = times[-1] - times[0]
    # 20 windows of 30, the first one's grants at once: 19 windows of 1.01 s. Sends that went
    # together become due together, and the limiter wakes for them exactly then.
    assert elapsed <= 19 * rate_limiter.window + 1e-6


async def test_a_pause_holds_every_send_until_it_is_over() -> None:
    time = SimulatedTime()
    rate_limiter = limiter(time, 30)
    start = time.now
    rate_limiter.pause(2.5)
    await rate_limiter.acquire()
    assert time.now >= start + 2.5
    assert time.now - (start + 2.5) <= TICK


async def test_ready_is_awaited_after_the_window_and_before_the_grant() -> None:
    time = SimulatedTime()
    rate_limiter = limiter(time, 2)
    await grant_times(rate_limiter, time, 2)
    seen: list[tuple[float, int]] = []

    async def ready() -> bool:
        # Called only once the window allows: no grant has been counted for this send yet.
        seen.append((time.now, len(rate_limiter._grants)))
        assert rate_limiter.delay() <= EARLY
        time.now += 0.003  # what it waits for takes a while: the grant is counted after it
        return True

    assert await rate_limiter.acquire(ready=ready)
    assert len(seen) == 1
    assert seen[0][0] >= 1000.03 + rate_limiter.window - EARLY
    assert rate_limiter._grants[-1] == pytest.approx(seen[0][0] + 0.003)


async def test_a_send_that_is_not_ready_is_not_counted() -> None:
    time = SimulatedTime()
    rate_limiter = limiter(time, 2)

    async def cancelled() -> bool:
        return False

    assert not await rate_limiter.acquire(ready=cancelled)
    assert len(rate_limiter._grants) == 0
    assert rate_limiter.delay() == 0
