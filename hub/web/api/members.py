"""Members: the roster as the token's user may see it, and invite codes."""

from __future__ import annotations

from aiohttp import web

from hub.access.areas import area_by_path
from hub.roster.members import get_member, invite_links, member_view, members_in
from hub.runtime import HUB
from hub.web.api.guards import SCOPE
from hub.web.api.routes import Query, component, int_id, route
from hub.web.api.schemas import INTEGER, NULLABLE_STRING, STRING, array, obj, one_of
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import Member

MEMBER = component(
    "Member",
    obj(
        id=INTEGER,
        name=STRING,
        area=NULLABLE_STRING,
        rt=NULLABLE_STRING,
        role=NULLABLE_STRING,
        phone=NULLABLE_STRING,
        channels=array(STRING),
        preferred_channel=NULLABLE_STRING,
        status=one_of("reachable", "opted_out", "blocked", "not_joined"),
    ),
)
INVITE = obj(code=STRING, telegram_link=NULLABLE_STRING, whatsapp_link=NULLABLE_STRING)

AREA = Query("area", "Area path, e.g. `Sungai Kunjang/Loa Bakung/RT 012`")


async def the_member(request: web.Request) -> Member:
    """The member the path names, within the user's areas (else 404)."""
    return await get_member(int_id(request), request[SCOPE])


@route(
    "GET",
    "/members",
    summary="Members holding a seat in an area",
    permission=Permission.READ,
    paginated="members",
    response=MEMBER,
    query=(AREA,),
    errors=(422,),  # an unknown area
)
async def list_members(request: web.Request) -> web.Response:
    area = None
    if "area" in request.query:
        area = await area_by_path(request.query["area"])
    members = members_in(area, request[SCOPE]).prefetch_related("seats__area", "addresses")
    found, after = await page_of(members, page_request(request.query))
    return web.json_response({"members": [member_view(m) for m in found], "next": after})


@route(
    "GET",
    "/members/{id}",
    summary="One member",
    permission=Permission.READ,
    load=the_member,
    response=MEMBER,
)
async def show_member(request: web.Request, member: Member) -> web.Response:
    return web.json_response(member_view(member))


@route(
    "GET",
    "/members/{id}/invite",
    summary="A member's invite code and links",
    permission=Permission.WRITE,  # an invite code is a credential: staff hand it out
    load=the_member,
    response=INVITE,
)
async def member_invite(request: web.Request, member: Member) -> web.Response:
    return web.json_response(invite_links(request.app[HUB].config, member.invite_code))
