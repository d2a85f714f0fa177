"""The staff inbox: members' free questions as threads, answers to them, tickets made of them."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from hub.access.areas import area_by_path
from hub.core.errors import NotFound, ValidationFailed
from hub.feedback import inbox_threads
from hub.feedback.inbox_threads import MAX_REPLY, Thread, message_view
from hub.runtime import HUB
from hub.web.api.bodies import Given, RequestBody, text
from hub.web.api.guards import SCOPE
from hub.web.api.routes import Query, component, int_id, iso, route
from hub.web.api.schemas import (
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
from hub.web.pagination import encode_cursor, page_request
from hub.web.params import whole_number
from hub.web.permissions import Permission
from models import FeedbackFile, Member, TicketKind


class InboxReply(RequestBody):
    """A staff answer to a member's thread."""

    text: text(1, MAX_REPLY)  # type: ignore[valid-type]


class InboxTicket(RequestBody):
    """Make a ticket of a member's message: its kind and category, the text if staff edit it."""

    kind: Literal["aduan", "layanan"]
    category: text(1, 100)  # type: ignore[valid-type]
    description: Given[text(1, 2000)] = None  # type: ignore[valid-type]


MEMBER_BRIEF = obj(id=INTEGER, name=STRING, area=NULLABLE_STRING)
INBOX_MESSAGE = component(
    "InboxMessage",
    obj(
        id=INTEGER,
        direction=one_of("in", "out"),
        kind=STRING,
        text=STRING,
        channel=STRING,
        created_at=DATE_TIME,
        read_at=NULLABLE_DATE_TIME,
        user=NULLABLE_STRING,
        ticket=NULLABLE_STRING,
        files=array(obj(id=INTEGER, kind=STRING, content_type=STRING, size=INTEGER, url=STRING)),
    ),
)
THREAD = component(
    "InboxThread",
    obj(
        id=INTEGER,  # the member's id: the thread is /inbox/members/{id}
        member=MEMBER_BRIEF,
        area=NULLABLE_STRING,
        last_message=INBOX_MESSAGE,
        last_at=DATE_TIME,
        unread=INTEGER,
    ),
)
TICKET_BRIEF = obj(number=STRING, kind=STRING, category=STRING, status=STRING, created_at=DATE_TIME)
THREAD_DETAIL = obj(
    member=MEMBER_BRIEF,
    messages=array(INBOX_MESSAGE),
    next=NULLABLE_STRING,
    tickets=array(TICKET_BRIEF),
)

UNREAD = Query("unread", "`true`: only threads with unread messages", {"type": "boolean"})
AREA = Query("area", "Area path, e.g. `Sungai Kunjang/Loa Bakung/RT 012`")


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "").lower()
    if value not in ("", "true", "false", "1", "0"):
        raise ValidationFailed(f"{name}: true or false", field=name)
    return value in ("true", "1")


def _thread_view(thread: Thread, files: list[FeedbackFile]) -> dict:
    return {
        "id": thread.member.id,
        "member": {
            "id": thread.member.id,
            "name": thread.member.name,
            "area": thread.area.path if thread.area else None,
        },
        "area": thread.area.path if thread.area else None,
        "last_message": message_view(thread.last, files),
        "last_at": iso(thread.last.created_at),
        "unread": thread.unread,
    }


async def the_thread_member(request: web.Request) -> Member:
    """The member the path names, if some of their thread is in the user's areas (else 404)."""
    return await inbox_threads.thread_member(int_id(request), request[SCOPE])


@route(
    "GET",
    "/inbox",
    summary="Inbox threads, one per member, newest-active first",
    permission=Permission.READ,
    paginated="threads",
    response=THREAD,
    query=(UNREAD, AREA),
    errors=(422,),  # an unknown area, a bad flag
)
async def list_threads(request: web.Request) -> web.Response:
    page = page_request(request.query)
    area = await area_by_path(request.query["area"]) if "area" in request.query else None
    found, more = await inbox_threads.threads(
        request[SCOPE],
        limit=page.limit,
        before=page.after,
        unread_only=_flag(request, "unread"),
        area=area,
    )
    after = encode_cursor(found[-1].key) if more else None
    files = await inbox_threads.files_of([t.last for t in found])
    threads = [_thread_view(t, files[t.last.id]) for t in found]
    return web.json_response({"threads": threads, "next": after})


@route(
    "GET",
    "/inbox/unread",
    summary="How many members' messages nobody opened yet",
    permission=Permission.READ,
    response=obj(unread=INTEGER),
)
async def unread(request: web.Request) -> web.Response:
    return web.json_response({"unread": await inbox_threads.unread_count(request[SCOPE])})


@route(
    "GET",
    "/inbox/members/{id}",
    summary="A member's thread: messages newest first (paginated), and their tickets",
    permission=Permission.READ,
    load=the_thread_member,
    response=THREAD_DETAIL,
    query=(
        Query("limit", "Messages per page (default 50, at most 500)"),
        Query("cursor", "The `next` of the previous page"),
    ),
    errors=(422,),  # a bad limit or cursor
)
async def show_thread(request: web.Request, member: Member) -> web.Response:
    scope = request[SCOPE]
    page = page_request(request.query)
    messages, more = await inbox_threads.thread_messages(
        member.id, scope, limit=page.limit, before=page.after
    )
    tickets = await inbox_threads.member_tickets(member.id, scope)
    area = next((m.area.path for m in messages if m.area), None)
    files = await inbox_threads.files_of(messages)
    return web.json_response(
        {
            "member": {"id": member.id, "name": member.name, "area": area},
            "messages": [message_view(m, files[m.id]) for m in messages],
            "next": encode_cursor(messages[-1].id) if more else None,
            "tickets": [
                {
                    "number": t.number,
                    "kind": t.kind.value,
                    "category": t.category,
                    "status": t.status.value,
                    "created_at": iso(t.created_at),
                }
                for t in tickets
            ],
        }
    )


@route(
    "GET",
    "/inbox/messages/{id}/files/{file_id}",
    summary="A photo, voice note or document a member sent to the inbox (never public)",
    permission=Permission.READ,
    response=described({"type": "string"}, "the file's bytes, with its stored content type"),
)
async def message_file(request: web.Request) -> web.StreamResponse:
    file_id = whole_number(request.match_info["file_id"])
    if file_id is None or file_id < 1:
        raise NotFound("no such file with that inbox message")
    found = await inbox_threads.message_file(int_id(request), file_id, request[SCOPE])
    path = await request.app[HUB].feedback_files.open_file(found)
    return private_file(path, found.content_type, found.filename)


@route(
    "POST",
    "/inbox/members/{id}/read",
    summary="Mark a member's thread read",
    permission=Permission.WRITE,
    load=the_thread_member,
    response=obj(marked=INTEGER),
)
async def read_thread(request: web.Request, member: Member) -> web.Response:
    hub = request.app[HUB]
    marked = await inbox_threads.mark_read(member.id, request[SCOPE], hub.clock())
    return web.json_response({"marked": marked})


@route(
    "POST",
    "/inbox/members/{id}/reply",
    summary="Answer a member from the inbox (as a template outside a closed free-text window)",
    permission=Permission.WRITE,
    load=the_thread_member,
    body=InboxReply,
    status=201,
    response=obj(id=INTEGER, delivery=one_of("text", "template"), channel=STRING),
    errors=(409,),  # the member cannot be reached
)
async def post_reply(request: web.Request, member: Member, body: InboxReply) -> web.Response:
    hub = request.app[HUB]
    answer = await inbox_threads.reply(
        hub.config,
        member.id,
        body.text,
        scope=request[SCOPE],
        now=hub.clock(),
        channels=hub.enabled_channels,
        wake_sender=hub.sender.wake,
    )
    return web.json_response(
        {"id": answer.message.id, "delivery": answer.delivery, "channel": answer.message.channel},
        status=201,
    )


@route(
    "POST",
    "/inbox/messages/{id}/ticket",
    summary="Make a ticket of a member's message; the member is told its number",
    permission=Permission.WRITE,
    body=InboxTicket,
    status=201,
    response=obj(number=STRING, kind=STRING, category=STRING, status=STRING, message_id=INTEGER),
    errors=(404, 409, 429),  # no such message in scope; a ticket already; too many this hour
)
async def post_ticket(request: web.Request, body: InboxTicket) -> web.Response:
    hub = request.app[HUB]
    message_id = int_id(request)
    ticket = await inbox_threads.to_ticket(
        hub.tickets,
        message_id,
        kind=TicketKind(body.kind),
        category=body.category,
        description=body.description,
        scope=request[SCOPE],
        now=hub.clock(),
        wake_sender=hub.sender.wake,
    )
    return web.json_response(
        {
            "number": ticket.number,
            "kind": ticket.kind.value,
            "category": ticket.category,
            "status": ticket.status.value,
            "message_id": message_id,
        },
        status=201,
    )
