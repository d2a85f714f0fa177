"""The Telegram channel against a fake Bot API on loopback: parsing, sending, errors, pacing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from channels import (
    Button,
    ChannelEvent,
    ChannelEventKind,
    Event,
    InboundKind,
    InboundMessage,
    Location,
    Media,
    MediaKind,
    MediaTooLarge,
    Outgoing,
    PollAnswer,
    SendError,
    SendErrorReason,
    WebhookRejected,
    channel_class,
)
from channels.telegram import (
    ALLOWED_UPDATES,
    FloodGuard,
    TelegramChannel,
    parse_update,
    send_error_from,
    to_telegram_html,
)
from channels.telegram.api import _Bot
from channels.telegram.request import AiohttpRequest, redact_url
from hub.core.config import TelegramSection
from tests.fake_telegram import (
    BLOCKED,
    CHAT_NOT_FOUND,
    QUERY_TOO_OLD,
    SERVER_ERROR,
    TOKEN,
    FakeBotAPI,
    migrated,
    retry_after,
)
from tests.manual_time import ManualTime

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
SECRET = "webhook-secret-8d1f0c"
SITI = "5011223344"
BUDI = "5099887766"
SUPERGROUP = "-1002233445566"
D = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.UTC)  # `date` in the fixtures


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def after(seconds: int) -> dt.datetime:
    return D + dt.timedelta(seconds=seconds)


def message(external_id: str, **fields: Any) -> InboundMessage:
    """An InboundMessage from Siti's private chat unless fields say otherwise."""
    values: dict[str, Any] = {
        "channel": "telegram",
        "address": SITI,
        "external_id": external_id,
        "received_at": D,
        "sender": SITI,
        "sender_name": "Siti Rahmawati",
    }
    values.update(fields)
    return InboundMessage(**values)


def channel_event(address: str, kind: ChannelEventKind, at: dt.datetime, **payload: str) -> Event:
    return ChannelEvent("telegram", address, kind, at, payload)


# parse_update ----------------------------------------------------------------------------------

PARSE_CASES: list[tuple[str, str, list[Event]]] = [
    (
        "private text",
        "private_text",
        [message(f"{SITI}:101", text="Selamat pagi, Pak Lurah")],
    ),
    ("/start with a code", "start_with_code", [message(f"{SITI}:1", text="/start K7QF2M")]),
    (
        "reply to a bot message",
        "reply_to_bot_message",
        [message(f"{SITI}:102", text="Siap, warga RT 03 ikut", reply_to=f"{SITI}:40")],
    ),
    (
        "callback query",
        "callback_query",
        [
            message(
                "cb:4382917364501928374",
                received_at=ANY,
                kind=InboundKind.BUTTON,
                button_payload="ack:917",
                reply_to=f"{SITI}:40",
            )
        ],
    ),
    (
        "callback query in a group",
        "callback_query_in_group",
        [
            message(
                "cb:4382917364501928999",
                address=SUPERGROUP,
                sender=BUDI,
                sender_name="Budi",
                received_at=ANY,
                kind=InboundKind.BUTTON,
                button_payload="ack:918",
                reply_to=f"{SUPERGROUP}:77",
                in_group=True,
            )
        ],
    ),
    (
        "reaction",
        "message_reaction",
        [
            message(
                f"reaction:{SUPERGROUP}:77:{BUDI}:{int(after(60).timestamp())}",
                address=SUPERGROUP,
                sender=BUDI,
                sender_name="Budi",
                received_at=after(60),
                kind=InboundKind.REACTION,
                text="👍",
                reply_to=f"{SUPERGROUP}:77",
                in_group=True,
            )
        ],
    ),
    (
        "custom emoji added to a reaction",
        "message_reaction_custom_emoji",
        [
            message(
                f"reaction:{SUPERGROUP}:77:{SITI}:{int(after(61).timestamp())}",
                address=SUPERGROUP,
                received_at=after(61),
                kind=InboundKind.REACTION,
                text="5368324170671202286",
                reply_to=f"{SUPERGROUP}:77",
                in_group=True,
            )
        ],
    ),
    ("reaction removed", "message_reaction_removed", []),
    ("anonymous reaction", "message_reaction_anonymous", []),
    (
        "own contact",
        "own_contact",
        [message(f"{SITI}:103", kind=InboundKind.CONTACT, phone="+6281234567001")],
    ),
    (
        "own contact, formatted number",
        "own_contact_plus",
        [message(f"{SITI}:104", kind=InboundKind.CONTACT, phone="+6281234567001")],
    ),
    (
        "someone else's contact",
        "foreign_contact",
        [message(f"{SITI}:105", kind=InboundKind.FOREIGN_CONTACT)],
    ),
    (
        "contact without a Telegram user",
        "foreign_contact_no_user",
        [message(f"{SITI}:106", kind=InboundKind.FOREIGN_CONTACT)],
    ),
    (
        "photo with caption",
        "photo_with_caption",
        [
            message(
                f"{SITI}:107",
                kind=InboundKind.PHOTO,
                text="Selokan tersumbat di gang 4",
                media=Media(
                    MediaKind.PHOTO,
                    "AgACAgUAAxkBAAIBZ2YlargeAAQ",
                    mime_type="image/jpeg",
                    size=98213,
                    caption="Selokan tersumbat di gang 4",
                ),
            )
        ],
    ),
    (
        "voice",
        "voice",
        [
            message(
                f"{SITI}:108",
                kind=InboundKind.VOICE,
                media=Media(
                    MediaKind.VOICE,
                    "AwACAgUAAxkBAAIBaGYvoiceAAQ",
                    mime_type="audio/ogg",
                    size=28510,
                    duration=7,
                ),
            )
        ],
    ),
    (
        "document",
        "document",
        [
            message(
                f"{SITI}:109",
                kind=InboundKind.DOCUMENT,
                text="Daftar warga RT 03",
                media=Media(
                    MediaKind.DOCUMENT,
                    "BQACAgUAAxkBAAIBaWYdocAAQ",
                    mime_type="application/pdf",
                    size=254876,
                    file_name="warga_rt03.pdf",
                    caption="Daftar warga RT 03",
                ),
            )
        ],
    ),
    (
        "location",
        "location",
        [
            message(
                f"{SITI}:110",
                kind=InboundKind.LOCATION,
                location=Location(-0.502106, 117.153709),
            )
        ],
    ),
    ("sticker", "sticker", [message(f"{SITI}:111", kind=InboundKind.OTHER)]),
    (
        "group message replying to a broadcast",
        "group_message",
        [
            message(
                f"{SUPERGROUP}:5012",
                address=SUPERGROUP,
                sender=BUDI,
                sender_name="Budi",
                text="Pengumuman sudah saya teruskan ke warga",
                reply_to=f"{SUPERGROUP}:77",
                in_group=True,
                chat_title="Ketua RT Loa Bakung",
            )
        ],
    ),
    (
        "members joined a group",
        "group_new_members",
        [
            message(
                f"{SUPERGROUP}:5013",
                address=SUPERGROUP,
                sender=BUDI,
                sender_name="Budi",
                kind=InboundKind.OTHER,
                in_group=True,
                chat_title="Ketua RT Loa Bakung",
            )
        ],
    ),
    (
        "group upgraded to a supergroup",
        "migrate_to_chat_id",
        [channel_event("-4012345678", ChannelEventKind.GROUP_MIGRATED, D, new_address=SUPERGROUP)],
    ),
    ("the same migration seen from the supergroup", "migrate_from_chat_id", []),
    (
        "bot blocked",
        "my_chat_member_kicked",
        [channel_event(SITI, ChannelEventKind.BLOCKED, after(300))],
    ),
    (
        "bot unblocked",
        "my_chat_member_unblocked",
        [channel_event(SITI, ChannelEventKind.UNBLOCKED, after(900))],
    ),
    (
        "bot removed from a group",
        "my_chat_member_removed_from_group",
        [channel_event(SUPERGROUP, ChannelEventKind.REMOVED_FROM_GROUP, after(1200))],
    ),
    ("bot added to a group", "my_chat_member_added_to_group", []),
    (
        "poll answer",
        "poll_answer",
        [
            message(
                f"poll:5933294102837460993:{SITI}:1:900026",
                received_at=ANY,
                kind=InboundKind.POLL_ANSWER,
                reply_to="poll:5933294102837460993",
                poll_answer=PollAnswer("5933294102837460993", (1,), ("opt-2",)),
            )
        ],
    ),
    (
        "a vote taken back: no options",
        "poll_answer_retracted",
        [
            message(
                f"poll:5933294102837460993:{SITI}:-:900028",
                received_at=ANY,
                kind=InboundKind.POLL_ANSWER,
                reply_to="poll:5933294102837460993",
                poll_answer=PollAnswer("5933294102837460993", (), ()),
            )
        ],
    ),
    (
        # The update names no chat: the address is the voter's own (their private chat with the
        # bot); the hub finds the group by the poll's id.
        "a vote on a poll in a group",
        "poll_answer_in_group",
        [
            message(
                f"poll:5933294102837461207:{BUDI}:0:900029",
                address=BUDI,
                sender=BUDI,
                sender_name="Budi",
                received_at=ANY,
                kind=InboundKind.POLL_ANSWER,
                reply_to="poll:5933294102837461207",
                poll_answer=PollAnswer("5933294102837461207", (0,), ("opt-1",)),
            )
        ],
    ),
    ("poll answered as a chat", "poll_answer_anonymous_chat", []),
    (
        "a date out of datetime's range: taken as the time of receipt",
        "date_out_of_range",
        [message(f"{SITI}:112", text="Tanggalnya aneh", received_at=ANY)],
    ),
    ("edited message (not used)", "edited_message", []),
    ("chat member update (not used)", "chat_member", []),
]


@pytest.mark.parametrize(
    ("label", "name", "expected"), PARSE_CASES, ids=[case[0] for case in PARSE_CASES]
)
def test_parse_update(label: str, name: str, expected: list[Event]) -> None:
    assert parse_update(fixture(name)) == expected


def test_every_fixture_is_in_the_case_table() -> None:
    assert {path.stem for path in FIXTURES.glob("*.json")} == {case[1] for case in PARSE_CASES}


@pytest.mark.parametrize(
    "update",
    [{}, {"update_id": 1, "message": {"chat": {}}}, {"update_id": 2, "message_reaction": []}],
)
def test_malformed_updates_are_dropped(update: dict[str, Any]) -> None:
    assert parse_update(update) == []


@pytest.mark.parametrize("date", [10**20, -(10**20), 253402300800, float("inf"), "kemarin"])
def test_a_date_no_datetime_holds_is_the_time_of_receipt(
    date: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Telegram's dates are Unix seconds; one beyond year 9999 (or not a number) is not Telegram's,
    # and the update is taken as received now, as WhatsApp's timestamps are, never a 5xx.
    received = D + dt.timedelta(days=3)
    monkeypatch.setattr("channels.telegram.payloads._now", lambda: received)
    text = fixture("private_text")
    text["message"]["date"] = date
    reaction = fixture("message_reaction")
    reaction["message_reaction"]["date"] = date
    blocked = fixture("my_chat_member_kicked")
    blocked["my_chat_member"]["date"] = date
    [message_event] = parse_update(text)
    [reaction_event] = parse_update(reaction)
    [blocked_event] = parse_update(blocked)
    assert isinstance(message_event, InboundMessage) and isinstance(reaction_event, InboundMessage)
    assert isinstance(blocked_event, ChannelEvent)
    assert message_event.received_at == reaction_event.received_at == received
    assert blocked_event.at == received


# Text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("📢 *Kerja bakti*\n\nMinggu", "📢 <b>Kerja bakti</b>\n\nMinggu"),
        ("*a* dan *b*", "<b>a</b> dan <b>b</b>"),
        ("Harga <5 & >3", "Harga &lt;5 &amp; &gt;3"),
        ("*<script>*", "<b>&lt;script&gt;</b>"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("*tidak ditutup", "*tidak ditutup"),
        ("**", "**"),
        ("*baris\nbaru*", "*baris\nbaru*"),
        ("\"kutip\" 'aja'", "\"kutip\" 'aja'"),
    ],
)
def test_to_telegram_html(text: str, html: str) -> None:
    assert to_telegram_html(text) == html


# Fixtures ---------------------------------------------------------------------------------------


class Sink:
    """Records what the channel reports; `fail` makes the next calls raise."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail = 0

    async def __call__(self, events: list[Event]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is down")
        self.events.extend(events)


OpenChannel = Callable[..., Awaitable[TelegramChannel]]


@pytest_asyncio.fixture
async def open_channel(bot_api: FakeBotAPI) -> AsyncIterator[OpenChannel]:
    """Start a channel on the fake (webhook mode unless told); stopped after the test."""
    opened: list[TelegramChannel] = []

    async def open_(
        sink: Sink | None = None, channel_kwargs: Any = None, **values: Any
    ) -> TelegramChannel:
        settings = {
            "enabled": True,
            "mode": "webhook",
            "api_base_url": bot_api.url,
            "token": TOKEN,
            "webhook_secret": SECRET,
        }
        settings.update(values)
        kwargs = {"retry_delays": (0.05, 0.2), **(channel_kwargs or {})}
        channel = TelegramChannel(
            TelegramSection(**settings),
            sink or Sink(),
            public_url="https://balai.example.id/",
            **kwargs,
        )
        opened.append(channel)
        await channel.start()
        return channel

    yield open_
    for channel in opened:
        await channel.stop()


async def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def out(address: str = SITI, text: str = "Halo", **fields: Any) -> Outgoing:
    return Outgoing(key="1", address=address, text=text, **fields)


# Sending ----------------------------------------------------------------------------------------


def test_registered_under_its_name() -> None:
    assert channel_class("telegram") is TelegramChannel
    assert TelegramChannel.can_edit is True


async def test_send_text_as_html(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    assert await channel.ready() is None
    first = await channel.send(out(text="📢 *Rapat RT*\nBawa <KTP> & KK"))
    second = await channel.send(out(address="5099887766"))
    assert first.external_id == f"{SITI}:1"
    assert second.external_id == "5099887766:1"
    sent = bot_api.calls_to("sendMessage")[0]
    assert sent["chat_id"] == int(SITI)
    assert sent["text"] == "📢 <b>Rapat RT</b>\nBawa &lt;KTP&gt; &amp; KK"
    assert sent["parse_mode"] == "HTML"
    assert "reply_markup" not in sent
    assert "allow_paid_broadcast" not in sent
    assert channel.messages_per_second == 30


async def test_inline_buttons_one_per_row(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    buttons = (Button("Sudah dibaca ✅", "ack:917"), Button("Tanya", "ask:917"))
    await channel.send(out(buttons=buttons, phone_button="Bagikan nomor"))
    assert bot_api.calls_to("sendMessage")[0]["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Sudah dibaca ✅", "callback_data": "ack:917"}],
            [{"text": "Tanya", "callback_data": "ask:917"}],
        ]
    }


@pytest.mark.parametrize("payload", ["x" * 65, "é" * 33, ""])
async def test_button_payload_telegram_cannot_carry_is_rejected(
    bot_api: FakeBotAPI, open_channel: OpenChannel, payload: str
) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send(out(buttons=(Button("OK", payload),)))
    assert caught.value.reason == SendErrorReason.REJECTED
    assert not caught.value.retryable
    assert bot_api.calls_to("sendMessage") == []


async def test_phone_button(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    await channel.send(out(text="Bagikan nomor Anda", phone_button="📱 Bagikan nomor saya"))
    assert bot_api.calls_to("sendMessage")[0]["reply_markup"] == {
        "keyboard": [[{"text": "📱 Bagikan nomor saya", "request_contact": True}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }


async def test_reply_to_a_message_of_the_same_chat(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel(channel_kwargs={"private_chat_window": 0.01})
    await channel.send(out(reply_to=f"{SITI}:40"))
    await channel.send(out(reply_to="777:40"))  # another chat's message: sent without reply
    first, second = bot_api.calls_to("sendMessage")
    assert first["reply_parameters"] == {"message_id": 40, "allow_sending_without_reply": True}
    assert "reply_parameters" not in second


async def test_edit_in_place(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel(channel_kwargs={"private_chat_window": 0.01})
    sent = await channel.send(out(text="*Rapat*", buttons=(Button("Sudah dibaca", "ack:1"),)))
    edited = await channel.send(out(text="*Rapat*\n✅ Sudah dibaca", edit_of=sent.external_id))
    again = await channel.send(out(text="*Rapat*\n✅ Sudah dibaca", edit_of=sent.external_id))
    assert edited.external_id == again.external_id == sent.external_id
    first, second = bot_api.calls_to("editMessageText")
    assert first == {
        "chat_id": int(SITI),
        "message_id": 1,
        "text": "<b>Rapat</b>\n✅ Sudah dibaca",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": []},  # the button goes away
    }
    assert second == first  # "message is not modified" counted as done


async def test_edit_of_a_message_that_does_not_exist(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send(out(text="x", edit_of=f"{SITI}:999"))
    assert caught.value.reason == SendErrorReason.REJECTED
    assert "message to edit not found" in caught.value.detail.lower()


async def test_paid_broadcast(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel(paid_broadcast=True)
    await channel.send(out())
    assert bot_api.calls_to("sendMessage")[0]["allow_paid_broadcast"] is True
    assert channel.messages_per_second == 1000


# Send errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "reason", "retryable", "detail"),
    [
        (retry_after(7), SendErrorReason.THROTTLED, True, "flood"),
        (BLOCKED, SendErrorReason.BLOCKED, False, "blocked by the user"),
        (
            (403, "Forbidden: user is deactivated", None),
            SendErrorReason.BLOCKED,
            False,
            "deactivated",
        ),
        (CHAT_NOT_FOUND, SendErrorReason.UNKNOWN_RECIPIENT, False, "chat not found"),
        (
            (400, "Bad Request: can't parse entities: unsupported start tag", None),
            SendErrorReason.REJECTED,
            False,
            "can't parse entities",
        ),
        (SERVER_ERROR, SendErrorReason.CONNECTION, True, "internal server error"),
    ],
)
async def test_send_errors(
    bot_api: FakeBotAPI,
    open_channel: OpenChannel,
    failure: tuple[int, str, dict[str, Any] | None],
    reason: SendErrorReason,
    retryable: bool,
    detail: str,
) -> None:
    channel = await open_channel()
    bot_api.fail(*failure, chat_id=int(SITI))
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == reason
    assert caught.value.retryable is retryable
    assert detail in caught.value.detail.lower()
    if reason == SendErrorReason.THROTTLED:
        assert caught.value.retry_after == 7
        assert not caught.value.held  # Telegram's own 429 is an attempt, unlike our pacing


async def test_wrong_token_is_bad_config(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    bot_api.token = "987654321:AAOtherTokenSetOnTheServer"  # the bot's token was revoked
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.BAD_CONFIG
    assert caught.value.retryable


async def test_unreachable_api_is_a_connection_error(
    bot_api: FakeBotAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await open_channel()
    await bot_api.stop()
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.CONNECTION
    assert caught.value.retryable
    assert TOKEN not in str(caught.value)


async def test_group_migration_is_followed(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    sink = Sink()
    channel = await open_channel(sink)
    bot_api.fail(*migrated(int(SUPERGROUP)), chat_id=-4012345678)
    result = await channel.send(out(address="-4012345678", text="Rapat"))
    assert result.external_id == f"{SUPERGROUP}:1"
    assert [call["chat_id"] for call in bot_api.calls_to("sendMessage")] == [
        -4012345678,
        int(SUPERGROUP),
    ]
    assert sink.events == [
        ChannelEvent(
            "telegram",
            "-4012345678",
            ChannelEventKind.GROUP_MIGRATED,
            ANY,
            {"new_address": SUPERGROUP},
        )
    ]


@pytest.mark.parametrize(
    ("exc", "reason", "retryable"),
    [
        (RetryAfter(dt.timedelta(seconds=3)), SendErrorReason.THROTTLED, True),
        (
            Forbidden("Forbidden: bot was kicked from the group chat"),
            SendErrorReason.BLOCKED,
            False,
        ),
        (BadRequest("Bad Request: chat not found"), SendErrorReason.UNKNOWN_RECIPIENT, False),
        (BadRequest("Bad Request: message is too long"), SendErrorReason.REJECTED, False),
        (InvalidToken(f"The token `{TOKEN}` was rejected"), SendErrorReason.BAD_CONFIG, True),
        (TimedOut(), SendErrorReason.CONNECTION, True),
        (NetworkError("Bad Gateway"), SendErrorReason.CONNECTION, True),
        (Conflict("Conflict: terminated by other getUpdates"), SendErrorReason.CONNECTION, True),
        (ChatMigrated(-100123), SendErrorReason.UNKNOWN_RECIPIENT, False),
    ],
)
def test_send_error_from(exc: Any, reason: SendErrorReason, retryable: bool) -> None:
    error = send_error_from(exc)
    assert (error.reason, error.retryable) == (reason, retryable)
    assert TOKEN not in str(error)
    if reason == SendErrorReason.THROTTLED:
        assert error.retry_after == 3


async def test_send_before_start_is_a_connection_error(bot_api: FakeBotAPI) -> None:
    channel = TelegramChannel(TelegramSection(api_base_url=bot_api.url, token=TOKEN), Sink())
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.CONNECTION
    assert await channel.ready() == "not started"


# Received files (FetchesMedia) ------------------------------------------------------------------


@pytest.mark.parametrize("told_size", [-1, None, 10], ids=["told", "not told", "told wrong"])
async def test_fetch_media_refuses_a_file_over_the_limit(
    open_channel: OpenChannel, bot_api: FakeBotAPI, told_size: int | None
) -> None:
    """Over the limit by the size getFile tells (nothing downloaded), or by the bytes that came
    when it tells none or a wrong one (Telegram lets bots download 20 MB at most): MediaTooLarge."""
    channel = await open_channel(channel_kwargs={"max_media_bytes": 1000})
    data = b"x" * 1001
    file_id = bot_api.add_file(data, "audio/ogg", "voice.oga", told_size=told_size)
    with pytest.raises(MediaTooLarge) as caught:
        await channel.fetch_media(Media(MediaKind.VOICE, file_id))
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.REJECTED, False)
    small = bot_api.add_file(b"OggS voice", "audio/ogg", "voice.oga")
    fetched = await channel.fetch_media(Media(MediaKind.VOICE, small, "audio/ogg"))
    assert (fetched.data, fetched.mime_type) == (b"OggS voice", "audio/ogg")
    assert [c["file_id"] for c in bot_api.calls_to("getFile")][-1] == small


async def test_fetch_media_before_start_is_a_connection_error(bot_api: FakeBotAPI) -> None:
    channel = TelegramChannel(TelegramSection(api_base_url=bot_api.url, token=TOKEN), Sink())
    with pytest.raises(SendError) as caught:
        await channel.fetch_media(Media(MediaKind.PHOTO, "AgAC"))
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.CONNECTION, True)


async def test_address_that_is_not_a_chat_id(open_channel: OpenChannel) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send(out(address="+6281234567001x"))
    assert caught.value.reason == SendErrorReason.UNKNOWN_RECIPIENT


# Button answers ---------------------------------------------------------------------------------


async def test_answer_a_button_tap(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    [tap] = parse_update(fixture("callback_query"))
    assert isinstance(tap, InboundMessage)
    await channel.answer(tap, "Terima kasih, tercatat ✅")
    bot_api.fail(*QUERY_TOO_OLD, method="answerCallbackQuery")
    await channel.answer(tap, "Terima kasih")  # too old: logged, not raised
    assert bot_api.calls_to("answerCallbackQuery") == [
        {"callback_query_id": "4382917364501928374", "text": "Terima kasih, tercatat ✅"},
        {"callback_query_id": "4382917364501928374", "text": "Terima kasih"},
    ]


# Webhooks ---------------------------------------------------------------------------------------


def webhook_channel() -> TelegramChannel:
    return TelegramChannel(TelegramSection(token=TOKEN, webhook_secret=SECRET), Sink())


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Telegram-Bot-Api-Secret-Token": SECRET},
        {"x-telegram-bot-api-secret-token": SECRET},
    ],
)
def test_verify_accepts_the_secret(headers: dict[str, str]) -> None:
    webhook_channel().verify(headers, b"{}")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        {"X-Telegram-Bot-Api-Secret-Token": ""},
        {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
    ],
)
def test_verify_refuses_a_wrong_or_missing_secret(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        webhook_channel().verify(headers, b"{}")
    assert caught.value.status == 403


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_parse_webhook_refuses_what_is_not_an_object(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        webhook_channel().parse_webhook(body)
    assert caught.value.status == 400


def test_parse_webhook() -> None:
    channel = webhook_channel()
    assert channel.parse_webhook(json.dumps(fixture("edited_message")).encode()) == []
    events = channel.parse_webhook(json.dumps(fixture("private_text")).encode())
    assert [e.external_id for e in events if isinstance(e, InboundMessage)] == [f"{SITI}:101"]


async def test_webhook_mode_sets_the_webhook(
    bot_api: FakeBotAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # PTB logs URLs and parameters at DEBUG
    channel = await open_channel()
    assert await channel.ready() is None
    assert bot_api.webhook["url"] == "https://balai.example.id/webhooks/telegram"
    assert bot_api.webhook["secret_token"] == SECRET
    assert {"message", "callback_query", "message_reaction", "chat_member", "poll_answer"} <= set(
        bot_api.webhook["allowed_updates"]
    )
    assert bot_api.calls_to("getUpdates") == []
    assert "setWebhook" in caplog.text
    assert SECRET not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


# Polling ----------------------------------------------------------------------------------------


async def test_polling_end_to_end(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    bot_api.webhook = {"url": "https://old.example.id/hook"}  # left over: polling must remove it
    bot_api.push_update(fixture("private_text"))
    bot_api.push_update(fixture("voice"))
    ignored_id = bot_api.push_update(fixture("edited_message"))  # unused: confirmed all the same
    sink = Sink()
    channel = await open_channel(sink, mode="polling")
    await eventually(lambda: len(sink.events) == 2)
    assert [e.external_id for e in sink.events if isinstance(e, InboundMessage)] == [
        f"{SITI}:101",
        f"{SITI}:108",
    ]
    await eventually(lambda: bot_api.updates == [])  # the next getUpdates confirmed them
    polls = bot_api.calls_to("getUpdates")
    assert polls[0]["allowed_updates"] == list(ALLOWED_UPDATES)
    assert polls[0]["timeout"] == 25
    assert polls[-1]["offset"] == ignored_id + 1
    assert bot_api.calls_to("deleteWebhook")
    await channel.stop()

    later = Sink()
    bot_api.push_update(fixture("location"))
    await open_channel(later, mode="polling")
    await eventually(lambda: len(later.events) == 1)
    await asyncio.sleep(0.1)
    assert [e.external_id for e in later.events if isinstance(e, InboundMessage)] == [f"{SITI}:110"]
    assert len(sink.events) == 2


async def test_polled_update_is_read_again_when_the_hub_fails_to_take_it(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    sink = Sink()
    sink.fail = 2
    bot_api.push_update(fixture("private_text"))
    await open_channel(sink, mode="polling")
    await eventually(lambda: len(sink.events) == 1)
    offsets = [call.get("offset") for call in bot_api.calls_to("getUpdates")]
    assert offsets[:3] == [None, None, None]  # not confirmed while the sink failed


async def test_conflict_while_polling_is_logged(
    bot_api: FakeBotAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await open_channel(mode="polling")
    bot_api.webhook = {"url": "https://someone-else.example.id/hook"}
    await eventually(lambda: "only one hub may poll a bot" in caplog.text)
    assert await channel.ready() is None


# Start, commands, readiness ---------------------------------------------------------------------


async def test_start_with_a_bad_token_keeps_the_hub_alive(
    bot_api: FakeBotAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot_api.token = "987654321:AAOtherTokenSetOnTheServer"
    channel = await open_channel(mode="polling")
    assert await channel.ready() == "Telegram rejected the bot token"
    await eventually(lambda: len(bot_api.calls) >= 3)  # still retrying, in the background
    assert "rejected the bot token" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


async def test_start_retries_until_telegram_answers(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    bot_api.fail(*SERVER_ERROR, method="getMe", times=2)
    channel = await open_channel(channel_kwargs={"start_wait": 0.01})
    assert await channel.ready() is not None
    await eventually(lambda: bot_api.webhook != {})
    assert await channel.ready() is None
    assert len(bot_api.calls_to("getMe")) == 3


async def test_commands_are_published(bot_api: FakeBotAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    await channel.publish_commands([("/bantuan", "Daftar perintah"), ("berhenti", "Berhenti")])
    assert bot_api.calls_to("setMyCommands") == [
        {
            "commands": [
                {"command": "bantuan", "description": "Daftar perintah"},
                {"command": "berhenti", "description": "Berhenti"},
            ]
        }
    ]


async def test_set_my_commands_failure_is_tolerated(
    bot_api: FakeBotAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await open_channel()
    bot_api.fail(*SERVER_ERROR, method="setMyCommands")
    await channel.publish_commands([("bantuan", "Daftar perintah")])
    assert "setMyCommands failed" in caplog.text
    assert await channel.ready() is None


async def test_commands_given_before_connecting_are_published_once_connected(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    bot_api.fail(*SERVER_ERROR, method="getMe")
    channel = await open_channel(channel_kwargs={"start_wait": 0.01})
    await channel.publish_commands([("bantuan", "Daftar perintah")])
    await eventually(lambda: len(bot_api.calls_to("setMyCommands")) == 1)


# Per-chat pacing --------------------------------------------------------------------------------
# The pacing runs on a clock of the test's own (tests/manual_time.py); timing goals live in
# bench/telegram_send.py.


def paced_by(time: ManualTime) -> dict[str, Any]:
    """channel_kwargs for a channel whose pacing and flood guard run on `time`."""
    return {"clock": time, "sleep": time.sleep}


def leave_times(monkeypatch: pytest.MonkeyPatch, time: ManualTime) -> list[tuple[str, float]]:
    """(method, time) of each Bot API call the channel lets leave, as `time` tells it."""
    left: list[tuple[str, float]] = []
    original = _Bot.call

    async def call(self: _Bot, method: str, parameters: dict[str, Any], **kwargs: Any) -> Any:
        left.append((method, time()))  # past the pacing and the flood guard: it leaves now
        return await original(self, method, parameters, **kwargs)

    monkeypatch.setattr(_Bot, "call", call)
    return left


def most_in_any_second(times: list[float]) -> int:
    """The largest number of `times` within any one-second span (sliding, as Telegram counts)."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered[i:] if t - start < 1.0) for i, start in enumerate(ordered))


async def test_two_sends_to_one_private_chat_are_a_second_apart(
    open_channel: OpenChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    time = ManualTime(autojump=True)
    left = leave_times(monkeypatch, time)
    channel = await open_channel(channel_kwargs=paced_by(time))
    await asyncio.gather(channel.send(out(text="satu")), channel.send(out(text="dua")))
    first, second = (at for method, at in left if method == "sendMessage")
    assert second - first >= 1.0


async def test_a_chat_too_far_behind_is_throttled(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    time = ManualTime()
    channel = await open_channel(
        channel_kwargs={"private_chat_window": 0.3, "max_chat_wait": 0.45, **paced_by(time)}
    )
    sends = [asyncio.create_task(channel.send(out(text=str(i)))) for i in range(3)]
    # The first goes, the second waits for the chat's turn, the third would wait too long.
    await eventually(lambda: time.sleeping == 1 and sends[2].done())
    error = sends[2].exception()
    assert isinstance(error, SendError)
    assert error.reason == SendErrorReason.THROTTLED and error.held
    # Its turn comes after the second's: two windows of 0.3 s and their 1 % margin.
    assert error.retry_after == pytest.approx(2 * 0.303)
    # Other chats are not held up by this one: the send goes with no wait while the second
    # still waits (a wait would never end: the clock stands still).
    await asyncio.wait_for(channel.send(out(address=BUDI)), 10)
    assert time.sleeps == [pytest.approx(0.303)]
    assert not sends[1].done()
    time.advance(0.303)
    results = await asyncio.gather(*sends[:2])
    assert [type(r).__name__ for r in results] == ["SendResult", "SendResult"]
    # The held third never went out.
    assert sorted(c["chat_id"] for c in bot_api.calls_to("sendMessage")) == sorted(
        [int(SITI), int(SITI), int(BUDI)]
    )


async def test_group_chats_get_their_messages_per_minute(
    bot_api: FakeBotAPI, open_channel: OpenChannel
) -> None:
    time = ManualTime()
    channel = await open_channel(group_messages_per_minute=2, channel_kwargs=paced_by(time))
    await channel.send(out(address=SUPERGROUP))
    time.advance(10)
    await channel.send(out(address=SUPERGROUP))
    with pytest.raises(SendError) as caught:
        await channel.send(out(address=SUPERGROUP))
    assert caught.value.reason == SendErrorReason.THROTTLED
    assert caught.value.held  # our pacing held it back: the hub sends it at the group's turn
    # The group's turn: a minute (and its 1 % margin) after the first post.
    assert caught.value.retry_after == pytest.approx(60.6 - 10)
    assert len(bot_api.calls_to("sendMessage")) == 2
    assert time.sleeps == []


async def test_idle_chats_are_forgotten(open_channel: OpenChannel) -> None:
    time = ManualTime()
    channel = await open_channel(channel_kwargs=paced_by(time))
    for address in (SITI, BUDI, SUPERGROUP):
        await channel.send(out(address=address))
    assert len(channel._chat_pace.chats) == 3
    channel._chat_pace.forget_idle(time.now + 30)
    assert len(channel._chat_pace.chats) == 3
    channel._chat_pace.forget_idle(time.now + 62)
    assert channel._chat_pace.chats == {}


# The flood guard --------------------------------------------------------------------------------


async def test_flood_guard_counts_a_request_until_a_window_after_telegram_counted_it() -> None:
    time = ManualTime(autojump=True)
    guard = FloodGuard(2, window=0.2, clock=time, sleep=time.sleep)
    started = time.now
    async with guard.request():
        # A slow answer (0.1 s, the fastest round trip so far): Telegram counted it at the
        # latest half of it before the answer came back, and its window starts there.
        await time.sleep(0.1)
    async with guard.request():
        pass  # an instant answer: counted when it came back
    async with guard.request():  # the third waits for the first one's window to pass
        waited = time.now - started
    assert waited == pytest.approx(0.05 + 0.2)


async def test_flood_guard_waits_for_an_answer_when_all_are_in_flight() -> None:
    guard = FloodGuard(1, window=0.05)
    order: list[str] = []

    async def slow() -> None:
        async with guard.request():
            await asyncio.sleep(0.1)
            order.append("first answered")

    async def next_one() -> None:
        await asyncio.sleep(0.01)
        async with guard.request():
            order.append("second left")

    await asyncio.gather(slow(), next_one())
    assert order == ["first answered", "second left"]


async def test_bursts_stay_within_a_strict_limit(
    open_channel: OpenChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """15 sends at once to a bot allowed 10 a second: none answered 429, the rest waits.

    The channel and the strict fake share the test's clock; a request's way to the fake takes no
    time on it, however slow the machine, unless the flood guard slept meanwhile (then it arrives
    late, as on a slow network). The guard must keep Telegram's count within the limit either way.
    """
    time = ManualTime(autojump=True)
    left = leave_times(monkeypatch, time)
    strict = FakeBotAPI(strict_rate=10, clock=time)
    await strict.start()
    try:
        channel = await open_channel(
            api_base_url=strict.url, messages_per_second=10, channel_kwargs=paced_by(time)
        )
        results = await asyncio.gather(
            *(channel.send(out(address=str(1000 + i))) for i in range(15))
        )
        assert len(results) == 15
        assert strict.answered_429 == 0
        assert strict.sent == 15
        sent_at = [at for method, at in left if method == "sendMessage"]
        assert len(sent_at) == 15
        assert most_in_any_second(sent_at) == 10  # a full second's worth at once, never more
        arrived = [call.at for call in strict.calls if call.method == "sendMessage"]
        assert most_in_any_second(arrived) <= 10
    finally:
        await strict.stop()


# The HTTP layer ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def echo_server() -> AsyncIterator[TestServer]:
    async def echo(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            return web.json_response({"ok": True, "result": await request.json()})
        form = await request.post()
        fields = {
            k: v if isinstance(v, str) else f"file:{v.filename}:{v.file.read().decode()}"
            for k, v in form.items()
        }
        return web.json_response({"ok": True, "result": fields})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/slow", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_request_posts_json_and_multipart(echo_server: TestServer) -> None:
    from telegram import InputFile

    request = AiohttpRequest()
    await request.initialize()
    try:
        form = RequestData(
            [RequestParameter.from_input("chat_id", 5), RequestParameter.from_input("text", "a&b")]
        )
        status, body = await request.do_request(str(echo_server.make_url("/echo")), "POST", form)
        assert (status, json.loads(body)["result"]) == (200, {"chat_id": 5, "text": "a&b"})
        upload = RequestData(
            [
                RequestParameter.from_input("chat_id", 5),
                RequestParameter.from_input("document", InputFile(b"isi", filename="a.txt")),
            ]
        )
        status, body = await request.do_request(str(echo_server.make_url("/echo")), "POST", upload)
        assert json.loads(body)["result"] == {"chat_id": "5", "document": "file:a.txt:isi"}
    finally:
        await request.shutdown()


async def test_request_timeouts_and_connection_errors(echo_server: TestServer) -> None:
    request = AiohttpRequest(read_timeout=0.1)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(str(echo_server.make_url("/slow")), "POST")
        with pytest.raises(NetworkError) as caught:
            await request.do_request(f"http://127.0.0.1:1/bot{TOKEN}/getMe", "POST")
        assert TOKEN not in str(caught.value)
    finally:
        await request.shutdown()
    with pytest.raises(RuntimeError):
        await request.do_request(str(echo_server.make_url("/echo")), "POST")


def test_redact_url() -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert (
        redact_url(f"error at {url}") == "error at https://api.telegram.org/bot<token>/sendMessage"
    )
    assert TOKEN not in redact_url(f"https://api.telegram.org/file/bot{TOKEN}/photos/1.jpg")
