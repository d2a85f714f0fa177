"""Participation added up per area (RT, RW, kelurahan, kecamatan), ranked, and week by week.

Areas add up their RT heads' tallies (hub/insight/participation.py) through the area tree's
paths: an RT's deliveries count for its RW, kelurahan and kecamatan. Rankings sort by the lower
bound of the acknowledgement rate's 95% interval (Wilson), not the rate itself, so a kelurahan
with 2 of 2 does not outrank one with 48 of 50; the counts stand beside the rates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Q
from tortoise.functions import Count

from hub.access.areas import ancestor_keys
from hub.core.config import ParticipationSection
from hub.insight.participation import (
    READ,
    WENT_OUT,
    Level,
    Period,
    Tally,
    Where,
    by_chunks,
    level_of,
    rate,
    wilson_lower,
)
from models import Area, AreaKind, Broadcast, Delivery, DeliveryStatus


@dataclass
class AreaTotal:
    """One area's RT heads added up, with how many are at each level."""

    area: Area
    total: Tally = field(default_factory=lambda: Tally(0, None))
    rt_heads: int = 0
    levels: dict[str, int] = field(
        default_factory=lambda: {**{level.value: 0 for level in Level}, "insufficient": 0}
    )

    def add(self, t: Tally, rules: ParticipationSection) -> None:
        self.total.add(t)
        self.rt_heads += 1
        level = level_of(t, rules)
        self.levels[level.value if level else "insufficient"] += 1

    @property
    def ack_rate_low(self) -> float | None:
        return wilson_lower(self.total.acknowledged, self.total.ack_asked)


async def _paths(tallies: Iterable[Tally]) -> dict[int, str]:
    ids = {t.area_id for t in tallies if t.area_id is not None}
    return dict(
        await by_chunks(ids, lambda chunk: Area.filter(id__in=chunk).values_list("id", "path_key"))
    )


async def children_of(parent: Area | None, scope_keys: list[str] | None) -> list[Area]:
    """The areas one level down from `parent`; at the top, the caller's own areas (or every
    kecamatan for a user who sees all)."""
    if parent is not None:
        return list(await Area.filter(parent_id=parent.id).order_by("path_key"))
    if scope_keys is None:
        return list(await Area.filter(parent_id__isnull=True).order_by("path_key"))
    return list(await Area.filter(path_key__in=scope_keys).order_by("path_key"))


async def add_up(
    tallies: Sequence[Tally], areas: Sequence[Area], rules: ParticipationSection
) -> list[AreaTotal]:
    """Each area's total over the tallies of the seats at or below it, in the given order."""
    totals = {area.path_key: AreaTotal(area) for area in areas}
    paths = await _paths(tallies)
    for t in tallies:
        key = paths.get(t.area_id) if t.area_id is not None else None
        for above in ancestor_keys(key) if key else ():
            if above in totals:
                totals[above].add(t, rules)
    return [totals[area.path_key] for area in areas]


async def areas_of_kind(kind: AreaKind, where: Where) -> list[Area]:
    """The areas of one kind the caller sees, within the asked area if any."""
    query = Area.filter(kind=kind)
    in_scope = where.scope.area_filter("path_key")
    if in_scope is not None:
        query = query.filter(in_scope)
    if where.area is not None:
        query = query.filter(path_key__startswith=where.area.path_key + "/")
    return list(await query.order_by("path_key"))


@dataclass(frozen=True)
class Ranked:
    rank: int | None  # None: no broadcast asked for confirmation there, nothing to rank by
    total: AreaTotal


def ranking(totals: Iterable[AreaTotal]) -> list[Ranked]:
    """Best first by the acknowledgement rate's lower bound, then by more acknowledgements;
    areas without data last, unranked. Equal bounds and counts share a rank."""
    measured = [t for t in totals if t.total.ack_asked]
    unmeasured = [t for t in totals if not t.total.ack_asked]

    def order(t: AreaTotal) -> tuple[float, int]:
        return -(t.ack_rate_low or 0.0), -t.total.acknowledged

    measured.sort(key=lambda t: (*order(t), t.area.path_key))
    ranked: list[Ranked] = []
    for position, t in enumerate(measured, start=1):
        same = ranked and order(ranked[-1].total) == order(t)
        ranked.append(Ranked(ranked[-1].rank if same else position, t))
    ranked.extend(Ranked(None, t) for t in sorted(unmeasured, key=lambda t: t.area.path_key))
    return ranked


# Trend ------------------------------------------------------------------------------------------


@dataclass
class Week:
    start: dt.date  # its Monday
    broadcasts: int = 0
    read: int = 0
    ack_asked: int = 0
    acknowledged: int = 0

    @property
    def read_rate(self) -> float | None:
        return rate(self.read, self.broadcasts)

    @property
    def ack_rate(self) -> float | None:
        return rate(self.acknowledged, self.ack_asked)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
MONTH_NAMES = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
               "September", "Oktober", "November", "Desember")  # fmt: skip


def month_label(month: dt.date) -> str:
    """ "Maret 2030"."""
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


def short_day(day: dt.date, *, year: bool = True) -> str:
    """ "4 Mar 2030" (Indonesian month abbreviations); "4 Mar" without the year."""
    shown = f"{day.day} {MONTHS[day.month - 1]}"
    return f"{shown} {day.year}" if year else shown


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def mondays(period: Period) -> list[dt.date]:
    """The first day of every week the period touches."""
    first, last = monday(period.first), monday(period.last)
    return [first + dt.timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)]


async def weekly(where: Where, period: Period) -> list[Week]:
    """The view's counts week by week (Monday to Sunday, in the hub's timezone), every week of
    the period listed, empty ones too, so a chart's gaps are real."""
    per_broadcast = (
        await Delivery.filter(
            where.on(),
            broadcast__started_at__gte=period.start,
            broadcast__started_at__lt=period.end,
        )
        .annotate(
            n_broadcasts=Count("id", _filter=Q(status__in=WENT_OUT)),
            n_read=Count("id", _filter=Q(status__in=READ)),
            n_ack_asked=Count("id", _filter=Q(status__in=WENT_OUT, broadcast__ack_required=True)),
            n_acknowledged=Count(
                "id",
                _filter=Q(status=DeliveryStatus.ACKNOWLEDGED, broadcast__ack_required=True),
            ),
        )
        .group_by("broadcast_id")
        .values("broadcast_id", "n_broadcasts", "n_read", "n_ack_asked", "n_acknowledged")
    )
    started = dict(
        await Broadcast.filter(id__in=[r["broadcast_id"] for r in per_broadcast]).values_list(
            "id", "started_at"
        )
    )
    weeks = {day: Week(day) for day in mondays(period)}
    for row in per_broadcast:
        week = weeks[monday(started[row["broadcast_id"]].astimezone(period.tz).date())]
        week.broadcasts += row["n_broadcasts"]
        week.read += row["n_read"]
        week.ack_asked += row["n_ack_asked"]
        week.acknowledged += row["n_acknowledged"]
    return list(weeks.values())


@dataclass
class MemberWeeks:
    """One RT head's seat week by week: the heat map's row."""

    member_id: int
    area_id: int | None
    weeks: list[Week]


async def weekly_by_member(where: Where, period: Period) -> list[MemberWeeks]:
    """Each (member, area) of the view week by week, for a heat map of a kelurahan or smaller:
    one row per delivery is read, so callers keep the view small (see HEAT_MAP_LIMIT)."""
    rows = await Delivery.filter(
        where.on(),
        status__in=WENT_OUT,
        broadcast__started_at__gte=period.start,
        broadcast__started_at__lt=period.end,
    ).values_list(
        "member_id", "area_id", "status", "broadcast__ack_required", "broadcast__started_at"
    )
    starts = mondays(period)
    found: dict[tuple[int, int | None], MemberWeeks] = {}
    for member_id, area_id, status, ack_required, started_at in rows:
        key = (member_id, area_id)
        if key not in found:
            found[key] = MemberWeeks(member_id, area_id, [Week(day) for day in starts])
        week = found[key].weeks[starts.index(monday(started_at.astimezone(period.tz).date()))]
        week.broadcasts += 1
        week.read += status in READ
        if ack_required:
            week.ack_asked += 1
            week.acknowledged += status == DeliveryStatus.ACKNOWLEDGED
    return list(found.values())
