"""Kotak masuk: members' free questions as threads, answered by staff, made tickets of.

Staff opening a thread marks it read; officials read it as it is and write nothing. The photos,
voice notes and documents members sent show in their bubbles, served by `message_file` to users
whose scope holds the message's area (checked in the query).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub.core.errors import Conflict, NotFound, ValidationFailed
from hub.feedback import inbox_threads
from hub.feedback.complaints.tickets import TooManyTickets
from hub.feedback.complaints.workflow import status_label
from hub.feedback.inbox_threads import MAX_REPLY, Thread
from hub.web.dashboard.base import (
    SCOPE,
    _field,
    _hub,
    _path_id,
    _require_write,
    _when,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import CHANNELS, TEXTS
from hub.web.media import private_file
from hub.web.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from hub.web.params import whole_number
from hub.web.permissions import Permission
from models import FeedbackFile, InboxDirection, TicketKind

UNREAD_LIMIT = 200  # unread threads listed first, all on one page
THREAD_LIMIT = 200  # the latest messages shown on a thread's page
NOTICES = {"inbox_replied", "inbox_ticket_made"}
ERRORS = {
    "inbox_unreachable",
    "inbox_ticket_twice",
    "inbox_ticket_rate",
    "inbox_ticket_invalid",
    "inbox_reply_empty",
    "inbox_reply_long",
}


def _thread_row(thread: Thread, tz: Any) -> dict[str, Any]:
    last = thread.last
    return {
        "member_id": thread.member.id,
        "name": thread.member.name,
        "area": thread.area.path if thread.area else "",
        "text": last.text or f"({last.kind})",
        "own": last.direction == InboxDirection.OUT,
        "time": _when(last.created_at, tz),
        "unread": thread.unread,
    }


@page(Permission.READ)
async def inbox_page(request: web.Request) -> web.StreamResponse:
    """Unread threads first, then every thread newest-active first (paged by `?after=`)."""
    scope = request[SCOPE]
    tz = _hub(request).config.tz
    cursor = request.query.get("after", "")
    before = decode_cursor(cursor) if cursor else None
    unread: list[Thread] = []
    if before is None:
        unread, _ = await inbox_threads.threads(scope, limit=UNREAD_LIMIT, unread_only=True)
    found, more = await inbox_threads.threads(scope, limit=DEFAULT_LIMIT, before=before)
    shown = {t.member.id for t in unread}
    return await render(
        request,
        "inbox.html",
        nav="inbox",
        unread=[_thread_row(t, tz) for t in unread],
        threads=[_thread_row(t, tz) for t in found if t.member.id not in shown],
        next_page=encode_cursor(found[-1].key) if more else "",
    )


def _file_row(message: Any, file: FeedbackFile) -> dict[str, Any]:
    return {
        "url": f"/inbox/messages/{message.id}/files/{file.id}",
        "kind": file.kind,
        "content_type": file.content_type,
        "name": file.filename,
    }


def _message_row(message: Any, files: list[FeedbackFile], tz: Any) -> dict[str, Any]:
    return {
        "id": message.id,
        "own": message.direction == InboxDirection.OUT,
        "text": message.text,
        "kind": message.kind,
        "time": _when(message.created_at, tz),
        "channel": CHANNELS.get(message.channel, message.channel),
        "user": message.user.username if message.user else "",
        "ticket": message.ticket.number if message.ticket else "",
        "unread": message.direction == InboxDirection.IN and message.read_at is None,
        "files": [_file_row(message, f) for f in files],
    }


def _categories(request: web.Request) -> list[dict[str, Any]]:
    """The ticket categories to choose from: complaint categories, then services."""
    catalogue = _hub(request).tickets.catalogue
    complaints = [(c.name, c.name) for c in catalogue.categories]
    services = [(s.key, s.name) for s in catalogue.services]
    return [
        {"kind": "aduan", "label": "Aduan", "options": complaints},
        {"kind": "layanan", "label": "Permohonan layanan", "options": services},
    ]


def _ticket_row(ticket: Any, language: str, tz: Any) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "kind": ticket.kind.value,
        "category": ticket.category,
        "status": status_label(language, ticket.status),
        "time": _when(ticket.created_at, tz),
    }


@page(Permission.READ)
async def thread_page(request: web.Request) -> web.StreamResponse:
    """One member's conversation as bubbles, their tickets, the reply and ticket forms."""
    hub = _hub(request)
    scope = request[SCOPE]
    member = await inbox_threads.thread_member(_path_id(request), scope)
    now = hub.clock()
    if scope.can_write:  # staff opening the thread have read it; an official's look is not that
        await inbox_threads.mark_read(member.id, scope, now)
    messages, more = await inbox_threads.thread_messages(member.id, scope, limit=THREAD_LIMIT)
    files = await inbox_threads.files_of(messages)
    tickets = await inbox_threads.member_tickets(member.id, scope)
    target = await inbox_threads.reply_target(member, hub.enabled_channels, now)
    language = hub.config.hub.language
    notice = request.query.get("notice", "")
    return await render(
        request,
        "inbox_thread.html",
        nav="inbox",
        member={"id": member.id, "name": member.name},
        area=next((m.area.path for m in messages if m.area), ""),
        messages=[_message_row(m, files[m.id], hub.config.tz) for m in reversed(messages)],
        older=more,
        tickets=[_ticket_row(t, language, hub.config.tz) for t in tickets],
        target_channel=CHANNELS.get(target.address.channel, "") if target else "",
        unreachable=target is None,
        window_note=TEXTS["inbox_window_closed"] if target and not target.window_open else "",
        categories=_categories(request),
        max_reply=MAX_REPLY,
        notice=_notice(notice, request.query.get("number", "")),
        notice_is_error=notice in ERRORS,
    )


@page(Permission.READ)
async def message_file(request: web.Request) -> web.StreamResponse:
    """A photo, voice note or document sent with an inbox message in the user's areas."""
    file_id = whole_number(request.match_info["file_id"])
    if file_id is None:
        raise NotFound("no such file")
    found = await inbox_threads.message_file(_path_id(request), file_id, request[SCOPE])
    path = await _hub(request).feedback_files.open_file(found)
    return private_file(path, found.content_type, found.filename)


def _notice(key: str, number: str) -> str:
    if key in NOTICES or key in ERRORS:
        return TEXTS[key].format(number=number[:40], limit=MAX_REPLY)
    return ""


@page(Permission.WRITE)
async def thread_reply(request: web.Request) -> web.StreamResponse:
    """Answer the member from the thread page."""
    scope = _require_write(request)
    hub = _hub(request)
    member_id = _path_id(request)
    text = _field(await request.post(), "text")
    try:
        await inbox_threads.reply(
            hub.config,
            member_id,
            text,
            scope=scope,
            now=hub.clock(),
            channels=hub.enabled_channels,
            wake_sender=hub.sender.wake,
        )
    except ValidationFailed:
        await inbox_threads.thread_member(member_id, scope)  # 404 before anything is said
        key = "inbox_reply_empty" if not text.strip() else "inbox_reply_long"
        return redirect(f"/inbox/{member_id}?notice={key}")
    except Conflict:
        return redirect(f"/inbox/{member_id}?notice=inbox_unreachable")
    return redirect(f"/inbox/{member_id}?notice=inbox_replied")


@page(Permission.WRITE)
async def message_ticket(request: web.Request) -> web.StreamResponse:
    """Make a ticket of one of the member's messages."""
    scope = _require_write(request)
    hub = _hub(request)
    message = await inbox_threads.scoped(scope).get_or_none(id=_path_id(request))
    if message is None:
        return await render(request, "error.html", status=404, message=TEXTS["not_found"])
    back = f"/inbox/{message.member_id}"  # type: ignore[attr-defined]
    form = await request.post()
    kind, category = _field(form, "kind"), _field(form, "category")
    description = _field(form, "description").strip() or None
    try:
        ticket = await inbox_threads.to_ticket(
            hub.tickets,
            message.id,
            kind=TicketKind(kind) if kind in ("aduan", "layanan") else TicketKind.COMPLAINT,
            category=category,
            description=description,
            scope=scope,
            now=hub.clock(),
            wake_sender=hub.sender.wake,
        )
    except TooManyTickets:
        return redirect(f"{back}?notice=inbox_ticket_rate")
    except Conflict:
        return redirect(f"{back}?notice=inbox_ticket_twice")
    except ValidationFailed:
        return redirect(f"{back}?notice=inbox_ticket_invalid")
    return redirect(f"{back}?notice=inbox_ticket_made&number={quote(ticket.number)}")
