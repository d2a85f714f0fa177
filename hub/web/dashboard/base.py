"""What every dashboard page shares: the `page()` wrapper, rendering, error pages and form helpers.

`page()` does the session check, CSRF on every POST, error pages and security headers; the
modules beside this one hold the pages themselves and import from here, never the other way.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import zoneinfo
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from tortoise.functions import Count

from channels.sandbox import SandboxChannel
from hub.access.auth import Scope, session_for_cookie
from hub.broadcast.member_groups import groups_in
from hub.core.db import is_busy
from hub.core.errors import Forbidden, HubError, NotFound
from hub.feedback.complaints.board import open_count
from hub.feedback.inbox_threads import unread_count
from hub.feedback.polls.service import open_polls_count
from hub.runtime import HUB, Hub
from hub.web.dashboard.texts import AREA_KINDS, MONTHS, ROLES, TEXTS
from hub.web.media import first_form_field
from hub.web.middleware import BUSY_RETRY_AFTER_SECONDS, route_name
from hub.web.params import whole_number
from hub.web.permissions import Permission, check_role, requires
from models import Area, JoinRequest, WebSession

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)

# Templates and static files sit in hub/web, beside this package.
HERE = Path(__file__).parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SESSION_COOKIE = "bw_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

SESSION = web.RequestKey("dashboard_session", WebSession)
SCOPE = web.RequestKey("dashboard_scope", Scope)

# Forms that may come as multipart/form-data (with files); others are refused in that form.
UPLOAD_FORMS = {"/broadcasts/new"}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class Refused(Exception):
    """A dashboard request turned down with an HTTP status and one of TEXTS."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


# Plumbing: rendering, redirects, headers ------------------------------------------------------


def _hub(request: web.Request) -> Hub:
    return request.app[HUB]


def _sandbox(hub: Hub) -> SandboxChannel | None:
    channel = hub.channels.get("sandbox")
    return channel if isinstance(channel, SandboxChannel) else None


def _context(request: web.Request) -> dict[str, Any]:
    """What every template sees: the hub's name, the user, their CSRF token and permissions."""
    hub = _hub(request)
    session = request.get(SESSION)
    scope = request.get(SCOPE)
    return {
        "hub_name": hub.config.hub.name,
        "user": session.user if session else None,
        "role_label": ROLES.get(session.user.role.value, "") if session else "",
        "csrf_token": session.csrf_token if session else "",
        "can_write": bool(scope and scope.can_write),
        "sandbox_enabled": _sandbox(hub) is not None,
        "tz_label": dt.datetime.now(hub.config.tz).tzname(),
        "nav": "",
        "pending_requests": 0,
        "inbox_unread": 0,
        "open_tickets": 0,
        "open_polls": 0,
    }


async def _pending_join_requests(request: web.Request) -> int:
    """The navigation's badge: one COUNT of unresolved join requests, for staff and admins."""
    scope = request.get(SCOPE)
    if scope is None or not scope.can_write:
        return 0
    return await JoinRequest.filter(resolved_at=None).count()


async def _inbox_unread(request: web.Request) -> int:
    """The navigation's "Kotak masuk" badge: unread members' messages in the user's areas."""
    scope = request.get(SCOPE)
    return 0 if scope is None else await unread_count(scope)


async def _open_tickets(request: web.Request) -> int:
    """The navigation's "Aduan" badge: one COUNT of open tickets in the user's areas."""
    scope = request.get(SCOPE)
    return await open_count(scope) if scope is not None else 0


async def _open_polls(request: web.Request) -> int:
    """The navigation's badge: open polls in the user's areas."""
    scope = request.get(SCOPE)
    return 0 if scope is None else await open_polls_count(scope)


async def render(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    """A template rendered with the common context."""
    context = _context(request)
    context["pending_requests"] = await _pending_join_requests(request)
    context["inbox_unread"] = await _inbox_unread(request)
    context["open_tickets"] = await _open_tickets(request)
    context["open_polls"] = await _open_polls(request)
    html = _env.get_template(template).render(**(context | values))
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(location: str, status: int = 303) -> web.Response:
    """A redirect; 303 by default, so a POST is followed by a GET."""
    return web.Response(status=status, headers={"Location": location})


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


async def _error_page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if _wants_json(request):
        return _json_error(status, message)
    return await render(request, "error.html", status=status, message=message)


def _busy_page(request: web.Request) -> web.Response:
    """503 with Retry-After while the database is locked; rendered without asking the database."""
    message = TEXTS["busy"]
    if _wants_json(request):
        response = _json_error(503, message)
    else:
        html = _env.get_template("error.html").render(**(_context(request) | {"message": message}))
        response = web.Response(text=html, content_type="text/html", status=503)
        response.headers["Cache-Control"] = "no-store"
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
    return response


def _hub_error_text(exc: HubError) -> str:
    if isinstance(exc, NotFound):
        return TEXTS["not_found"]
    if isinstance(exc, Forbidden):
        return TEXTS["forbidden"]
    return TEXTS["bad_request"]


def _secure(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _text(value: Any) -> str:
    """Form text with NUL removed (PostgreSQL stores none); file uploads read as ""."""
    return value.replace("\x00", "") if isinstance(value, str) else ""


def _field(form: MultiDictProxy[Any], name: str) -> str:
    return _text(form.get(name))


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that never raises on non-ASCII input."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _when(value: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """`7 Jan 2026, 08.15` in the hub's timezone; "" for no time."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H.%M}"


def _path_id(request: web.Request) -> int:
    """The {id} of the path (the route takes \\d, which Unicode digits match too); else 404."""
    value = whole_number(request.match_info["id"])
    if value is None:
        raise Refused(404, "not_found")
    return value


def _area_label(area: Area) -> str:
    kind = AREA_KINDS.get(area.kind.value, "")
    return f"{kind} {area.name}" if kind else area.name


async def _areas_in_scope(scope: Scope) -> list[dict[str, Any]]:
    """Areas the user may address, in tree order (kecamatan, its kelurahan, their RTs)."""
    areas = [a for a in await Area.all() if scope.covers(a.path_key)]
    areas.sort(key=lambda a: a.path_key.split("/"))
    return [
        {"path": a.path, "label": _area_label(a), "kind": a.kind.value, "depth": a.path.count("/")}
        for a in areas
    ]


async def _saved_groups(scope: Scope) -> list[dict[str, Any]]:
    """The saved member groups the user may address, with their sizes (the audience picker)."""
    groups = await groups_in(scope).annotate(size=Count("entries"))
    return [{"name": g.name, "size": g.size} for g in groups]  # type: ignore[attr-defined]


# The wrapper every dashboard handler goes through --------------------------------------------


async def _current_session(request: web.Request) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await session_for_cookie(token, _hub(request).clock())


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type == "multipart/form-data":
        if request.path not in UPLOAD_FORMS:
            return False
        given = await first_form_field(request, CSRF_FIELD)  # files are read only after this
    elif not given:
        given = _field(await request.post(), CSRF_FIELD)
    return _same(given, expected)


def _wants_json(request: web.Request) -> bool:
    """The endpoints the page's script calls answer in JSON, pages in HTML."""
    return request.path.endswith(("/live", "/open"))


def _logged_out(request: web.Request) -> web.Response:
    if _wants_json(request):
        return _json_error(401, "login")
    if request.method not in ("GET", "HEAD"):
        return redirect("/login")
    if request.path == "/":
        return redirect("/login", 302)
    return redirect("/login?next=" + quote(request.path_qs, safe="/?=&"), 302)


def page(permission: Permission = Permission.READ) -> Callable[[Handler], Handler]:
    """Wrap a dashboard handler: session and role (unless PUBLIC), CSRF on POST, error pages,
    headers; the permission is declared on the route (see hub/web/permissions.py)."""

    def decorate(handler: Handler) -> Handler:
        @requires(permission)
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                response = await _guarded(request, handler, permission)
            except Refused as exc:
                response = await _error_page(request, exc.status, TEXTS[exc.key])
            except HubError as exc:
                response = await _error_page(request, exc.status, _hub_error_text(exc))
            except UnicodeDecodeError:  # a form whose bytes are not UTF-8 (nor its escapes)
                response = await _error_page(request, 400, TEXTS["bad_request"])
            except Exception as exc:
                if not is_busy(exc):
                    raise
                log.warning(
                    "dashboard %s %s: database busy: %s", request.method, route_name(request), exc
                )
                response = _busy_page(request)
            return _secure(response)

        return wrapped

    return decorate


async def _guarded(
    request: web.Request, handler: Handler, permission: Permission
) -> web.StreamResponse:
    if permission != Permission.PUBLIC:
        session = await _current_session(request)
        if session is None:
            return _logged_out(request)
        request[SESSION] = session
        request[SCOPE] = await Scope.of(session.user)
        if request.method == "POST" and not await _csrf_ok(request, session.csrf_token):
            raise Refused(403, "csrf_failed")
        try:
            check_role(permission, session.user)
        except Forbidden:
            raise Refused(403, "read_only") from None
    return await handler(request)


def _require_write(request: web.Request) -> Scope:
    scope = request[SCOPE]
    if not scope.can_write:
        raise Refused(403, "read_only")
    return scope
