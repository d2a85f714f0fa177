"""The app factory: wires config, database, channels, dispatcher, sender, scheduler, web routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from channels import Channel, Event, InboundMessage, channel_class
from hub.auth import LoginThrottle
from hub.config import Config
from hub.conversations import Conversations
from hub.db import close_database, open_database
from hub.dispatch import Dispatcher
from hub.leases import SCHEDULER_LEASE_TTL, LeaseHolder
from hub.media import MediaStore
from hub.metrics import Metrics
from hub.sender import Sender
from hub.tasks import BackgroundTasks
from hub.texts import bot_commands
from hub.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

# Channels this version can run.
AVAILABLE_CHANNELS = ("sandbox", "telegram", "whatsapp")


@dataclass
class Hub:
    """Everything a request handler or job needs, built once per app."""

    config: Config
    clock: Clock = utcnow
    metrics: Metrics = field(default_factory=Metrics)
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    channels: dict[str, Channel] = field(default_factory=dict)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def __post_init__(self) -> None:
        for name in AVAILABLE_CHANNELS:
            importlib.import_module(f"channels.{name}")  # a channel module registers itself
        self.conversations = Conversations(
            self.config,
            self._wake_sender,
            answer=self._answer,
            can_edit=self._can_edit,
            can_toast=self._can_toast,
            clock=self.clock,
        )
        # The channels dict is filled below; the dispatcher sees the same one.
        self.dispatcher = Dispatcher(self.conversations, clock=self.clock, channels=self.channels)
        for name in AVAILABLE_CHANNELS:
            settings = getattr(self.config, name)
            if settings.enabled:
                self.channels[name] = channel_class(name)(
                    settings, self.receive, public_url=self.config.hub.public_url
                )
        self.scheduler_lease = LeaseHolder("scheduler", ttl=SCHEDULER_LEASE_TTL, clock=self.clock)
        self.media = MediaStore.from_config(self.config)
        self.sender = Sender(
            self.channels,
            max_attempts=self.config.broadcast.max_attempts,
            clock=self.clock,
            metrics=self.metrics,
            media=self.media,
            lease=dt.timedelta(seconds=self.config.broadcast.claim_lease_seconds),
        )

    def _wake_sender(self) -> None:
        self.sender.wake()

    async def _answer(self, event: InboundMessage, text: str) -> None:
        channel = self.channels.get(event.channel)
        if channel is not None:
            await channel.answer(event, text)

    def _can_edit(self, channel: str) -> bool:
        return channel in self.channels and self.channels[channel].can_edit

    def _can_toast(self, channel: str) -> bool:
        return channel in self.channels and self.channels[channel].can_toast

    async def start_channels(self) -> None:
        """Start every enabled channel and show the bot commands where the platform has a menu."""
        commands = bot_commands(self.config.hub.language)
        for channel in self.channels.values():
            await channel.start()
            try:
                await channel.publish_commands(commands)
            except Exception:  # a missing menu must not keep the hub from starting
                log.warning("%s: could not publish the command menu", channel.name, exc_info=True)

    async def receive(self, events: list[Event]) -> None:
        """The sink every channel reports to."""
        for event in events:
            self.metrics.inbound.labels(event.channel, type(event).__name__).inc()
        await self.dispatcher.receive(events)

    @property
    def enabled_channels(self) -> set[str]:
        return set(self.channels)


HUB = web.AppKey("hub", Hub)


def create_app(
    config: Config,
    *,
    clock: Clock = utcnow,
    manage_database: bool = True,
    run_workers: bool = True,
    demo: bool = False,
) -> web.Application:
    """The aiohttp application; tests pass manage_database=False inside their own database."""
    from hub.web import (  # web needs app
        api,
        dashboard,
        health,
        media,
        middleware,
        permissions,
        webhooks,
    )

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
        from jobs import create_scheduler

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
