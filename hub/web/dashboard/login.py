"""Logging in and out: the login form with its own CSRF cookie, the session cookie."""

from __future__ import annotations

import functools
import logging
import math
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from hub.access.auth import LoginThrottled, check_password, close_session, open_session
from hub.web.dashboard.base import (
    CSRF_FIELD,
    SESSION_COOKIE,
    _current_session,
    _field,
    _hub,
    _same,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import TEXTS
from hub.web.middleware import client_address
from hub.web.permissions import Permission
from models import UserRole

log = logging.getLogger(__name__)

LOGIN_COOKIE = "bw_login_csrf"  # double-submit token that protects the login form itself


def _safe_next(value: str) -> str:
    """Only local paths are followed after login, so the form cannot redirect off-site."""
    parts = urlsplit(value)
    local = value.startswith("/") and not value.startswith("//") and "\\" not in value
    if not local or parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in value):
        return "/"
    return value


async def _login_form(
    request: web.Request,
    *,
    status: int = 200,
    error: str = "",
    username: str = "",
    next_path: str = "/",
) -> web.Response:
    """The login page; (re)issues the pre-session CSRF cookie that its hidden field must match."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    if status == 403 or len(token) < 32:
        token = secrets.token_urlsafe(24)
    response = await render(
        request,
        "login.html",
        status=status,
        login_token=token,
        error=error,
        username=username,
        next=_safe_next(next_path),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="Lax",
        secure=_hub(request).config.cookies_secure or None,
    )
    return response


@page(Permission.PUBLIC)
async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form, or straight on to `next` for someone already logged in."""
    if await _current_session(request) is not None:
        return redirect(_safe_next(request.query.get("next", "/")), 302)
    return await _login_form(request, next_path=request.query.get("next", "/"))


@page(Permission.PUBLIC)
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the password (throttled) and open a session in a fresh cookie."""
    hub = _hub(request)
    form = await request.post()
    username = _field(form, "username").strip()[:64]
    next_path = _safe_next(_field(form, "next") or "/")
    retry = functools.partial(_login_form, request, username=username, next_path=next_path)
    if not _same(_field(form, CSRF_FIELD), request.cookies.get(LOGIN_COOKIE, "")):
        return await retry(status=403, error=TEXTS["login_expired"])
    try:
        user = await check_password(
            username,
            _field(form, "password"),
            hub.clock(),
            client=client_address(request, hub.config.web.trusted_proxies),
            throttle=hub.login_throttle,
        )
    except LoginThrottled as exc:
        seconds = max(1, math.ceil(exc.retry_after))
        error = TEXTS["login_throttled"].format(seconds=seconds)
        response = await retry(status=429, error=error)
        response.headers["Retry-After"] = str(seconds)
        return response
    if user is None:
        return await retry(status=422, error=TEXTS["login_failed"])

    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await close_session(old)
    token, _ = await open_session(user, hub.config.web.session_hours, hub.clock())
    log.info("dashboard login: user %d", user.id)
    if next_path == "/" and user.role == UserRole.OFFICIAL:
        next_path = "/partisipasi"  # what an official comes for: who reads, who is silent
    response = redirect(next_path)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=hub.config.cookies_secure or None,
        max_age=hub.config.web.session_hours * 3600,
    )
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


@page()
async def logout(request: web.Request) -> web.StreamResponse:
    """Close the session and drop its cookie."""
    await close_session(request.cookies[SESSION_COOKIE])
    response = redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
