"""The complaint pages: the board by status with SLA flags and filters, one ticket with its
description, location, photos and voice notes, history, notes and messages, and the forms that
move, note, message and assign it. Officials see the same pages without the forms."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.access.auth import Scope
from hub.broadcast.queries import broadcasts_in
from hub.core.errors import Conflict, NotFound, ValidationFailed
from hub.feedback.complaints.board import (
    CLOSED_RECENT,
    TicketFilter,
    assignable,
    category_label,
    matching,
    sla_of,
    ticket_detail,
)
from hub.feedback.complaints.desk import add_note, assign, message_member, ticket_file
from hub.feedback.complaints.tickets import get_ticket
from hub.feedback.complaints.workflow import CLOSED, OPEN, Move, allowed, move_ticket
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    Refused,
    _areas_in_scope,
    _field,
    _hub,
    _require_write,
    _when,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import TICKET_KINDS, TICKET_NOTICES, TICKET_STATUS
from hub.web.media import private_file
from hub.web.params import whole_number
from hub.web.permissions import Permission
from models import Area, Ticket, TicketKind, TicketStatus

COLUMN_LIMIT = 100  # tickets shown per open column, most urgent first
ERROR_NOTICES = {
    "move_refused",
    "reason_missing",
    "office_missing",
    "note_invalid",
    "assignee_refused",
}
_FIELD_NOTICES = {"reason": "reason_missing", "forwarded_to": "office_missing"}


def _number(request: web.Request) -> str:
    return request.match_info["number"][:40]


async def _filter(request: web.Request) -> tuple[TicketFilter, dict[str, str]]:
    """The board's filters from the query string; a value that is no choice is ignored."""
    query, scope = request.query, request[SCOPE]
    chosen = {
        k: query.get(k, "") for k in ("area", "kind", "category", "status", "overdue", "assignee")
    }
    area = None
    if chosen["area"]:
        area = await Area.get_or_none(path=chosen["area"])
        if area is None or not scope.covers(area.path_key):
            raise Refused(404, "not_found")
    status = chosen["status"]
    statuses = (TicketStatus(status),) if status in TICKET_STATUS else ()
    kind = TicketKind(chosen["kind"]) if chosen["kind"] in TICKET_KINDS else None
    assignee = chosen["assignee"]
    wanted = TicketFilter(
        area=area,
        statuses=statuses,
        kind=kind,
        category=chosen["category"][:100],
        overdue=True if chosen["overdue"] == "1" else None,
        assignee_id=request[SESSION].user.id if assignee == "me" else None,
        unassigned=assignee == "none",
    )
    return wanted, chosen


def _card(request: web.Request, ticket: Ticket) -> dict[str, Any]:
    hub = _hub(request)
    now, tz = hub.clock(), hub.config.tz
    sla = sla_of(ticket, hub.tickets.calendar, now)
    return {
        "number": ticket.number,
        "kind": TICKET_KINDS.get(ticket.kind.value, ticket.kind.value),
        "category": category_label(hub.tickets, ticket),
        "status": ticket.status.value,
        "status_label": TICKET_STATUS[ticket.status.value],
        "area": ticket.area.path if ticket.area else "",
        "member": ticket.member.name if ticket.member else "",
        "assignee": ticket.assignee.username if ticket.assignee else "",
        "created": _when(ticket.created_at, tz),
        "due": _when(ticket.due_at, tz),
        "resolved": _when(ticket.resolved_at, tz),
        "overdue": sla.overdue,
        "days_late": sla.working_days_late,
        "due_today": sla.due_today,
    }


async def _column(request: web.Request, wanted: TicketFilter, status: TicketStatus) -> list[Any]:
    if wanted.statuses and status not in wanted.statuses:
        return []
    one = replace(wanted, statuses=(status,))
    tickets = (
        await matching(request[SCOPE], one, _hub(request).clock())
        .select_related("area", "member", "assignee")
        .order_by("due_at", "id")
        .limit(COLUMN_LIMIT)
    )
    return [_card(request, t) for t in tickets]


@page()
async def complaints_board(request: web.Request) -> web.StreamResponse:
    """The board: open tickets by status, most urgent first, and the recently closed ones."""
    hub = _hub(request)
    wanted, chosen = await _filter(request)
    columns = []
    for status in OPEN:
        cards = await _column(request, wanted, status)
        columns.append({"status": status.value, "label": TICKET_STATUS[status], "cards": cards})
    closed_statuses = [s for s in CLOSED if not wanted.statuses or s in wanted.statuses]
    closed: list[dict[str, Any]] = []
    if closed_statuses:
        recent = replace(wanted, statuses=tuple(closed_statuses))
        rows = (
            await matching(request[SCOPE], recent, hub.clock())
            .select_related("area", "member", "assignee")
            .order_by("-updated_at", "-id")
            .limit(CLOSED_RECENT)
        )
        closed = [_card(request, t) for t in rows]
    catalogue = hub.tickets.catalogue
    return await render(
        request,
        "complaints.html",
        nav="complaints",
        columns=columns,
        closed=closed,
        chosen=chosen,
        areas=await _areas_in_scope(request[SCOPE]),
        statuses=TICKET_STATUS,
        kinds=TICKET_KINDS,
        categories=[c.name for c in catalogue.categories],
        services=[(s.key, s.name) for s in catalogue.services],
    )


def _event_row(event: Any, tz: Any) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "from": TICKET_STATUS.get(event.from_status or "", ""),
        "to": TICKET_STATUS.get(event.to_status or "", ""),
        "text": event.text,
        "internal": event.internal,
        "user": event.user.username if event.user else "",
        "when": _when(event.created_at, tz),
    }


def _location(ticket: Ticket) -> dict[str, Any] | None:
    """The ticket's location with a map link when it has coordinates."""
    place = ticket.location if isinstance(ticket.location, dict) else None
    if not place:
        return None
    lat, lon = place.get("latitude"), place.get("longitude")
    link = ""
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"
    label = " · ".join(str(place[k]) for k in ("name", "address") if place.get(k))
    return {"label": label, "lat": lat, "lon": lon, "link": link}


async def _about(ticket: Ticket, scope: Scope) -> dict[str, Any] | None:
    """The announcement a ticket was reported under ("Laporkan masalah"), if the user sees it."""
    broadcast_id = (ticket.details or {}).get("broadcast_id")
    if not isinstance(broadcast_id, int):
        return None
    found = await broadcasts_in(scope).filter(id=broadcast_id).first().values("id", "title")
    return found or None


@page()
async def complaint_detail(request: web.Request) -> web.StreamResponse:
    """One ticket: what was reported, its files, its history, and the forms allowed now."""
    hub = _hub(request)
    tz = hub.config.tz
    detail = await ticket_detail(_number(request), request[SCOPE])
    ticket = detail.ticket
    history = [_event_row(e, tz) for e in detail.history]
    can_write = request[SCOPE].can_write
    notice = request.query.get("notice", "")
    return await render(
        request,
        "complaint.html",
        nav="complaints",
        t=_card(request, ticket),
        description=ticket.description,
        details={k: v for k, v in (ticket.details or {}).items() if k != "broadcast_id"},
        about=await _about(ticket, request[SCOPE]),
        location=_location(ticket),
        reason=ticket.reason or "",
        forwarded_to=ticket.forwarded_to or "",
        reference=ticket.reference or "",
        reopened=ticket.reopened,
        files=[
            {"id": f.id, "kind": f.kind, "content_type": f.content_type, "name": f.filename}
            for f in detail.files
        ],
        history=history,
        notes=[e for e in history if e["kind"] == "note"],
        messages=[e for e in history if e["kind"] == "message"],
        steps=[(s.value, TICKET_STATUS[s.value]) for s in allowed(ticket.status)],
        assignees=[(u.id, u.username) for u in await assignable(ticket).order_by("username")]
        if can_write
        else [],
        assignee_id=ticket.assignee.id if ticket.assignee else None,
        notice=TICKET_NOTICES.get(notice, ""),
        notice_is_error=notice in ERROR_NOTICES,
    )


def _back(number: str, notice: str) -> web.Response:
    return redirect(f"/complaints/{number}?notice={notice}")


def _text(form: MultiDictProxy[Any], name: str) -> str:
    return _field(form, name).replace("\r\n", "\n")


async def _ticket_form(request: web.Request) -> tuple[Scope, Ticket, MultiDictProxy[Any]]:
    """A form posted on a ticket's page: the writer's scope, the ticket (found through it) and
    the form."""
    scope = _require_write(request)
    ticket = await get_ticket(_number(request), scope)
    return scope, ticket, await request.post()


@page(Permission.WRITE)
async def complaint_move(request: web.Request) -> web.StreamResponse:
    """Move the ticket to one of its allowed next statuses; the RT head is told."""
    scope, ticket, form = await _ticket_form(request)
    hub = _hub(request)
    status = _field(form, "status")
    if status not in TICKET_STATUS:
        return _back(ticket.number, "move_refused")
    move = Move(
        TicketStatus(status),
        note=_text(form, "note"),
        reason=_text(form, "reason"),
        forwarded_to=_field(form, "forwarded_to"),
        reference=_field(form, "reference"),
    )
    try:
        await move_ticket(
            hub.tickets,
            ticket.number,
            move,
            scope=scope,
            now=hub.clock(),
            hub_name=hub.config.hub.name,
            wake_sender=hub.sender.wake,
        )
    except Conflict:
        return _back(ticket.number, "move_refused")
    except ValidationFailed as exc:
        return _back(ticket.number, _FIELD_NOTICES.get(exc.field or "", "note_invalid"))
    return _back(ticket.number, "moved")


@page(Permission.WRITE)
async def complaint_note(request: web.Request) -> web.StreamResponse:
    """Add an internal note."""
    scope, ticket, form = await _ticket_form(request)
    try:
        await add_note(ticket.number, _text(form, "text"), scope=scope, now=_hub(request).clock())
    except ValidationFailed:
        return _back(ticket.number, "note_invalid")
    return _back(ticket.number, "noted")


@page(Permission.WRITE)
async def complaint_message(request: web.Request) -> web.StreamResponse:
    """Write to the RT head about the ticket."""
    scope, ticket, form = await _ticket_form(request)
    hub = _hub(request)
    try:
        await message_member(
            hub.tickets,
            ticket.number,
            _text(form, "text"),
            scope=scope,
            now=hub.clock(),
            hub_name=hub.config.hub.name,
            wake_sender=hub.sender.wake,
        )
    except ValidationFailed:
        return _back(ticket.number, "note_invalid")
    return _back(ticket.number, "messaged")


@page(Permission.WRITE)
async def complaint_assign(request: web.Request) -> web.StreamResponse:
    """Assign the ticket to a user who can see its area, or to nobody."""
    scope, ticket, form = await _ticket_form(request)
    raw = _field(form, "user_id")
    user_id = whole_number(raw) if raw else None
    if raw and user_id is None:
        return _back(ticket.number, "assignee_refused")
    try:
        await assign(ticket.number, user_id, scope=scope, now=_hub(request).clock())
    except ValidationFailed:
        return _back(ticket.number, "assignee_refused")
    return _back(ticket.number, "assigned")


@page()
async def complaint_file(request: web.Request) -> web.StreamResponse:
    """A photo or voice note of a ticket in the user's areas, shown inline on its page."""
    file_id = whole_number(request.match_info["id"])
    if file_id is None:
        raise NotFound("no such file")
    found, path = await ticket_file(
        _number(request), file_id, request[SCOPE], _hub(request).media.folder
    )
    return private_file(path, found.content_type, found.filename)
