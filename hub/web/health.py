"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import logging

from aiohttp import web

from hub.runtime import HUB
from hub.web.permissions import Permission, requires
from models import OutboundMessage, OutboxState, sql

log = logging.getLogger(__name__)


@requires(Permission.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@requires(Permission.PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    problems = []
    try:
        await sql.ping()
    except Exception as exc:  # any failure means not ready; the reason is reported, not raised
        problems.append(f"database: {type(exc).__name__}")
    for name, channel in hub.channels.items():
        reason = await channel.ready()
        if reason:
            problems.append(f"{name}: {reason}")
    if problems:
        return web.json_response({"status": "unavailable", "reasons": problems}, status=503)
    return web.json_response({"status": "ready", "channels": sorted(hub.channels)})


@requires(Permission.PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    try:
        queued = await OutboundMessage.filter(state=OutboxState.QUEUED).count()
        hub.metrics.outbox_queued.set(queued)
    except Exception as exc:  # the database being down must not take the metrics page with it
        log.warning("metrics: cannot count the outbox: %s", type(exc).__name__)
    return web.Response(body=hub.metrics.render(), content_type="text/plain", charset="utf-8")


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
