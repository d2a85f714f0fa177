"""The staff dashboard: session login, broadcasts, groups, join requests and the sandbox phone.

Routes sit on the main app next to /healthz, /metrics and /api/v1; each handler is wrapped by
`page()`, which does the session check, CSRF on every POST, error pages and security headers.
Nothing under /api/v1 or /webhooks passes through here.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import math
import mimetypes
import re
import secrets
import zoneinfo
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from tortoise.functions import Count

from channels import channel_traits
from channels.sandbox import PhoneMessage, SandboxChannel, SandboxError
from hub.app import HUB, Hub
from hub.areas import UnknownArea, area_by_path
from hub.audience import preview as preview_audience
from hub.auth import (
    LoginThrottled,
    Scope,
    check_password,
    close_session,
    open_session,
    session_for_cookie,
)
from hub.broadcasts import (
    TITLE_MAX,
    BroadcastRequest,
    broadcast_summary,
    cancel_broadcast,
    create_broadcast,
    deliveries_of,
    delivery_counts,
    get_broadcast,
    pause_broadcast,
    resolve_audience,
    resume_broadcast,
)
from hub.corrections import correct_broadcast
from hub.errors import Conflict, Forbidden, HubError, NotFound, ValidationFailed
from hub.groups import LINK_CODE_DAYS, LinkCode, create_link_code, linked_groups
from hub.media import MAX_ATTACHMENTS
from hub.member_groups import delete_group, get_group, group_view, list_groups, save_group
from hub.members import current_area_path, get_member, members_in
from hub.reminders import call_list
from hub.web.media import first_form_field, read_form
from models import (
    Area,
    Attachment,
    Broadcast,
    BroadcastStatus,
    JoinRequest,
    Member,
    MemberGroup,
    WebSession,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

SESSION_COOKIE = "bw_session"
LOGIN_COOKIE = "bw_login_csrf"  # double-submit token that protects the login form itself
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LIST_LIMIT = 50
JOIN_REQUEST_LIMIT = 500  # as many as GET /api/v1/join-requests lists

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

# Every sentence the dashboard code says; the rest of the wording lives in the templates.
TEXTS = {
    "login_failed": "Nama pengguna atau kata sandi salah",
    "login_throttled": "Terlalu banyak percobaan, coba lagi dalam {seconds} detik",
    "login_expired": "Formulir masuk kedaluwarsa. Silakan coba lagi.",
    "csrf_failed": "Permintaan ditolak karena token keamanan tidak cocok. Muat ulang halaman.",
    "forbidden": "Anda tidak berwenang membuka atau melakukan ini.",
    "read_only": "Akun pejabat hanya dapat melihat; membuat dan mengubah tidak diizinkan.",
    "not_found": "Halaman atau data yang dicari tidak ditemukan.",
    "bad_request": "Permintaan tidak dapat diproses.",
    "title_empty": "Judul wajib diisi.",
    "title_long": "Judul terlalu panjang (maksimal {limit} karakter).",
    "text_empty": "Isi pengumuman wajib diisi.",
    "text_long": "Isi pengumuman terlalu panjang (maksimal {limit} karakter).",
    "areas_empty": "Pilih minimal satu wilayah penerima.",
    "areas_nobody": "Belum ada ketua RT yang menjabat di wilayah yang dipilih.",
    "areas_unknown": "Wilayah yang dipilih tidak dikenal.",
    "areas_forbidden": "Wilayah yang dipilih berada di luar wilayah Anda.",
    "form_invalid": "Pengumuman belum dibuat. Periksa isian yang ditandai.",
    "created": "Pengumuman dibuat dan sedang dikirim.",
    "cancelled": "Pengumuman dibatalkan; pesan yang belum terkirim tidak akan dikirim.",
    "not_cancellable": "Pengumuman ini sudah selesai atau sudah dibatalkan.",
    "paused": "Pengumuman ditahan; tidak ada yang dikirim sampai dilanjutkan.",
    "resumed": "Pengumuman dijadwalkan lagi.",
    "not_pausable": "Hanya pengumuman terjadwal yang dapat ditahan atau dilanjutkan.",
    "corrected": "Koreksi disimpan dan sedang dikirim ke penerima.",
    "nothing_to_correct": "Koreksi tidak mengubah apa pun.",
    "correction_refused": "Koreksi tidak dapat disimpan: {reason}",
    "sandbox_failed": "Aksi tidak dapat dilakukan di ponsel simulasi.",
    "sandbox_no_button": "Tombol itu tidak ada lagi di ponsel ini.",
    "sandbox_empty": "Ketik pesan atau tekan salah satu tombol.",
    "group_area_empty": "Pilih wilayah grup.",
    "attachment_too_large": "Berkas terlalu besar (maksimal {limit} MB per berkas).",
    "attachment_type_not_allowed": "Hanya berkas PDF, JPEG atau PNG yang dapat dilampirkan.",
    "attachment_empty": "Berkas yang dipilih kosong.",
    "unknown_attachment": "Lampiran tidak ditemukan; unggah ulang berkasnya.",
    "too_many_attachments": "Terlalu banyak lampiran (maksimal {limit} berkas).",
    "groups_unknown": "Grup yang dipilih tidak ditemukan lagi.",
    "send_at_missing": "Isi tanggal dan jam kirim.",
    "send_at_invalid": "Tanggal dan jam kirim tidak dapat dibaca.",
    "send_at_past": "Waktu kirim sudah lewat.",
    "cron_missing": "Isi jadwal cron, misalnya 0 8 * * 1.",
    "cron_invalid": "Jadwal cron tidak valid: {reason}",
    "cron_too_frequent": "Jadwal berulang paling sering sekali per jam.",
    "scheduled": "Pengumuman dijadwalkan.",
    "group_saved": "Kelompok penerima disimpan.",
    "group_deleted": "Kelompok penerima dihapus.",
    "group_exists": "Sudah ada kelompok dengan nama itu.",
    "group_name_empty": "Nama kelompok wajib diisi.",
}

FORM_FIELDS = ("summary", "form", "title", "text", "areas", "attachments", "when")
# Forms that may come as multipart/form-data (with files); others are refused in that form.
UPLOAD_FORMS = {"/broadcasts/new"}
NOTICES = (
    "created",
    "scheduled",
    "cancelled",
    "not_cancellable",
    "paused",
    "resumed",
    "not_pausable",
    "corrected",
    "nothing_to_correct",
)
ERROR_NOTICES = {"not_cancellable", "not_pausable", "nothing_to_correct"}

SANDBOX_ERRORS = {
    "no message on this phone has that button": "sandbox_no_button",
    "type some text or tap a button": "sandbox_empty",
}

BROADCAST_STATUS = {
    "scheduled": "Terjadwal",
    "paused": "Ditahan",
    "sending": "Sedang dikirim",
    "sent": "Selesai dikirim",
    "cancelled": "Dibatalkan",
    "missed": "Terlewat",
}

DELIVERY_STATUS = {
    "pending": "Menunggu",
    "sent": "Terkirim",
    "delivered": "Diterima",
    "read": "Dibaca",
    "acknowledged": "Dikonfirmasi",
    "failed": "Gagal",
    "skipped": "Dilewati",
    "cancelled": "Dibatalkan",
}

FAILURE_REASONS = {
    "no_channel": "Tidak punya alamat di kanal yang aktif",
    "opted_out": "Berhenti berlangganan",
    "blocked": "Memblokir atau tidak dapat dihubungi",
}

CHANNELS = {"sandbox": "Sandbox", "telegram": "Telegram", "whatsapp": "WhatsApp"}
ROLES = {"admin": "Admin", "staff": "Staf", "official": "Pejabat"}
AREA_KINDS = {"kecamatan": "Kecamatan", "kelurahan": "Kelurahan", "rw": "", "rt": ""}
_BOLD = re.compile(r"\*([^*\n]+)\*")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")

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
    }


async def _pending_join_requests(request: web.Request) -> int:
    """The navigation's badge: one COUNT of unresolved join requests, for staff and admins."""
    scope = request.get(SCOPE)
    if scope is None or not scope.can_write:
        return 0
    return await JoinRequest.filter(resolved_at=None).count()


async def render(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    """A template rendered with the common context."""
    context = _context(request)
    context["pending_requests"] = await _pending_join_requests(request)
    html = _env.get_template(template).render(**(context | values))
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


async def _error_page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if _wants_json(request):
        return _json_error(status, message)
    return await render(request, "error.html", status=status, message=message)


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


def _safe_next(value: str) -> str:
    """Only local paths are followed after login, so the form cannot redirect off-site."""
    parts = urlsplit(value)
    local = value.startswith("/") and not value.startswith("//") and "\\" not in value
    if not local or parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in value):
        return "/"
    return value


def _when(value: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    """`7 Jan 2026, 08.15` in the hub's timezone; "" for no time."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H.%M}"


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


def page(*, login: bool = True) -> Callable[[Handler], Handler]:
    """Wrap a dashboard handler: session (if `login`), CSRF on POST, error pages, headers."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                response = await _guarded(request, handler, login)
            except Refused as exc:
                response = await _error_page(request, exc.status, TEXTS[exc.key])
            except HubError as exc:
                response = await _error_page(request, exc.status, _hub_error_text(exc))
            return _secure(response)

        return wrapped

    return decorate


async def _guarded(request: web.Request, handler: Handler, login: bool) -> web.StreamResponse:
    if login:
        session = await _current_session(request)
        if session is None:
            return _logged_out(request)
        request[SESSION] = session
        request[SCOPE] = await Scope.of(session.user)
        if request.method == "POST" and not await _csrf_ok(request, session.csrf_token):
            raise Refused(403, "csrf_failed")
    return await handler(request)


def _require_write(request: web.Request) -> Scope:
    scope = request[SCOPE]
    if not scope.can_write:
        raise Refused(403, "read_only")
    return scope


# Login and logout -----------------------------------------------------------------------------


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


@page(login=False)
async def login_page(request: web.Request) -> web.StreamResponse:
    if await _current_session(request) is not None:
        return redirect(_safe_next(request.query.get("next", "/")), 302)
    return await _login_form(request, next_path=request.query.get("next", "/"))


@page(login=False)
async def login_submit(request: web.Request) -> web.StreamResponse:
    hub = _hub(request)
    form = await request.post()
    username = _field(form, "username").strip()[:64]
    next_path = _safe_next(_field(form, "next") or "/")
    retry = functools.partial(_login_form, request, username=username, next_path=next_path)
    if not _same(_field(form, CSRF_FIELD), request.cookies.get(LOGIN_COOKIE, "")):
        return await retry(status=403, error=TEXTS["login_expired"])
    try:
        user = await check_password(username, _field(form, "password"), hub.clock())
    except LoginThrottled as exc:
        seconds = max(1, math.ceil(exc.retry_after))
        error = TEXTS["login_throttled"].format(seconds=seconds)
        return await retry(status=429, error=error)
    if user is None:
        return await retry(status=422, error=TEXTS["login_failed"])

    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await close_session(old)
    token, _ = await open_session(user, hub.config.web.session_hours, hub.clock())
    log.info("dashboard login: user %d", user.id)
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
    await close_session(request.cookies[SESSION_COOKIE])
    response = redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# Broadcasts -----------------------------------------------------------------------------------


def _progress(summary: dict[str, Any]) -> dict[str, Any]:
    """Acknowledgement progress (read progress when no acknowledgement was asked for)."""
    target = "acknowledged" if summary["ack_required"] else "read"
    done = summary["counts"][target]
    total = summary["recipients"]
    percent = round(100 * done / total) if total else 0
    label = "dikonfirmasi" if target == "acknowledged" else "dibaca"
    return {"done": done, "total": total, "percent": percent, "label": label}


async def _broadcast_view(broadcast: Broadcast, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """The API summary of a broadcast plus what the pages show: labels, local times, progress."""
    summary = broadcast_summary(broadcast, await delivery_counts(broadcast.id))
    summary["status_label"] = BROADCAST_STATUS.get(summary["status"], summary["status"])
    summary["created"] = _when(broadcast.created_at, tz)
    summary["send_at_local"] = _when(broadcast.send_at, tz)
    summary["progress"] = _progress(summary)
    summary["sig"] = f"{summary['status']}:{sorted(summary['counts'].items())}"
    return summary


async def _visible_broadcasts(request: web.Request) -> list[dict[str, Any]]:
    scope = request[SCOPE]
    tz = _hub(request).config.tz
    out = []
    for broadcast in await Broadcast.all().limit(200):
        if await scope.sees_broadcast(broadcast):
            out.append(await _broadcast_view(broadcast, tz))
            if len(out) == LIST_LIMIT:
                break
    return out


@page()
async def broadcast_list(request: web.Request) -> web.StreamResponse:
    broadcasts = await _visible_broadcasts(request)
    return await render(request, "broadcasts.html", nav="broadcasts", broadcasts=broadcasts)


@page()
async def broadcasts_live(request: web.Request) -> web.StreamResponse:
    return web.json_response({"broadcasts": await _visible_broadcasts(request)})


async def _recipient_rows(broadcast: Broadcast, tz: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    deliveries = await deliveries_of(broadcast)
    return [
        {
            "name": d.member.name,
            "area": current_area_path(d.member) or "",
            "channel": CHANNELS.get(d.channel, d.channel),
            "status": d.status.value,
            "status_label": DELIVERY_STATUS.get(d.status.value, d.status.value),
            "sent_at": _when(d.sent_at, tz),
            "read_at": _when(d.read_at, tz),
            "acknowledged_at": _when(d.acknowledged_at, tz),
            "failure": FAILURE_REASONS.get(d.failure_reason or "", d.failure_reason or ""),
        }
        for d in deliveries
    ]


async def _call_rows(broadcast: Broadcast) -> list[dict[str, Any]]:
    """The "Daftar telepon": silent recipients with links to call or chat with them."""
    return [
        row.as_dict()
        | {
            "channel_label": CHANNELS.get(row.channel or "", row.channel or ""),
            "status_label": DELIVERY_STATUS.get(row.status, row.status),
        }
        for row in await call_list(broadcast)
    ]


def _path_id(request: web.Request) -> int:
    return int(request.match_info["id"])


@page()
async def broadcast_detail(request: web.Request) -> web.StreamResponse:
    tz = _hub(request).config.tz
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    notice = request.query.get("notice", "")
    return await render(
        request,
        "broadcast.html",
        nav="broadcasts",
        b=await _broadcast_view(broadcast, tz),
        text=broadcast.text,
        recipients=await _recipient_rows(broadcast, tz),
        calls=await _call_rows(broadcast),
        escalated=_when(broadcast.escalated_at, tz),
        cancellable=broadcast.status
        in (BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED, BroadcastStatus.SENDING),
        pausable=broadcast.status == BroadcastStatus.SCHEDULED,
        resumable=broadcast.status == BroadcastStatus.PAUSED,
        correctable=broadcast.status in (BroadcastStatus.SENDING, BroadcastStatus.SENT),
        revisions=[
            r | {"replaced_local": _when(dt.datetime.fromisoformat(r["replaced_at"]), tz)}
            for r in reversed(broadcast.revisions or [])
        ],
        notice=TEXTS[notice] if notice in NOTICES else "",
        notice_is_error=notice in ERROR_NOTICES,
    )


@page()
async def broadcast_live(request: web.Request) -> web.StreamResponse:
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    return web.json_response(await _broadcast_view(broadcast, _hub(request).config.tz))


@page()
async def broadcast_cancel(request: web.Request) -> web.StreamResponse:
    _require_write(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    session = request[SESSION]
    try:
        await cancel_broadcast(broadcast, user=session.user, now=_hub(request).clock())
    except ValidationFailed:
        return redirect(f"/broadcasts/{broadcast.id}?notice=not_cancellable")
    return redirect(f"/broadcasts/{broadcast.id}?notice=cancelled")


@page()
async def broadcast_pause(request: web.Request) -> web.StreamResponse:
    _require_write(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    try:
        await pause_broadcast(broadcast, user=request[SESSION].user, now=_hub(request).clock())
    except Conflict:
        return redirect(f"/broadcasts/{broadcast.id}?notice=not_pausable")
    return redirect(f"/broadcasts/{broadcast.id}?notice=paused")


@page()
async def broadcast_resume(request: web.Request) -> web.StreamResponse:
    _require_write(request)
    hub = _hub(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    try:
        await resume_broadcast(hub.config, broadcast, user=request[SESSION].user, now=hub.clock())
    except Conflict:
        return redirect(f"/broadcasts/{broadcast.id}?notice=not_pausable")
    return redirect(f"/broadcasts/{broadcast.id}?notice=resumed")


@page()
async def broadcast_correct(request: web.Request) -> web.StreamResponse:
    _require_write(request)
    hub = _hub(request)
    broadcast = await get_broadcast(_path_id(request), request[SCOPE])
    form = await request.post()
    try:
        await correct_broadcast(
            hub.config,
            broadcast,
            title=_field(form, "title") or None,
            text=_field(form, "text").replace("\r\n", "\n"),
            user=request[SESSION].user,
            enabled_channels=hub.enabled_channels,
            now=hub.clock(),
        )
    except Conflict as exc:
        if exc.code == "nothing_to_correct":
            return redirect(f"/broadcasts/{broadcast.id}?notice=nothing_to_correct")
        raise
    except ValidationFailed as exc:
        message = TEXTS["correction_refused"].format(reason=exc.message)
        return await _error_page(request, 422, message)
    hub.sender.wake()
    return redirect(f"/broadcasts/{broadcast.id}?notice=corrected")


# Composing ------------------------------------------------------------------------------------


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


def _form_error(exc: HubError, text_limit: int, file_mb: int = 0) -> tuple[str, str]:
    """The form field a domain error belongs to, and what to say there in Bahasa Indonesia."""
    field_texts = {
        "empty_audience": ("areas", "areas_empty"),
        "no_recipients": ("areas", "areas_nobody"),
        "unknown_area": ("areas", "areas_unknown"),
        "empty_title": ("title", "title_empty"),
        "title_too_long": ("title", "title_long"),
        "empty_text": ("text", "text_empty"),
        "text_too_long": ("text", "text_long"),
        "attachment_too_large": ("attachments", "attachment_too_large"),
        "attachment_type_not_allowed": ("attachments", "attachment_type_not_allowed"),
        "attachment_empty": ("attachments", "attachment_empty"),
        "unknown_attachment": ("attachments", "unknown_attachment"),
        "too_many_attachments": ("attachments", "too_many_attachments"),
        "unknown_group": ("areas", "groups_unknown"),
        "past_schedule": ("when", "send_at_past"),
        "recurrence_too_frequent": ("when", "cron_too_frequent"),
    }
    if exc.code == "invalid_cron":
        return "when", TEXTS["cron_invalid"].format(reason=exc.message.split(": ", 1)[-1])
    if isinstance(exc, Forbidden):
        return "areas", TEXTS["areas_forbidden"]
    if exc.code in field_texts:
        field, key = field_texts[exc.code]
        limits = {"title": TITLE_MAX, "attachment_too_large": file_mb}
        limit = limits.get(field, limits.get(key, text_limit))
        if key == "too_many_attachments":
            limit = MAX_ATTACHMENTS
        return field, TEXTS[key].format(limit=limit)
    return "form", TEXTS["bad_request"]


def _size_label(size: int) -> str:
    """`350 KB`, `1,2 MB`: a file's size as Indonesian readers write it."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


async def _attachment_views(ids: list[int]) -> list[dict[str, Any]]:
    """The attachments with these ids that exist, in that order, as the form lists them."""
    found = {a.id: a for a in await Attachment.filter(id__in=ids)}
    return [
        {"id": i, "filename": found[i].filename, "size": _size_label(found[i].size)}
        for i in ids
        if i in found
    ]


async def _saved_groups() -> list[dict[str, Any]]:
    groups = await MemberGroup.all().annotate(size=Count("entries")).order_by("name")
    return [{"name": g.name, "size": g.size} for g in groups]  # type: ignore[attr-defined]


async def _preview(request: web.Request, values: dict[str, Any]) -> dict[str, Any]:
    """How many the chosen audience reaches, per channel, as the compose form shows it."""
    hub = _hub(request)
    audience = await resolve_audience(values["areas"], [], values["groups"], request[SCOPE])
    windows = {name: channel_traits(name).free_text_window for name in hub.enabled_channels}
    result = await preview_audience(audience.member_ids, hub.enabled_channels, windows, hub.clock())
    return {
        "recipients": result.recipients,
        "by_channel": [(CHANNELS.get(c, c), n) for c, n in sorted(result.by_channel.items())],
        "templates": result.templates,
        "skipped": result.skipped,
        "unreachable": sum(result.unreachable.values()),
    }


def _schedule_of(values: dict[str, Any]) -> tuple[dt.datetime | None, str | None]:
    """send_at and cron from the form's "Waktu kirim"; raises _FormError for what is missing."""
    if values["when"] == "at":
        if not values["send_at"]:
            raise _FormError("when", "send_at_missing")
        try:
            return dt.datetime.fromisoformat(values["send_at"]), None  # the hub's timezone
        except ValueError:
            raise _FormError("when", "send_at_invalid") from None
    if values["when"] == "repeat":
        if not values["cron"]:
            raise _FormError("when", "cron_missing")
        return None, values["cron"]
    return None, None


class _FormError(Exception):
    def __init__(self, field: str, key: str) -> None:
        super().__init__(key)
        self.field = field
        self.key = key


async def _compose_form(
    request: web.Request,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    preview: dict[str, Any] | None = None,
) -> web.Response:
    return await render(
        request,
        "compose.html",
        status=status,
        nav="compose",
        areas=await _areas_in_scope(request[SCOPE]),
        groups=await _saved_groups(),
        preview=preview,
        quiet_hours=_hub(request).config.broadcast.quiet_hours,
        values=values,
        errors=dict.fromkeys(FORM_FIELDS, "") | (errors or {}),
        title_max=TITLE_MAX,
        text_max=_hub(request).config.broadcast.max_text_length,
        file_mb=_hub(request).config.broadcast.max_attachment_mb,
        files_max=MAX_ATTACHMENTS,
    )


@page()
async def compose_page(request: web.Request) -> web.StreamResponse:
    _require_write(request)
    values = {
        "title": "",
        "text": "",
        "areas": [],
        "groups": [],
        "ack_required": True,
        "attachments": [],
        "when": "now",
        "send_at": "",
        "cron": "",
    }
    return await _compose_form(request, values)


@page()
async def compose_submit(request: web.Request) -> web.StreamResponse:
    scope = _require_write(request)
    hub = _hub(request)
    user = request[SESSION].user
    refused: HubError | None = None
    uploaded: list[Attachment] = []
    if request.content_type == "multipart/form-data":  # the form carries files
        text_bytes = hub.config.web.max_body_kb * 1024
        form, uploaded, refused = await read_form(request, hub.media, user, text_bytes=text_bytes)
    else:
        form = await request.post()
    # Files uploaded with an earlier try of this form come back as ids (their checkboxes).
    kept = [int(v) for v in form.getall("attachments", []) if isinstance(v, str) and v.isdigit()]
    attachment_ids = list(dict.fromkeys([i for i in kept if i < 2**31] + [a.id for a in uploaded]))
    values = {
        "title": _field(form, "title"),
        # Browsers send textarea line breaks as CRLF; count them as one character, as typed.
        "text": _field(form, "text").replace("\r\n", "\n"),
        "areas": [_text(v) for v in form.getall("areas", []) if isinstance(v, str)],
        "groups": [_text(v) for v in form.getall("groups", []) if isinstance(v, str)],
        "ack_required": _field(form, "ack_required") == "1",
        "attachments": await _attachment_views(attachment_ids),
        "when": _field(form, "when") if _field(form, "when") in ("at", "repeat") else "now",
        "send_at": _field(form, "send_at"),
        "cron": " ".join(_field(form, "cron").split()),
    }
    file_mb = hub.config.broadcast.max_attachment_mb
    if refused is not None:
        field, message = _form_error(refused, hub.config.broadcast.max_text_length, file_mb)
        errors = {field: message, "summary": TEXTS["form_invalid"]}
        return await _compose_form(request, values, errors, status=refused.status)
    try:
        if _field(form, "action") == "preview":
            return await _compose_form(request, values, preview=await _preview(request, values))
        send_at, cron = _schedule_of(values)
        broadcast = await create_broadcast(
            hub.config,
            BroadcastRequest(
                title=values["title"],
                text=values["text"],
                areas=values["areas"],
                groups=values["groups"],
                send_at=send_at,
                recurrence=cron,
                ack_required=values["ack_required"],
                attachments=[a["id"] for a in values["attachments"]],
            ),
            user=user,
            scope=scope,
            enabled_channels=hub.enabled_channels,
            now=hub.clock(),
        )
    except _FormError as exc:
        errors = {exc.field: TEXTS[exc.key], "summary": TEXTS["form_invalid"]}
        return await _compose_form(request, values, errors, status=422)
    except HubError as exc:
        field, message = _form_error(exc, hub.config.broadcast.max_text_length, file_mb)
        errors = {field: message, "summary": TEXTS["form_invalid"]}
        return await _compose_form(request, values, errors, status=422)
    hub.sender.wake()
    notice = "scheduled" if broadcast.status == BroadcastStatus.SCHEDULED else "created"
    return redirect(f"/broadcasts/{broadcast.id}?notice={notice}")


# Groups and link codes ------------------------------------------------------------------------


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
    return await _groups_page(request)


@page()
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


# Saved member groups -------------------------------------------------------------------------


async def _member_groups_page(
    request: web.Request, *, status: int = 200, error: str = "", notice: str = ""
) -> web.Response:
    scope = request[SCOPE]
    groups = []
    for group in await list_groups():
        view = await group_view(group)
        names = (
            await Member.filter(id__in=view["members"])
            .order_by("name")
            .values_list("name", flat=True)
        )
        groups.append(
            {"id": group.id, "name": group.name, "members": names, "ids": view["members"]}
        )
    editing = None
    wanted = request.query.get("edit", "")
    if wanted.isdigit():
        editing = next(
            ({"id": g["id"], "name": g["name"], "members": g["ids"]} for g in groups
             if g["id"] == int(wanted)),
            None,
        )  # fmt: skip
    members = [
        {"id": m.id, "name": m.name, "area": current_area_path(m) or ""}
        for m in await members_in(None, scope)
    ] if scope.can_write else []  # fmt: skip
    return await render(
        request,
        "member_groups.html",
        status=status,
        nav="member_groups",
        groups=groups,
        editing=editing,
        members=members,
        error=error,
        notice=notice,
    )


@page()
async def member_groups_page(request: web.Request) -> web.StreamResponse:
    saved = request.query.get("notice", "")
    return await _member_groups_page(request, notice=TEXTS.get(f"group_{saved}", ""))


@page()
async def member_group_submit(request: web.Request) -> web.StreamResponse:
    scope = _require_write(request)
    form = await request.post()
    ids = [int(v) for v in form.getall("members", []) if isinstance(v, str) and v.isdigit()]
    existing = None
    if _field(form, "id").isdigit():
        existing = await get_group(int(_field(form, "id")))
    try:
        await save_group(
            _field(form, "name"),
            [i for i in ids if i < 2**31],
            scope=scope,
            user=request[SESSION].user,
            group=existing,
        )
    except HubError as exc:
        key = {"group_exists": "group_exists", "empty_name": "group_name_empty"}.get(exc.code)
        message = TEXTS[key] if key else _hub_error_text(exc)
        return await _member_groups_page(request, status=exc.status, error=message)
    return redirect("/member-groups?notice=saved")


@page()
async def member_group_delete(request: web.Request) -> web.StreamResponse:
    scope = _require_write(request)
    group = await get_group(_path_id(request))
    await delete_group(group, scope=scope, user=request[SESSION].user)
    return redirect("/member-groups?notice=deleted")


# Join requests --------------------------------------------------------------------------------


@page()
async def join_requests_page(request: web.Request) -> web.StreamResponse:
    """Unresolved join requests, oldest first (as GET /api/v1/join-requests lists them)."""
    _require_write(request)  # strangers' numbers are for the staff who onboard them
    tz = _hub(request).config.tz
    pending = await JoinRequest.filter(resolved_at=None).order_by("id").limit(JOIN_REQUEST_LIMIT)
    rows = [
        {
            "channel": CHANNELS.get(r.channel, r.channel),
            "name": r.name,
            "phone": r.phone or "",
            "first_text": r.first_text,
            "created": _when(r.created_at, tz),
        }
        for r in pending
    ]
    return await render(
        request,
        "join_requests.html",
        nav="join_requests",
        requests=rows,
        truncated=len(rows) == JOIN_REQUEST_LIMIT,
    )


# The sandbox phone ----------------------------------------------------------------------------


def _sandbox(hub: Hub) -> SandboxChannel | None:
    channel = hub.channels.get("sandbox")
    return channel if isinstance(channel, SandboxChannel) else None


def _sandbox_address(member: Member) -> str | None:
    return next((a.address for a in member.addresses if a.channel == "sandbox"), None)


async def _phone(request: web.Request) -> tuple[SandboxChannel, Member, str]:
    """The sandbox channel, the member in the URL (in scope) and their simulated phone."""
    channel = _sandbox(_hub(request))
    if channel is None:
        raise Refused(404, "not_found")
    member = await get_member(_path_id(request), request[SCOPE])
    address = _sandbox_address(member)
    if address is None:
        raise Refused(404, "not_found")
    return channel, member, address


def _segments(text: str) -> list[dict[str, Any]]:
    """Text split into plain and *bold* runs, as messengers show it; rendered escaped."""
    parts: list[dict[str, Any]] = []
    last = 0
    for match in _BOLD.finditer(text):
        if match.start() > last:
            parts.append({"text": text[last : match.start()], "bold": False})
        parts.append({"text": match.group(1), "bold": True})
        last = match.end()
    if last < len(text):
        parts.append({"text": text[last:], "bold": False})
    return parts


def _message_view(
    channel: SandboxChannel, address: str, message: PhoneMessage, tz: zoneinfo.ZoneInfo
) -> dict[str, Any]:
    return {
        "id": message.id,
        "text": message.text,
        "parts": _segments(message.text),
        "own": not message.from_hub,
        "time": f"{message.sent_at.astimezone(tz):%H.%M}",
        "buttons": [
            {"label": b.label, "payload": b.payload, "pressed": channel.pressed(address, b.payload)}
            for b in message.buttons
        ],
        # Links on this server (the path only), so the page opens them from its own origin.
        "attachments": [
            {"filename": f.filename, "url": urlsplit(f.url).path, "image": f.is_image}
            for f in message.attachments
        ],
    }


def _conversation(request: web.Request, channel: SandboxChannel, address: str) -> dict[str, Any]:
    """The phone's messages, oldest first, and a signature that changes when they do."""
    tz = _hub(request).config.tz
    # A tapped button leaves an empty message of the member's own; the button shows the tap.
    messages = [
        _message_view(channel, address, m, tz)
        for m in channel.messages(address, include_own=True)
        if m.from_hub or m.text.strip()
    ]
    pressed = sum(b["pressed"] for m in messages for b in m["buttons"])
    last = messages[-1]["id"] if messages else ""
    return {"messages": messages, "sig": f"{len(messages)}:{last}:{pressed}"}


@page()
async def sandbox_list(request: web.Request) -> web.StreamResponse:
    channel = _sandbox(_hub(request))
    if channel is None:
        raise Refused(404, "not_found")
    phones = []
    for member in await members_in(None, request[SCOPE]):
        address = _sandbox_address(member)
        if address is None:
            continue
        received = channel.messages(address)
        phones.append(
            {
                "id": member.id,
                "name": member.name,
                "area": current_area_path(member) or "",
                "messages": len(received),
                "unread": sum(not m.read for m in received),
            }
        )
    return await render(request, "sandbox.html", nav="sandbox", phones=phones)


async def _phone_page(
    request: web.Request, *, status: int = 200, error: str = "", typed: str = ""
) -> web.Response:
    channel, member, address = await _phone(request)
    return await render(
        request,
        "phone.html",
        status=status,
        nav="sandbox",
        member={"id": member.id, "name": member.name, "area": current_area_path(member) or ""},
        conversation=_conversation(request, channel, address),
        error=error,
        typed=typed,
    )


@page()
async def phone_page(request: web.Request) -> web.StreamResponse:
    return await _phone_page(request)


@page()
async def phone_live(request: web.Request) -> web.StreamResponse:
    channel, _, address = await _phone(request)
    return web.json_response(_conversation(request, channel, address))


@page()
async def phone_act(request: web.Request) -> web.StreamResponse:
    _require_write(request)
    channel, member, address = await _phone(request)
    form = await request.post()
    button = _field(form, "button") or None
    text = _field(form, "text").replace("\r\n", "\n")
    try:
        await channel.act(address, text=text, button=button, sender_name=member.name)
    except SandboxError as exc:
        error = TEXTS[SANDBOX_ERRORS.get(str(exc), "sandbox_failed")]
        return await _phone_page(request, status=422, error=error, typed=text)
    return redirect(f"/sandbox/{member.id}")


@page()
async def phone_open(request: web.Request) -> web.StreamResponse:
    """The member opened the chat: what the hub sent becomes read (called by the page's script)."""
    _require_write(request)
    channel, _, address = await _phone(request)
    updates = await channel.open_chat(address)
    return web.json_response({"read": len(updates)})


# Static files and wiring ----------------------------------------------------------------------


@page(login=False)
async def static_file(request: web.Request) -> web.StreamResponse:
    """The dashboard's CSS and JS; only files that ship in hub/web/static are served."""
    name = request.match_info["name"]
    files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    if name not in files:
        raise Refused(404, "not_found")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = web.Response(body=files[name].read_bytes(), content_type=content_type)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def setup(app: web.Application, hub: Hub) -> None:
    """Add the dashboard's routes to the main app; the sandbox pages only with that channel on."""
    # Ids have at most 9 digits: longer ones would overflow the integer columns (404, not 500).
    routes = [
        web.get("/", broadcast_list),
        web.get("/login", login_page),
        web.post("/login", login_submit),
        web.post("/logout", logout),
        web.get("/broadcasts/live", broadcasts_live),
        web.get("/broadcasts/new", compose_page),
        web.post("/broadcasts/new", compose_submit),
        web.get(r"/broadcasts/{id:\d{1,9}}", broadcast_detail),
        web.get(r"/broadcasts/{id:\d{1,9}}/live", broadcast_live),
        web.post(r"/broadcasts/{id:\d{1,9}}/cancel", broadcast_cancel),
        web.post(r"/broadcasts/{id:\d{1,9}}/pause", broadcast_pause),
        web.post(r"/broadcasts/{id:\d{1,9}}/resume", broadcast_resume),
        web.post(r"/broadcasts/{id:\d{1,9}}/correction", broadcast_correct),
        web.get("/groups", groups_page),
        web.post("/groups/link-codes", link_code_submit),
        web.get("/member-groups", member_groups_page),
        web.post("/member-groups", member_group_submit),
        web.post(r"/member-groups/{id:\d{1,9}}/delete", member_group_delete),
        web.get("/join-requests", join_requests_page),
        web.get("/static/{name}", static_file),
    ]
    if _sandbox(hub) is not None:
        routes += [
            web.get("/sandbox", sandbox_list),
            web.get(r"/sandbox/{id:\d{1,9}}", phone_page),
            web.get(r"/sandbox/{id:\d{1,9}}/live", phone_live),
            web.post(r"/sandbox/{id:\d{1,9}}/act", phone_act),
            web.post(r"/sandbox/{id:\d{1,9}}/open", phone_open),
        ]
    app.router.add_routes(routes)
