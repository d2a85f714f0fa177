"""Tickets: filing one (a readable number from a counter row, its SLA), and finding them in scope.

A ticket is a complaint (aduan) or a service request (permohonan layanan); both go through the
same workflow (workflow.py). Its number, `SKJ-2026-000123`, counts per kecamatan and year from a
`TicketCounter` row that is incremented by one UPDATE inside the ticket's transaction: two RT
heads filing at the same moment wait for each other on that row (PostgreSQL's row lock, SQLite's
single writer) and never get the same number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from hub.access.areas import path_key
from hub.access.auth import Scope
from hub.core.config import Config, FeedbackSection
from hub.core.errors import HubError, NotFound, ValidationFailed
from hub.core.workdays import WorkCalendar
from hub.feedback.complaints.catalogue import Catalogue, load_catalogue
from models import (
    Area,
    FeedbackFile,
    Member,
    Seat,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketStatus,
)

NUMBER = re.compile(r"\b([A-Z]{2,8})-(\d{4})-(\d{1,9})\b")
_DASH = re.compile(r"\s*[-–]\s*")  # "SKJ - 2026 – 123" as a phone may write it
NO_AREA_PREFIX = "UMUM"  # a member without a seat files under the hub's general counter
_VOWELS = set("AIUEO")


@dataclass(frozen=True)
class TicketRules:
    """What filing and moving tickets needs to know: settings, catalogue, working days."""

    settings: FeedbackSection
    catalogue: Catalogue
    calendar: WorkCalendar
    language: str
    prefixes: dict[str, str]  # kecamatan path key -> ticket prefix

    @classmethod
    def from_config(cls, config: Config) -> TicketRules:
        """Built once at start; a broken catalogue raises ConfigError there."""
        settings = config.feedback
        prefixes = {}
        for pair in settings.ticket_prefixes:
            name, _, prefix = pair.partition("=")
            prefixes[path_key(name)] = prefix.strip()
        return cls(
            settings=settings,
            catalogue=load_catalogue(settings),
            calendar=WorkCalendar.of(config.tz, settings.holidays),
            language=config.hub.language,
            prefixes=prefixes,
        )

    def prefix_for(self, area_path: str | None) -> str:
        """The ticket prefix of the kecamatan an area lies in: configured, else its initials
        ("Samarinda Ulu" → SU, filled to three letters from the last word: SUL)."""
        if not area_path:
            return NO_AREA_PREFIX
        kecamatan = area_path.split("/", 1)[0]
        configured = self.prefixes.get(path_key(kecamatan))
        if configured:
            return configured
        words = [w for w in re.split(r"[^A-Za-z]+", kecamatan.upper()) if w]
        if not words:
            return NO_AREA_PREFIX
        letters = "".join(w[0] for w in words)
        filler = [c for c in words[-1][1:] if c not in _VOWELS] + list(words[-1][1:])
        while len(letters) < 3 and filler:
            letters += filler.pop(0)
        return letters[:8] if len(letters) >= 2 else (letters + "X")


class TooManyTickets(HubError):
    """The member filed as many tickets as an hour allows."""

    status = 429
    code = "rate_limited"


def format_number(prefix: str, year: int, serial: int) -> str:
    return f"{prefix}-{year}-{serial:06d}"


def parse_number(text: str) -> str | None:
    """The ticket number in what someone typed ("status skj-2026-123" → SKJ-2026-000123)."""
    found = NUMBER.search(_DASH.sub("-", text.upper()))
    if found is None:
        return None
    prefix, year, serial = found.groups()
    return format_number(prefix, int(year), int(serial))


async def _next_serial(prefix: str, year: int) -> int:
    """Count one more ticket for prefix and year; call inside the ticket's transaction."""
    updated = await TicketCounter.filter(prefix=prefix, year=year).update(issued=F("issued") + 1)
    if not updated:
        # The year's first ticket. Another filing may create the row at the same moment: the
        # unique (prefix, year) lets one win, and the other counts on the winner's row.
        try:
            async with in_transaction():
                await TicketCounter.create(prefix=prefix, year=year, issued=1)
            return 1
        except IntegrityError:
            await TicketCounter.filter(prefix=prefix, year=year).update(issued=F("issued") + 1)
    counter = await TicketCounter.get(prefix=prefix, year=year)
    return counter.issued


async def seat_area(member: Member) -> Area | None:
    """The area of the member's current seat (the first one held), or None."""
    seat = (
        await Seat.filter(member_id=member.id, ended_at__isnull=True)
        .order_by("id")
        .select_related("area")
        .first()
    )
    return seat.area if seat else None


async def filed_within(member: Member, since: dt.datetime) -> int:
    return await Ticket.filter(member_id=member.id, created_at__gte=since).count()


async def check_rate(member: Member, rules: TicketRules, now: dt.datetime) -> None:
    """Raise TooManyTickets when the member filed an hour's worth already."""
    limit = rules.settings.complaints_per_hour
    if await filed_within(member, now - dt.timedelta(hours=1)) >= limit:
        raise TooManyTickets(
            f"at most {rules.settings.complaints_per_hour} tickets an hour from one member"
        )


async def file_ticket(
    rules: TicketRules,
    *,
    kind: TicketKind,
    category: str,
    member: Member,
    channel: str,
    address: str,
    description: str,
    now: dt.datetime,
    location: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    file_ids: Sequence[int] = (),
) -> Ticket:
    """File a ticket for a member: numbered, with its verification deadline, its files linked
    and its first history entry, in one transaction. Raises ValidationFailed for an unknown
    category or service or an empty description, TooManyTickets past the hourly limit."""
    description = description.strip()
    if not description:
        raise ValidationFailed("a ticket needs a description", field="description")
    if len(description) > rules.settings.max_description_chars:
        raise ValidationFailed(
            f"at most {rules.settings.max_description_chars} characters", field="description"
        )
    known = (
        rules.catalogue.service(category)
        if kind == TicketKind.SERVICE
        else rules.catalogue.category(category)
    )
    if known is None:
        raise ValidationFailed(f"unknown {kind.value} category {category!r}", field="category")
    await check_rate(member, rules, now)
    area = await seat_area(member)
    prefix = rules.prefix_for(area.path if area else None)
    year = now.astimezone(rules.calendar.tz).year
    verify_days, _ = rules.catalogue.sla(kind, category)
    async with in_transaction():
        serial = await _next_serial(prefix, year)
        ticket = await Ticket.create(
            number=format_number(prefix, year, serial),
            kind=kind,
            category=category,
            member=member,
            area=area,
            channel=channel,
            address=address,
            description=description,
            location=location,
            details=details or {},
            due_at=rules.calendar.add_working_days(now, verify_days),
            created_at=now,
        )
        await TicketEvent.create(
            ticket=ticket, kind=TicketEventKind.CREATED, to_status=TicketStatus.NEW, created_at=now
        )
        if file_ids:
            await FeedbackFile.filter(
                id__in=list(file_ids), member_id=member.id, ticket_id__isnull=True
            ).update(ticket_id=ticket.id)
    return ticket


def in_scope(scope: Scope) -> Any:
    """The tickets a user may see, as a queryset: filtered by area in the database. A ticket
    without an area (its member held no seat) is for unscoped users only."""
    tickets = Ticket.all()
    area_filter = scope.area_filter()
    if area_filter is not None:
        tickets = tickets.filter(area_filter)
    return tickets


async def get_ticket(number: str, scope: Scope) -> Ticket:
    """The ticket with that number, if the user may see it; raises NotFound (never Forbidden:
    a number outside one's areas is not confirmed to exist)."""
    wanted = parse_number(number) or number.strip().upper()
    ticket = await in_scope(scope).get_or_none(number=wanted).select_related("area", "member")
    if ticket is None:
        raise NotFound(f"no ticket {wanted[:40]}")
    return ticket


async def member_ticket(number: str, member: Member) -> Ticket | None:
    """The member's own ticket with that number (an RT head asking STATUS), or None."""
    wanted = parse_number(number)
    if wanted is None:
        return None
    return await Ticket.get_or_none(number=wanted, member_id=member.id)
