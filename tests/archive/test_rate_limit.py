"""The leaky bucket behind the public checks' limit (hub/core/ratelimit.py), on a clock moved by
hand: a burst, then one more per interval, each key apart, refusals uncounted, memory bounded."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.core.ratelimit import RateLimiter

T0 = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_burst_then_one_more_per_interval() -> None:
    limit = RateLimiter(per_minute=6)  # one more every 10 s
    assert [limit.take("a", T0) for _ in range(6)] == [0.0] * 6
    assert limit.take("a", T0) == pytest.approx(10.0)
    assert limit.take("a", at(4)) == pytest.approx(6.0)  # refusals are not counted
    assert limit.take("a", at(10)) == 0.0
    assert limit.take("a", at(10)) == pytest.approx(10.0)
    assert limit.take("b", at(10)) == 0.0  # another client has its own bucket
    assert [limit.take("a", at(70)) for _ in range(6)] == [0.0] * 6  # a quiet minute: full again


def test_the_oldest_keys_are_forgotten_beyond_the_bound() -> None:
    limit = RateLimiter(per_minute=1, keep=2)
    for key in ("a", "b", "c"):
        assert limit.take(key, T0) == 0.0
    assert limit.take("a", T0) == 0.0  # forgotten, so it starts over
    assert limit.take("c", T0) > 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0)
