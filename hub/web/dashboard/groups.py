"""Group chats: the linked ones in the user's areas, and one-time codes to link another."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from aiohttp import web

from hub.access.areas import UnknownArea, area_by_path
from hub.access.auth import Scope
from hub.core.errors import Forbidden
from hub.roster.groups import LINK_CODE_DAYS, LinkCode, create_link_code, linked_groups
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    _areas_in_scope,
    _field,
    _hub,
    _require_write,
    _when,
    page,
    render,
)
from hub.web.dashboard.texts import CHANNELS, TEXTS
from hub.web.permissions import Permission


async def _linked_groups(scope: Scope, tz: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    """The linked group chats in the user's areas (as GET /api/v1/groups lists them)."""
    visible = await linked_groups(scope)
    visible.sort(key=lambda g: (g.area.path_key.split("/"), g.title.lower()))
    return [
        {
            "channel": CHANNELS.get(g.channel, g.channel),
            "title": g.title,
            "area": g.area.path,
            "linked_at": _when(g.linked_at, tz),
        }
        for g in visible
    ]


def _link_view(link: LinkCode, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "code": link.code,
        "area": link.area,
        "instruction": link.instruction,
        "expires": _when(link.expires_at, tz),
    }


async def _groups_page(
    request: web.Request,
    *,
    status: int = 200,
    chosen: str = "",
    error: str = "",
    link: LinkCode | None = None,
) -> web.Response:
    hub = _hub(request)
    scope = request[SCOPE]
    areas = await _areas_in_scope(scope) if scope.can_write else []
    for area in areas:
        # A closed select shows one option alone: "RT 001" needs its kelurahan to mean anything.
        parts = area["path"].split("/")
        area["option"] = area["label"] if len(parts) <= 2 else " › ".join(parts[1:])
    return await render(
        request,
        "groups.html",
        status=status,
        nav="groups",
        groups=await _linked_groups(scope, hub.config.tz),
        areas=areas,
        chosen=chosen,
        error=error,
        link=_link_view(link, hub.config.tz) if link else None,
        link_days=LINK_CODE_DAYS,
        bot_username=hub.config.telegram.bot_username,
    )


@page()
async def groups_page(request: web.Request) -> web.StreamResponse:
    """The linked group chats and the form for a link code."""
    return await _groups_page(request)


@page(Permission.WRITE)
async def link_code_submit(request: web.Request) -> web.StreamResponse:
    """A one-time code for a group of an area in the user's scope, shown once on the page."""
    scope = _require_write(request)
    hub = _hub(request)
    chosen = _field(await request.post(), "area")
    retry = functools.partial(_groups_page, request, status=422, chosen=chosen)
    if not chosen.strip():
        return await retry(error=TEXTS["group_area_empty"])
    try:
        area = await area_by_path(chosen)
        scope.require_area(area)
    except UnknownArea:
        return await retry(error=TEXTS["areas_unknown"])
    except Forbidden:
        return await retry(error=TEXTS["areas_forbidden"])
    link = await create_link_code(area, request[SESSION].user, hub.clock())
    return await _groups_page(request, chosen=area.path, link=link)
