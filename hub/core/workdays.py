"""Working days: Monday to Friday in the hub's time zone, public holidays excluded.

SLAs count working days as Indonesian offices do (LAPOR!: verify within 3 working days): a
ticket filed on Friday evening is due by the end of Wednesday, and a holiday in between moves
the deadline on by a day. A deadline falls at the end of its working day (the office's closing
time), so "within 3 working days" never shrinks for a ticket filed late in the afternoon.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

WEEKEND = (5, 6)  # Saturday, Sunday
OFFICE_CLOSES = dt.time(16, 0)  # the end of a working day in the kelurahan office


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days, in one time zone."""

    tz: dt.tzinfo
    holidays: frozenset[dt.date] = frozenset()
    closes: dt.time = OFFICE_CLOSES

    @classmethod
    def of(cls, tz: dt.tzinfo, holidays: Iterable[str | dt.date]) -> WorkCalendar:
        days = {d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for d in holidays}
        return cls(tz, frozenset(days))

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() not in WEEKEND and day not in self.holidays

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day after `day`."""
        day += dt.timedelta(days=1)
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The deadline `days` working days after `start`: the office's closing time (in UTC)
        of the `days`-th working day after the day it came in. A ticket filed on a weekend, a
        holiday or after closing counts from the next working day; 0 days is the end of today
        (or of the next working day)."""
        if days < 0:
            raise ValueError("a number of working days is not negative")
        local = start.astimezone(self.tz)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= self.closes:
            day = self.next_working_day(day)
        for _ in range(days):
            day = self.next_working_day(day)
        end = dt.datetime.combine(day, self.closes, tzinfo=self.tz)
        return end.astimezone(dt.UTC)

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Whole working days from `start`'s day to `end`'s (0 on the same day; negative
        when `end` is earlier): how late an overdue ticket is."""
        first, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count, day = 0, first
        while day < last:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return sign * count
