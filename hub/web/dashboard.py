"""The staff dashboard (placeholder until the dashboard module lands)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application, hub: object) -> None:
    async def index(request: web.Request) -> web.Response:
        raise web.HTTPFound("/api/v1/openapi.json")

    app.router.add_get("/", index)
