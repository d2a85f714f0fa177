"""The staff's view of tickets: filters as queries, SLA flags, history, files and counts.

Everything here reads; every area check is the scope's filter in the query (tickets.in_scope),
so a ticket outside the user's areas is never loaded. "Overdue" is a query too: an open ticket
(baru, diverifikasi, diproses) whose deadline has passed by the hub's clock, so the filter cuts
the rows in the database before a page is cut.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q, Subquery

from hub.access.areas import ancestor_keys, within
from hub.access.auth import Scope
from hub.core.workdays import WorkCalendar
from hub.feedback.complaints.tickets import TicketRules, get_ticket, in_scope
from hub.feedback.complaints.workflow import OPEN
from models import (
    Area,
    FeedbackFile,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
    User,
    UserRole,
)

CLOSED_RECENT = 30  # closed tickets the board shows, newest first


@dataclass(frozen=True)
class TicketFilter:
    """What a list or the board asks for; every field left empty matches all."""

    area: Area | None = None  # at or below this area (already checked to be in scope)
    statuses: tuple[TicketStatus, ...] = ()
    kind: TicketKind | None = None
    category: str = ""
    overdue: bool | None = None
    assignee_id: int | None = None
    unassigned: bool = False


@dataclass(frozen=True)
class Sla:
    """Where a ticket stands against its deadline, by the hub's clock."""

    overdue: bool
    working_days_late: int  # whole working days since the deadline's day (0: late today)
    due_today: bool


def overdue_filter(now: dt.datetime) -> Q:
    """Open tickets whose deadline has passed."""
    return Q(status__in=list(OPEN), due_at__lt=now)


def matching(scope: Scope, wanted: TicketFilter, now: dt.datetime) -> Any:
    """The tickets in scope that match, as a queryset (the caller orders and cuts it)."""
    tickets = in_scope(scope)
    if wanted.area is not None:
        tickets = tickets.filter(within(wanted.area, "area__"))
    if wanted.statuses:
        tickets = tickets.filter(status__in=list(wanted.statuses))
    if wanted.kind is not None:
        tickets = tickets.filter(kind=wanted.kind)
    if wanted.category:
        tickets = tickets.filter(category=wanted.category)
    if wanted.overdue is True:
        tickets = tickets.filter(overdue_filter(now))
    elif wanted.overdue is False:
        tickets = tickets.filter(~overdue_filter(now) | Q(due_at__isnull=True))
    if wanted.unassigned:
        tickets = tickets.filter(assignee_id__isnull=True)
    elif wanted.assignee_id is not None:
        tickets = tickets.filter(assignee_id=wanted.assignee_id)
    return tickets


async def open_count(scope: Scope) -> int:
    """Open tickets in the user's areas: the navigation's badge (one COUNT)."""
    return await in_scope(scope).filter(status__in=list(OPEN)).count()


def sla_of(ticket: Ticket, calendar: WorkCalendar, now: dt.datetime) -> Sla:
    """The ticket's SLA flags: overdue (and by how many working days), or due today."""
    if ticket.status not in OPEN or ticket.due_at is None:
        return Sla(False, 0, False)
    if ticket.due_at < now:
        return Sla(True, max(calendar.working_days_between(ticket.due_at, now), 0), False)
    today = now.astimezone(calendar.tz).date()
    return Sla(False, 0, ticket.due_at.astimezone(calendar.tz).date() == today)


def category_label(rules: TicketRules, ticket: Ticket) -> str:
    """What the RT head and staff call the category: a service's name, or the category."""
    if ticket.kind == TicketKind.SERVICE:
        service = rules.catalogue.service(ticket.category)
        return service.name if service else ticket.category
    return ticket.category


@dataclass(frozen=True)
class TicketDetail:
    """One ticket as staff open it: with its assignee, its files and its history."""

    ticket: Ticket
    files: list[FeedbackFile]
    history: list[TicketEvent]  # oldest first, with who wrote each entry


async def ticket_detail(number: str, scope: Scope) -> TicketDetail:
    """The ticket the user may see by its number (NotFound otherwise), its assignee fetched,
    with its files and history: what the API's and the dashboard's detail both show."""
    ticket = await get_ticket(number, scope)
    await ticket.fetch_related("assignee")
    files = await FeedbackFile.filter(ticket_id=ticket.id).order_by("id")
    history = await TicketEvent.filter(ticket_id=ticket.id).order_by("id").select_related("user")
    return TicketDetail(ticket, files, history)


def assignable(ticket: Ticket) -> Any:
    """Active staff and admins who can see the ticket's area, as a queryset: admins, users
    whose areas hold it, and users with no areas (the whole installation)."""
    with_areas = User.filter(areas__id__isnull=False).values("id")
    sees = Q(role=UserRole.ADMIN) | ~Q(id__in=Subquery(with_areas))
    area: Area | None = ticket.area
    if area is not None:
        sees |= Q(areas__path_key__in=ancestor_keys(area.path_key))
    staff = User.filter(is_active=True, role__in=[UserRole.STAFF, UserRole.ADMIN])
    return staff.filter(sees).distinct()
