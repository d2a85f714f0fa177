"""The rate limit of the public checks (the /cek page, GET /api/v1/public/verify), counted per
client address: the peer's own, or behind `web.trusted_proxies` the one they forwarded; an IPv6
client by its /64, as the login limits count it."""

from __future__ import annotations

import math

from aiohttp import web

from hub.access.auth import client_key
from hub.runtime import HUB
from hub.web.middleware import client_address


def check_wait(request: web.Request) -> int:
    """Count one check of the request's client: 0, or the whole seconds it must wait first."""
    hub = request.app[HUB]
    client = client_key(client_address(request, hub.config.web.trusted_proxies))
    return math.ceil(hub.check_limit.take(client, hub.clock()))
