"""Middlewares shared by the whole server."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

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
