"""The Telegram channel: lifecycle (connect, poll or webhook), sending, toasts, webhooks."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from telegram import (
    BotCommand,
    InputFile,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    InvalidToken,
    TelegramError,
)

from channels.base import (
    Channel,
    ChannelEvent,
    ChannelEventKind,
    Event,
    EventSink,
    InboundMessage,
    Outgoing,
    OutgoingFile,
    SendError,
    SendErrorReason,
    SendResult,
    WebhookRejected,
    webhook_json,
)
from channels.capabilities import MAX_FETCH_BYTES, FetchedMedia
from channels.events import Media
from channels.telegram.api import _Bot, _file_id, fetch_file, poll_already_done, send_error_from
from channels.telegram.messages import (
    CAPTION_LIMIT,
    _chat_id,
    _inline_keyboard,
    _message_ref,
    _poll_parameters,
    _utf16,
    fit_caption,
    to_telegram_html,
)
from channels.telegram.pacing import MAX_CHAT_WAIT, ChatPace, FloodGuard
from channels.telegram.payloads import (
    ALLOWED_UPDATES,
    NAME,
    SECRET_HEADER,
    _header,
    _now,
    parse_update,
)
from channels.telegram.request import AiohttpRequest, hide_in_ptb_logs, redact_url

log = logging.getLogger(__name__)

PAID_BROADCAST_RATE = 1000  # messages a second Telegram allows a bot with paid broadcasts
POLL_TIMEOUT = 25  # seconds a getUpdates call waits for news
WEBHOOK_MAX_CONNECTIONS = 40
SINK_ATTEMPTS = 5  # a polled update the hub failed to take this often is skipped (logged)
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # larger images go as documents
UPLOAD_READ_TIMEOUT = 60.0  # seconds to wait for the answer to an upload (Telegram stores it first)


class TelegramChannel(Channel):
    """A Telegram bot; `start()` connects in the background and never fails the hub's start."""

    name = NAME
    can_edit = True
    can_toast = True  # answerCallbackQuery
    caption_limit = CAPTION_LIMIT
    native_polls = True  # sendPoll; votes come as poll_answer updates naming the poll's id

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
        max_media_bytes: int = MAX_FETCH_BYTES,
    ) -> None:
        super().__init__(settings, sink, public_url=public_url)
        # Monotonic seconds and the wait for them, for the per-chat pacing and the flood guard
        # (tests run both on a clock of their own).
        self._clock = clock
        self._sleep = sleep
        self._poll_timeout = poll_timeout
        self._retry_min, self._retry_max = retry_delays
        self._start_wait = start_wait
        self._pool_size = connection_pool_size
        self._max_media_bytes = max_media_bytes
        self._token: str = settings.token
        self._paid = bool(settings.paid_broadcast)
        self._bot: _Bot | None = None
        self._not_ready: str | None = "not started"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chat_pace = ChatPace(
            group_messages_per_minute=settings.group_messages_per_minute,
            private_window=private_chat_window,
            group_window=group_chat_window,
            max_wait=max_chat_wait,
            clock=clock,
            sleep=sleep,
        )
        self._flood_guard = FloodGuard(round(self.messages_per_second), clock=clock, sleep=sleep)
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
        poll = outgoing.checked_poll()
        if outgoing.edit_of is not None:
            if poll is not None:
                raise SendError(
                    SendErrorReason.REJECTED, "Telegram cannot change a poll: close it, send anew"
                )
            ref = _message_ref(outgoing.edit_of)
            if ref is None:
                raise SendError(
                    SendErrorReason.REJECTED, f"not a Telegram message id: {outgoing.edit_of!r}"
                )
            await self._chat_pace.pace(ref[0])
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
        await self._chat_pace.pace(chat_id)
        if poll is not None:
            return await self._send_poll(bot, parameters, outgoing)
        if outgoing.attachments:
            message = await self._send_file(bot, parameters, outgoing)
        else:
            async with self._flood_guard.request():
                message = await bot.call("sendMessage", parameters)
        return SendResult(external_id=f"{chat_id}:{message['message_id']}", sent_at=_now())

    async def _send_poll(
        self, bot: _Bot, parameters: dict[str, Any], outgoing: Outgoing
    ) -> SendResult:
        """sendPoll in a private chat or a group. The poll shows its question, not the text; a
        file cannot ride on it and is left out (the hub sends it on its own)."""
        assert outgoing.poll is not None
        chat_id = parameters["chat_id"]
        parameters = {k: v for k, v in parameters.items() if k not in ("text", "parse_mode")}
        parameters.update(_poll_parameters(outgoing.poll))
        async with self._flood_guard.request():
            message = await bot.call("sendPoll", parameters)
        poll = message.get("poll")
        poll_id = str(poll["id"]) if isinstance(poll, Mapping) and poll.get("id") else None
        if poll_id is None:  # it went out all the same: failing now would send it twice
            log.error("telegram: the answer to poll %s names no poll id", outgoing.key)
        return SendResult(
            external_id=f"{chat_id}:{message['message_id']}",
            sent_at=_now(),
            left_out_files=bool(outgoing.attachments),
            poll_id=poll_id,
        )

    async def close_poll(self, address: str, external_id: str) -> None:
        """Stop a poll this bot sent (ClosesPolls) by stopPoll; one closed already or gone is
        done. The external id names the chat as well, so `address` is not needed."""
        if self._bot is None:
            raise SendError(SendErrorReason.CONNECTION, "the Telegram channel is not started")
        ref = _message_ref(external_id)
        if ref is None:
            raise SendError(SendErrorReason.REJECTED, f"not a Telegram message id: {external_id!r}")
        await self._chat_pace.pace(ref[0])  # an edit of the message: it counts as one
        try:
            async with self._flood_guard.request():
                await self._bot.call("stopPoll", {"chat_id": ref[0], "message_id": ref[1]})
        except BadRequest as exc:
            if not poll_already_done(exc):
                raise send_error_from(exc) from None
            log.info("telegram: poll %s was closed or gone already: %s", external_id, exc.message)
        except TelegramError as exc:
            raise send_error_from(exc) from None

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

    async def answer(self, event: InboundMessage, text: str) -> None:
        """Show a short toast to the person who tapped the button (answerCallbackQuery)."""
        # A tap's external id is "cb:<callback query id>" (payloads._from_callback_query).
        query_id = event.external_id.removeprefix("cb:")
        if self._bot is None or query_id == event.external_id:
            return
        try:
            await self._bot.answer_callback_query(query_id, text=text[:200] or None)
        except TelegramError as exc:  # mostly "query is too old": the tap still counts
            log.info("telegram: answerCallbackQuery failed: %s", self._redact(exc))

    # Media and links ------------------------------------------------------------------------

    async def fetch_media(self, media: Media) -> FetchedMedia:
        """A received file (FetchesMedia): getFile, then the download; raises SendError."""
        if self._bot is None:
            raise SendError(SendErrorReason.CONNECTION, "the Telegram channel is not started")
        return await fetch_file(self._bot, media, self._max_media_bytes)

    def invite_link(self, code: str) -> str | None:
        """The bot's deep link (InvitesByLink): t.me/<bot>?start=<code>; the configured username,
        else the one Telegram told once connected; None before either is known."""
        username = self.settings.bot_username or (self._bot.username if self._ready_bot else "")
        return f"https://t.me/{username}?start={code}" if username else None

    @property
    def _ready_bot(self) -> bool:
        return self._bot is not None and self._not_ready is None

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
        data = webhook_json(body)
        return parse_update(data)
