"""The Telegram channel: python-telegram-bot 22's Bot over aiohttp, by long polling or webhook.

Addresses are chat ids as text (negative for groups); the platform's message ids are
"<chat id>:<message id>". The hub writes `*bold*`; Telegram gets HTML with everything else escaped.
The hub paces the bot as a whole with `messages_per_second`; this package paces each chat (one
message a second per private chat, `group_messages_per_minute` per group) and keeps a FloodGuard on
the wire so that delays between the hub's pacing and Telegram's count cannot trip the flood limit.

Telegram shows one keyboard per message: when an Outgoing has inline buttons and a phone button,
the inline buttons win and the phone button is left out (ask for the phone in its own message).

Files go by sendPhoto (JPEG and PNG up to 10 MB) or sendDocument, with the text as the caption
and the buttons under it. A file is uploaded once per process (multipart, streamed from disk);
Telegram's file_id for it, kept in memory by content hash, sends it to everyone else without
uploading it again. An edit of a message that is a file with a caption changes the caption.

An Outgoing with a poll goes as a native poll (sendPoll: regular, one answer, not anonymous, so
Telegram tells the bot who voted), its question and options cut to Telegram's 300 and 100
characters; SendResult.poll_id is the poll's id, which the votes (poll_answer updates) name.
A poll cannot be edited; close_poll() stops it (stopPoll).

The modules, by concern (as Courier's handlers/telegram): `channel` (the Channel: lifecycle,
sending, webhooks), `payloads` (updates into events), `api` (PTB's Bot and its errors as the
SendError family), `messages` (HTML, captions, polls, keyboards, ids), `pacing` (the flood guard
and the per-chat pace), `request` (PTB's BaseRequest on aiohttp).
"""

from channels.telegram.api import send_error_from
from channels.telegram.channel import PAID_BROADCAST_RATE, TelegramChannel
from channels.telegram.messages import fit_caption, to_telegram_html
from channels.telegram.pacing import FloodGuard
from channels.telegram.payloads import ALLOWED_UPDATES, NAME, SECRET_HEADER, parse_update

__all__ = [
    "ALLOWED_UPDATES",
    "NAME",
    "PAID_BROADCAST_RATE",
    "SECRET_HEADER",
    "FloodGuard",
    "TelegramChannel",
    "fit_caption",
    "parse_update",
    "send_error_from",
    "to_telegram_html",
]
