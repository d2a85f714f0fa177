"""Middlewares shared by the whole server."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler


@web.middleware
async def request_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests by route pattern (never by raw path, which may carry ids or tokens)."""
    from hub.app import HUB

    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[HUB].metrics.http_requests.labels(name, str(status)).inc()
