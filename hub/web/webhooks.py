"""One webhook wrapper for every channel: verify, size-limit, parse, store, answer, then process.

Channel modules only verify and parse. The wrapper stores the parsed events (replays are dropped by
their external id) before it answers, so a crash after the answer loses nothing: events stored but
not processed are processed at the next start. Concurrent requests are stored together by one
statement (`hub.inbound.ingest.Ingest`, a group commit); each is answered after the commit holding
its events, 503 if storing failed (the platform delivers it again), and processed afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from channels import WebhookRejected
from hub.inbound.ingest import Ingest
from hub.runtime import HUB, Hub
from hub.web.permissions import Permission, requires

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024
INGEST = web.AppKey("ingest", Ingest)


@requires(Permission.PUBLIC)  # the channel verifies its own signature
async def handle_webhook(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    name = request.match_info["channel"]
    channel = hub.channels.get(name)
    if channel is None:
        raise web.HTTPNotFound(text="no such channel")
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_WEBHOOK_BYTES, actual_size=request.content_length
        )
    body = await request.read()
    try:
        channel.verify(request.headers, body)
        events = channel.parse_webhook(body)
    except WebhookRejected as exc:
        log.info("%s webhook rejected (%d): %s", name, exc.status, exc)
        return web.json_response({"error": str(exc)}, status=exc.status)
    except RecursionError:  # JSON nested deeper than the parser goes: malformed, whoever signed it
        log.info("%s webhook rejected (400): nested too deeply", name)
        return web.json_response({"error": "malformed: the body is nested too deeply"}, status=400)
    if not events:
        return web.json_response({"status": "ignored"})
    for event in events:
        hub.metrics.inbound.labels(event.channel, type(event).__name__).inc()
    try:
        stored = await request.app[INGEST].store(events)
    except Exception:  # logged by the writer; nothing was acknowledged, the platform retries
        return web.json_response({"error": "could not store the events; try again"}, status=503)
    return web.json_response({"status": "ok", "events": len(stored)})


@requires(Permission.PUBLIC)
async def handle_subscription(request: web.Request) -> web.Response:
    """The platform's handshake when a webhook is registered (WhatsApp's hub.challenge)."""
    channel = request.app[HUB].channels.get(request.match_info["channel"])
    if channel is None:
        raise web.HTTPNotFound(text="no such channel")
    try:
        challenge = channel.verify_subscription(request.query)
    except WebhookRejected as exc:
        log.info("%s subscription handshake refused: %s", channel.name, exc)
        return web.Response(status=exc.status, text=str(exc))
    return web.Response(text=challenge)


def setup(app: web.Application) -> None:
    """Webhook routes live outside the dashboard and API auth: each channel verifies its own."""
    hub = app[HUB]
    app[INGEST] = Ingest(hub.dispatcher, hub.tasks)

    async def ingest_ctx(_: web.Application) -> AsyncIterator[None]:
        yield
        # Registered after the database and the workers, so this runs before they stop.
        await app[INGEST].close()

    app.cleanup_ctx.append(ingest_ctx)
    app.router.add_get("/webhooks/{channel}", handle_subscription)
    app.router.add_post("/webhooks/{channel}", handle_webhook)
