"""What each route lets whom do, declared on the route's handler and checked in one place.

Every handler of the app declares one `Permission` with `@requires(...)` (API routes through
`route(permission=...)` in hub/web/api/routes.py, dashboard pages through `page(permission=...)`).
The API's and the dashboard's guards enforce the role part before the handler runs; the area
part lives in the handler's queries (`Scope`), so a row outside the user's areas is never read.
`undeclared_routes()` lists routes that declare nothing: the app refuses to start with one, and
the permission tests fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web

from hub.core.errors import Forbidden
from models import User, UserRole


class Permission(StrEnum):
    PUBLIC = "public"  # no login (health, webhooks with their own signatures, public pages)
    READ = "read"  # any signed-in user; what they see is filtered to their areas
    WRITE = "write"  # staff and admins, within their areas; officials are read-only
    ADMIN = "admin"  # admins only


HandlerT = TypeVar("HandlerT", bound=Callable[..., Awaitable[web.StreamResponse]])
_ATTRIBUTE = "hub_permission"


def requires(permission: Permission) -> Callable[[HandlerT], HandlerT]:
    """Declare what a route needs; applied to the handler the router calls."""

    def declare(handler: HandlerT) -> HandlerT:
        setattr(handler, _ATTRIBUTE, permission)
        return handler

    return declare


def permission_of(handler: Any) -> Permission | None:
    """The permission a handler declares (looking through functools.wraps), or None."""
    while handler is not None:
        found = getattr(handler, _ATTRIBUTE, None)
        if found is not None:
            return Permission(found)
        handler = getattr(handler, "__wrapped__", None)
    return None


def check_role(permission: Permission, user: User) -> None:
    """Raise Forbidden when the user's role does not allow the permission."""
    if permission == Permission.WRITE and user.role == UserRole.OFFICIAL:
        raise Forbidden("officials have read-only access")
    if permission == Permission.ADMIN and user.role != UserRole.ADMIN:
        raise Forbidden("only admins may do this")


def routes_of(app: web.Application) -> Iterator[tuple[str, str, Any]]:
    """(method, path, handler) of every route, sub-applications included (their resources carry
    the mount prefix already)."""
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a mounted sub-application
            yield from routes_of(info["app"])
            continue
        path = info.get("path") or info.get("formatter") or ""
        for route in resource:
            if route.method == "HEAD":  # added beside every GET
                continue
            yield route.method, path, route.handler


def undeclared_routes(app: web.Application) -> list[str]:
    """`METHOD path` of every route whose handler declares no permission."""
    return [
        f"{method} {path}"
        for method, path, handler in routes_of(app)
        if permission_of(handler) is None
    ]
