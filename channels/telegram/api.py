"""The Bot API through python-telegram-bot: raw calls, and its errors as the SendError family."""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from telegram import (
    Bot,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import BaseRequest

from channels.base import (
    SendError,
    SendErrorReason,
)
from channels.capabilities import FetchedMedia, MediaTooLarge
from channels.events import Media

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput  # float | None | BaseRequest.DEFAULT_NONE


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


# What stopPoll answers for a poll already as the hub wants it: closed, or no longer there.
_POLL_DONE = ("poll has already been closed", "message with poll to stop not found")


def poll_already_done(exc: BadRequest) -> bool:
    """Whether stopPoll's refusal means the poll is closed already or its message is gone."""
    lowered = exc.message.lower()
    return any(words in lowered for words in _POLL_DONE)


class _Bot(Bot):
    """PTB's Bot, plus `call()`: a Bot API method with Telegram's JSON as the answer.

    sendMessage, sendPoll, stopPoll and getUpdates use it: building Message and Update objects is
    a third of the CPU of a send, parse_update reads the JSON anyway, and an answer PTB could not
    model (from a self-hosted Bot API server of another version; PTB 22.8 already marks fields of
    Poll as "temporarily optional") must not fail a send that went out, which the hub would then
    retry as a duplicate. Requests, timeouts and errors stay PTB's (`_post`, the hook its own
    ExtBot builds on).
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


def _file_id(message: Mapping[str, Any], field: str) -> str | None:
    """Telegram's id for the file in a sent message (a photo's largest size)."""
    sent = message.get(field)
    if field == "photo" and isinstance(sent, list) and sent:
        sent = sent[-1]
    return str(sent["file_id"]) if isinstance(sent, Mapping) and "file_id" in sent else None


async def fetch_file(bot: _Bot, media: Media, limit: int) -> FetchedMedia:
    """A received file by getFile and its download URL, refused over `limit` bytes (the size
    Telegram tells is checked before the download, the bytes received after it)."""
    if media.size is not None and media.size > limit:
        raise MediaTooLarge(media.size, limit)
    try:
        file = await bot.get_file(media.file_id)
        if file.file_size is not None and file.file_size > limit:
            raise MediaTooLarge(file.file_size, limit)
        data = await file.download_as_bytearray()
    except TelegramError as exc:
        raise send_error_from(exc) from None
    if len(data) > limit:
        raise MediaTooLarge(len(data), limit)
    guessed = mimetypes.guess_type(str(file.file_path or ""))[0]
    return FetchedMedia(bytes(data), media.mime_type or guessed or "application/octet-stream")
