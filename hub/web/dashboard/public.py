"""The public pages, no login: the archive of published announcements (`/arsip`, one by its code
at `/arsip/{code}`) and the check of a code or a pasted message (`/cek`, "cek keaslian").

Server-rendered, readable on a phone and without JavaScript. They show what RT heads received and
nothing more (hub/archive/entries.py). Checks are rate limited per client address; reading the
archive is not (every code in it is listed there anyway).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.archive.entries import ArchiveEntry, archive_page, entry_by_code
from hub.archive.verify import Check, check_code, check_text
from hub.broadcast.publication import parse_code
from hub.core.errors import ValidationFailed
from hub.web.dashboard.base import _field, _hub, _when, page, render
from hub.web.limits import check_wait
from hub.web.permissions import Permission

MAX_CHECK_CHARS = 10_000  # an announcement is at most 4096 characters with a few lines around it
MAX_CODE_CHARS = 32

# Why a check was refused.
_REFUSALS = {
    "empty": "Tempel isi pesan atau ketik kode cek terlebih dahulu.",
    "too_long": "Teks terlalu panjang untuk diperiksa: tempel satu pesan saja.",
    "bad_code": "Kode cek terdiri dari 6 huruf dan angka, misalnya 7QK-2M4 "
    "(tanpa huruf I, L, O, U dan angka 0, 1).",
}


def _entry_view(request: web.Request, entry: ArchiveEntry) -> dict[str, Any]:
    """An entry with its times as the pages show them (WITA)."""
    tz = _hub(request).config.tz
    return {
        "entry": entry,
        "published": _when(entry.published_at, tz),
        "corrected": _when(entry.corrected_at, tz),
        "revisions": [(r, _when(r.replaced_at, tz)) for r in entry.revisions],
    }


@page(Permission.PUBLIC)
async def archive_list(request: web.Request) -> web.StreamResponse:
    """The published announcements, newest first, a page at a time."""
    cursor = request.query.get("cursor", "")
    try:
        entries, after = await archive_page(cursor or None)
    except ValidationFailed:
        return await _message(request, 400, "Halaman arsip itu tidak ada.")
    return await render(
        request,
        "public/archive.html",
        nav="archive",
        entries=[_entry_view(request, e) for e in entries],
        next_page=f"/arsip?cursor={after}" if after else "",
        first_page=bool(cursor),
    )


@page(Permission.PUBLIC)
async def archive_entry(request: web.Request) -> web.StreamResponse:
    """One published announcement, by its verification code."""
    typed = request.match_info["code"]
    code = parse_code(typed) if len(typed) <= MAX_CODE_CHARS else None
    entry = await entry_by_code(code) if code else None
    if entry is None:
        return await _message(
            request,
            404,
            "Tidak ditemukan: kode cek ini tidak cocok dengan pengumuman resmi mana pun.",
        )
    return await render(request, "public/entry.html", nav="archive", **_entry_view(request, entry))


async def _message(request: web.Request, status: int, message: str) -> web.Response:
    return await render(
        request, "public/message.html", status=status, nav="archive", message=message
    )


async def _check_page(
    request: web.Request,
    *,
    status: int = 200,
    typed: str = "",
    check: Check | None = None,
    asked_code: bool = False,
    refusal: str = "",
    wait: int = 0,
) -> web.Response:
    """The check page: the form, and the answer to what was checked (or why it was not)."""
    return await render(
        request,
        "public/check.html",
        status=status,
        nav="check",
        typed=typed,
        check=check,
        found=_entry_view(request, check.entry) if check and check.entry else None,
        asked_code=asked_code,
        refusal=_REFUSALS.get(refusal, ""),
        wait=wait,
        limit=MAX_CHECK_CHARS,
    )


async def _throttled(request: web.Request, wait: int, typed: str) -> web.Response:
    """429: this address checked too often; the form keeps what was typed."""
    response = await _check_page(request, status=429, typed=typed, wait=wait)
    response.headers["Retry-After"] = str(wait)
    return response


@page(Permission.PUBLIC)
async def check_page(request: web.Request) -> web.StreamResponse:
    """The form; with `?kode=` (a link, the form of a phone's browser) the check of that code."""
    typed = request.query.get("kode", "")
    if not typed:
        return await _check_page(request)
    if wait := check_wait(request):
        return await _throttled(request, wait, typed[:MAX_CODE_CHARS])
    code = parse_code(typed) if len(typed) <= MAX_CODE_CHARS else None
    if code is None:
        return await _check_page(
            request, status=422, typed=typed[:MAX_CODE_CHARS], refusal="bad_code"
        )
    return await _check_page(request, typed=typed, check=await check_code(code), asked_code=True)


@page(Permission.PUBLIC)
async def check_submit(request: web.Request) -> web.StreamResponse:
    """The check of what was typed or pasted: a code, or a message (with a code in it or not)."""
    typed = _field(await request.post(), "isi").strip()
    if wait := check_wait(request):
        return await _throttled(request, wait, typed[:MAX_CHECK_CHARS])
    if not typed:
        return await _check_page(request, status=422, refusal="empty")
    if len(typed) > MAX_CHECK_CHARS:
        return await _check_page(request, status=422, refusal="too_long")
    check = await check_text(typed, _hub(request).config.hub.name)
    asked_code = parse_code(typed) is not None
    return await _check_page(request, typed=typed, check=check, asked_code=asked_code)
