"""When broadcasts go out: cron recurrences, quiet hours and the grace for overdue sends."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from apscheduler.triggers.cron import CronTrigger

from hub.core.errors import ValidationFailed
from hub.core.timeutil import parse_quiet_hours

# A recurrence firing more often than this is almost surely a mistake ("* * * * *"); RT heads
# would get an announcement every minute.
MIN_RECURRENCE_GAP = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Recurrence:
    """A cron expression (minute hour day month weekday) read in the hub's timezone."""

    cron: str
    trigger: CronTrigger

    def next_run(self, after: dt.datetime) -> dt.datetime | None:
        """The first run strictly after `after`, in UTC; None if it never fires again."""
        # CronTrigger fires at or after `now`; one microsecond on keeps a run from repeating.
        fire = self.trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
        return fire.astimezone(dt.UTC) if fire is not None else None


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _weekday_field(field: str) -> str:
    """Standard cron weekdays (0 or 7 = Sunday, 1 = Monday) as names APScheduler reads alike.

    APScheduler numbers weekdays from Monday = 0, so "1" would mean Tuesday there.
    """
    out = []
    for part in field.lower().split(","):
        if "/" in part:
            raise ValueError("steps in the weekday field are not supported; list the days: 1,3,5")
        low, _, high = part.partition("-")
        if not (_digits(low) and (not high or _digits(high))):
            out.append(part)  # "*" or names ("mon-fri") mean the same to both
            continue
        first, last = int(low), int(high or low)
        if not (0 <= first <= 7 and 0 <= last <= 7) or first > last:
            raise ValueError(f"weekday {part!r} is not within 0-7 (0 and 7 are Sunday)")
        if first == 0 and last >= 6:
            out.append("*")
        elif first == 0:  # Sunday comes last in APScheduler's order: no range wraps round
            out.append("sun" if last == 0 else f"sun,mon-{_WEEKDAYS[last]}")
        else:
            name = _WEEKDAYS[first]
            out.append(name if first == last else f"{name}-{_WEEKDAYS[last]}")
    return ",".join(out)


def parse_recurrence(cron: str, tz: dt.tzinfo, now: dt.datetime) -> Recurrence:
    """Validate a cron expression; raises ValidationFailed for invalid or never-firing ones."""
    text = " ".join(cron.split())
    if len(text.split(" ")) != 5:
        raise ValidationFailed(
            "recurrence.cron: expected 5 fields (minute hour day month weekday), "
            'e.g. "0 8 * * 1" for every Monday at 08:00',
            field="recurrence.cron",
            code="invalid_cron",
        )
    minute, hour, day, month, weekday = text.split(" ")
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekday_field(weekday),
            timezone=tz,
        )
    except ValueError as exc:
        raise ValidationFailed(
            f"recurrence.cron: {exc}", field="recurrence.cron", code="invalid_cron"
        ) from None
    recurrence = Recurrence(text, trigger)
    first = recurrence.next_run(now)
    if first is None:
        raise ValidationFailed(
            f"recurrence.cron: {text!r} never fires", field="recurrence.cron", code="invalid_cron"
        )
    second = recurrence.next_run(first)
    if second is not None and second - first < MIN_RECURRENCE_GAP:
        raise ValidationFailed(
            f"recurrence.cron: {text!r} repeats more often than once an hour",
            field="recurrence.cron",
            code="recurrence_too_frequent",
        )
    return recurrence


def quiet_hours_end(at: dt.datetime, tz: dt.tzinfo, spec: str) -> dt.datetime:
    """When the quiet hours holding `at` end (UTC); `at` itself when it is not in quiet hours."""
    if not spec:
        return at
    start, end = parse_quiet_hours(spec)
    local = at.astimezone(tz)
    clock = local.time()
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return at
    day = local.date() if clock < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.UTC)


def overdue_beyond_grace(
    send_at: dt.datetime, now: dt.datetime, tz: dt.tzinfo, quiet_hours: str, grace_minutes: int
) -> bool:
    """Whether a scheduled send is so late (the hub was down) that it should be marked missed.

    Time held by quiet hours does not count as late: a send due at 05:00 that waits until 06:00
    is on time. A grace of 0 sends however late.
    """
    if grace_minutes <= 0:
        return False
    due = quiet_hours_end(send_at, tz, quiet_hours)
    return now - due > dt.timedelta(minutes=grace_minutes)
