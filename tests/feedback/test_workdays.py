"""Working-day arithmetic for SLAs: weekends, holidays, after closing time, WITA."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from hub.core.workdays import WorkCalendar

WITA = zoneinfo.ZoneInfo("Asia/Makassar")
# Independence Day 2026 is a Monday; Christmas Eve and Christmas are Thursday and Friday.
CALENDAR = WorkCalendar.of(WITA, ["2026-08-17", "2026-12-24", "2026-12-25"])


def wita(day: str, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=WITA)


@pytest.mark.parametrize(
    ("filed", "days", "due_day"),
    [
        (wita("2026-12-01"), 3, "2026-12-04"),  # Tuesday + 3 → Friday
        (wita("2026-12-04"), 3, "2026-12-09"),  # Friday + 3 → Wednesday, over the weekend
        (wita("2026-12-05"), 3, "2026-12-10"),  # filed Saturday: counts from Monday
        (wita("2026-12-04", 17), 1, "2026-12-08"),  # after closing: counts from Monday
        (wita("2026-12-04", 15, 59), 0, "2026-12-04"),  # 0 days: the end of today
        (wita("2026-12-22"), 3, "2026-12-29"),  # Christmas Eve and Christmas skipped
        (wita("2026-08-14"), 1, "2026-08-18"),  # Friday before Independence Day (Monday)
        (wita("2026-08-17"), 0, "2026-08-18"),  # filed on the holiday itself
    ],
)
def test_deadlines_count_working_days_only(filed: dt.datetime, days: int, due_day: str) -> None:
    due = CALENDAR.add_working_days(filed.astimezone(dt.UTC), days)
    assert due.tzinfo is not None
    local = due.astimezone(WITA)
    assert (local.date().isoformat(), local.time()) == (due_day, dt.time(16, 0))


def test_the_deadline_is_the_office_closing_in_utc() -> None:
    due = CALENDAR.add_working_days(wita("2026-12-01").astimezone(dt.UTC), 1)
    assert due == dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)  # 16:00 WITA is 08:00 UTC


def test_a_negative_number_of_days_is_refused() -> None:
    with pytest.raises(ValueError):
        CALENDAR.add_working_days(wita("2026-12-01"), -1)


def test_working_days_between_skips_weekends_and_holidays() -> None:
    assert CALENDAR.working_days_between(wita("2026-12-21"), wita("2026-12-28")) == 3
    assert CALENDAR.working_days_between(wita("2026-12-28"), wita("2026-12-21")) == -3
    assert CALENDAR.working_days_between(wita("2026-12-01", 8), wita("2026-12-01", 20)) == 0
