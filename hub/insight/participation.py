"""Participation per RT head: what reached them, what they read and acknowledged, how fast, and
a level (active, passive, unreachable) an official can act on.

Counted from deliveries, which keep the seat and area they were sent for (migration 0007): an
RT's history stays with the RT when its head changes, and a person's with the person. So a row is
one (member, area) pair: a new RT head is a new row for the same RT, and a head who moved to
another RT has a row for each. Definitions, with the reasons for them, in docs/participation.md:

- broadcasts: deliveries in the period that went out (sent, or failed trying). Pending ones are
  still on their way, skipped ones are members who opted out, cancelled ones never went: none
  counts against an RT head.
- read: deliveries read or acknowledged (an acknowledgement is proof of reading).
- acknowledged, out of ack_asked: deliveries of broadcasts that asked for confirmation.
- median_ack_minutes: from sent to acknowledged, in whole minutes (rounded).
- reminders: reminders the hub had to send; polls and poll_votes: poll deliveries and votes.
- complaints and service_requests: tickets filed in the period from that seat.

The period is a range of whole days in the hub's timezone; a delivery belongs to the day its
broadcast started going out.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from hub.access.areas import within
from hub.access.auth import Scope
from hub.core.config import Config, ParticipationSection
from hub.core.errors import ValidationFailed
from models import (
    Area,
    Delivery,
    DeliveryStatus,
    Member,
    Poll,
    PollVote,
    Seat,
    Ticket,
    TicketKind,
)

WENT_OUT = [
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.ACKNOWLEDGED,
    DeliveryStatus.FAILED,
]
READ = [DeliveryStatus.READ, DeliveryStatus.ACKNOWLEDGED]
MAX_PERIOD_DAYS = 3 * 366  # a longer period is refused: nobody reads a three-year average
Z_95 = 1.959964  # the normal quantile of a two-sided 95% interval


class Level(StrEnum):
    ACTIVE = "active"
    PASSIVE = "passive"
    UNREACHABLE = "unreachable"


# Period -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days `first` to `last`, both included, in the hub's timezone."""

    first: dt.date
    last: dt.date
    tz: dt.tzinfo

    # In UTC: SQLite compares the stored text, which Tortoise writes in UTC, with the text of the
    # parameter as given, so a moment with another offset would compare wrongly.
    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), self.tz).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The moment after the period: midnight after its last day."""
        midnight = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), self.tz)
        return midnight.astimezone(dt.UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def recent_start(self, days: int) -> dt.datetime:
        """The start of the period's last `days` days (the whole period if it is shorter)."""
        return max(self.start, self.end - dt.timedelta(days=days))


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"{name}: expected a date, YYYY-MM-DD", field=name) from None


def period_of(config: Config, wanted_from: str, wanted_to: str, now: dt.datetime) -> Period:
    """The period asked for; by default the last `participation.period_days` days to today."""
    tz = config.tz
    last = _date(wanted_to, "to") if wanted_to else now.astimezone(tz).date()
    if wanted_from:
        first = _date(wanted_from, "from")
    else:
        first = last - dt.timedelta(days=config.participation.period_days - 1)
    if first > last:
        raise ValidationFailed("from: must not be after to", field="from")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed(f"the period may span {MAX_PERIOD_DAYS} days at most", field="from")
    return Period(first, last, tz)


# Where: the caller's areas, an area, a member ---------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Which deliveries count: in the caller's scope, and optionally within one area or for one
    member. Every query below filters with it in the database."""

    scope: Scope
    area: Area | None = None
    member_id: int | None = None

    def on(self, prefix: str = "") -> Q:
        """The filter for rows reached through `prefix` ("" on Delivery, "delivery__" on votes)."""
        query = Q()
        in_scope = self.scope.area_filter(f"{prefix}area__path_key")
        if in_scope is not None:
            query &= in_scope
        if self.area is not None:
            query &= within(self.area, f"{prefix}area__")
        if self.member_id is not None:
            query &= Q(**{f"{prefix}member_id": self.member_id})
        return query


# Tallies ----------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one member did for one area's seat in the period (the area None: no seat then)."""

    member_id: int
    area_id: int | None
    broadcasts: int = 0
    failed: int = 0
    read: int = 0
    ack_asked: int = 0
    acknowledged: int = 0
    opted_out: int = 0  # deliveries skipped because the member opted out
    reminders: int = 0
    recent: int = 0  # broadcasts in the period's last `unreachable_after_days` days
    recent_failed: int = 0
    polls: int = 0
    poll_votes: int = 0
    complaints: int = 0
    service_requests: int = 0
    ack_minutes: list[int] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int | None]:
        return self.member_id, self.area_id

    def add(self, other: Tally) -> None:
        """Fold another tally into this one (an area's total, a person's across seats)."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ack_minutes.extend(other.ack_minutes)


COUNTS = (
    "broadcasts",
    "failed",
    "read",
    "ack_asked",
    "acknowledged",
    "opted_out",
    "reminders",
    "recent",
    "recent_failed",
    "polls",
    "poll_votes",
    "complaints",
    "service_requests",
)


class Tallies(dict[tuple[int, int | None], Tally]):
    """Tallies by (member, area), made on first use."""

    def of(self, member_id: int, area_id: int | None) -> Tally:
        key = (member_id, area_id)
        if key not in self:
            self[key] = Tally(member_id, area_id)
        return self[key]


async def tallies(where: Where, period: Period, rules: ParticipationSection) -> Tallies:
    """One tally per (member, area) with anything in the period, counted in the database."""
    found = Tallies()
    deliveries = Delivery.filter(
        where.on(),
        broadcast__started_at__gte=period.start,
        broadcast__started_at__lt=period.end,
    )
    recent = Q(broadcast__started_at__gte=period.recent_start(rules.unreachable_after_days))
    await _count_deliveries(found, deliveries, recent)
    await _count_polls(found, deliveries, where, period)
    await _count_tickets(found, where, period)
    acknowledged = await deliveries.filter(
        status=DeliveryStatus.ACKNOWLEDGED,
        broadcast__ack_required=True,
        sent_at__isnull=False,
        acknowledged_at__isnull=False,
    ).values_list("member_id", "area_id", "sent_at", "acknowledged_at")
    for member_id, area_id, sent_at, acknowledged_at in acknowledged:
        minutes = max(0, round((acknowledged_at - sent_at).total_seconds() / 60))
        found.of(member_id, area_id).ack_minutes.append(minutes)
    return found


async def _count_deliveries(found: Tallies, deliveries: QuerySet[Delivery], recent: Q) -> None:
    """The ladder's counts, one GROUP BY over the period's deliveries."""
    wanted = {
        "broadcasts": Count("id", _filter=Q(status__in=WENT_OUT)),
        "failed": Count("id", _filter=Q(status=DeliveryStatus.FAILED)),
        "read": Count("id", _filter=Q(status__in=READ)),
        "ack_asked": Count("id", _filter=Q(status__in=WENT_OUT, broadcast__ack_required=True)),
        "acknowledged": Count(
            "id", _filter=Q(status=DeliveryStatus.ACKNOWLEDGED, broadcast__ack_required=True)
        ),
        "opted_out": Count("id", _filter=Q(status=DeliveryStatus.SKIPPED)),
        "reminders": Sum("reminders"),
        "recent": Count("id", _filter=Q(recent, status__in=WENT_OUT)),
        "recent_failed": Count("id", _filter=Q(recent, status=DeliveryStatus.FAILED)),
    }
    counted = (
        await deliveries.annotate(**{f"n_{name}": f for name, f in wanted.items()})
        .group_by("member_id", "area_id")
        .values("member_id", "area_id", *(f"n_{name}" for name in wanted))
    )
    for row in counted:
        t = found.of(row["member_id"], row["area_id"])
        for name in wanted:
            setattr(t, name, int(row[f"n_{name}"] or 0))


async def _count_polls(
    found: Tallies, deliveries: QuerySet[Delivery], where: Where, period: Period
) -> None:
    """Polls received, and votes cast on them (a vote counts on the delivery that carried it)."""
    polls = (
        await deliveries.filter(
            status__in=WENT_OUT, broadcast_id__in=Subquery(Poll.all().values("broadcast_id"))
        )
        .annotate(n=Count("id"))
        .group_by("member_id", "area_id")
        .values("member_id", "area_id", "n")
    )
    for row in polls:
        found.of(row["member_id"], row["area_id"]).polls = row["n"]
    voted = PollVote.filter(
        where.on("delivery__"),
        delivery__broadcast__started_at__gte=period.start,
        delivery__broadcast__started_at__lt=period.end,
    )
    if where.member_id is not None:  # the voter is the delivery's member: by the vote's index
        voted = voted.filter(member_id=where.member_id)
    votes = (
        await voted.annotate(n=Count("id"))
        .group_by("delivery__member_id", "delivery__area_id")
        .values("delivery__member_id", "delivery__area_id", "n")
    )
    for row in votes:
        found.of(row["delivery__member_id"], row["delivery__area_id"]).poll_votes = row["n"]


async def _count_tickets(found: Tallies, where: Where, period: Period) -> None:
    """Complaints and service requests filed in the period, from the seat's area."""
    tickets = (
        await Ticket.filter(
            where.on(), member_id__isnull=False, created_at__gte=period.start,
            created_at__lt=period.end,
        )
        .annotate(n=Count("id"))
        .group_by("member_id", "area_id", "kind")
        .values("member_id", "area_id", "kind", "n")
    )  # fmt: skip
    for row in tickets:
        t = found.of(row["member_id"], row["area_id"])
        if row["kind"] == TicketKind.SERVICE:
            t.service_requests += row["n"]
        else:
            t.complaints += row["n"]


# Rates, bounds and levels -----------------------------------------------------------------------


# The levels as officials read them; "insufficient" is no level ("belum cukup data").
LEVEL_LABELS = {
    "active": "aktif",
    "passive": "pasif",
    "unreachable": "tak terjangkau",
    "insufficient": "belum cukup data",
}


def counted(part: int | None, whole: int | None) -> str:
    """'11 dari 23 (48%)': a rate never without its count; "—" with nothing to divide."""
    if not whole or part is None:
        return "—"
    return f"{part} dari {whole} ({round(part / whole * 100)}%)"


def rate(part: int, whole: int) -> float | None:
    """part / whole, None when there is nothing to divide (never a rate without its count)."""
    return part / whole if whole else None


def wilson_lower(successes: int, trials: int, z: float = Z_95) -> float | None:
    """The lower bound of the Wilson score interval: how high the rate surely is, given how few
    tries there were. 2 of 2 gives 0.34, 48 of 50 gives 0.87; rankings sort by it."""
    if trials == 0:
        return None
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z2 / trials))


def median_minutes(minutes: Sequence[int]) -> float | None:
    return float(statistics.median(minutes)) if minutes else None


def level_of(t: Tally, rules: ParticipationSection) -> Level | None:
    """Unreachable when nothing got through lately although the hub tried; otherwise, with
    enough broadcasts, active or passive by the acknowledgement rate (by the read rate when too
    few asked for confirmation). None: not enough data to say ("belum cukup data")."""
    if t.recent and t.recent_failed == t.recent:
        return Level.UNREACHABLE
    if t.broadcasts < rules.min_broadcasts:
        return None
    if t.ack_asked >= rules.min_broadcasts:
        measured = t.acknowledged / t.ack_asked
    else:
        measured = t.read / t.broadcasts
    return Level.ACTIVE if measured >= rules.active_ack_rate else Level.PASSIVE


def figures(t: Tally) -> dict[str, object]:
    """The counts with their rates beside them, as the API and the pages show them."""
    return {
        "broadcasts": t.broadcasts,
        "failed": t.failed,
        "read": t.read,
        "ack_asked": t.ack_asked,
        "acknowledged": t.acknowledged,
        "read_rate": rate(t.read, t.broadcasts),
        "ack_rate": rate(t.acknowledged, t.ack_asked),
        "ack_rate_low": wilson_lower(t.acknowledged, t.ack_asked),
        "median_ack_minutes": median_minutes(t.ack_minutes),
        "reminders": t.reminders,
        "opted_out": t.opted_out,
        "polls": t.polls,
        "poll_votes": t.poll_votes,
        "poll_turnout": rate(t.poll_votes, t.polls),
        "complaints": t.complaints,
        "service_requests": t.service_requests,
    }


# Members ----------------------------------------------------------------------------------------

# Ids per query: PostgreSQL takes at most 32,767 parameters in one statement, and a province has
# more RT heads than that.
CHUNK = 5000


async def by_chunks(ids: Iterable[int], fetch: Callable[[list[int]], Awaitable[Any]]) -> list[Any]:
    """`fetch(ids)`'s rows for every id, asked for `CHUNK` ids at a time."""
    ordered = sorted(ids)
    rows: list[Any] = []
    for start in range(0, len(ordered), CHUNK):
        rows += await fetch(ordered[start : start + CHUNK])
    return rows


@dataclass(frozen=True)
class MemberRow:
    tally: Tally
    name: str
    area_path: str | None
    holds_seat: bool  # still holds the seat of this area (False: a former RT head of it)
    phone: str | None
    level: Level | None


async def member_rows(
    tallies_found: Iterable[Tally], rules: ParticipationSection
) -> list[MemberRow]:
    """The tallies with names, areas and levels, ordered by area and name."""
    found = list(tallies_found)
    member_ids = {t.member_id for t in found}
    area_ids = {t.area_id for t in found if t.area_id is not None}
    members = {
        m["id"]: m
        for m in await by_chunks(
            member_ids, lambda ids: Member.filter(id__in=ids).values("id", "name", "phone")
        )
    }
    paths = dict(
        await by_chunks(area_ids, lambda ids: Area.filter(id__in=ids).values_list("id", "path"))
    )
    held = set(
        await by_chunks(
            member_ids,
            lambda ids: Seat.filter(member_id__in=ids, ended_at__isnull=True).values_list(
                "member_id", "area_id"
            ),
        )
    )
    rows = [
        MemberRow(
            tally=t,
            name=members[t.member_id]["name"],
            area_path=paths.get(t.area_id) if t.area_id is not None else None,
            holds_seat=(t.member_id, t.area_id) in held,
            phone=members[t.member_id]["phone"],
            level=level_of(t, rules),
        )
        for t in found
        if t.member_id in members
    ]
    rows.sort(key=lambda r: ((r.area_path or "").lower(), r.name.lower(), r.tally.member_id))
    return rows


@dataclass(frozen=True)
class Summary:
    total: Tally
    members: int
    levels: dict[str, int]  # active, passive, unreachable, and "insufficient" (no level)


def summarize(rows: Sequence[MemberRow]) -> Summary:
    """The rows' counts added up, and how many RT heads are at each level."""
    total = Tally(0, None)
    levels: dict[str, int] = defaultdict(int)
    for row in rows:
        total.add(row.tally)
        levels[row.level.value if row.level else "insufficient"] += 1
    return Summary(
        total,
        len(rows),
        {name: levels.get(name, 0) for name in [*(level.value for level in Level), "insufficient"]},
    )


async def participation(
    config: Config, where: Where, period: Period
) -> tuple[Summary, list[MemberRow]]:
    """The summary and the member rows of one view."""
    rules = config.participation
    rows = await member_rows((await tallies(where, period, rules)).values(), rules)
    return summarize(rows), rows
