"""Middlewares shared by the whole server."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.core.db import is_busy
from hub.runtime import HUB

log = logging.getLogger(__name__)

# What a client is told to wait when the database is locked: an import batch or a burst of
# writes by another process is over by then.
BUSY_RETRY_AFTER_SECONDS = 5
BUSY_MESSAGE = "the database is busy (another process is writing to it); try again shortly"


def busy_response() -> web.Response:
    """503 with Retry-After, in the API's error shape: the database was locked, not broken."""
    return web.json_response(
        {"error": {"code": "busy", "message": BUSY_MESSAGE}},
        status=503,
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


def route_name(request: web.Request) -> str:
    """The route's pattern, never the raw path, which may carry ids or tokens."""
    route = request.match_info.route.resource
    return route.canonical if route is not None else "unmatched"


@web.middleware
async def request_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests by route pattern (never by raw path, which may carry ids or tokens)."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[HUB].metrics.http_requests.labels(route_name(request), str(status)).inc()


def _within(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def client_address(request: web.Request, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer's own, or, when the peer is a trusted proxy, the last
    address in X-Forwarded-For that is not one of the trusted proxies (earlier ones are the
    client's word and can be forged)."""
    peer = request.remote or ""
    if not trusted_proxies or not _within(peer, trusted_proxies):
        return peer
    forwarded = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
    ]
    for hop in reversed(forwarded):
        if not _within(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a malformed hop: count the proxy, not a made-up name
    return peer


async def nosniff(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """Every response says its type is the one given: JSON errors, pages, aiohttp's own errors.

    An on_response_prepare signal rather than a middleware, so it also reaches the responses
    aiohttp makes itself (404 and 405 of the router, 500 of an uncaught exception).
    """
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


@web.middleware
async def database_busy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A locked database that no handler dealt with is a 503 to retry, not a 500."""
    try:
        return await handler(request)
    except Exception as exc:
        if not is_busy(exc):
            raise
        log.warning("%s %s: database busy: %s", request.method, route_name(request), exc)
        return busy_response()
