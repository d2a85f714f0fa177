"""Complaints and service requests (tickets) as staff and officials handle them: the list with
its filters, one ticket with its history and files, moving it through the workflow, internal
notes, messages to the RT head, assigning it; and the catalogue RT heads file from.

A ticket is named in the path by its number (`SKJ-2026-000123`); one outside the caller's areas
is 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import Field

from hub.access.areas import area_by_path
from hub.core.errors import NotFound, ValidationFailed
from hub.feedback.complaints.board import (
    TicketFilter,
    matching,
    sla_of,
    ticket_detail,
)
from hub.feedback.complaints.catalogue import Category, Service
from hub.feedback.complaints.desk import add_note, assign, message_member, ticket_file
from hub.feedback.complaints.tickets import get_ticket
from hub.feedback.complaints.workflow import MAX_NOTE, Move, allowed, move_ticket
from hub.runtime import HUB, Hub
from hub.web.api.bodies import Given, Id, RequestBody, text
from hub.web.api.guards import SCOPE, USER
from hub.web.api.routes import Query, component, iso, path_parameter, route
from hub.web.api.schemas import (
    BOOLEAN,
    DATE_TIME,
    INTEGER,
    NULLABLE_DATE_TIME,
    NULLABLE_STRING,
    STRING,
    array,
    described,
    obj,
    one_of,
)
from hub.web.media import private_file
from hub.web.pagination import encode_cursor, page_of, page_request
from hub.web.params import whole_number
from hub.web.permissions import Permission
from models import Ticket, TicketEvent, TicketKind, TicketStatus

T = TypeVar("T")

path_parameter(
    "ticket",
    {
        "type": "string",
        "pattern": r"^[A-Za-z]{2,8}-\d{4}-\d{1,9}$",
        "examples": ["SKJ-2026-000123"],
    },
)

# Request bodies ------------------------------------------------------------------------------

Note = text(0, MAX_NOTE)
LongText = text(1, 2000)


class ComplaintMove(RequestBody):
    """The next status, and what the RT head is told with it."""

    status: TicketStatus = Field(description="one of the ticket's `allowed_next`")
    note: Note = Field("", description="told to the RT head with the change")
    reason: Given[text(1, 1000)] = Field(None, description="required for ditolak")
    forwarded_to: Given[text(1, 200)] = Field(None, description="required for diteruskan")
    reference: Given[text(1, 100)] = Field(None, description="the other office's number")


class ComplaintNote(RequestBody):
    """An internal note: staff only, never sent to the RT head."""

    text: LongText


class ComplaintMessage(RequestBody):
    """A message to the RT head about the ticket, on the chat they filed it from."""

    text: LongText


class ComplaintAssignee(RequestBody):
    """Who handles the ticket: an active staff user or admin who can see its area; null: nobody."""

    user_id: Id | None


# Response bodies -----------------------------------------------------------------------------

STATUSES = [s.value for s in TicketStatus]
NAMED = {"type": ["object", "null"], "properties": {"id": INTEGER, "name": STRING}}
ASSIGNEE = {"type": ["object", "null"], "properties": {"id": INTEGER, "username": STRING}}
SUMMARY_FIELDS = dict(
    id=INTEGER,
    number=STRING,
    kind=one_of("aduan", "layanan"),
    category=STRING,
    status=one_of(*STATUSES),
    area=NULLABLE_STRING,
    member=NAMED,
    created_at=DATE_TIME,
    due_at=described(NULLABLE_DATE_TIME, "the deadline of the step it waits for"),
    overdue=BOOLEAN,
    working_days_late=INTEGER,
    assignee=ASSIGNEE,
)
COMPLAINT_SUMMARY = component("ComplaintSummary", obj(**SUMMARY_FIELDS))
FILE = obj(id=INTEGER, kind=STRING, content_type=STRING, size=INTEGER, url=STRING)
EVENT = component(
    "ComplaintEvent",
    obj(
        kind=one_of("created", "status", "note", "message", "assigned", "followup"),
        from_status=NULLABLE_STRING,
        to_status=NULLABLE_STRING,
        text=STRING,
        internal=BOOLEAN,
        user=NULLABLE_STRING,
        created_at=DATE_TIME,
    ),
)
COMPLAINT = component(
    "Complaint",
    obj(
        **SUMMARY_FIELDS,
        description=STRING,
        location={"type": ["object", "null"]},
        details={"type": "object"},
        reason=NULLABLE_STRING,
        forwarded_to=NULLABLE_STRING,
        reference=NULLABLE_STRING,
        reopened=INTEGER,
        resolved_at=NULLABLE_DATE_TIME,
        allowed_next=array(one_of(*STATUSES)),
        files=array(FILE),
        history=array(EVENT),
    ),
)
SERVICE = component(
    "Service",
    obj(
        key=STRING,
        name=STRING,
        requirements=array(obj(name=STRING, online=BOOLEAN)),
        verify_within_days=INTEGER,
        resolve_within_days=INTEGER,
    ),
)
CATEGORY = component(
    "ComplaintCategory",
    obj(name=STRING, verify_within_days=INTEGER, resolve_within_days=INTEGER),
)

FILTERS = (
    Query("area", "Area path: tickets at or below it, e.g. `Sungai Kunjang/Loa Bakung`"),
    Query(
        "status",
        "One status, or several separated by commas",
        {"type": "string", "examples": ["baru,diverifikasi"]},
    ),
    Query("kind", "aduan or layanan", one_of("aduan", "layanan")),
    Query("category", "A complaint category, or a service's key"),
    Query(
        "overdue",
        "true: open tickets past their deadline; false: the others",
        one_of("true", "false"),
    ),
    Query("assignee", "A user id, `me`, or `none` for unassigned tickets"),
)


# Loading and shaping -------------------------------------------------------------------------


async def the_ticket(request: web.Request) -> Ticket:
    """The ticket the path names, if the user may see it (else 404)."""
    return await get_ticket(request.match_info["ticket"][:40], request[SCOPE])


def _summary(hub: Hub, ticket: Ticket) -> dict[str, Any]:
    sla = sla_of(ticket, hub.tickets.calendar, hub.clock())
    member, assignee = ticket.member, ticket.assignee
    return {
        "id": ticket.id,
        "number": ticket.number,
        "kind": ticket.kind.value,
        "category": ticket.category,
        "status": ticket.status.value,
        "area": ticket.area.path if ticket.area else None,
        "member": {"id": member.id, "name": member.name} if member else None,
        "created_at": ticket.created_at.isoformat(),
        "due_at": iso(ticket.due_at),
        "overdue": sla.overdue,
        "working_days_late": sla.working_days_late,
        "assignee": {"id": assignee.id, "username": assignee.username} if assignee else None,
    }


def _event(event: TicketEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "text": event.text,
        "internal": event.internal,
        "user": event.user.username if event.user else None,
        "created_at": event.created_at.isoformat(),
    }


async def _detail(hub: Hub, number: str, request: web.Request) -> dict[str, Any]:
    detail = await ticket_detail(number, request[SCOPE])
    ticket = detail.ticket
    return {
        **_summary(hub, ticket),
        "description": ticket.description,
        "location": ticket.location,
        "details": ticket.details,
        "reason": ticket.reason,
        "forwarded_to": ticket.forwarded_to,
        "reference": ticket.reference,
        "reopened": ticket.reopened,
        "resolved_at": iso(ticket.resolved_at),
        "allowed_next": [s.value for s in allowed(ticket.status)],
        "files": [
            {
                "id": f.id,
                "kind": f.kind,
                "content_type": f.content_type,
                "size": f.size,
                "url": f"/api/v1/complaints/{ticket.number}/files/{f.id}",
            }
            for f in detail.files
        ],
        "history": [_event(e) for e in detail.history],
    }


def _choice(query: str, name: str, values: Sequence[str]) -> str:
    if query not in values:
        raise ValidationFailed(f"{name}: one of {', '.join(values)}", field=name)
    return query


async def _filter(request: web.Request) -> TicketFilter:
    """The list's filters from the query string; 422 for what is not one."""
    query = request.query
    area = None
    if query.get("area"):
        area = await area_by_path(query["area"])
        request[SCOPE].require_area(area)
    statuses = tuple(
        TicketStatus(_choice(s.strip(), "status", STATUSES))
        for s in query.get("status", "").split(",")
        if s.strip()
    )
    kind = None
    if "kind" in query:
        kind = TicketKind(_choice(query["kind"], "kind", ["aduan", "layanan"]))
    overdue = None
    if "overdue" in query:
        overdue = _choice(query["overdue"], "overdue", ["true", "false"]) == "true"
    assignee_id, unassigned = None, False
    wanted = query.get("assignee", "")
    if wanted == "none":
        unassigned = True
    elif wanted == "me":
        assignee_id = request[USER].id
    elif wanted:
        assignee_id = whole_number(wanted)
        if assignee_id is None:
            raise ValidationFailed("assignee: a user id, me or none", field="assignee")
    return TicketFilter(
        area, statuses, kind, query.get("category", "")[:100], overdue, assignee_id, unassigned
    )


def _sla_days(entry: Service | Category) -> dict[str, int]:
    return {
        "verify_within_days": entry.verify_within_days,
        "resolve_within_days": entry.resolve_within_days,
    }


def _service(service: Service) -> dict[str, Any]:
    return {
        "key": service.key,
        "name": service.name,
        "requirements": [{"name": r.name, "online": r.online} for r in service.requirements],
        **_sla_days(service),
    }


def _category(category: Category) -> dict[str, Any]:
    return {"name": category.name, **_sla_days(category)}


def _catalogue_page(
    request: web.Request, name: str, items: Sequence[T], view: Callable[[T], dict[str, Any]]
) -> web.Response:
    """A page of a catalogue list held in memory, by position."""
    page = page_request(request.query)
    start = page.after or 0
    found = items[start : start + page.limit]
    more = start + page.limit < len(items)
    after = encode_cursor(start + page.limit) if more else None
    return web.json_response({name: [view(item) for item in found], "next": after})


# Routes --------------------------------------------------------------------------------------


@route(
    "GET",
    "/complaints",
    summary="Tickets (complaints and service requests) in your areas, newest first",
    permission=Permission.READ,
    paginated="complaints",
    response=COMPLAINT_SUMMARY,
    query=FILTERS,
    errors=(422,),  # an unknown area or filter value
)
async def list_complaints(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    tickets = matching(request[SCOPE], await _filter(request), hub.clock())
    tickets = tickets.select_related("area", "member", "assignee")
    found, after = await page_of(tickets, page_request(request.query), newest_first=True)
    return web.json_response({"complaints": [_summary(hub, t) for t in found], "next": after})


@route(
    "GET",
    "/complaints/{ticket}",
    summary="One ticket with its files and history (internal notes included)",
    permission=Permission.READ,
    load=the_ticket,
    response=COMPLAINT,
)
async def show_complaint(request: web.Request, ticket: Ticket) -> web.Response:
    return web.json_response(await _detail(request.app[HUB], ticket.number, request))


@route(
    "PATCH",
    "/complaints/{ticket}",
    summary="Move a ticket to its next status; the RT head is told on their channel",
    permission=Permission.WRITE,
    load=the_ticket,
    body=ComplaintMove,
    response=COMPLAINT,
    errors=(409,),  # a skipped step (the message names the allowed ones), or it moved meanwhile
)
async def patch_complaint(
    request: web.Request, ticket: Ticket, body: ComplaintMove
) -> web.Response:
    hub: Hub = request.app[HUB]
    move = Move(
        body.status,
        note=body.note,
        reason=body.reason or "",
        forwarded_to=body.forwarded_to or "",
        reference=body.reference or "",
    )
    await move_ticket(
        hub.tickets,
        ticket.number,
        move,
        scope=request[SCOPE],
        now=hub.clock(),
        hub_name=hub.config.hub.name,
        wake_sender=hub.sender.wake,
    )
    return web.json_response(await _detail(hub, ticket.number, request))


@route(
    "POST",
    "/complaints/{ticket}/notes",
    summary="Add an internal note (staff only; never sent to the RT head)",
    permission=Permission.WRITE,
    load=the_ticket,
    body=ComplaintNote,
    status=201,
    response=EVENT,
)
async def post_complaint_note(
    request: web.Request, ticket: Ticket, body: ComplaintNote
) -> web.Response:
    hub: Hub = request.app[HUB]
    event = await add_note(ticket.number, body.text, scope=request[SCOPE], now=hub.clock())
    event.user = request[USER]
    return web.json_response(_event(event), status=201)


@route(
    "POST",
    "/complaints/{ticket}/messages",
    summary="Write to the RT head about the ticket, on the chat they filed it from",
    permission=Permission.WRITE,
    load=the_ticket,
    body=ComplaintMessage,
    status=201,
    response=EVENT,
)
async def post_complaint_message(
    request: web.Request, ticket: Ticket, body: ComplaintMessage
) -> web.Response:
    hub: Hub = request.app[HUB]
    event = await message_member(
        hub.tickets,
        ticket.number,
        body.text,
        scope=request[SCOPE],
        now=hub.clock(),
        hub_name=hub.config.hub.name,
        wake_sender=hub.sender.wake,
    )
    event.user = request[USER]
    return web.json_response(_event(event), status=201)


@route(
    "PUT",
    "/complaints/{ticket}/assignee",
    summary="Assign the ticket to an active staff user or admin who can see its area",
    permission=Permission.WRITE,
    load=the_ticket,
    body=ComplaintAssignee,
    response=COMPLAINT,
)
async def put_complaint_assignee(
    request: web.Request, ticket: Ticket, body: ComplaintAssignee
) -> web.Response:
    hub: Hub = request.app[HUB]
    await assign(ticket.number, body.user_id, scope=request[SCOPE], now=hub.clock())
    return web.json_response(await _detail(hub, ticket.number, request))


@route(
    "GET",
    "/complaints/{ticket}/files/{file_id}",
    summary="A photo, voice note or document of the ticket (never public)",
    permission=Permission.READ,
    load=the_ticket,
    response=described({"type": "string"}, "the file's bytes, with its stored content type"),
)
async def complaint_file(request: web.Request, ticket: Ticket) -> web.StreamResponse:
    hub: Hub = request.app[HUB]
    file_id = whole_number(request.match_info["file_id"])
    if file_id is None or file_id < 1:
        raise NotFound("no such file on this ticket")
    found, path = await ticket_file(ticket.number, file_id, request[SCOPE], hub.media.folder)
    return private_file(path, found.content_type, found.filename)


@route(
    "GET",
    "/services",
    summary="The service catalogue: what RT heads can request, what to bring, the SLAs",
    permission=Permission.READ,
    paginated="services",
    response=SERVICE,
)
async def list_services(request: web.Request) -> web.Response:
    services = request.app[HUB].tickets.catalogue.services
    return _catalogue_page(request, "services", services, _service)


@route(
    "GET",
    "/complaint-categories",
    summary="The complaint categories RT heads choose from, with their SLAs",
    permission=Permission.READ,
    paginated="categories",
    response=CATEGORY,
)
async def list_complaint_categories(request: web.Request) -> web.Response:
    categories = request.app[HUB].tickets.catalogue.categories
    return _catalogue_page(request, "categories", categories, _category)
