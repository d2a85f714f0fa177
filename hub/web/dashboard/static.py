"""The dashboard's own CSS and JS files."""

from __future__ import annotations

import mimetypes

from aiohttp import web

from hub.web.dashboard.base import STATIC, Refused, page
from hub.web.permissions import Permission


@page(Permission.PUBLIC)
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
