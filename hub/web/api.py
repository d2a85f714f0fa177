"""The JSON API under /api/v1: bearer tokens, area scopes, one error format."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import jsonschema
from aiohttp import web
from aiohttp.typedefs import Handler

from channels.sandbox import SandboxChannel, SandboxError
from hub.areas import area_by_path
from hub.auth import Scope, user_for_token
from hub.broadcasts import (
    BroadcastRequest,
    broadcasts_in,
    cancel_broadcast,
    create_broadcast,
    deliveries_of,
    get_broadcast,
    summaries_of,
    summary_of,
)
from hub.db import is_busy
from hub.errors import HubError, NotFound, UnsupportedMediaType, ValidationFailed
from hub.groups import create_link_code, linked_groups
from hub.join_requests import join_requests_in
from hub.members import current_area_path, get_member, invite_links, member_view, members_in
from hub.reminders import call_list
from hub.runtime import HUB, Hub
from hub.web.middleware import busy_response, route_name
from hub.web.openapi import (
    BROADCAST_CREATE,
    GROUP_LINK_CODE_CREATE,
    ID,
    SANDBOX_ACT,
    openapi_document,
)
from hub.web.pagination import page_of, page_request
from hub.web.params import whole_number
from hub.web.permissions import Permission, check_role, permission_of, requires, undeclared_routes
from models import User

log = logging.getLogger(__name__)

USER = web.RequestKey("user", User)
SCOPE = web.RequestKey("scope", Scope)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as `{"error": {"code", "message"}}` with a fitting status."""
    try:
        return await handler(request)
    except HubError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        response = error_response(exc.status, code, exc.reason)
        # What the exception says beside its body stays: 405's Allow (RFC 9110 requires it).
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers.add(name, value)
        return response
    except Exception as exc:
        if is_busy(exc):  # locked by another writer: try again, nothing is broken
            log.warning(
                "API request %s %s: database busy: %s", request.method, route_name(request), exc
            )
            return busy_response()
        log.exception("API request %s %s failed", request.method, request.rel_url.path)
        return error_response(500, "internal", "internal error; the details are in the hub's log")


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token's user and their scope on the request; the route's role check before it runs."""
    permission = permission_of(request.match_info.handler)
    if permission == Permission.PUBLIC:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "unauthorized", "send Authorization: Bearer <token>")
    hub: Hub = request.app[HUB]
    user = await user_for_token(token.strip(), hub.clock())
    if user is None:
        return error_response(401, "unauthorized", "invalid or revoked token")
    request[USER] = user
    request[SCOPE] = await Scope.of(user)
    if permission is not None:  # None: no route matched; the router answers 404 or 405
        check_role(permission, user)
    return await handler(request)


# No request body of the API nests deeper than this; deeper is refused before anything walks it.
MAX_JSON_DEPTH = 32


def _check_values(body: Any) -> None:
    """Refuse what the databases cannot store or the checks cannot walk: nesting beyond
    MAX_JSON_DEPTH, NUL characters (PostgreSQL stores none) and lone surrogates (not Unicode)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationFailed("text must not contain NUL (\\u0000) characters")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationFailed(
                        "text must be valid Unicode (no lone \\ud800-\\udfff escapes)"
                    ) from None
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise HubError("the body is nested too deeply", code="malformed_json")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                stack.append((key, depth))
                stack.append((item, depth + 1))


async def read_json(request: web.Request, schema: dict[str, Any]) -> dict[str, Any]:
    """The request body as JSON, checked against the schema the OpenAPI document publishes."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        body = await request.json()
    # Too deep, a number too long to read, a charset nobody knows: all malformed.
    except (ValueError, UnicodeDecodeError, LookupError, RecursionError):
        raise HubError("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(body, dict):
        raise HubError("the body must be a JSON object", code="malformed_json")
    _check_values(body)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(body), key=str)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "body"
        raise ValidationFailed(f"{where}: {first.message}", field=where)
    return body


def int_id(request: web.Request) -> int:
    """The {id} of the path: ASCII digits within the integer columns, else 404."""
    value = whole_number(request.match_info["id"])
    if value is None or value < ID["minimum"]:
        raise NotFound("no object with that id: ids are whole numbers from 1")
    return value


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_send_at(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed.astimezone(dt.UTC)  # the database stores UTC: year 9999 at -12:00 overflows
        return parsed
    except (ValueError, OverflowError):
        raise ValidationFailed(
            "send_at: expected ISO-8601, e.g. 2026-12-01T08:00:00+08:00", field="send_at"
        ) from None


# Members -----------------------------------------------------------------------------------


@requires(Permission.READ)
async def list_members(request: web.Request) -> web.Response:
    area = None
    if "area" in request.query:
        area = await area_by_path(request.query["area"])
    members = members_in(area, request[SCOPE]).prefetch_related("seats__area", "addresses")
    found, after = await page_of(members, page_request(request.query))
    return web.json_response({"members": [member_view(m) for m in found], "next": after})


@requires(Permission.READ)
async def show_member(request: web.Request) -> web.Response:
    member = await get_member(int_id(request), request[SCOPE])
    return web.json_response(member_view(member))


@requires(Permission.WRITE)  # an invite code is a credential: staff hand it out
async def member_invite(request: web.Request) -> web.Response:
    member = await get_member(int_id(request), request[SCOPE])
    return web.json_response(invite_links(request.app[HUB].config, member.invite_code))


# Broadcasts --------------------------------------------------------------------------------


@requires(Permission.READ)
async def list_broadcasts(request: web.Request) -> web.Response:
    found, after = await page_of(
        broadcasts_in(request[SCOPE]), page_request(request.query), newest_first=True
    )
    return web.json_response({"broadcasts": await summaries_of(found), "next": after})


@requires(Permission.WRITE)
async def post_broadcast(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    scope: Scope = request[SCOPE]
    body = await read_json(request, BROADCAST_CREATE)
    audience = body.get("audience") or {}
    broadcast = await create_broadcast(
        hub.config,
        BroadcastRequest(
            title=body["title"],
            text=body["text"],
            areas=audience.get("areas", []),
            members=audience.get("members", []),
            groups=audience.get("groups", []),
            group_ids=audience.get("group_ids", []),
            send_at=parse_send_at(body.get("send_at")),
            recurrence=(body.get("recurrence") or {}).get("cron"),
            ack_required=body.get("ack_required", True),
            attachments=body.get("attachments", []),
        ),
        user=request[USER],
        scope=scope,
        enabled_channels=hub.enabled_channels,
        now=hub.clock(),
    )
    hub.sender.wake()
    return web.json_response(
        {"id": broadcast.id, "status": broadcast.status.value, "recipients": broadcast.recipients},
        status=201,
    )


@requires(Permission.READ)
async def show_broadcast(request: web.Request) -> web.Response:
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    return web.json_response(await summary_of(broadcast))


@requires(Permission.READ)
async def broadcast_recipients(request: web.Request) -> web.Response:
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    deliveries, after = await page_of(deliveries_of(broadcast), page_request(request.query))
    out = []
    for d in deliveries:
        out.append(
            {
                "member_id": d.member_id,
                "name": d.member.name,
                "area": current_area_path(d.member),
                "channel": d.channel or None,
                "status": d.status.value,
                "sent_at": _iso(d.sent_at),
                "delivered_at": _iso(d.delivered_at),
                "read_at": _iso(d.read_at),
                "acknowledged_at": _iso(d.acknowledged_at),
                "failure_reason": d.failure_reason,
                "reminders": d.reminders,
                "attempts": d.attempts,
            }
        )
    return web.json_response({"recipients": out, "next": after})


@requires(Permission.READ)
async def broadcast_call_list(request: web.Request) -> web.Response:
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    rows = await call_list(broadcast)
    return web.json_response(
        {"broadcast_id": broadcast.id, "silent": [row.as_dict() for row in rows]}
    )


@requires(Permission.WRITE)
async def post_cancel(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await get_broadcast(int_id(request), request[SCOPE])
    broadcast = await cancel_broadcast(broadcast, user=request[USER], now=hub.clock())
    return web.json_response(await summary_of(broadcast))


# Groups and join requests ------------------------------------------------------------------


@requires(Permission.READ)
async def list_groups(request: web.Request) -> web.Response:
    groups, after = await page_of(linked_groups(request[SCOPE]), page_request(request.query))
    return web.json_response(
        {
            "groups": [
                {
                    "id": g.id,
                    "channel": g.channel,
                    "title": g.title,
                    "area": g.area.path,
                    "linked_at": g.linked_at.isoformat(),
                }
                for g in groups
            ],
            "next": after,
        }
    )


@requires(Permission.WRITE)
async def post_link_code(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    scope: Scope = request[SCOPE]
    body = await read_json(request, GROUP_LINK_CODE_CREATE)
    area = await area_by_path(body["area"])
    scope.require_area(area)
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


@requires(Permission.WRITE)  # strangers' numbers are for the staff who onboard them
async def list_join_requests(request: web.Request) -> web.Response:
    pending, after = await page_of(join_requests_in(request[SCOPE]), page_request(request.query))
    return web.json_response(
        {
            "join_requests": [
                {
                    "id": r.id,
                    "channel": r.channel,
                    "name": r.name,
                    "phone": r.phone,
                    "first_text": r.first_text,
                    "claims_member_id": r.claimed_member_id,
                    "created_at": r.created_at.isoformat(),
                }
                for r in pending
            ],
            "next": after,
        }
    )


# Sandbox -----------------------------------------------------------------------------------


async def _sandbox_address(request: web.Request) -> tuple[SandboxChannel, str]:
    hub: Hub = request.app[HUB]
    channel = hub.channels.get("sandbox")
    if not isinstance(channel, SandboxChannel):
        raise NotFound("the sandbox channel is not enabled")
    member = await get_member(int_id(request), request[SCOPE])
    address = next((a for a in member.addresses if a.channel == "sandbox"), None)
    if address is None:
        raise NotFound(f"member {member.id} has no sandbox phone")
    return channel, address.address


@requires(Permission.READ)
async def sandbox_messages(request: web.Request) -> web.Response:
    channel, address = await _sandbox_address(request)
    include_own = request.query.get("include_own") in ("1", "true")
    messages = [
        {
            "id": m.id,
            "text": m.text,
            "buttons": [{"label": b.label, "payload": b.payload} for b in m.buttons],
            "sent_at": m.sent_at.isoformat(),
            "from_member": not m.from_hub,
            "attachments": [
                {"filename": f.filename, "content_type": f.content_type, "url": f.url}
                for f in m.attachments
            ],
        }
        for m in channel.messages(address, include_own=include_own)
    ]
    return web.json_response({"messages": messages})


@requires(Permission.WRITE)
async def sandbox_act(request: web.Request) -> web.Response:
    body = await read_json(request, SANDBOX_ACT)
    channel, address = await _sandbox_address(request)
    try:
        event = await channel.act(
            address,
            text=body.get("text", ""),
            button=body.get("button"),
            reply_to=body.get("reply_to"),
        )
    except SandboxError as exc:
        raise ValidationFailed(str(exc), code="sandbox") from None
    return web.json_response({"id": event.external_id}, status=202)


@requires(Permission.WRITE)  # reading as the member marks deliveries read
async def sandbox_open(request: web.Request) -> web.Response:
    channel, address = await _sandbox_address(request)
    updates = await channel.open_chat(address)
    return web.json_response({"read": len(updates)})


@requires(Permission.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def create_api(hub: Hub) -> web.Application:
    from hub.web import broadcast_api, media  # they build on this module's helpers

    api = web.Application(middlewares=[errors, bearer_auth])
    api[HUB] = hub
    api.router.add_get("/openapi.json", openapi)
    api.router.add_get("/members", list_members)
    api.router.add_get("/members/{id}", show_member)
    api.router.add_get("/members/{id}/invite", member_invite)
    api.router.add_get("/broadcasts", list_broadcasts)
    api.router.add_post("/broadcasts", post_broadcast)
    api.router.add_get("/broadcasts/{id}", show_broadcast)
    api.router.add_get("/broadcasts/{id}/recipients", broadcast_recipients)
    api.router.add_get("/broadcasts/{id}/call-list", broadcast_call_list)
    api.router.add_post("/broadcasts/{id}/cancel", post_cancel)
    broadcast_api.setup(api)
    media.setup_api(api)
    api.router.add_get("/groups", list_groups)
    api.router.add_post("/groups/link-codes", post_link_code)
    api.router.add_get("/join-requests", list_join_requests)
    api.router.add_get("/sandbox/members/{id}/messages", sandbox_messages)
    api.router.add_post("/sandbox/members/{id}/messages", sandbox_act)
    api.router.add_post("/sandbox/members/{id}/open", sandbox_open)
    undeclared = undeclared_routes(api)
    if undeclared:  # every route says who may use it; see hub/web/permissions.py
        raise RuntimeError(f"API routes without a declared permission: {', '.join(undeclared)}")
    return api
