"""Public, without a token: whether a verification code belongs to a published announcement
(the check the /cek page makes, for apps and scripts). Rate limited per client address."""

from __future__ import annotations

from aiohttp import web

from hub.archive.entries import entry_url
from hub.archive.verify import check_code
from hub.broadcast.publication import parse_code
from hub.core.errors import ValidationFailed
from hub.runtime import HUB
from hub.web.api.guards import error_response
from hub.web.api.routes import Query, component, iso, route
from hub.web.api.schemas import BOOLEAN, DATE_TIME, STRING, described
from hub.web.limits import check_wait
from hub.web.permissions import Permission

MAX_CODE_CHARS = 32  # a code with room for spaces and dashes; anything longer is no code

VERIFICATION = component(
    "Verification",
    {
        "type": "object",
        "properties": {
            "genuine": BOOLEAN,
            "title": STRING,
            "published_at": DATE_TIME,
            "url": described(STRING, "the announcement's public page"),
        },
        "required": ["genuine"],
        "description": "genuine: true with the announcement's title, publication time and page; "
        "or only genuine: false",
    },
)
CODE = Query(
    "code",
    "The code under the announcement, e.g. 7QK-2M4 (case, dashes and spaces do not matter)",
    {"type": "string", "minLength": 1, "maxLength": MAX_CODE_CHARS},
)


def _code(request: web.Request) -> str:
    """The code asked about, as stored; raises ValidationFailed for what cannot be a code."""
    typed = request.query.get("code", "")
    if not typed.strip():
        raise ValidationFailed("code: give the verification code, e.g. 7QK-2M4", code="no_code")
    code = parse_code(typed) if len(typed) <= MAX_CODE_CHARS else None
    if code is None:
        raise ValidationFailed(
            "code: six letters and digits such as 7QK-2M4 (never I, L, O, U, 0 or 1)",
            code="bad_code",
        )
    return code


@route(
    "GET",
    "/public/verify",
    summary="Whether a verification code belongs to a published announcement (no token; "
    "rate limited per client address)",
    permission=Permission.PUBLIC,
    response=VERIFICATION,
    errors=(422, 429),
    query=(CODE,),
)
async def verify(request: web.Request) -> web.Response:
    wait = check_wait(request)
    if wait:
        response = error_response(
            429, "rate_limited", f"too many checks from this address; try again in {wait} s"
        )
        response.headers["Retry-After"] = str(wait)
        return response
    entry = (await check_code(_code(request))).entry
    if entry is None:
        return web.json_response({"genuine": False})
    return web.json_response(
        {
            "genuine": True,
            "title": entry.title,
            "published_at": iso(entry.published_at),
            "url": entry_url(request.app[HUB].config, entry),
        }
    )
