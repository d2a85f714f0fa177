"""Hub: the per-process object graph (config, clock, channels, dispatcher, sender, leases) and
the AppKey it is kept under. Web handlers and jobs import this module, never hub.app."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from aiohttp import web

from channels import Channel, Event, InboundMessage, channel_class, registered_channels
from hub.access.auth import LoginThrottle
from hub.archive import commands as archive_commands
from hub.broadcast.broadcast_hooks import AnnouncementHooks, CorrectionHooks, ReminderHooks
from hub.core.config import Config
from hub.core.leases import SCHEDULER_LEASE_TTL, LeaseHolder
from hub.core.metrics import Metrics
from hub.core.outbox import KindHooks, OutboxHooks
from hub.core.ratelimit import RateLimiter
from hub.core.tasks import BackgroundTasks
from hub.core.timeutil import Clock, utcnow
from hub.feedback import inbox
from hub.feedback.complaints import conversation as ticket_conversation
from hub.feedback.complaints import dialog as complaint_dialog
from hub.feedback.complaints.tickets import TicketRules
from hub.feedback.files import FeedbackFiles
from hub.feedback.polls.service import POLL_PREFIX
from hub.feedback.polls.votes import register as register_polls
from hub.files.media import MediaStore
from hub.inbound.conversations import Conversations
from hub.inbound.dispatch import Dispatcher
from hub.messaging.router import Router
from hub.messaging.sender import Sender
from models import MessageKind

log = logging.getLogger(__name__)

# Channels this version can run, each configured by the config section of its name.
AVAILABLE_CHANNELS = tuple(registered_channels())


def outbox_hooks() -> OutboxHooks:
    """The hub's hooks for every message kind: what each adds to sending (see
    hub/core/outbox.py)."""
    plain = KindHooks()
    return OutboxHooks(
        {
            MessageKind.BROADCAST: AnnouncementHooks(),
            MessageKind.REMINDER: ReminderHooks(),
            MessageKind.CORRECTION: CorrectionHooks(),
            MessageKind.REPLY: KindHooks(answers_inbound=True),
            MessageKind.NOTICE: plain,
            MessageKind.GROUP_POST: plain,
        }
    )


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
        # Ticket settings, the service catalogue and working days (a broken catalogue stops here).
        self.tickets = TicketRules.from_config(self.config)
        # Packages register their keywords, buttons and dialogs on the one router.
        self.router = Router()
        self.conversations = Conversations(
            self.config,
            self._wake_sender,
            answer=self._answer,
            can_edit=self._can_edit,
            can_toast=self._can_toast,
            clock=self.clock,
            router=self.router,
        )
        # Complaints (ADUAN), service requests (LAYANAN, SYARAT) and the files sent with them.
        self.feedback_files = FeedbackFiles.from_config(self.config)
        complaint_dialog.register(
            self.router,
            config=self.config,
            rules=self.tickets,
            files=self.feedback_files,
            channels=self.channels,
            wake_sender=self._wake_sender,
            clock=self.clock,
        )
        # The staff inbox takes, last, whatever no dialog, button or keyword took (with its file).
        self.inbox = inbox.register(
            self.router,
            self.config,
            self._wake_sender,
            files=self.feedback_files,
            channels=self.channels,
        )
        # The RT head's side of a filed ticket: STATUS and the `tiket:` buttons.
        ticket_conversation.register(
            self.router,
            config=self.config,
            rules=self.tickets,
            wake_sender=self._wake_sender,
            toast=self._answer,
        )
        # CEK <kode>: is an announcement with this verification code official?
        archive_commands.register(self.router, config=self.config, wake_sender=self._wake_sender)
        # Public checks of codes and pasted texts, per client address (the /cek page, the API).
        self.check_limit = RateLimiter(self.config.archive.checks_per_minute)
        votes = register_polls(self.router, self.config, self._wake_sender)
        # A poll's options under its post in a group chat (channels without native polls).
        self.conversations.add_group_button(POLL_PREFIX, votes.on_group_button)
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
            hooks=outbox_hooks(),
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
        commands = self.router.platform_commands(self.config.hub.language)
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
    def enabled_channels(self) -> dict[str, type[Channel]]:
        """The running channels' classes by name: domain code asks them what each can do."""
        return {name: type(channel) for name, channel in self.channels.items()}


HUB = web.AppKey("hub", Hub)
