"""The sandbox phone: each member's simulated messenger, to try broadcasts without a real one."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from tortoise.expressions import Subquery

from channels.sandbox import PhoneMessage, SandboxChannel, SandboxError
from hub.roster.members import current_area_path, get_member, members_in
from hub.web.dashboard.base import (
    SCOPE,
    Refused,
    _field,
    _hub,
    _path_id,
    _require_write,
    _sandbox,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import TEXTS
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import ChannelAddress, Member

PHONES_PAGE = 100

SANDBOX_ERRORS = {
    "no message on this phone has that button": "sandbox_no_button",
    "type some text or tap a button": "sandbox_empty",
}

_BOLD = re.compile(r"\*([^*\n]+)\*")


def _sandbox_address(member: Member) -> str | None:
    return next((a.address for a in member.addresses if a.channel == "sandbox"), None)


async def _phone(request: web.Request) -> tuple[SandboxChannel, Member, str]:
    """The sandbox channel, the member in the URL (in scope) and their simulated phone."""
    channel = _sandbox(_hub(request))
    if channel is None:
        raise Refused(404, "not_found")
    member = await get_member(_path_id(request), request[SCOPE])
    address = _sandbox_address(member)
    if address is None:
        raise Refused(404, "not_found")
    return channel, member, address


def _segments(text: str) -> list[dict[str, Any]]:
    """Text split into plain and *bold* runs, as messengers show it; rendered escaped."""
    parts: list[dict[str, Any]] = []
    last = 0
    for match in _BOLD.finditer(text):
        if match.start() > last:
            parts.append({"text": text[last : match.start()], "bold": False})
        parts.append({"text": match.group(1), "bold": True})
        last = match.end()
    if last < len(text):
        parts.append({"text": text[last:], "bold": False})
    return parts


def _message_view(
    channel: SandboxChannel, address: str, message: PhoneMessage, tz: zoneinfo.ZoneInfo
) -> dict[str, Any]:
    return {
        "id": message.id,
        "text": message.text,
        "parts": _segments(message.text),
        "own": not message.from_hub,
        "time": f"{message.sent_at.astimezone(tz):%H.%M}",
        "buttons": [
            {"label": b.label, "payload": b.payload, "pressed": channel.pressed(address, b.payload)}
            for b in message.buttons
        ],
        # Links on this server (the path only), so the page opens them from its own origin.
        "attachments": [
            {"filename": f.filename, "url": urlsplit(f.url).path, "image": f.is_image}
            for f in message.attachments
        ],
    }


def _conversation(request: web.Request, channel: SandboxChannel, address: str) -> dict[str, Any]:
    """The phone's messages, oldest first, and a signature that changes when they do."""
    tz = _hub(request).config.tz
    # A tapped button leaves an empty message of the member's own; the button shows the tap.
    messages = [
        _message_view(channel, address, m, tz)
        for m in channel.messages(address, include_own=True)
        if m.from_hub or m.text.strip()
    ]
    pressed = sum(b["pressed"] for m in messages for b in m["buttons"])
    last = messages[-1]["id"] if messages else ""
    return {"messages": messages, "sig": f"{len(messages)}:{last}:{pressed}"}


@page()
async def sandbox_list(request: web.Request) -> web.StreamResponse:
    """The members in scope that have a sandbox phone, with their message counts."""
    channel = _sandbox(_hub(request))
    if channel is None:
        raise Refused(404, "not_found")
    with_phone = Subquery(ChannelAddress.filter(channel="sandbox").values("member_id"))
    members, after = await page_of(
        members_in(None, request[SCOPE])
        .filter(id__in=with_phone)
        .prefetch_related("seats__area", "addresses"),
        page_request(request.query, PHONES_PAGE),
    )
    phones = []
    for member in members:
        address = _sandbox_address(member)
        if address is None:
            continue
        received = channel.messages(address)
        phones.append(
            {
                "id": member.id,
                "name": member.name,
                "area": current_area_path(member) or "",
                "messages": len(received),
                "unread": sum(not m.read for m in received),
            }
        )
    return await render(
        request,
        "sandbox.html",
        nav="sandbox",
        phones=phones,
        next_page=f"/sandbox?cursor={after}" if after else "",
    )


async def _phone_page(
    request: web.Request, *, status: int = 200, error: str = "", typed: str = ""
) -> web.Response:
    channel, member, address = await _phone(request)
    return await render(
        request,
        "phone.html",
        status=status,
        nav="sandbox",
        member={"id": member.id, "name": member.name, "area": current_area_path(member) or ""},
        conversation=_conversation(request, channel, address),
        error=error,
        typed=typed,
    )


@page()
async def phone_page(request: web.Request) -> web.StreamResponse:
    """One member's phone: the conversation and a box to answer as them."""
    return await _phone_page(request)


@page()
async def phone_live(request: web.Request) -> web.StreamResponse:
    """The conversation as JSON, polled by the page's script."""
    channel, _, address = await _phone(request)
    return web.json_response(_conversation(request, channel, address))


@page(Permission.WRITE)
async def phone_act(request: web.Request) -> web.StreamResponse:
    """The member types a message or taps a button."""
    _require_write(request)
    channel, member, address = await _phone(request)
    form = await request.post()
    button = _field(form, "button") or None
    text = _field(form, "text").replace("\r\n", "\n")
    try:
        await channel.act(address, text=text, button=button, sender_name=member.name)
    except SandboxError as exc:
        error = TEXTS[SANDBOX_ERRORS.get(str(exc), "sandbox_failed")]
        return await _phone_page(request, status=422, error=error, typed=text)
    return redirect(f"/sandbox/{member.id}")


@page(Permission.WRITE)
async def phone_open(request: web.Request) -> web.StreamResponse:
    """The member opened the chat: what the hub sent becomes read (called by the page's script)."""
    _require_write(request)
    channel, _, address = await _phone(request)
    updates = await channel.open_chat(address)
    return web.json_response({"read": len(updates)})
