"""The API's two middlewares: one error shape for every failure, and the bearer token's user
with the route's role check before any handler runs."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.access.auth import Scope, user_for_token
from hub.core.db import is_busy
from hub.core.errors import HubError
from hub.runtime import HUB, Hub
from hub.web.middleware import busy_response, route_name
from hub.web.permissions import Permission, check_role, permission_of
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
