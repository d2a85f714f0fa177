"""The Telegram channel: python-telegram-bot 22's Bot over aiohttp, by long polling or webhook.

Addresses are chat ids as text (negative for groups); the platform's message ids are
"<chat id>:<message id>". The hub writes `*bold*`; Telegram gets HTML with everything else escaped.
The hub paces the bot as a whole with `messages_per_second`; this module paces each chat (one
message a second per private chat, `group_messages_per_minute` per group) and keeps a FloodGuard on
the wire so that delays between the hub's pacing and Telegram's count cannot trip the flood limit.

Telegram shows one keyboard per message: when an Outgoing has inline buttons and a phone button,
the inline buttons win and the phone button is left out (ask for the phone in its own message).

Files go by sendPhoto (JPEG and PNG up to 10 MB) or sendDocument, with the text as the caption
and the buttons under it. A file is uploaded once per process (multipart, streamed from disk);
Telegram's file_id for it, kept in memory by content hash, sends it to everyone else without
uploading it again. An edit of a message that is a file with a caption changes the caption.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import html
import json
import logging
import re
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram import (
    Bot,
    BotCommand,
    InputFile,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import BaseRequest

from channels.base import (
    Channel,
    ChannelEvent,
    ChannelEventKind,
    Event,
    EventSink,
    InboundKind,
    InboundMessage,
    Outgoing,
    OutgoingFile,
    SendError,
    SendErrorReason,
    SendResult,
    WebhookRejected,
)
from channels.pacing import RateLimiter
from channels.telegram_request import AiohttpRequest, hide_in_ptb_logs, redact_url

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput  # float | None | BaseRequest.DEFAULT_NONE

log = logging.getLogger(__name__)

NAME = "telegram"
# Update kinds the hub asks for; others never arrive (and would be ignored if they did).
ALLOWED_UPDATES = (
    "message",
    "callback_query",
    "message_reaction",
    "my_chat_member",
    "chat_member",
    "poll_answer",
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PAID_BROADCAST_RATE = 1000  # messages a second Telegram allows a bot with paid broadcasts
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's cap on callback_data
POLL_TIMEOUT = 25  # seconds a getUpdates call waits for news
# Seconds send() waits for a chat's turn; longer: a held THROTTLED (the hub sends it again then).
MAX_CHAT_WAIT = 1.5
CHAT_IDLE_SECONDS = 60.0  # per-chat pacing state is forgotten after this long unused
WEBHOOK_MAX_CONNECTIONS = 40
SINK_ATTEMPTS = 5  # a polled update the hub failed to take this often is skipped (logged)
CAPTION_LIMIT = 1024  # characters of a photo's or document's caption
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # larger images go as documents
# Round trips the flood guard remembers; the fastest of them stands for the network's delay.
ROUND_TRIP_SAMPLES = 100
UPLOAD_READ_TIMEOUT = 60.0  # seconds to wait for the answer to an upload (Telegram stores it first)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Text ---------------------------------------------------------------------------------------

# `*x*` with no space just inside the asterisks and no line break; anything else stays literal.
_BOLD = re.compile(r"\*([^\s*](?:[^*\n]*[^\s*])?)\*")


def to_telegram_html(text: str) -> str:
    """The hub's text with `*bold*` markup as Telegram HTML; everything else is escaped."""
    return _BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_caption(text: str, limit: int = CAPTION_LIMIT) -> str:
    """`text` within a caption's limit, cut before its last paragraph (which an edit appends)."""
    if _utf16(text) <= limit:
        return text
    head, sep, last = text.rpartition("\n\n")
    if not sep or _utf16(last) > limit // 2:
        head, last = text, ""
    room = limit - _utf16(last) - (3 if last else 1)
    head = head[:room]
    while _utf16(head) > room:
        head = head[:-1]
    return head.rstrip() + "…" + (sep + last if last else "")


# Errors -------------------------------------------------------------------------------------


def _seconds(exc: RetryAfter) -> float:
    # Read the timedelta PTB keeps: the public attribute warns while PTB migrates to timedelta.
    value: Any = getattr(exc, "_retry_after", None)
    if value is None:
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def send_error_from(exc: TelegramError) -> SendError:
    """Map a python-telegram-bot error onto the channel family of send errors."""
    if isinstance(exc, RetryAfter):
        return SendError(
            SendErrorReason.THROTTLED, "Telegram flood limit", retry_after=_seconds(exc)
        )
    if isinstance(exc, Forbidden):  # blocked by the user, user deactivated, bot kicked
        return SendError(SendErrorReason.BLOCKED, exc.message)
    if isinstance(exc, ChatMigrated):
        return SendError(
            SendErrorReason.UNKNOWN_RECIPIENT, f"the group moved to chat {exc.new_chat_id}"
        )
    if isinstance(exc, InvalidToken):
        # Never the exception's text: Bot.initialize() quotes the token in it.
        return SendError(SendErrorReason.BAD_CONFIG, "Telegram rejected the bot token")
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest is one
        lowered = exc.message.lower()
        if "chat not found" in lowered or "user not found" in lowered:
            return SendError(SendErrorReason.UNKNOWN_RECIPIENT, exc.message)
        return SendError(SendErrorReason.REJECTED, exc.message)
    if isinstance(exc, NetworkError):  # TimedOut, connection errors and 5xx answers
        return SendError(SendErrorReason.CONNECTION, exc.message)
    return SendError(SendErrorReason.CONNECTION, f"{type(exc).__name__}: {exc.message}")


# Updates ------------------------------------------------------------------------------------


def parse_update(data: Mapping[str, Any]) -> list[Event]:
    """The events in one Bot API Update (a dict as Telegram sends it); [] for kinds not used."""
    try:
        if (message := data.get("message")) is not None:
            return _from_message(message)
        if (query := data.get("callback_query")) is not None:
            return _from_callback_query(query)
        if (reaction := data.get("message_reaction")) is not None:
            return _from_reaction(reaction)
        if (member := data.get("my_chat_member")) is not None:
            return _from_my_chat_member(member)
        if (answer := data.get("poll_answer")) is not None:
            return _from_poll_answer(answer)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Telegram's own updates always parse; a malformed one is logged and dropped, not fatal.
        log.warning("telegram update %s not understood: %r", data.get("update_id"), exc)
    return []


def _at(timestamp: Any) -> dt.datetime:
    """A Bot API date (Unix seconds); one no datetime holds is taken as the time of receipt.

    Telegram never sends such a date, but an update is a person's message: it is kept (and the
    webhook answered 200, so Telegram does not send it again and again), as WhatsApp's are.
    """
    try:
        return dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return _now()


def _name(user: Mapping[str, Any]) -> str:
    return " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)


def _in_group(chat: Mapping[str, Any]) -> bool:
    return chat.get("type") != "private"


def _from_message(m: Mapping[str, Any]) -> list[Event]:
    chat = m["chat"]
    chat_id = chat["id"]
    if "migrate_to_chat_id" in m:
        new = {"new_address": str(m["migrate_to_chat_id"])}
        return [
            ChannelEvent(NAME, str(chat_id), ChannelEventKind.GROUP_MIGRATED, _at(m["date"]), new)
        ]
    if "migrate_from_chat_id" in m:
        return []  # the same migration, seen from the new supergroup
    user = m.get("from") or m.get("sender_chat") or {}
    kind = InboundKind.TEXT
    phone: str | None = None
    extra: dict[str, Any] = {}
    if "contact" in m:
        contact = m["contact"]
        own = contact.get("user_id") is not None and contact.get("user_id") == user.get("id")
        kind = InboundKind.CONTACT if own else InboundKind.FOREIGN_CONTACT
        if own:
            phone = "+" + "".join(ch for ch in str(contact.get("phone_number", "")) if ch.isdigit())
    elif photos := m.get("photo"):
        largest = max(
            photos, key=lambda p: (p.get("width", 0) * p.get("height", 0), p.get("file_size", 0))
        )
        kind = InboundKind.PHOTO
        extra = {"file_id": largest["file_id"], "file_size": largest.get("file_size")}
    elif "voice" in m:
        voice = m["voice"]
        kind = InboundKind.VOICE
        extra = {
            "file_id": voice["file_id"],
            "file_size": voice.get("file_size"),
            "duration": voice.get("duration"),
            "mime_type": voice.get("mime_type"),
        }
    elif "document" in m:
        document = m["document"]
        kind = InboundKind.DOCUMENT
        extra = {
            "file_id": document["file_id"],
            "file_size": document.get("file_size"),
            "mime_type": document.get("mime_type"),
            "file_name": document.get("file_name"),
        }
    elif "location" in m:
        location = m["location"]
        kind = InboundKind.LOCATION
        extra = {"latitude": location["latitude"], "longitude": location["longitude"]}
    elif "text" not in m:
        kind = InboundKind.OTHER  # stickers, video, polls, service messages...
    reply = m.get("reply_to_message")
    if _in_group(chat) and chat.get("title"):
        extra = {**extra, "chat_title": chat["title"]}  # names the group when it is linked
    return [
        InboundMessage(
            channel=NAME,
            address=str(chat_id),
            external_id=f"{chat_id}:{m['message_id']}",
            received_at=_at(m["date"]),
            text=m.get("text") or m.get("caption") or "",
            kind=kind,
            reply_to=f"{chat_id}:{reply['message_id']}" if reply else None,
            sender=str(user["id"]) if "id" in user else None,
            in_group=_in_group(chat),
            sender_name=_name(user) or user.get("title", ""),
            phone=phone,
            extra=extra,
        )
    ]


def _from_callback_query(query: Mapping[str, Any]) -> list[Event]:
    message = query.get("message")
    if message is None or "data" not in query:
        return []  # inline-mode messages and games: the hub sends neither
    chat = message["chat"]
    user = query["from"]
    return [
        InboundMessage(
            channel=NAME,
            address=str(chat["id"]),
            external_id=f"cb:{query['id']}",
            received_at=_now(),  # a callback query carries no time of its own
            kind=InboundKind.BUTTON,
            button_payload=query["data"],
            reply_to=f"{chat['id']}:{message['message_id']}",
            sender=str(user["id"]),
            in_group=_in_group(chat),
            sender_name=_name(user),
            extra={"callback_query_id": query["id"]},
        )
    ]


def _reaction_text(reaction: Mapping[str, Any]) -> str:
    return str(reaction.get("emoji") or reaction.get("custom_emoji_id") or reaction.get("type", ""))


def _from_reaction(update: Mapping[str, Any]) -> list[Event]:
    new = update.get("new_reaction") or []
    user = update.get("user")
    if not new or user is None:
        return []  # a reaction taken back, or an anonymous one from a chat: no one to credit
    old = update.get("old_reaction") or []
    added = [r for r in new if r not in old] or new
    chat = update["chat"]
    chat_id = chat["id"]
    return [
        InboundMessage(
            channel=NAME,
            address=str(chat_id),
            external_id=f"reaction:{chat_id}:{update['message_id']}:{user['id']}:{update['date']}",
            received_at=_at(update["date"]),
            text=_reaction_text(added[0]),
            kind=InboundKind.REACTION,
            reply_to=f"{chat_id}:{update['message_id']}",
            sender=str(user["id"]),
            in_group=_in_group(chat),
            sender_name=_name(user),
        )
    ]


def _from_my_chat_member(update: Mapping[str, Any]) -> list[Event]:
    chat = update["chat"]
    old = update.get("old_chat_member", {}).get("status")
    new = update.get("new_chat_member", {}).get("status")
    kind: ChannelEventKind | None = None
    if not _in_group(chat):
        if new == "kicked":
            kind = ChannelEventKind.BLOCKED
        elif old == "kicked" and new == "member":
            kind = ChannelEventKind.UNBLOCKED
    elif new in ("left", "kicked"):
        kind = ChannelEventKind.REMOVED_FROM_GROUP
    if kind is None:
        return []
    return [ChannelEvent(NAME, str(chat["id"]), kind, _at(update["date"]))]


def _from_poll_answer(answer: Mapping[str, Any]) -> list[Event]:
    user = answer.get("user")
    if user is None or "voter_chat" in answer:
        return []  # voted as a chat (anonymously; `user` is then a placeholder): no one to credit
    poll_id = answer["poll_id"]
    extra: dict[str, Any] = {"option_ids": list(answer.get("option_ids", []))}
    if "option_persistent_ids" in answer:
        extra["option_persistent_ids"] = list(answer["option_persistent_ids"])
    return [
        InboundMessage(
            channel=NAME,
            address=str(user["id"]),
            external_id=f"poll:{poll_id}:{user['id']}",
            received_at=_now(),  # poll answers carry no time of their own
            kind=InboundKind.POLL_ANSWER,
            reply_to=f"poll:{poll_id}",
            sender=str(user["id"]),
            sender_name=_name(user),
            extra=extra,
        )
    ]


# The channel --------------------------------------------------------------------------------


class _Bot(Bot):
    """PTB's Bot, plus `call()`: a Bot API method with Telegram's JSON as the answer.

    sendMessage and getUpdates use it: building Message and Update objects is a third of the CPU
    of a send, parse_update reads the JSON anyway, and an answer PTB could not model (from a
    self-hosted Bot API server of another version) must not fail a send that went out, which the
    hub would then retry as a duplicate. Requests, timeouts and errors stay PTB's (`_post`, the
    hook its own ExtBot builds on).
    """

    async def call(
        self,
        method: str,
        parameters: dict[str, Any],
        *,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> Any:
        """Call `method` with these parameters; returns the `result` JSON; raises TelegramError."""
        return await self._post(method, parameters, read_timeout=read_timeout)


class FloodGuard:
    """At most `limit` requests in any `window` seconds as Telegram counts them, jitter or not.

    The hub paces the bot with a RateLimiter at the moment it grants a send; between that moment
    and Telegram's own count lie our event loop, the network and Telegram's queues, and a burst
    that arrives late against the next one that arrives early trips the limit. This guard counts
    a request from when it leaves until `window` after Telegram counted it, which is at the
    latest its answer less the way back. The way back is not measured apart; half the fastest
    recent round trip stands for it: a request that leaves a window after that moment still
    arrives a window after the earlier one was counted, as its own way there takes at least the
    other half (see docs/telegram.md). Keeping (in flight + counted within the window) below
    `limit` keeps Telegram's count within it.
    Used as `async with guard.request():` around each request; waiters queue in order. It counts
    on `clock` and waits with `sleep` (monotonic seconds; tests pass a clock of their own).
    """

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._counted: deque[float] = (
            deque()
        )  # when Telegram counted answered requests, oldest first
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._answer = asyncio.Event()
        self._round_trips: deque[float] = deque(maxlen=ROUND_TRIP_SAMPLES)

    def _wait(self) -> float | None:
        """Seconds until a request may leave; 0 for now, None until the next answer."""
        now = self._clock()
        while self._counted and self._counted[0] <= now - self.window:
            self._counted.popleft()
        if len(self._counted) + self._in_flight < self.limit:
            return 0.0
        if not self._counted:
            return None
        return self._counted[0] + self.window - now

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Wait for the request's turn, then hold its place until a window after its count."""
        if self._lock.locked() or self._wait() != 0.0:
            async with self._lock:  # one waiter polls the clock; the rest queue behind it
                while (wait := self._wait()) != 0.0:
                    if wait is None:
                        self._answer.clear()
                        await self._answer.wait()
                    else:
                        await self._sleep(wait)
        self._in_flight += 1
        left_at = self._clock()
        try:
            yield
        finally:
            answered_at = self._clock()
            self._round_trips.append(answered_at - left_at)
            self._in_flight -= 1
            counted_at = answered_at - min(self._round_trips) / 2
            # Kept in order, later rather than sooner: the oldest leaves the window first.
            if self._counted and counted_at < self._counted[-1]:
                counted_at = self._counted[-1]
            self._counted.append(counted_at)
            self._answer.set()


@dataclass
class _ChatPace:
    limiter: RateLimiter
    last_used: float
    waiting: int = 0


def _file_id(message: Mapping[str, Any], field: str) -> str | None:
    """Telegram's id for the file in a sent message (a photo's largest size)."""
    sent = message.get(field)
    if field == "photo" and isinstance(sent, list) and sent:
        sent = sent[-1]
    return str(sent["file_id"]) if isinstance(sent, Mapping) and "file_id" in sent else None


def _chat_id(address: str) -> int:
    try:
        return int(address)
    except ValueError:
        raise SendError(
            SendErrorReason.UNKNOWN_RECIPIENT, f"not a Telegram chat id: {address!r}"
        ) from None


def _message_ref(external_id: str) -> tuple[int, int] | None:
    """(chat id, message id) from "<chat>:<message>", or None when it is not one."""
    chat, sep, message = external_id.rpartition(":")
    try:
        return (int(chat), int(message)) if sep else None
    except ValueError:
        return None


class TelegramChannel(Channel):
    """A Telegram bot; `start()` connects in the background and never fails the hub's start."""

    name = NAME
    can_edit = True
    can_toast = True  # answerCallbackQuery
    caption_limit = CAPTION_LIMIT

    def __init__(
        self,
        settings: Any,
        sink: EventSink,
        *,
        public_url: str = "",
        private_chat_window: float = 1.0,
        group_chat_window: float = 60.0,
        max_chat_wait: float = MAX_CHAT_WAIT,
        poll_timeout: int = POLL_TIMEOUT,
        retry_delays: tuple[float, float] = (1.0, 60.0),
        start_wait: float = 5.0,
        connection_pool_size: int = 64,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__(settings, sink, public_url=public_url)
        # Monotonic seconds and the wait for them, for the per-chat pacing and the flood guard
        # (tests run both on a clock of their own).
        self._clock = clock
        self._sleep = sleep
        self._private_chat_window = private_chat_window
        self._group_chat_window = group_chat_window
        self._max_chat_wait = max_chat_wait
        self._poll_timeout = poll_timeout
        self._retry_min, self._retry_max = retry_delays
        self._start_wait = start_wait
        self._pool_size = connection_pool_size
        self._token: str = settings.token
        self._paid = bool(settings.paid_broadcast)
        self._bot: _Bot | None = None
        self._not_ready: str | None = "not started"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chats: dict[int, _ChatPace] = {}
        self._flood_guard = FloodGuard(round(self.messages_per_second), clock=clock, sleep=sleep)
        self._next_sweep = 0.0
        self._commands: list[tuple[str, str]] | None = None
        self._offset: int | None = None  # next update_id to ask for when polling
        self._confirmed_offset: int | None = None  # the offset Telegram was last told
        self._sink_failures: dict[int, int] = {}  # update_id: times the sink failed on it
        # "<field>:<sha256>" -> Telegram's file_id for a copy of that file this bot uploaded.
        self._file_ids: dict[str, str] = {}
        self._uploading: dict[str, asyncio.Lock] = {}  # one upload per file at a time

    @property
    def messages_per_second(self) -> float:
        """The bot's ceiling: 1000 a second with paid broadcasts, else the configured rate."""
        return float(PAID_BROADCAST_RATE if self._paid else self.settings.messages_per_second)

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Make the bot and connect in the background; waits briefly for the first attempt."""
        base = self.settings.api_base_url.rstrip("/")
        hide_in_ptb_logs(self._token, self.settings.webhook_secret)
        self._bot = _Bot(
            self._token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=AiohttpRequest(connection_pool_size=self._pool_size),
            # Long polling holds its connection for POLL_TIMEOUT: keep it off the sending pool.
            get_updates_request=AiohttpRequest(connection_pool_size=1, read_timeout=10.0),
        )
        self._not_ready = "connecting to Telegram"
        first_attempt = asyncio.Event()
        self._spawn(self._run(first_attempt), name="telegram-run")
        try:
            await asyncio.wait_for(first_attempt.wait(), self._start_wait)
        except TimeoutError:
            log.warning("telegram: still connecting after %.0f s; continuing", self._start_wait)

    async def stop(self) -> None:
        """Stop polling and retries, confirm polled updates, close the connections."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        bot, self._bot = self._bot, None
        if bot is None:
            return
        if self._offset is not None and self._offset != self._confirmed_offset:
            # Tell Telegram what the hub took, so the next start does not read it again.
            try:
                await self._get_updates(bot, 0, limit=1)
            except TelegramError as exc:
                log.info("telegram: could not confirm polled updates: %s", self._redact(exc))
        await bot.shutdown()
        self._not_ready = "stopped"

    async def ready(self) -> str | None:
        """None once Telegram accepted the token (getMe) and the update mode is set up."""
        return self._not_ready

    def _spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        trace = "".join(traceback.format_exception(exc))
        log.error("telegram task %s failed:\n%s", task.get_name(), self._redact(trace))

    def _redact(self, value: object) -> str:
        """Text safe to log: PTB and aiohttp can quote the token (in URLs and messages)."""
        text = redact_url(str(value))
        return text.replace(self._token, "<token>") if self._token else text

    async def _run(self, first_attempt: asyncio.Event) -> None:
        """Connect until it works (backing off), then poll when in polling mode."""
        assert self._bot is not None
        bot = self._bot
        delay = self._retry_min
        while True:
            try:
                await self._connect(bot)
                break
            except InvalidToken:
                self._not_ready = "Telegram rejected the bot token"
            except TelegramError as exc:
                self._not_ready = f"cannot reach the Bot API: {self._redact(exc)}"[:200]
            except Exception as exc:  # a bug must not end the retries; the log keeps the trace
                self._not_ready = f"cannot connect: {type(exc).__name__}"
                trace = "".join(traceback.format_exception(exc))
                log.error("telegram: connecting failed:\n%s", self._redact(trace))
            finally:
                first_attempt.set()
            log.warning("telegram: %s; retrying in %.0f s", self._not_ready, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)
        self._not_ready = None
        log.info("telegram: connected as @%s (%s mode)", bot.username, self.settings.mode)
        if self._commands is not None:
            await self._publish(bot, self._commands)
        if self.settings.mode == "polling":
            await self._poll(bot)

    async def _connect(self, bot: _Bot) -> None:
        await bot.initialize()  # getMe: proves the token
        if self.settings.mode == "webhook":
            try:
                await bot.set_webhook(
                    url=f"{self.public_url}/webhooks/telegram",
                    secret_token=self.settings.webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                    max_connections=WEBHOOK_MAX_CONNECTIONS,
                )
            except BadRequest as exc:  # e.g. not an https URL: staff must fix public_url
                raise TelegramError(f"setWebhook refused: {exc.message}") from None
        else:
            await bot.delete_webhook()  # getUpdates is refused while a webhook is set

    async def _get_updates(self, bot: _Bot, wait: int, **extra: Any) -> list[dict[str, Any]]:
        """getUpdates from the current offset, as Telegram's JSON (see the note at the top)."""
        updates = await bot.call(
            "getUpdates",
            {"offset": self._offset, "timeout": wait, **extra},
            read_timeout=wait + 10.0,  # the long poll itself, plus the usual margin
        )
        self._confirmed_offset = self._offset  # asking from an offset confirms what came before
        return list(updates)

    async def _poll(self, bot: _Bot) -> None:
        """Long-poll for updates; an update is confirmed only after the sink took its events."""
        delay = self._retry_min
        while True:
            try:
                updates = await self._get_updates(
                    bot, self._poll_timeout, allowed_updates=list(ALLOWED_UPDATES)
                )
            except Conflict as exc:
                log.error(
                    "telegram: another process polls this bot, or a webhook is set (%s); "
                    "only one hub may poll a bot",
                    self._redact(exc),
                )
            except InvalidToken:
                self._not_ready = "Telegram rejected the bot token"
                log.error("telegram: the bot token was rejected while polling")
            except TelegramError as exc:
                log.warning("telegram: getUpdates failed: %s", self._redact(exc))
            else:
                if await self._hand_over(updates):
                    delay = self._retry_min
                    continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)

    async def _hand_over(self, updates: list[dict[str, Any]]) -> bool:
        """Give each update's events to the sink, advancing the offset; False if the sink failed."""
        for update in updates:
            update_id = int(update["update_id"])
            events = parse_update(update)
            if events:
                try:
                    await self.sink(events)
                except Exception:
                    failures = self._sink_failures.get(update_id, 0) + 1
                    self._sink_failures = {update_id: failures}
                    if failures < SINK_ATTEMPTS:
                        log.exception(
                            "telegram: the hub did not take update %d; reading it again", update_id
                        )
                        return False
                    log.exception(
                        "telegram: skipping update %d after %d failures", update_id, failures
                    )
            self._offset = update_id + 1
        return True

    async def publish_commands(self, commands: list[tuple[str, str]]) -> None:
        """setMyCommands now if connected, else once connected; failures are only logged."""
        self._commands = list(commands)
        if self._bot is not None and self._not_ready is None:
            await self._publish(self._bot, self._commands)

    async def _publish(self, bot: _Bot, commands: list[tuple[str, str]]) -> None:
        try:
            await bot.set_my_commands(
                [BotCommand(command.lstrip("/"), description) for command, description in commands]
            )
        except TelegramError as exc:
            log.warning("telegram: setMyCommands failed (%s); menu unchanged", self._redact(exc))

    # Sending --------------------------------------------------------------------------------

    async def send(self, outgoing: Outgoing) -> SendResult:
        """Send or edit one message; raises SendError (see send_error_from)."""
        bot = self._bot
        if bot is None:
            raise SendError(SendErrorReason.CONNECTION, "the Telegram channel is not started")
        chat_id = _chat_id(outgoing.address)
        try:
            return await self._send_to(bot, chat_id, outgoing)
        except ChatMigrated as exc:
            if outgoing.edit_of is not None:
                raise send_error_from(exc) from None
            await self._report_migration(chat_id, exc.new_chat_id)
            try:
                return await self._send_to(bot, exc.new_chat_id, outgoing)
            except TelegramError as again:
                raise send_error_from(again) from None
        except TelegramError as exc:
            error = send_error_from(exc)
            if error.reason == SendErrorReason.BAD_CONFIG:
                self._not_ready = error.detail  # a revoked token: /readyz tells staff
            raise error from None

    async def _send_to(self, bot: _Bot, chat_id: int, outgoing: Outgoing) -> SendResult:
        text = to_telegram_html(outgoing.text)
        inline = _inline_keyboard(outgoing)
        if outgoing.edit_of is not None:
            ref = _message_ref(outgoing.edit_of)
            if ref is None:
                raise SendError(
                    SendErrorReason.REJECTED, f"not a Telegram message id: {outgoing.edit_of!r}"
                )
            await self._pace(ref[0])
            try:
                await self._edit(bot, ref, text, inline)
            except BadRequest as exc:
                if "there is no text in the message to edit" not in exc.message.lower():
                    raise
                # The message is a file: its caption is what the person reads.
                await self._edit(
                    bot, ref, to_telegram_html(fit_caption(outgoing.text)), inline, True
                )
            return SendResult(external_id=outgoing.edit_of, sent_at=_now())
        # Parameters as the Bot API's JSON: PTB passes them through as they are, where its
        # objects (InlineKeyboardMarkup...) would be turned into dicts again for every send.
        parameters: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
        if inline is not None:
            parameters["reply_markup"] = inline
        elif outgoing.phone_button and chat_id > 0:  # request_contact works in private chats only
            parameters["reply_markup"] = {
                "keyboard": [[{"text": outgoing.phone_button, "request_contact": True}]],
                "one_time_keyboard": True,
                "resize_keyboard": True,
            }
        if outgoing.reply_to is not None:
            ref = _message_ref(outgoing.reply_to)
            if ref is not None and ref[0] == chat_id:
                parameters["reply_parameters"] = {
                    "message_id": ref[1],
                    "allow_sending_without_reply": True,
                }
        if self._paid:
            parameters["allow_paid_broadcast"] = True
        await self._pace(chat_id)
        if outgoing.attachments:
            message = await self._send_file(bot, parameters, outgoing)
        else:
            async with self._flood_guard.request():
                message = await bot.call("sendMessage", parameters)
        return SendResult(external_id=f"{chat_id}:{message['message_id']}", sent_at=_now())

    async def _edit(
        self,
        bot: _Bot,
        ref: tuple[int, int],
        text: str,
        inline: dict[str, Any] | None,
        caption: bool = False,
    ) -> None:
        """Change a sent message's text (or caption) and buttons; "not modified" is fine."""
        parameters: dict[str, Any] = {
            "chat_id": ref[0],
            "message_id": ref[1],
            "caption" if caption else "text": text,
            "parse_mode": "HTML",
            # An explicit empty keyboard removes the buttons.
            "reply_markup": inline or {"inline_keyboard": []},
        }
        try:
            async with self._flood_guard.request():
                await bot.call("editMessageCaption" if caption else "editMessageText", parameters)
        except BadRequest as exc:
            if "message is not modified" not in exc.message.lower():
                raise

    async def _send_file(
        self, bot: _Bot, parameters: dict[str, Any], outgoing: Outgoing
    ) -> dict[str, Any]:
        """sendPhoto or sendDocument with the message's text as caption; the answer's JSON."""
        if len(outgoing.attachments) > 1:
            raise SendError(SendErrorReason.REJECTED, "one file per message")
        if _utf16(outgoing.text) > CAPTION_LIMIT:
            raise SendError(SendErrorReason.REJECTED, f"a caption takes {CAPTION_LIMIT} characters")
        file = outgoing.attachments[0]
        parameters = dict(parameters)
        text = parameters.pop("text")
        if outgoing.text.strip():
            parameters["caption"] = text
        else:
            parameters.pop("parse_mode")
        as_photo = file.is_image and file.size <= PHOTO_MAX_BYTES
        try:
            return await self._send_as(bot, parameters, file, "photo" if as_photo else "document")
        except BadRequest as exc:
            # Telegram refuses some images as photos (odd dimensions): they go as documents.
            lowered = exc.message.lower()
            if not as_photo or not ("photo" in lowered or "image" in lowered):
                raise
            return await self._send_as(bot, parameters, file, "document")

    async def _send_as(
        self, bot: _Bot, parameters: dict[str, Any], file: OutgoingFile, field: str
    ) -> dict[str, Any]:
        method = "sendPhoto" if field == "photo" else "sendDocument"
        key = f"{field}:{file.sha256}"
        if (file_id := self._file_ids.get(key)) is not None:
            try:
                async with self._flood_guard.request():
                    return dict(await bot.call(method, {**parameters, field: file_id}))
            except BadRequest as exc:
                if "file" not in exc.message.lower():
                    raise
                self._file_ids.pop(key, None)  # the id went stale: upload it again
        async with self._uploading.setdefault(key, asyncio.Lock()):
            if (file_id := self._file_ids.get(key)) is not None:  # uploaded while we waited
                async with self._flood_guard.request():
                    return dict(await bot.call(method, {**parameters, field: file_id}))
            try:
                handle = await asyncio.to_thread(open, file.path, "rb")
            except OSError as exc:
                raise SendError(SendErrorReason.REJECTED, f"the file is gone: {exc}") from None
            with handle:
                upload = InputFile(handle, filename=file.filename, read_file_handle=False)
                async with self._flood_guard.request():
                    message = dict(
                        await bot.call(
                            method,
                            {**parameters, field: upload},
                            read_timeout=UPLOAD_READ_TIMEOUT,
                        )
                    )
            uploaded = _file_id(message, field)
            if uploaded:
                self._file_ids[key] = uploaded
            return message

    async def _report_migration(self, old_chat_id: int, new_chat_id: int) -> None:
        event = ChannelEvent(
            NAME,
            str(old_chat_id),
            ChannelEventKind.GROUP_MIGRATED,
            _now(),
            {"new_address": str(new_chat_id)},
        )
        try:
            await self.sink([event])
        except Exception:  # the migration update itself will tell the hub again
            log.exception("telegram: the hub did not take the migration of %s", old_chat_id)

    async def _pace(self, chat_id: int) -> None:
        """Wait for the chat's turn if it comes within max_chat_wait; else a held SendError."""
        now = self._clock()
        if now >= self._next_sweep:
            self._forget_idle_chats(now)
        pace = self._chats.get(chat_id)
        if pace is None:
            if chat_id < 0:
                limiter = RateLimiter(
                    self.settings.group_messages_per_minute,
                    self._group_chat_window,
                    clock=self._clock,
                    sleep=self._sleep,
                )
            else:
                limiter = RateLimiter(
                    1, self._private_chat_window, clock=self._clock, sleep=self._sleep
                )
            pace = self._chats[chat_id] = _ChatPace(limiter, now)
        limiter = pace.limiter
        wait = limiter.delay()
        if pace.waiting:
            # Sends already queued for this chat go first; assume each takes a full slot.
            wait += pace.waiting * limiter.window / limiter.limit
        if wait > self._max_chat_wait:
            # Our own pacing, not Telegram's answer: the hub sends it when the chat's turn comes.
            raise SendError(
                SendErrorReason.THROTTLED,
                f"chat {chat_id} is at Telegram's per-chat limit",
                retry_after=round(wait, 3),
                held=True,
            )
        pace.last_used = now
        if wait == 0:
            limiter.take()  # no await between delay() and take(): no other send slips in
            return
        pace.waiting += 1
        try:
            await limiter.acquire()
        finally:
            pace.waiting -= 1
            pace.last_used = self._clock()

    def _forget_idle_chats(self, now: float) -> None:
        """Keep the per-chat map bounded: drop chats unused for a minute (their window is empty)."""
        self._next_sweep = now + CHAT_IDLE_SECONDS / 4
        idle = [
            chat_id
            for chat_id, pace in self._chats.items()
            if not pace.waiting
            and now - pace.last_used > max(CHAT_IDLE_SECONDS, pace.limiter.window)
        ]
        for chat_id in idle:
            del self._chats[chat_id]

    async def answer(self, event: InboundMessage, text: str) -> None:
        """Show a short toast to the person who tapped the button (answerCallbackQuery)."""
        query_id = event.extra.get("callback_query_id")
        if self._bot is None or not query_id:
            return
        try:
            await self._bot.answer_callback_query(query_id, text=text[:200] or None)
        except TelegramError as exc:  # mostly "query is too old": the tap still counts
            log.info("telegram: answerCallbackQuery failed: %s", self._redact(exc))

    # Webhooks -------------------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """The secret header must equal settings.webhook_secret (constant-time compare)."""
        given = _header(headers, SECRET_HEADER)
        if given is None:
            raise WebhookRejected(403, "missing secret token header")
        expected = str(self.settings.webhook_secret).encode()
        if not expected or not hmac.compare_digest(given.encode(), expected):
            raise WebhookRejected(403, "wrong secret token")

    def parse_webhook(self, body: bytes) -> list[Event]:
        """One Update per webhook call; not JSON or not an object: 400."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(400, "body is not JSON") from None
        except RecursionError:
            raise WebhookRejected(400, "body is nested too deeply") from None
        if not isinstance(data, dict):
            raise WebhookRejected(400, "body is not a JSON object")
        return parse_update(data)


def _inline_keyboard(outgoing: Outgoing) -> dict[str, Any] | None:
    """The buttons as reply_markup JSON, one per row; refuses payloads Telegram would refuse."""
    if not outgoing.buttons:
        return None
    for button in outgoing.buttons:
        size = len(button.payload.encode())
        if not 0 < size <= CALLBACK_DATA_LIMIT:
            raise SendError(
                SendErrorReason.REJECTED,
                f"button payload is {size} bytes; Telegram takes 1 to {CALLBACK_DATA_LIMIT}",
            )
    return {
        "inline_keyboard": [
            [{"text": b.label, "callback_data": b.payload}] for b in outgoing.buttons
        ]
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; aiohttp's headers are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
