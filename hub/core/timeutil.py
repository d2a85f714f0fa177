"""Clock and time-of-day helpers; an injectable clock makes schedules testable without sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


def parse_quiet_hours(text: str) -> tuple[dt.time, dt.time]:
    """Parse `"21:00-06:00"` into (start, end); the span may cross midnight."""
    try:
        start_text, end_text = (part.strip() for part in text.split("-"))
        start = dt.time.fromisoformat(start_text)
        end = dt.time.fromisoformat(end_text)
    except ValueError:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}") from None
    if start == end:
        raise ValueError('start and end are the same; use "" for no quiet hours')
    return start, end


def in_quiet_hours(now: dt.datetime, tz: dt.tzinfo, spec: str) -> bool:
    """Whether `now` falls in the quiet hours `spec` ("21:00-06:00", "" for none) local to `tz`."""
    if not spec:
        return False
    start, end = parse_quiet_hours(spec)
    local = now.astimezone(tz).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the span crosses midnight
