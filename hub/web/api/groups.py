"""Group chats linked to areas (a broadcast to an area is posted there too), and the one-time
codes that link them."""

from __future__ import annotations

from aiohttp import web

from hub.access.areas import area_by_path
from hub.roster.groups import create_link_code, linked_groups
from hub.runtime import HUB, Hub
from hub.web.api.bodies import RequestBody, text
from hub.web.api.guards import SCOPE, USER
from hub.web.api.routes import component, route
from hub.web.api.schemas import DATE_TIME, INTEGER, STRING, obj
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import GroupChat

AreaPath = text(1, 500)  # as long as Area.path


class GroupLinkCodeCreate(RequestBody):
    """The area a group chat is to be linked to."""

    area: AreaPath


GROUP = component(
    "Group",
    obj(id=INTEGER, channel=STRING, title=STRING, area=STRING, linked_at=DATE_TIME),
)
LINK_CODE = component(
    "LinkCode",
    obj(code=STRING, area=STRING, expires_at=DATE_TIME, instruction=STRING),
)


def _group(group: GroupChat) -> dict[str, object]:
    return {
        "id": group.id,
        "channel": group.channel,
        "title": group.title,
        "area": group.area.path,
        "linked_at": group.linked_at.isoformat(),
    }


@route(
    "GET",
    "/groups",
    summary="Group chats linked to areas (posts of broadcasts to those areas go there)",
    permission=Permission.READ,
    paginated="groups",
    response=GROUP,
)
async def list_groups(request: web.Request) -> web.Response:
    groups, after = await page_of(linked_groups(request[SCOPE]), page_request(request.query))
    return web.json_response({"groups": [_group(g) for g in groups], "next": after})


@route(
    "POST",
    "/groups/link-codes",
    summary="A one-time code: sent in a group as `/hubungkan <code>`, it links the group",
    permission=Permission.WRITE,
    body=GroupLinkCodeCreate,
    status=201,
    response=LINK_CODE,
)
async def post_link_code(request: web.Request, body: GroupLinkCodeCreate) -> web.Response:
    hub: Hub = request.app[HUB]
    area = await area_by_path(body.area)
    request[SCOPE].require_area(area)
    link = await create_link_code(area, request[USER], hub.clock())
    return web.json_response(
        {
            "code": link.code,
            "area": link.area,
            "expires_at": link.expires_at.isoformat(),
            "instruction": link.instruction,
        },
        status=201,
    )
