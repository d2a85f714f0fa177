"""Review notes: what staff write each month when they go through an area's scorecard.

The field study's fifth dimension, Manajemen perubahan, asks whether there is a review at all and
whether it leads anywhere; the figures cannot say that, the people reviewing them can. One note
per area and month (the first day of the month names it), written and rewritten by staff of the
area; officials read the notes of their areas with the scorecard.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.areas import within
from hub.access.auth import Scope
from hub.core.errors import ValidationFailed
from models import Area, ScorecardNote

MAX_NOTE = 4000  # characters: a page of review, not a report
_MONTH = re.compile(r"(\d{4})-(\d{2})")
FIRST_YEAR, LAST_YEAR = 2000, 9000  # months outside are typing mistakes, not reviews


@dataclass(frozen=True)
class Note:
    area: str  # the area's path
    month: dt.date  # its first day
    text: str
    author: str | None  # the username of whoever wrote it last
    created_at: dt.datetime
    updated_at: dt.datetime


def parse_month(value: str, name: str = "month") -> dt.date:
    """`YYYY-MM` as the month's first day; ValidationFailed naming the field otherwise."""
    found = _MONTH.fullmatch(value.strip())
    year, month = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if not FIRST_YEAR <= year <= LAST_YEAR or not 1 <= month <= 12:
        raise ValidationFailed(f"{name}: expected a month, YYYY-MM", field=name)
    return dt.date(year, month, 1)


def this_month(now: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The month `now` falls in, in the hub's timezone."""
    return now.astimezone(tz).date().replace(day=1)


def _note(row: ScorecardNote) -> Note:
    return Note(
        area=row.area.path,
        month=row.month,
        text=row.text,
        author=row.author.username if row.author else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def notes_of(scope: Scope, area: Area | None, month: dt.date) -> list[Note]:
    """The month's notes of the areas the caller sees, at or below `area` when given, by path."""
    query = ScorecardNote.filter(month=month)
    in_scope = scope.area_filter("area__path_key")
    if in_scope is not None:
        query = query.filter(in_scope)
    if area is not None:
        query = query.filter(within(area, "area__"))
    rows = await query.select_related("area", "author")
    return sorted((_note(row) for row in rows), key=lambda n: n.area.lower())


async def save_note(
    scope: Scope, area: Area, month: dt.date, text: str, *, now: dt.datetime, tz: dt.tzinfo
) -> Note:
    """Write the area's note for the month, or rewrite it: staff of the area only (Forbidden
    for officials and other areas), a month that has begun (a review looks back), some text."""
    scope.require_write()
    scope.require_area(area)
    text = text.strip()
    if not text:
        raise ValidationFailed("text: must not be empty", field="text")
    if len(text) > MAX_NOTE:
        raise ValidationFailed(f"text: at most {MAX_NOTE} characters", field="text")
    month = month.replace(day=1)
    if month > this_month(now, tz):
        raise ValidationFailed("month: that month has not begun", field="month")
    author_id = scope.user.id if scope.user else None
    columns = {"text": text, "author_id": author_id, "updated_at": now}
    async with in_transaction():
        if not await ScorecardNote.filter(area_id=area.id, month=month).update(**columns):
            # The month's first note. Two staff saving it at once: the unique (area, month)
            # lets one create it, and the other's text replaces it, as a second save would.
            try:
                async with in_transaction():
                    await ScorecardNote.create(area=area, month=month, created_at=now, **columns)
            except IntegrityError:
                await ScorecardNote.filter(area_id=area.id, month=month).update(**columns)
        await audit.record(scope.user, "scorecard.note", area.path, month=month.isoformat())
    saved = await ScorecardNote.get(area_id=area.id, month=month).select_related("area", "author")
    return _note(saved)
