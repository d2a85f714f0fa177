"""The app factory: wires config, database, channels, dispatcher, sender, scheduler, web routes."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from hub.core.config import Config
from hub.core.db import close_database, open_database
from hub.core.timeutil import Clock, utcnow
from hub.runtime import AVAILABLE_CHANNELS, HUB, Hub
from hub.web import api, dashboard, health, media, middleware, permissions, webhooks
from jobs import create_scheduler

__all__ = ["AVAILABLE_CHANNELS", "HUB", "Hub", "create_app", "serve"]  # Hub lives in runtime

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    clock: Clock = utcnow,
    manage_database: bool = True,
    run_workers: bool = True,
    demo: bool = False,
) -> web.Application:
    """The aiohttp application; tests pass manage_database=False inside their own database."""

    hub = Hub(config, clock=clock)
    app = web.Application(
        client_max_size=config.web.max_body_kb * 1024,
        middlewares=[middleware.request_metrics, middleware.database_busy],
    )
    app[HUB] = hub
    app.on_response_prepare.append(middleware.nosniff)

    async def database(_: web.Application) -> AsyncIterator[None]:
        await open_database(config.database.url)
        yield
        await close_database()

    async def channels_ctx(_: web.Application) -> AsyncIterator[None]:
        await hub.start_channels()
        yield
        for channel in hub.channels.values():
            await channel.stop()

    async def workers(_: web.Application) -> AsyncIterator[None]:
        await hub.dispatcher.process_pending()
        hub.tasks.start(hub.sender.run(), name="sender")
        scheduler = create_scheduler(hub, demo=demo) if config.hub.run_scheduler else None
        if scheduler is not None:
            await hub.scheduler_lease.renew()
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await hub.tasks.cancel_all()
        await hub.scheduler_lease.release()

    if manage_database:
        app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(channels_ctx)
    if run_workers:
        app.cleanup_ctx.append(workers)

    health.setup(app)
    media.setup(app)
    webhooks.setup(app)
    app.add_subapp("/api/v1", api.create_api(hub))
    dashboard.setup(app, hub)
    undeclared = permissions.undeclared_routes(app)
    if undeclared:  # every route says who may use it; see hub/web/permissions.py
        raise RuntimeError(f"routes without a declared permission: {', '.join(undeclared)}")
    return app


async def serve(config: Config, *, demo: bool = False, banner: str = "") -> None:
    """Run the app until SIGINT or SIGTERM."""
    app = create_app(config, demo=demo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.web.host, config.web.port)
    await site.start()
    log.info("listening on http://%s:%d", config.web.host, config.web.port)
    if banner:
        print(banner, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
