"""Join requests: people who wrote to the hub but are not on the roster, for staff to attach, and
accounts that sent an RT head's invite code after the RT head joined, for staff to approve."""

from __future__ import annotations

from aiohttp import web

from hub.core.errors import Conflict
from hub.roster.join_requests import approve_join_request, join_requests_in, refuse_join_request
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    _hub,
    _path_id,
    _require_write,
    _when,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import CHANNELS, TEXTS
from hub.web.permissions import Permission

JOIN_REQUEST_LIMIT = 500  # as many as GET /api/v1/join-requests lists
NOTICES = {"claim_approved", "claim_refused", "claim_resolved", "claim_gone"}
ERROR_NOTICES = {"claim_resolved", "claim_gone"}


@page(Permission.WRITE)
async def join_requests_page(request: web.Request) -> web.StreamResponse:
    """Unresolved join requests, oldest first (as GET /api/v1/join-requests lists them)."""
    _require_write(request)  # strangers' numbers are for the staff who onboard them
    tz = _hub(request).config.tz
    scope = request[SCOPE]
    pending = await join_requests_in(scope).order_by("id").limit(JOIN_REQUEST_LIMIT)
    rows = []
    for r in pending:
        rows.append(
            {
                "id": r.id,
                "channel": CHANNELS.get(r.channel, r.channel),
                "name": r.name,
                "phone": r.phone or "",
                "first_text": r.first_text,
                "created": _when(r.created_at, tz),
                "claims": r.claimed_member.name if r.claimed_member else "",
            }
        )
    notice = request.query.get("notice", "")
    return await render(
        request,
        "join_requests.html",
        nav="join_requests",
        requests=rows,
        truncated=len(rows) == JOIN_REQUEST_LIMIT,
        notice=TEXTS[notice] if notice in NOTICES else "",
        notice_is_error=notice in ERROR_NOTICES,
    )


@page(Permission.WRITE)
async def join_request_approve(request: web.Request) -> web.StreamResponse:
    """Bind the account of a claim to the RT head it names."""
    scope = _require_write(request)
    hub = _hub(request)
    try:
        await approve_join_request(
            hub.config,
            _path_id(request),
            scope=scope,
            user=request[SESSION].user,
            now=hub.clock(),
        )
    except Conflict as exc:
        return redirect(f"/join-requests?notice={_conflict_notice(exc)}")
    hub.sender.wake()
    return redirect("/join-requests?notice=claim_approved")


@page(Permission.WRITE)
async def join_request_refuse(request: web.Request) -> web.StreamResponse:
    """Close a join request without binding its account."""
    scope = _require_write(request)
    hub = _hub(request)
    try:
        await refuse_join_request(
            _path_id(request), scope=scope, user=request[SESSION].user, now=hub.clock()
        )
    except Conflict as exc:
        return redirect(f"/join-requests?notice={_conflict_notice(exc)}")
    return redirect("/join-requests?notice=claim_refused")


def _conflict_notice(exc: Conflict) -> str:
    return "claim_resolved" if exc.code in ("resolved", "linked") else "claim_gone"
