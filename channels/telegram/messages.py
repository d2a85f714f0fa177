"""What a message looks like on Telegram: the hub's text as HTML, captions, keyboards, ids."""

from __future__ import annotations

import html
import re
from typing import Any

from channels.base import (
    Outgoing,
    OutgoingPoll,
    SendError,
    SendErrorReason,
)

CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's cap on callback_data
CAPTION_LIMIT = 1024  # characters of a photo's or document's caption
POLL_QUESTION_LIMIT = 300  # characters of a poll's question
POLL_OPTION_LIMIT = 100  # characters of each of a poll's options


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


def fit_text(text: str, limit: int) -> str:
    """`text` (stripped) within `limit` UTF-16 code units, as Telegram counts, cut with an
    ellipsis; cut between characters, never inside an emoji's surrogate pair."""
    text = text.strip()
    if _utf16(text) <= limit:
        return text
    cut = text[: limit - 1]
    while _utf16(cut) > limit - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


# Polls --------------------------------------------------------------------------------------


def _poll_parameters(poll: OutgoingPoll) -> dict[str, Any]:
    """sendPoll's parameters for the poll: regular, one answer, votes named; the question and
    options cut to what Telegram takes (it refuses longer ones)."""
    options = [fit_text(option, POLL_OPTION_LIMIT) for option in poll.options]
    if len(set(options)) < len(options):  # cut to the same words: numbers tell them apart
        options = [fit_text(f"{n}. {o}", POLL_OPTION_LIMIT) for n, o in enumerate(poll.options, 1)]
    return {
        # A question shows no formatting: the hub's *bold* markup is dropped, not shown.
        "question": fit_text(_BOLD.sub(r"\1", poll.question), POLL_QUESTION_LIMIT),
        "options": [{"text": option} for option in options],  # InputPollOption
        # Only a poll whose votes are named sends the bot its answers (poll_answer updates).
        "is_anonymous": False,
        "type": "regular",
        "allows_multiple_answers": False,
    }


# Ids and keyboards --------------------------------------------------------------------------


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
