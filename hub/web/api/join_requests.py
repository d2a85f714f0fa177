"""Join requests: people not on the roster who wrote to the hub, not yet resolved."""

from __future__ import annotations

from aiohttp import web

from hub.roster.join_requests import join_requests_in
from hub.web.api.guards import SCOPE
from hub.web.api.routes import component, route
from hub.web.api.schemas import (
    DATE_TIME,
    INTEGER,
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    STRING,
    described,
    obj,
)
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import JoinRequest

JOIN_REQUEST = component(
    "JoinRequest",
    obj(
        id=INTEGER,
        channel=STRING,
        name=STRING,
        phone=NULLABLE_STRING,
        first_text=STRING,
        claims_member_id=described(
            NULLABLE_INTEGER,
            "The RT head whose invite code they sent, when that member has an account there "
            "already (approve or refuse it on the dashboard); null: a stranger",
        ),
        created_at=DATE_TIME,
    ),
)


def _join_request(pending: JoinRequest) -> dict[str, object]:
    return {
        "id": pending.id,
        "channel": pending.channel,
        "name": pending.name,
        "phone": pending.phone,
        "first_text": pending.first_text,
        "claims_member_id": pending.claimed_member_id,
        "created_at": pending.created_at.isoformat(),
    }


@route(
    "GET",
    "/join-requests",
    summary="People not on the roster who wrote to the hub, not yet resolved",
    permission=Permission.WRITE,  # strangers' numbers are for the staff who onboard them
    paginated="join_requests",
    response=JOIN_REQUEST,
)
async def list_join_requests(request: web.Request) -> web.Response:
    pending, after = await page_of(join_requests_in(request[SCOPE]), page_request(request.query))
    return web.json_response({"join_requests": [_join_request(r) for r in pending], "next": after})
