"""The broadcast pages: the list, one broadcast with its recipients and call list, and the
actions on it (cancel, pause, resume, correction). Composing a new one is in `compose`."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from aiohttp import web

from hub.broadcast.corrections import correct_broadcast
from hub.broadcast.queries import (
    broadcasts_in,
    deliveries_of,
    get_broadcast,
    summaries_of,
    summary_of,
)
from hub.broadcast.reminders import call_list
from hub.broadcast.service import cancel_broadcast, pause_broadcast, resume_broadcast
from hub.core.errors import Conflict, ValidationFailed
from hub.roster.members import current_area_path
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    _error_page,
    _field,
    _hub,
    _path_id,
    _require_write,
    _when,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import (
    BROADCAST_STATUS,
    CHANNELS,
    DELIVERY_STATUS,
    FAILURE_REASONS,
    TEXTS,
)
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import Broadcast, BroadcastStatus

LIST_LIMIT = 50
RECIPIENTS_PAGE = 200  # rows of the recipient table per page

NOTICES = (
    "created",
    "scheduled",
    "cancelled",
    "not_cancellable",
    "paused",
    "resumed",
    "not_pausable",
    "corrected",
    "nothing_to_correct",
)
ERROR_NOTICES = {"not_cancellable", "not_pausable", "nothing_to_correct"}


def _progress(summary: dict[str, Any]) -> dict[str, Any]:
    """Acknowledgement progress (read progress when no acknowledgement was asked for)."""
    target = "acknowledged" if summary["ack_required"] else "read"
    done = summary["counts"][target]
    total = summary["recipients"]
    percent = round(100 * done / total) if total else 0
    label = "dikonfirmasi" if target == "acknowledged" else "dibaca"
    return {"done": done, "total": total, "percent": percent, "label": label}


async def _broadcast_view(
    broadcast: Broadcast, tz: zoneinfo.ZoneInfo, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The API summary of a broadcast plus what the pages show: labels, local times, progress."""
    summary = summary if summary is not None else await summary_of(broadcast)
    summary["status_label"] = BROADCAST_STATUS.get(summary["status"], summary["status"])
    summary["created"] = _when(broadcast.created_at, tz)
    summary["send_at_local"] = _when(broadcast.send_at, tz)
    summary["progress"] = _progress(summary)
    summary["sig"] = ":".join(
        [
            summary["status"],
            str(sorted(summary["counts"].items())),
            str(sorted(summary["group_posts"].items())),
            str(sorted(summary["corrections"].items())),
        ]
    )
    return summary


async def _visible_broadcasts(request: web.Request) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the broadcasts the user may see, newest first, and the next page's cursor."""
    tz = _hub(request).config.tz
    found, after = await page_of(
        broadcasts_in(request[SCOPE]),
        page_request(request.query, LIST_LIMIT),
        newest_first=True,
    )
    summaries = await summaries_of(found)
    return [await _broadcast_view(b, tz, s) for b, s in zip(found, summaries, strict=True)], after


@page()
async def broadcast_list(request: web.Request) -> web.StreamResponse:
    """The home page: the latest broadcasts the user may see, a page at a time."""
    broadcasts, after = await _visible_broadcasts(request)
    return await render(
        request,
        "broadcasts.html",
        nav="broadcasts",
        broadcasts=broadcasts,
        next_page=f"/?cursor={after}" if after else "",
        first_page=bool(request.query.get("cursor")),
    )


@page()
async def broadcasts_live(request: web.Request) -> web.StreamResponse:
    """The list as JSON, polled by the page's script."""
    broadcasts, after = await _visible_broadcasts(request)
    return web.json_response({"broadcasts": broadcasts, "next": after})


async def _recipient_rows(
    request: web.Request, broadcast: Broadcast, tz: zoneinfo.ZoneInfo
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the recipients and the next page's cursor."""
    deliveries, after = await page_of(
        deliveries_of(broadcast), page_request(request.query, RECIPIENTS_PAGE)
    )
    rows = [
        {
            "name": d.member.name,
            "area": current_area_path(d.member) or "",
            "channel": CHANNELS.get(d.channel, d.channel),
            "status": d.status.value,
            "status_label": DELIVERY_STATUS.get(d.status.value, d.status.value),
            "sent_at": _when(d.sent_at, tz),
            "read_at": _when(d.read_at, tz),
            "acknowledged_at": _when(d.acknowledged_at, tz),
            "failure": FAILURE_REASONS.get(d.failure_reason or "", d.failure_reason or ""),
        }
        for d in deliveries
    ]
    return rows, after


async def _call_rows(broadcast: Broadcast) -> list[dict[str, Any]]:
    """The "Daftar telepon": silent recipients with links to call or chat with them."""
    return [
        row.as_dict()
        | {
            "channel_label": CHANNELS.get(row.channel or "", row.channel or ""),
            "status_label": DELIVERY_STATUS.get(row.status, row.status),
        }
        for row in await call_list(broadcast)
    ]


@page()
async def broadcast_detail(request: web.Request) -> web.StreamResponse:
    """One broadcast: progress, recipients, call list, revisions and the actions allowed now."""
    tz = _hub(request).config.tz
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    notice = request.query.get("notice", "")
    recipients, after = await _recipient_rows(request, broadcast, tz)
    return await render(
        request,
        "broadcast.html",
        nav="broadcasts",
        b=await _broadcast_view(broadcast, tz),
        text=broadcast.text,
        recipients=recipients,
        next_recipients=f"/broadcasts/{broadcast.id}?cursor={after}#penerima" if after else "",
        calls=await _call_rows(broadcast),
        escalated=_when(broadcast.escalated_at, tz),
        cancellable=broadcast.status
        in (BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED, BroadcastStatus.SENDING),
        pausable=broadcast.status == BroadcastStatus.SCHEDULED,
        resumable=broadcast.status == BroadcastStatus.PAUSED,
        correctable=broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT),
        revisions=[
            r | {"replaced_local": _when(dt.datetime.fromisoformat(r["replaced_at"]), tz)}
            for r in reversed(broadcast.revisions or [])
        ],
        notice=TEXTS[notice] if notice in NOTICES else "",
        notice_is_error=notice in ERROR_NOTICES,
    )


@page()
async def broadcast_live(request: web.Request) -> web.StreamResponse:
    """One broadcast's summary as JSON, polled by the page's script."""
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    return web.json_response(await _broadcast_view(broadcast, _hub(request).config.tz))


@page(Permission.WRITE)
async def broadcast_cancel(request: web.Request) -> web.StreamResponse:
    """Cancel a broadcast; what has not gone out yet never will."""
    _require_write(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    session = request[SESSION]
    try:
        await cancel_broadcast(broadcast, user=session.user, now=_hub(request).clock())
    except ValidationFailed:
        return redirect(f"/broadcasts/{broadcast.id}?notice=not_cancellable")
    return redirect(f"/broadcasts/{broadcast.id}?notice=cancelled")


@page(Permission.WRITE)
async def broadcast_pause(request: web.Request) -> web.StreamResponse:
    """Hold a scheduled broadcast."""
    _require_write(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    try:
        await pause_broadcast(broadcast, user=request[SESSION].user, now=_hub(request).clock())
    except Conflict:
        return redirect(f"/broadcasts/{broadcast.id}?notice=not_pausable")
    return redirect(f"/broadcasts/{broadcast.id}?notice=paused")


@page(Permission.WRITE)
async def broadcast_resume(request: web.Request) -> web.StreamResponse:
    """Schedule a held broadcast again."""
    _require_write(request)
    hub = _hub(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    try:
        await resume_broadcast(hub.config, broadcast, user=request[SESSION].user, now=hub.clock())
    except Conflict:
        return redirect(f"/broadcasts/{broadcast.id}?notice=not_pausable")
    return redirect(f"/broadcasts/{broadcast.id}?notice=resumed")


@page(Permission.WRITE)
async def broadcast_correct(request: web.Request) -> web.StreamResponse:
    """Save a correction of the title or text and send it to the recipients."""
    _require_write(request)
    hub = _hub(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    form = await request.post()
    try:
        await correct_broadcast(
            hub.config,
            broadcast,
            title=_field(form, "title") or None,
            text=_field(form, "text").replace("\r\n", "\n"),
            user=request[SESSION].user,
            enabled_channels=hub.enabled_channels,
            now=hub.clock(),
        )
    except Conflict as exc:
        if exc.code == "nothing_to_correct":
            return redirect(f"/broadcasts/{broadcast.id}?notice=nothing_to_correct")
        raise
    except ValidationFailed as exc:
        message = TEXTS["correction_refused"].format(reason=exc.message)
        return await _error_page(request, 422, message)
    hub.sender.wake()
    return redirect(f"/broadcasts/{broadcast.id}?notice=corrected")
