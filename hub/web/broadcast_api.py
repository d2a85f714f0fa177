"""JSON API for a broadcast's life before and after sending: preview, edit, pause, resume,
correct; and the saved member groups audiences can name."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.audience import preview
from hub.auth import Scope
from hub.broadcasts import (
    BroadcastChanges,
    get_broadcast,
    pause_broadcast,
    resolve_audience,
    resume_broadcast,
    summary_of,
    update_broadcast,
)
from hub.corrections import correct_broadcast
from hub.member_groups import delete_group, get_group, group_view, groups_in, save_group
from hub.runtime import HUB, Hub
from hub.web.api import SCOPE, USER, int_id, parse_send_at, read_json
from hub.web.openapi import (
    AUDIENCE_PREVIEW_REQUEST,
    BROADCAST_CORRECTION,
    BROADCAST_UPDATE,
    MEMBER_GROUP_SAVE,
)
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission, requires
from models import Broadcast


async def _summary(broadcast: Broadcast) -> dict[str, Any]:
    return await summary_of(broadcast)


@requires(Permission.READ)
async def post_preview(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    body = await read_json(request, AUDIENCE_PREVIEW_REQUEST)
    wanted = body["audience"]
    audience = await resolve_audience(
        wanted.get("areas", []),
        wanted.get("members", []),
        wanted.get("groups", []),
        request[SCOPE],
        wanted.get("group_ids", []),
    )
    result = await preview(audience.member_ids, hub.enabled_channels, hub.clock())
    return web.json_response(result.as_dict())


@requires(Permission.WRITE)
async def patch_broadcast(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    scope: Scope = request[SCOPE]
    broadcast = await get_broadcast(int_id(request), scope)
    body = await read_json(request, BROADCAST_UPDATE)
    recurrence = body.get("recurrence")
    changes = BroadcastChanges(
        title=body.get("title"),
        text=body.get("text"),
        audience=body.get("audience"),
        send_at=parse_send_at(body.get("send_at")),
        clear_send_at="send_at" in body and body["send_at"] is None,
        recurrence=recurrence["cron"] if recurrence else None,
        clear_recurrence="recurrence" in body and recurrence is None,
        ack_required=body.get("ack_required"),
        attachments=body.get("attachments"),
    )
    broadcast = await update_broadcast(
        hub.config,
        broadcast,
        changes,
        user=request[USER],
        scope=scope,
        enabled_channels=hub.enabled_channels,
        now=hub.clock(),
    )
    return web.json_response(await _summary(broadcast))


@requires(Permission.WRITE)
async def post_pause(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    broadcast = await pause_broadcast(broadcast, user=request[USER], now=hub.clock())
    return web.json_response(await _summary(broadcast))


@requires(Permission.WRITE)
async def post_resume(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    broadcast = await resume_broadcast(hub.config, broadcast, user=request[USER], now=hub.clock())
    return web.json_response(await _summary(broadcast))


@requires(Permission.WRITE)
async def post_correction(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    body = await read_json(request, BROADCAST_CORRECTION)
    result = await correct_broadcast(
        hub.config,
        broadcast,
        title=body.get("title"),
        text=body["text"],
        user=request[USER],
        enabled_channels=hub.enabled_channels,
        now=hub.clock(),
    )
    hub.sender.wake()
    await broadcast.refresh_from_db()
    return web.json_response({"broadcast": await _summary(broadcast), **result.as_dict()})


# Saved member groups -----------------------------------------------------------------------


@requires(Permission.READ)
async def get_member_groups(request: web.Request) -> web.Response:
    groups, after = await page_of(groups_in(request[SCOPE]), page_request(request.query))
    return web.json_response({"groups": [await group_view(g) for g in groups], "next": after})


@requires(Permission.WRITE)
async def post_member_group(request: web.Request) -> web.Response:
    body = await read_json(request, MEMBER_GROUP_SAVE)
    group = await save_group(
        body["name"], body["members"], scope=request[SCOPE], user=request[USER]
    )
    return web.json_response(await group_view(group), status=201)


@requires(Permission.READ)
async def get_member_group(request: web.Request) -> web.Response:
    return web.json_response(await group_view(await get_group(int_id(request), request[SCOPE])))


@requires(Permission.WRITE)
async def put_member_group(request: web.Request) -> web.Response:
    group = await get_group(int_id(request), request[SCOPE])
    body = await read_json(request, MEMBER_GROUP_SAVE)
    group = await save_group(
        body["name"], body["members"], scope=request[SCOPE], user=request[USER], group=group
    )
    return web.json_response(await group_view(group))


@requires(Permission.WRITE)
async def delete_member_group(request: web.Request) -> web.Response:
    group = await get_group(int_id(request), request[SCOPE])
    await delete_group(group, scope=request[SCOPE], user=request[USER])
    return web.Response(status=204)


def setup(api: web.Application) -> None:
    """Add these routes to the API sub-application."""
    api.router.add_post("/broadcasts/preview", post_preview)
    api.router.add_patch("/broadcasts/{id}", patch_broadcast)
    api.router.add_post("/broadcasts/{id}/pause", post_pause)
    api.router.add_post("/broadcasts/{id}/resume", post_resume)
    api.router.add_post("/broadcasts/{id}/correction", post_correction)
    api.router.add_get("/member-groups", get_member_groups)
    api.router.add_post("/member-groups", post_member_group)
    api.router.add_get("/member-groups/{id}", get_member_group)
    api.router.add_put("/member-groups/{id}", put_member_group)
    api.router.add_delete("/member-groups/{id}", delete_member_group)
