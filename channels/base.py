"""The channel interface: outgoing messages, send errors, the window, the capabilities every
channel declares as class variables.

The inbound events are in channels/events.py (re-exported here), the optional capabilities in
channels/capabilities.py, the channels themselves listed in channels/registry.py."""

from __future__ import annotations

import abc
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from channels.events import (
    ChannelEvent,
    ChannelEventKind,
    Event,
    EventSink,
    InboundKind,
    InboundMessage,
    StatusKind,
    StatusUpdate,
)

__all__ = [
    "Button",
    "Channel",
    "ChannelEvent",
    "ChannelEventKind",
    "Event",
    "EventSink",
    "InboundKind",
    "InboundMessage",
    "Outgoing",
    "OutgoingFile",
    "OutgoingPoll",
    "SendError",
    "SendErrorReason",
    "SendResult",
    "StatusKind",
    "StatusUpdate",
    "WebhookRejected",
]


@dataclass(frozen=True)
class Button:
    """A tappable choice; `payload` comes back in the InboundMessage when tapped."""

    label: str
    payload: str
    # Whether an approved WhatsApp template's quick-reply button may stand for it outside the
    # 24-hour window; one the template has no place for is left out there.
    in_template: bool = True


@dataclass(frozen=True)
class OutgoingFile:
    """A file to send (a regulation's PDF, an image), stored at `path` on the hub's disk."""

    path: str
    filename: str  # as the recipient sees it
    content_type: str  # detected from the file's bytes: application/pdf, image/jpeg, image/png
    size: int  # bytes
    sha256: str  # names the content: a platform's id for an uploaded copy can be reused by it
    url: str = ""  # public download link on the hub (the token in it is the secret)

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


POLL_OPTIONS_MIN = 2
POLL_OPTIONS_MAX = 10  # WhatsApp's list shows ten rows: the most every channel can offer


@dataclass(frozen=True)
class OutgoingPoll:
    """A question with 2 to 10 options, one answer each; `payloads[i]` answers `options[i]`.

    A channel with native polls (`Channel.native_polls`) sends the platform's own poll and answers
    come back as POLL_ANSWER events naming `SendResult.poll_id`; the others show the options as
    buttons carrying the payloads (the hub's, e.g. "poll:12:0"), tapped like any button.
    """

    question: str
    options: tuple[str, ...]
    payloads: tuple[str, ...]  # the same length as options

    def buttons(self) -> tuple[Button, ...]:
        """The options as buttons, each carrying its payload."""
        return tuple(Button(o, p) for o, p in zip(self.options, self.payloads, strict=True))


@dataclass(frozen=True)
class Outgoing:
    """One message to one address. `key` is the hub's idempotency key (the outbox row id)."""

    key: str
    address: str
    text: str
    buttons: tuple[Button, ...] = ()
    reply_to: str | None = None  # the platform's id of the message this answers
    edit_of: str | None = None  # the platform's id of a message to change in place (can_edit)
    phone_button: str = ""  # label of a one-tap "share my phone number" button; "" for none
    # When the person last wrote to us on this address (None: never). Platforms that allow free
    # text only for a while after that (WhatsApp: 24 hours) send `template` outside that window.
    last_inbound_at: dt.datetime | None = None
    template: str | None = None  # which approved template may carry this message: "broadcast"...
    template_params: tuple[str, ...] = ()  # its variables, e.g. (title, summary)
    # At most one file per request (one outbox row is one platform request), with `text` as its
    # caption; "" sends the file alone.
    attachments: tuple[OutgoingFile, ...] = ()
    # A poll: `text` is then the message's body (the question and what the hub adds to it) and
    # the options are its only buttons (`buttons` stays empty). Outside a free-text window the
    # message goes as its `template`, which carries no options.
    poll: OutgoingPoll | None = None

    def checked_poll(self) -> OutgoingPoll | None:
        """The poll once checked to be one every channel can send; None without one. Raises
        SendError(REJECTED) for a poll no platform takes (a bug in the hub: never retried)."""
        poll = self.poll
        if poll is None:
            return None
        problem = _poll_problem(poll)
        if problem is None and self.buttons:
            problem = "a poll's buttons are its options; the message has buttons of its own"
        if problem is not None:
            raise SendError(SendErrorReason.REJECTED, problem, retryable=False)
        return poll

    def poll_buttons(self) -> tuple[Button, ...]:
        """The buttons a channel without native polls shows: the poll's options, each carrying
        its payload, or `buttons` when there is no poll. Raises SendError as checked_poll()."""
        poll = self.checked_poll()
        return self.buttons if poll is None else poll.buttons()


def _poll_problem(poll: OutgoingPoll) -> str | None:
    """What makes the poll one no platform takes; None when it is fine."""
    if not POLL_OPTIONS_MIN <= len(poll.options) <= POLL_OPTIONS_MAX:
        return (
            f"a poll has {POLL_OPTIONS_MIN} to {POLL_OPTIONS_MAX} options, not {len(poll.options)}"
        )
    if len(poll.payloads) != len(poll.options):
        return f"{len(poll.options)} poll options but {len(poll.payloads)} payloads"
    if not poll.question.strip():
        return "the poll has no question"
    options = [option.strip() for option in poll.options]
    if not all(options) or not all(poll.payloads):
        return "an empty poll option or payload"
    if len(set(options)) < len(options) or len(set(poll.payloads)) < len(poll.payloads):
        return "two poll options (or payloads) are the same"  # no platform tells them apart
    return None


@dataclass(frozen=True)
class SendResult:
    external_id: str  # the platform's id for the message, used to match later status updates
    sent_at: dt.datetime
    used_template: bool = False  # sent as an approved template (outside the free-text window)
    # The text went but the attachments could not (a template outside the free-text window
    # carries no file): the hub sends them on their own later.
    left_out_files: bool = False
    # The platform's id of the native poll the message is (Outgoing.poll on a channel with
    # native_polls): the answers name only this id, never the message.
    poll_id: str | None = None


class SendErrorReason(StrEnum):
    CONNECTION = "connection"  # could not reach the platform, or it answered 5xx
    THROTTLED = "throttled"  # rate limit hit; retry after `retry_after` seconds
    BLOCKED = "blocked"  # the recipient blocked the bot or opted out at the platform
    UNKNOWN_RECIPIENT = "unknown_recipient"  # no such chat or number
    REJECTED = "rejected"  # the platform refused the content
    BAD_CONFIG = "bad_config"  # our credentials or settings are wrong; staff must act
    WINDOW_CLOSED = "window_closed"  # free text not allowed now (WhatsApp 24-hour window)


_RETRYABLE = {SendErrorReason.CONNECTION, SendErrorReason.THROTTLED, SendErrorReason.BAD_CONFIG}


class SendError(Exception):
    """A send that did not go through. `retryable` says whether trying later can succeed."""

    def __init__(
        self,
        reason: SendErrorReason,
        detail: str = "",
        *,
        retry_after: float | None = None,
        retryable: bool | None = None,
        recipient_only: bool = False,
        held: bool = False,
    ) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.retryable = reason in _RETRYABLE if retryable is None else retryable
        # Throttled by one recipient's own limit (a chat): wait for that one, not the account.
        self.recipient_only = recipient_only or held
        # Held back by the channel's own pacing of this recipient before the platform was asked:
        # not an attempt, so it goes again after `retry_after` and never fails the message.
        self.held = held


class WebhookRejected(Exception):
    """A webhook the channel will not accept; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def webhook_json(body: bytes) -> dict[str, Any]:
    """A webhook body as the JSON object it must be; WebhookRejected(400) for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "body is not JSON") from None
    except RecursionError:
        raise WebhookRejected(400, "body is nested too deeply") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    return data


class Channel(abc.ABC):
    """A messenger: sends Outgoing messages, turns what the platform says into Events."""

    name: ClassVar[str]
    can_edit: ClassVar[bool] = False  # whether Outgoing.edit_of works on this platform
    can_toast: ClassVar[bool] = False  # whether answer() shows the person a brief confirmation
    text_limit: ClassVar[int] = 4096  # longest text message, in UTF-16 code units
    # How long after the person last wrote free text may be sent (None: always); outside it the
    # message goes as its approved template.
    free_text_window: ClassVar[dt.timedelta | None] = None
    # The window counts as closed this much early: what the hub queues as free text must still be
    # inside it when the platform receives it (clocks, queues, the request itself).
    window_margin: ClassVar[dt.timedelta] = dt.timedelta(0)
    # Longest text that rides on a file as its caption, in UTF-16 code units (None: any text).
    caption_limit: ClassVar[int | None] = None
    buttons_with_files: ClassVar[bool] = True  # whether buttons can ride on a file message
    # Whether Outgoing.poll goes as the platform's own poll (answers: POLL_ANSWER events naming
    # SendResult.poll_id); otherwise its options go as buttons (Outgoing.poll_buttons()).
    native_polls: ClassVar[bool] = False

    def __init__(self, settings: Any, sink: EventSink, *, public_url: str = "") -> None:
        self.settings = settings
        self.sink = sink
        self.public_url = public_url.rstrip("/")  # where the platform reaches our webhooks

    @classmethod
    def window_open(cls, last_inbound_at: dt.datetime | None, now: dt.datetime) -> bool:
        """Whether free text, buttons and files may go at `now` to someone who last wrote at
        `last_inbound_at` (None: never). The one rule for the hub and the channel alike; naive
        datetimes are taken as UTC."""
        if cls.free_text_window is None:
            return True
        if last_inbound_at is None:
            return False
        return _as_utc(now) - _as_utc(last_inbound_at) < cls.free_text_window - cls.window_margin

    def takes_caption(self, text: str, has_buttons: bool) -> bool:
        """Whether `text` (with buttons, if any) can go as the caption of one file."""
        if has_buttons and not self.buttons_with_files:
            return False
        length = len(text.encode("utf-16-le")) // 2
        return self.caption_limit is None or length <= self.caption_limit

    @property
    def messages_per_second(self) -> float:
        """The sending ceiling of this channel account."""
        return float(self.settings.messages_per_second)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the platform (called once at start)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release connections (called once at shutdown)."""

    async def ready(self) -> str | None:
        """None when the channel can send, else a short reason for /readyz."""
        return None

    @abc.abstractmethod
    async def send(self, outgoing: Outgoing) -> SendResult:
        """Send one message; raises SendError."""

    async def publish_commands(self, commands: list[tuple[str, str]]) -> None:  # noqa: B027
        """Show these (command, description) pairs in the platform's command menu, if it has one."""

    async def answer(self, event: InboundMessage, text: str) -> None:  # noqa: B027 - optional
        """Briefly confirm a button tap to the person who tapped (a toast), if the platform can."""

    def verify_subscription(self, params: Mapping[str, str]) -> str:
        """Answer the platform's webhook subscription handshake (GET); raises WebhookRejected."""
        raise WebhookRejected(404, f"{self.name} has no subscription handshake")

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check a webhook's authenticity; raises WebhookRejected (401/403)."""
        raise WebhookRejected(404, f"{self.name} takes no webhooks")

    def parse_webhook(self, body: bytes) -> list[Event]:
        """Turn a verified webhook body into events; raises WebhookRejected(400) if unparseable."""
        raise WebhookRejected(404, f"{self.name} takes no webhooks")


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
