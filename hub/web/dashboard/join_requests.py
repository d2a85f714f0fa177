"""Join requests: people who wrote to the hub but are not on the roster, for staff to attach."""

from __future__ import annotations

from aiohttp import web

from hub.web.dashboard.base import _hub, _require_write, _when, page, render
from hub.web.dashboard.texts import CHANNELS
from hub.web.permissions import Permission
from models import JoinRequest

JOIN_REQUEST_LIMIT = 500  # as many as GET /api/v1/join-requests lists


@page(Permission.WRITE)
async def join_requests_page(request: web.Request) -> web.StreamResponse:
    """Unresolved join requests, oldest first (as GET /api/v1/join-requests lists them)."""
    _require_write(request)  # strangers' numbers are for the staff who onboard them
    tz = _hub(request).config.tz
    pending = await JoinRequest.filter(resolved_at=None).order_by("id").limit(JOIN_REQUEST_LIMIT)
    rows = [
        {
            "channel": CHANNELS.get(r.channel, r.channel),
            "name": r.name,
            "phone": r.phone or "",
            "first_text": r.first_text,
            "created": _when(r.created_at, tz),
        }
        for r in pending
    ]
    return await render(
        request,
        "join_requests.html",
        nav="join_requests",
        requests=rows,
        truncated=len(rows) == JOIN_REQUEST_LIMIT,
    )
