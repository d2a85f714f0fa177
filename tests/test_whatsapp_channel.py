"""The WhatsApp channel against a fake Graph API on loopback: webhooks, sending, errors, media."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from channels import (
    Button,
    Event,
    InboundKind,
    InboundMessage,
    Location,
    Media,
    MediaKind,
    Outgoing,
    SendError,
    SendErrorReason,
    StatusKind,
    StatusUpdate,
    WebhookRejected,
    channel_class,
)
from channels.whatsapp import (
    MAX_MEDIA_BYTES,
    SPAM_PAUSED,
    MediaTooLarge,
    WhatsAppChannel,
    send_error_from,
    template_parameters,
)
from hub.core.config import WhatsAppSection
from tests.fake_graph import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    VERSION,
    FakeGraphAPI,
    error_body,
    sign,
    signed_webhook,
    status_notification,
    text_notification,
)
from tests.fake_graph import status as status_entry

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
SITI = "+6281234567001"
BUDI = "+6281234567003"
AHMAD = "+6281234567005"
NAMES = {SITI: "Siti Rahmawati", BUDI: "Budi Hidayat", AHMAD: "Ahmad Fauzi"}
# Messages the hub sent, as the fixtures refer to them.
OUR1 = "wamid.HBgNNjI4MTIzNDU2NzAwMRUCABEYEkIzQTk0RjE3QzVEMjhBMDAwAA=="
OUR2 = "wamid.HBgNNjI4MTIzNDU2NzAwMxUCABEYEkU1RDI4QTYxQjA5QzNGNzIwAA=="
OUR3 = "wamid.HBgNNjI4MTIzNDU2NzAwNRUCABEYEjdDMUU5QjQ0RjIwQTZEOEUwAA=="
BSUID = "ID.1502576394655843"
T0 = dt.datetime(2026, 1, 1, 7, 0, tzinfo=dt.UTC)  # `timestamp` 1767250800 in the fixtures
NOW = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)  # the channel's clock in the send tests
RECENT = NOW - dt.timedelta(hours=1)  # the person wrote an hour ago: the window is open


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def inbound(n: int, who: str) -> str:
    """The wamid of the fixtures' n-th inbound message (they are numbered per file)."""
    return f"wamid.HBgNNjI4MTIzNDU2NzAw{who[-1]}RUCABIYFjNFQjBBN0Y{n:02d}QzJEOUU4RjRBMUI2AA=="


def message(n: int, who: str = SITI, seconds: int = 0, **fields: Any) -> InboundMessage:
    """An InboundMessage from `who` (Siti unless told), with the fixtures' conventions."""
    values: dict[str, Any] = {
        "channel": "whatsapp",
        "address": who,
        "external_id": inbound(n, who),
        "received_at": at(seconds),
        "sender_name": NAMES[who],
        "phone": who,
    }
    values.update(fields)
    return InboundMessage(**values)


def receipt(
    wamid: str,
    status: StatusKind,
    seconds: int,
    reason: str = "",
    *,
    recipient_unreachable: bool = False,
) -> StatusUpdate:
    return StatusUpdate(
        "whatsapp",
        wamid,
        status,
        at(seconds),
        "receipt",
        reason,
        recipient_unreachable=recipient_unreachable,
    )


# parse_webhook ---------------------------------------------------------------------------------

PARSE_CASES: list[tuple[str, str, list[Event]]] = [
    (
        "text",
        "text",
        [message(1, text="Selamat pagi, Pak Lurah. Pengumuman kerja bakti sudah saya terima.")],
    ),
    (
        "reply to our message",
        "reply_context",
        [message(2, seconds=60, text="Siap, warga RT 03 ikut", reply_to=OUR1)],
    ),
    (
        "reply button tapped",
        "button_reply",
        [
            message(
                3,
                seconds=120,
                kind=InboundKind.BUTTON,
                text="Sudah dibaca",
                button_payload="ack:917",
                reply_to=OUR1,
            )
        ],
    ),
    (
        "list row chosen",
        "list_reply",
        [
            message(
                4,
                AHMAD,
                180,
                kind=InboundKind.BUTTON,
                text="Kirim aduan",
                button_payload="menu:aduan",
                reply_to=OUR3,
            )
        ],
    ),
    (
        "template quick-reply button",
        "template_button",
        [
            message(
                5,
                BUDI,
                240,
                kind=InboundKind.BUTTON,
                text="Sudah dibaca",
                button_payload="ack:918",
                reply_to=OUR2,
            )
        ],
    ),
    (
        "image with caption",
        "image_caption",
        [
            message(
                6,
                seconds=300,
                kind=InboundKind.PHOTO,
                text="Selokan tersumbat di gang 4",
                media=Media(
                    MediaKind.PHOTO,
                    "1480331749327402",
                    mime_type="image/jpeg",
                    caption="Selokan tersumbat di gang 4",
                ),
            )
        ],
    ),
    (
        "voice note",
        "voice",
        [
            message(
                7,
                seconds=360,
                kind=InboundKind.VOICE,
                media=Media(MediaKind.VOICE, "1012345678901234", "audio/ogg; codecs=opus"),
            )
        ],
    ),
    (
        "document",
        "document",
        [
            message(
                8,
                BUDI,
                420,
                kind=InboundKind.DOCUMENT,
                text="Daftar warga RT 05",
                media=Media(
                    MediaKind.DOCUMENT,
                    "2345678901234567",
                    mime_type="application/pdf",
                    file_name="warga_rt05.pdf",
                    caption="Daftar warga RT 05",
                ),
            )
        ],
    ),
    (
        "location",
        "location",
        [
            message(
                9,
                seconds=480,
                kind=InboundKind.LOCATION,
                location=Location(
                    -0.502106, 117.153709, "Balai RT 03", "Jl. Loa Bakung No. 12, Samarinda"
                ),
            )
        ],
    ),
    (
        "reaction",
        "reaction",
        [message(10, BUDI, 540, kind=InboundKind.REACTION, text="👍", reply_to=OUR2)],
    ),
    ("reaction removed", "reaction_removed", []),
    (
        "sticker",
        "sticker",
        [message(12, seconds=660, kind=InboundKind.OTHER, platform_type="sticker")],
    ),
    (
        "unsupported message",
        "unsupported",
        [message(13, seconds=720, kind=InboundKind.OTHER, platform_type="unsupported")],
    ),
    (
        "a type not known yet",
        "unknown_type",
        [message(14, seconds=780, kind=InboundKind.OTHER, platform_type="holo_greeting")],
    ),
    (
        "system message (no contacts)",
        "system",
        [
            message(
                15,
                seconds=840,
                kind=InboundKind.OTHER,
                sender_name="",
                text="User Siti Rahmawati changed from 6281234567001 to 6281234567009",
                platform_type="system",
            )
        ],
    ),
    (
        "no contacts",
        "no_contacts",
        [message(16, BUDI, 900, text="mulai", sender_name="")],
    ),
    (
        "business-scoped user id, no number",
        "bsuid",
        [
            InboundMessage(
                channel="whatsapp",
                address=f"bsuid:{BSUID}",
                external_id="wamid.HBgSSUQuMTUwMjU3NjM5NDY1NTg0MxUCABIYFjNFQjA5QTdGMTdBQzJEOUU4RjRBMUI2AA==",
                received_at=at(960),
                text="DAFTAR K7QF2M",
                sender_name="Rina Marlina",
                phone=None,
            )
        ],
    ),
    (
        "business-scoped user id beside the number",
        "bsuid_with_phone",
        [message(17, seconds=1020, text="berhenti", alias="bsuid:ID.1408215573920117")],
    ),
    ("sent", "status_sent", [receipt(OUR1, StatusKind.SENT, 10)]),
    ("delivered", "status_delivered", [receipt(OUR1, StatusKind.DELIVERED, 20)]),
    ("read", "status_read", [receipt(OUR1, StatusKind.READ, 30)]),
    (
        "failed, with Meta's error",
        "status_failed",
        [
            receipt(
                OUR2,
                StatusKind.FAILED,
                15,
                reason="131026 Message undeliverable: Message Undeliverable.",
                recipient_unreachable=True,  # the member may be reached on another channel
            )
        ],
    ),
    (
        "several statuses in one notification",
        "statuses_batch",
        [
            receipt(OUR3, StatusKind.SENT, 11),
            receipt(OUR3, StatusKind.DELIVERED, 12),
            receipt(OUR1, StatusKind.READ, 31),
            receipt(OUR2, StatusKind.DELIVERED, 13),
        ],
    ),
    ("statuses not tracked (deleted, warning)", "status_unknown", []),
    ("other fields (account, templates)", "unknown_field", []),
    ("another business number", "other_number", []),
    ("errors only", "errors_value", []),
    (
        "messages and statuses over entries and changes",
        "mixed_batch",
        [
            message(19, BUDI, 1140, text="Sudah saya teruskan ke warga", reply_to=OUR2),
            receipt(OUR2, StatusKind.READ, 1130),
            message(20, AHMAD, 1150, text="Terima kasih infonya"),
            message(21, SITI, 1151, text="Baik, Pak"),
        ],
    ),
]


def settings(**values: Any) -> WhatsAppSection:
    base: dict[str, Any] = {
        "enabled": True,
        "api_base_url": "http://127.0.0.1:9",
        "api_version": VERSION,
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    }
    base.update(values)
    return WhatsAppSection(**base)


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, events: list[Event]) -> None:
        self.events.extend(events)


def webhook_channel() -> WhatsAppChannel:
    """A channel that is never started: webhooks need no connection."""
    return WhatsAppChannel(settings(), Sink())


@pytest.mark.parametrize(
    ("label", "name", "expected"), PARSE_CASES, ids=[case[0] for case in PARSE_CASES]
)
def test_parse_webhook(label: str, name: str, expected: list[Event]) -> None:
    assert webhook_channel().parse_webhook(fixture(name)) == expected


def test_every_fixture_is_in_the_case_table() -> None:
    assert {path.stem for path in FIXTURES.glob("*.json")} == {case[1] for case in PARSE_CASES}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b""])
def test_parse_webhook_refuses_what_is_not_an_object(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        webhook_channel().parse_webhook(body)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"object": "page", "entry": [{"changes": [{"field": "messages", "value": {}}]}]},
        {"entry": "nope"},
        {"entry": [None, {"changes": [None, {"field": "messages", "value": []}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"type": "x"}]}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"x": 1}]}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": "w"}]}}]}]},
    ],
)
def test_odd_notifications_give_no_events(data: dict[str, Any]) -> None:
    assert webhook_channel().parse_webhook(json.dumps(data).encode()) == []


def test_unknown_statuses_and_fields_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="channels.whatsapp")
    channel = webhook_channel()
    channel.parse_webhook(fixture("status_unknown"))
    channel.parse_webhook(fixture("unknown_field"))
    assert "'deleted'" in caplog.text and "'warning'" in caplog.text
    assert "'account_update'" in caplog.text


def test_helpers_build_what_the_parser_reads() -> None:
    channel = webhook_channel()
    body, headers = signed_webhook(
        status_notification([status_entry(OUR1, "read", timestamp=1767250830)])
    )
    channel.verify(headers, body)
    assert channel.parse_webhook(body) == [receipt(OUR1, StatusKind.READ, 30)]
    [text] = channel.parse_webhook(
        json.dumps(text_notification("6281234567001", "halo", timestamp=1767250800)).encode()
    )
    assert isinstance(text, InboundMessage)
    assert (text.address, text.text, text.phone) == (SITI, "halo", SITI)


# Signatures and the handshake -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["X-Hub-Signature-256", "x-hub-signature-256"])
def test_verify_accepts_the_right_signature(name: str) -> None:
    body = fixture("text")
    webhook_channel().verify({name: sign(body)}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": sign(b"{}", "another-app-secret")},
        {"X-Hub-Signature-256": sign(b"{} ")},  # the signature of other bytes
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": "sha256=xyz"},
        {"X-Hub-Signature-256": sign(b"{}")[:-1]},
        {"X-Hub-Signature-256": sign(b"{}").replace("sha256=", "sha1=")},
        {"X-Hub-Signature-256": sign(b"{}").removeprefix("sha256=")},
        {"X-Hub-Signature": sign(b"{}")},
    ],
    ids=[
        "missing",
        "other secret",
        "other body",
        "empty",
        "no hex",
        "not hex",
        "short",
        "sha1",
        "no scheme",
        "old header",
    ],
)
def test_verify_refuses_a_wrong_missing_or_malformed_signature(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        webhook_channel().verify(headers, b"{}")
    assert caught.value.status == 401


def test_verify_refuses_everything_without_an_app_secret() -> None:
    channel = WhatsAppChannel(settings(app_secret=""), Sink())
    body = b"{}"
    with pytest.raises(WebhookRejected) as caught:
        channel.verify({"X-Hub-Signature-256": sign(body, "")}, body)
    assert caught.value.status == 401


def test_a_valid_signature_over_garbage_is_a_400() -> None:
    channel = webhook_channel()
    body, headers = signed_webhook(b"\x00garbage{")
    channel.verify(headers, body)
    with pytest.raises(WebhookRejected) as caught:
        channel.parse_webhook(body)
    assert caught.value.status == 400


def test_subscription_handshake() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "11582"}
    assert webhook_channel().verify_subscription(params) == "11582"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, 403),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, 403),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 403),
        ({"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 403),
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, 400),
    ],
)
def test_subscription_handshake_refused(params: dict[str, str], status: int) -> None:
    with pytest.raises(WebhookRejected) as caught:
        webhook_channel().verify_subscription(params)
    assert caught.value.status == status


# Template variables -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (["Kerja bakti"], ["Kerja bakti"]),
        (
            ["Rapat\nRT 03", "Bawa\tKTP    dan     KK\r\n\nJam 7"],
            ["Rapat RT 03", "Bawa KTP dan KK Jam 7"],
        ),
        (["", "   \n"], ["-", "-"]),
        (["a" * 10, "b" * 900], ["a" * 10, "b" * 789 + "…"]),
        (["a" * 500, "b" * 500], ["a" * 399 + "…", "b" * 399 + "…"]),
    ],
)
def test_template_parameters(params: list[str], expected: list[str]) -> None:
    cleaned = template_parameters(params)
    assert cleaned == expected
    assert sum(len(p) for p in cleaned) <= 800


# Sending against the fake -----------------------------------------------------------------------

OpenChannel = Callable[..., Awaitable[WhatsAppChannel]]


@pytest_asyncio.fixture
async def open_channel(graph: FakeGraphAPI) -> AsyncIterator[OpenChannel]:
    """Start a channel on the fake with a fixed clock; stopped after the test."""
    opened: list[WhatsAppChannel] = []

    async def open_(channel_kwargs: Any = None, **values: Any) -> WhatsAppChannel:
        channel = WhatsAppChannel(
            settings(**{"api_base_url": graph.url, **values}),
            Sink(),
            clock=lambda: NOW,
            **(channel_kwargs or {}),
        )
        opened.append(channel)
        await channel.start()
        return channel

    yield open_
    for channel in opened:
        await channel.stop()


def out(address: str = SITI, text: str = "Halo", **fields: Any) -> Outgoing:
    fields.setdefault("last_inbound_at", RECENT)
    return Outgoing(key="1", address=address, text=text, **fields)


ACK = Button("Sudah dibaca", "ack:917")


def test_registered_under_its_name() -> None:
    assert channel_class("whatsapp") is WhatsAppChannel
    assert WhatsAppChannel.can_edit is False
    assert webhook_channel().messages_per_second == 80


async def test_start_checks_the_number(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    assert await channel.ready() is None
    assert [(c.method, c.path) for c in graph.calls] == [("GET", f"/{VERSION}/{PHONE_NUMBER_ID}")]


async def test_send_text(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    result = await channel.send(out(text="📢 *Rapat RT*\nBawa KTP & KK"))
    assert graph.messages() == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "6281234567001",
            "type": "text",
            "text": {"body": "📢 *Rapat RT*\nBawa KTP & KK", "preview_url": False},
        }
    ]
    assert result.external_id == graph.accepted[0][0]
    assert result.external_id.startswith("wamid.")
    assert (result.sent_at, result.used_template) == (NOW, False)


async def test_reply_buttons(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    buttons = (ACK, Button("Tanya pengurus kelurahan", "ask:917"))
    await channel.send(out(text="*Kerja bakti* Minggu", buttons=buttons, phone_button="Nomor"))
    [sent] = graph.messages()
    assert sent["type"] == "interactive"
    assert sent["interactive"] == {
        "type": "button",
        "body": {"text": "*Kerja bakti* Minggu"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "ack:917", "title": "Sudah dibaca"}},
                {"type": "reply", "reply": {"id": "ask:917", "title": "Tanya pengurus kelu…"}},
            ]
        },
    }


async def test_four_to_ten_buttons_make_a_list(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    labels = ["Pengumuman", "Kirim aduan", "Jadwal posyandu", "Hubungi pengurus kelurahan"]
    buttons = tuple(Button(label, f"menu:{i}") for i, label in enumerate(labels))
    await channel.send(out(text="Menu", buttons=buttons))
    [sent] = graph.messages()
    assert sent["interactive"] == {
        "type": "list",
        "body": {"text": "Menu"},
        "action": {
            "button": "Pilih",
            "sections": [
                {
                    "rows": [
                        {"id": "menu:0", "title": "Pengumuman"},
                        {"id": "menu:1", "title": "Kirim aduan"},
                        {"id": "menu:2", "title": "Jadwal posyandu"},
                        {
                            "id": "menu:3",
                            "title": "Hubungi pengurus kelura…",
                            "description": "Hubungi pengurus kelurahan",
                        },
                    ]
                }
            ],
        },
    }
    ten = tuple(Button(f"Pilihan {i}", f"p:{i}") for i in range(10))
    await channel.send(out(text="Menu", buttons=ten))
    assert len(graph.messages()[1]["interactive"]["action"]["sections"][0]["rows"]) == 10


@pytest.mark.parametrize(
    "buttons",
    [
        tuple(Button(f"Pilihan {i}", f"p:{i}") for i in range(11)),
        (Button("OK", "x" * 257),),
        (Button("OK", ""),),
        tuple(Button(f"Pilihan {i}", "y" * 201) for i in range(4)),
    ],
    ids=["eleven", "id over 256", "empty id", "row id over 200"],
)
async def test_buttons_whatsapp_cannot_show_are_rejected(
    graph: FakeGraphAPI, open_channel: OpenChannel, buttons: tuple[Button, ...]
) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send(out(buttons=buttons))
    assert caught.value.reason == SendErrorReason.REJECTED
    assert not caught.value.retryable
    assert graph.messages() == []


async def test_long_text_with_buttons_goes_as_two_messages(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    text = "📢 *Kerja bakti*\n\n" + "Rincian kegiatan. " * 70 + "\n\nMohon tekan Sudah dibaca."
    assert 1024 < len(text) <= 4096
    result = await channel.send(out(text=text, buttons=(ACK,), reply_to=OUR1))
    first, second = graph.messages()
    assert first["type"] == "text"
    assert first["text"]["body"] == text
    assert first["context"] == {"message_id": OUR1}
    assert second["type"] == "interactive"
    assert second["interactive"]["body"] == {"text": "Mohon tekan Sudah dibaca."}
    assert "context" not in second
    assert result.external_id == graph.accepted[0][0] != graph.accepted[1][0]


async def test_long_last_paragraph_is_cut_to_the_interactive_limit(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    await channel.send(out(text="x" * 2000, buttons=(ACK,)))
    body = graph.messages()[1]["interactive"]["body"]["text"]
    assert len(body) == 1024 and body.endswith("…")


async def test_buttons_that_fail_after_the_long_text_do_not_fail_the_send(
    graph: FakeGraphAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await open_channel()
    graph.fail(131000, message_type="interactive")
    result = await channel.send(out(text="y" * 1500, buttons=(ACK,)))
    assert result.external_id == graph.accepted[0][0]
    assert len(graph.accepted) == 1
    assert "went out but its buttons did not" in caplog.text


async def test_reply_context(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    await channel.send(out(text="Terima kasih, Bu", reply_to=OUR1))
    assert graph.messages()[0]["context"] == {"message_id": OUR1}


async def test_business_scoped_address(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    await channel.send(out(address=f"bsuid:{BSUID}"))
    [sent] = graph.messages()
    assert sent["recipient"] == BSUID
    assert "to" not in sent


@pytest.mark.parametrize("address", ["6281234567001x", "+62", "", "bsuid:", "telegram:5011"])
async def test_not_a_whatsapp_address(open_channel: OpenChannel, address: str) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send(out(address=address))
    assert caught.value.reason == SendErrorReason.UNKNOWN_RECIPIENT


async def test_edits_and_empty_texts_are_refused(open_channel: OpenChannel) -> None:
    channel = await open_channel()
    for outgoing in (out(edit_of=OUR1), out(text="  "), out(text="x" * 4097)):
        with pytest.raises(SendError) as caught:
            await channel.send(outgoing)
        assert caught.value.reason == SendErrorReason.REJECTED


# The 24-hour window -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "last_inbound_at",
    [None, NOW - dt.timedelta(hours=25), NOW - dt.timedelta(hours=23, minutes=56)],
    ids=["never wrote", "a day ago", "inside the safety margin"],
)
async def test_template_outside_the_window(
    graph: FakeGraphAPI, open_channel: OpenChannel, last_inbound_at: dt.datetime | None
) -> None:
    channel = await open_channel()
    result = await channel.send(
        out(
            text="📢 *Kerja bakti*\n\nMinggu pagi",
            buttons=(ACK, Button("Tanya", "ask:917")),
            last_inbound_at=last_inbound_at,
            template="broadcast",
            template_params=("Kerja bakti\nRT 03", "Minggu\tjam 07.00,     bawa  cangkul\n\nya"),
        )
    )
    assert result.used_template is True
    assert result.external_id == graph.accepted[0][0]
    [sent] = graph.messages()
    assert sent["type"] == "template"
    assert sent["template"] == {
        "name": "pengumuman_baru",
        "language": {"code": "id"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Kerja bakti RT 03"},
                    {"type": "text", "text": "Minggu jam 07.00, bawa cangkul ya"},
                ],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": "ack:917"}],
            },
        ],
    }


@pytest.mark.parametrize(
    ("buttons", "carried"),
    [
        ((ACK, Button("Laporkan masalah", "aduan:917", in_template=False)), "ack:917"),
        ((Button("Laporkan masalah", "aduan:917", in_template=False),), None),
    ],
    ids=["after the acknowledgement", "alone"],
)
async def test_a_button_the_template_has_no_place_for_is_left_out(
    graph: FakeGraphAPI,
    open_channel: OpenChannel,
    buttons: tuple[Button, ...],
    carried: str | None,
) -> None:
    """The approved template's one quick reply is the acknowledgement's: a report button never
    takes its place, even when it is the only button."""
    channel = await open_channel()
    params = ("Kerja bakti", "Minggu")
    await channel.send(
        out(buttons=buttons, last_inbound_at=None, template="broadcast", template_params=params)
    )
    [sent] = graph.messages()
    quick = [c for c in sent["template"].get("components", []) if c["type"] == "button"]
    assert [c["parameters"][0]["payload"] for c in quick] == ([carried] if carried else [])


async def test_free_text_just_inside_the_window(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    wrote = NOW - dt.timedelta(hours=23, minutes=50)
    result = await channel.send(out(last_inbound_at=wrote, template="broadcast"))
    assert result.used_template is False
    assert graph.messages()[0]["type"] == "text"
    assert channel.window_open(wrote.replace(tzinfo=None), NOW)  # naive times are taken as UTC


async def test_reminder_template(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    result = await channel.send(
        out(last_inbound_at=None, template="reminder", template_params=("Kerja bakti", "Minggu"))
    )
    assert result.used_template
    [sent] = graph.messages()
    assert sent["template"]["name"] == "pengingat_pengumuman"
    assert [c["type"] for c in sent["template"]["components"]] == ["body"]


async def test_no_template_outside_the_window(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send(out(last_inbound_at=NOW - dt.timedelta(days=3)))
    assert caught.value.reason == SendErrorReason.WINDOW_CLOSED
    assert not caught.value.retryable
    assert graph.messages() == []


async def test_unknown_or_unset_template(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel(reminder_template="")
    with pytest.raises(SendError) as caught:
        await channel.send(out(last_inbound_at=None, template="survey"))
    assert caught.value.reason == SendErrorReason.REJECTED
    with pytest.raises(SendError) as caught:
        await channel.send(out(last_inbound_at=None, template="reminder"))
    assert caught.value.reason == SendErrorReason.BAD_CONFIG
    assert graph.messages() == []


async def test_closed_window_on_free_text_is_retried_once_as_the_template(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    graph.fail(131047, to=SITI, free_form_only=True)
    result = await channel.send(
        out(buttons=(ACK,), template="broadcast", template_params=("Rapat", "Senin"))
    )
    assert result.used_template is True
    assert [m["type"] for m in graph.messages()] == ["interactive", "template"]
    assert result.external_id == graph.accepted[0][0]


async def test_closed_window_without_a_template(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    graph.fail(131047, to=SITI)
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.WINDOW_CLOSED
    assert caught.value.detail.startswith("131047 Re-engagement message")
    assert len(graph.messages()) == 1


async def test_a_template_meta_refuses_is_not_retried(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:  # one variable where the template has two
        await channel.send(out(last_inbound_at=None, template="broadcast", template_params=("a",)))
    assert caught.value.reason == SendErrorReason.REJECTED
    assert caught.value.detail.startswith("132000 Number of parameters does not match")
    assert len(graph.messages()) == 1


# Errors -----------------------------------------------------------------------------------------

ERROR_CASES = [
    # code, reason, retryable, retry_after, recipient_only
    (130429, SendErrorReason.THROTTLED, True, 5.0, False),
    (80007, SendErrorReason.THROTTLED, True, 60.0, False),
    (4, SendErrorReason.THROTTLED, True, 60.0, False),
    (131056, SendErrorReason.THROTTLED, True, 6.0, True),
    (131048, SendErrorReason.THROTTLED, True, 3600.0, False),
    (131026, SendErrorReason.UNKNOWN_RECIPIENT, False, None, False),
    (131030, SendErrorReason.UNKNOWN_RECIPIENT, False, None, False),
    (131047, SendErrorReason.WINDOW_CLOSED, False, None, False),
    (131051, SendErrorReason.REJECTED, False, None, False),
    (100, SendErrorReason.REJECTED, False, None, False),
    (132001, SendErrorReason.REJECTED, False, None, False),
    (132018, SendErrorReason.REJECTED, False, None, False),
    (131008, SendErrorReason.REJECTED, False, None, False),
    (131009, SendErrorReason.REJECTED, False, None, False),
    (190, SendErrorReason.BAD_CONFIG, True, None, False),
    (10, SendErrorReason.BAD_CONFIG, True, None, False),
    (200, SendErrorReason.BAD_CONFIG, True, None, False),
    (131005, SendErrorReason.BAD_CONFIG, True, None, False),
    (131000, SendErrorReason.CONNECTION, True, None, False),
    (1, SendErrorReason.CONNECTION, True, None, False),
]


@pytest.mark.parametrize(
    ("code", "reason", "retryable", "retry_after", "recipient_only"),
    ERROR_CASES,
    ids=[str(case[0]) for case in ERROR_CASES],
)
async def test_send_errors(
    graph: FakeGraphAPI,
    open_channel: OpenChannel,
    code: int,
    reason: SendErrorReason,
    retryable: bool,
    retry_after: float | None,
    recipient_only: bool,
) -> None:
    channel = await open_channel()
    graph.fail(code, to=SITI)
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    error = caught.value
    assert (error.reason, error.retryable) == (reason, retryable)
    assert (error.retry_after, error.recipient_only) == (retry_after, recipient_only)
    assert error.detail.startswith(f"{code} ")  # Meta's code and title are kept


@pytest.mark.parametrize(
    ("status", "body", "headers_retry", "reason", "retry_after"),
    [
        (400, error_body(130429), 12.0, SendErrorReason.THROTTLED, 12.0),
        (400, error_body(131048), 60.0, SendErrorReason.THROTTLED, 3600.0),
        (429, error_body(999999), None, SendErrorReason.THROTTLED, 5.0),
        (400, error_body(999999), None, SendErrorReason.REJECTED, None),
        (503, error_body(999999), None, SendErrorReason.CONNECTION, None),
        (403, error_body(999999), None, SendErrorReason.BAD_CONFIG, None),
        (401, None, None, SendErrorReason.BAD_CONFIG, None),
        (403, "<html>Forbidden</html>", None, SendErrorReason.BAD_CONFIG, None),
        (404, "Not Found", None, SendErrorReason.BAD_CONFIG, None),
        (429, None, 30.0, SendErrorReason.THROTTLED, 30.0),
        (502, "Bad Gateway", None, SendErrorReason.CONNECTION, None),
        (500, {"error": "oops"}, None, SendErrorReason.CONNECTION, None),
        (400, {"error": {"message": "no code"}}, None, SendErrorReason.CONNECTION, None),
    ],
)
def test_send_error_from(
    status: int,
    body: Any,
    headers_retry: float | None,
    reason: SendErrorReason,
    retry_after: float | None,
) -> None:
    error = send_error_from(status, body, retry_after=headers_retry)
    assert error.reason == reason
    assert error.retry_after == retry_after


def test_send_error_keeps_code_title_and_details() -> None:
    error = send_error_from(400, error_body(132018, details="Variabel 2 berisi baris baru."))
    assert error.detail == (
        "132018 There was an issue with the parameters in your template.: "
        "Variabel 2 berisi baris baru."
    )


async def test_retry_after_header(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    graph.fail(130429, retry_after="12")
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.retry_after == 12.0


async def test_5xx_without_meta_error_is_a_connection_error(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    graph.fail(None, status=502)
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.CONNECTION, True)
    assert await channel.ready() is None


async def test_spam_limit_pauses_the_channel_until_a_send_goes_through(
    graph: FakeGraphAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await open_channel()
    graph.fail(131048)
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.retry_after == 3600.0
    assert await channel.ready() == SPAM_PAUSED == "WhatsApp spam limit: sending paused"
    assert "sending is paused" in caplog.text
    graph.fail(131026)  # another failure does not lift the pause
    with pytest.raises(SendError):
        await channel.send(out())
    assert await channel.ready() == SPAM_PAUSED
    await channel.send(out())
    assert await channel.ready() is None


async def test_revoked_token(
    graph: FakeGraphAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = await open_channel()
    assert await channel.ready() is None
    graph.token = "EAAJanotherTokenOnTheServer"
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.BAD_CONFIG, True)
    reason = await channel.ready()
    assert reason is not None and reason.startswith("WhatsApp channel down: 190 ")
    assert TOKEN not in reason and TOKEN not in str(caught.value) and TOKEN not in caplog.text
    graph.token = TOKEN  # staff put the right token back
    await channel.send(out())
    assert await channel.ready() is None


async def test_start_with_a_wrong_token(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel(access_token="EAAJwrongTokenFromAnOldApp")
    reason = await channel.ready()
    assert reason is not None and "190" in reason and "EAAJwrong" not in reason
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.BAD_CONFIG


async def test_permission_missing_on_the_number(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    graph.fail(10, endpoint="phone")
    channel = await open_channel()
    assert await channel.ready() == (
        "WhatsApp channel down: 10 Permission denied: "
        "The token has no permission for this phone number."
    )


async def test_start_with_a_phone_number_id_meta_does_not_know(open_channel: OpenChannel) -> None:
    channel = await open_channel(phone_number_id="108000000000001")
    reason = await channel.ready()
    assert reason is not None and reason.startswith("WhatsApp channel down: 100 ")


async def test_start_while_the_app_is_throttled_probes_again(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    graph.fail(4, endpoint="phone")
    channel = await open_channel()
    reason = await channel.ready()
    assert reason is not None and reason.startswith("cannot reach the WhatsApp Graph API: 4 ")
    channel._next_probe = 0.0
    assert await channel.ready() is None


async def test_unreachable_graph_api_recovers(open_channel: OpenChannel) -> None:
    later = FakeGraphAPI()
    url = await later.start()
    port = int(url.rsplit(":", 1)[1])
    await later.stop()
    channel = await open_channel(api_base_url=url)
    reason = await channel.ready()
    assert reason is not None and reason.startswith("cannot reach the WhatsApp Graph API")
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.CONNECTION, True)
    await later.start(port)
    try:
        channel._next_probe = 0.0  # the next readiness check probes again
        assert await channel.ready() is None
    finally:
        await later.stop()


async def test_secrets_never_reach_logs_or_errors(
    graph: FakeGraphAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = await open_channel()
    graph.fail(100, message=f"(#100) Invalid parameter near access_token={TOKEN}")
    graph.fail(131009, details=f"app secret {APP_SECRET} is not a parameter")
    errors = []
    for _ in range(2):
        with pytest.raises(SendError) as caught:
            await channel.send(out())
        errors.append(str(caught.value))
    assert "<secret>" in errors[0] and "<secret>" in errors[1]
    for text in [*errors, caplog.text]:
        assert TOKEN not in text and APP_SECRET not in text


async def test_connection_errors_do_not_show_the_token(
    open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = await open_channel(api_base_url="http://127.0.0.1:1")
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.CONNECTION
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text


async def test_send_before_start(graph: FakeGraphAPI) -> None:
    channel = WhatsAppChannel(settings(api_base_url=graph.url), Sink())
    assert await channel.ready() == "not started"
    with pytest.raises(SendError) as caught:
        await channel.send(out())
    assert caught.value.reason == SendErrorReason.CONNECTION
    assert graph.calls == []


# Mark as read -----------------------------------------------------------------------------------


async def test_answer_marks_the_tapped_message_read(
    graph: FakeGraphAPI, open_channel: OpenChannel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.whatsapp")
    channel = await open_channel()
    [tap] = channel.parse_webhook(fixture("button_reply"))
    assert isinstance(tap, InboundMessage)
    await channel.answer(tap, "Terima kasih, tercatat ✅")
    assert graph.read_marks == [tap.external_id]
    graph.fail(131000, endpoint="read")
    await channel.answer(tap, "Terima kasih")  # logged, not raised
    assert "marking" in caplog.text
    assert graph.messages() == []  # nothing was sent to the person


async def test_mark_read_raises_for_direct_callers(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    await channel.mark_read(OUR1)
    with pytest.raises(SendError) as caught:
        await channel.mark_read("not-a-wamid")
    assert caught.value.reason == SendErrorReason.REJECTED
    assert graph.read_marks == [OUR1]


# Media ------------------------------------------------------------------------------------------


async def test_upload_and_send_media(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    media_id = await channel.upload_media(b"%PDF-1.7 jadwal", "application/pdf", "jadwal.pdf")
    assert graph.media[media_id].data == b"%PDF-1.7 jadwal"
    upload = next(c for c in graph.calls if c.path.endswith("/media"))
    assert upload.body == {
        "messaging_product": "whatsapp",
        "type": "application/pdf",
        "file": "file:jadwal.pdf",
    }
    document = await channel.send_document(
        SITI, last_inbound_at=RECENT, media_id=media_id, filename="jadwal.pdf", caption="Jadwal"
    )
    image = await channel.send_image(
        BUDI,
        last_inbound_at=RECENT,
        link="https://balai.example.id/media/peta.jpg",
        caption="Peta lokasi",
        reply_to=OUR2,
    )
    assert [document.external_id, image.external_id] == [wamid for wamid, _ in graph.accepted]
    first, second = graph.messages()
    assert first["document"] == {"id": media_id, "caption": "Jadwal", "filename": "jadwal.pdf"}
    assert second["type"] == "image"
    assert second["image"] == {
        "link": "https://balai.example.id/media/peta.jpg",
        "caption": "Peta lokasi",
    }
    assert second["context"] == {"message_id": OUR2}


async def test_media_needs_the_window_and_one_source(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    with pytest.raises(SendError) as caught:
        await channel.send_image(SITI, last_inbound_at=None, link="https://x.example/a.jpg")
    assert caught.value.reason == SendErrorReason.WINDOW_CLOSED
    with pytest.raises(ValueError):
        await channel.send_image(SITI, last_inbound_at=RECENT)
    with pytest.raises(SendError) as caught:
        await channel.send_image(SITI, last_inbound_at=RECENT, media_id="404")
    assert (caught.value.reason, caught.value.detail[:6]) == (SendErrorReason.REJECTED, "131053")


async def test_download_media(graph: FakeGraphAPI, open_channel: OpenChannel) -> None:
    channel = await open_channel()
    photo = b"\xff\xd8\xff\xe0" + b"foto selokan" * 100
    media_id = graph.add_media(photo, "image/jpeg")
    assert await channel.download_media(media_id) == (photo, "image/jpeg")
    with pytest.raises(SendError) as caught:
        await channel.download_media("1234")
    assert caught.value.reason == SendErrorReason.REJECTED


async def test_download_with_a_revoked_token_takes_the_channel_down(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    channel = await open_channel()
    media_id = graph.add_media(b"foto")
    graph.fail(190, endpoint="download")
    with pytest.raises(SendError) as caught:
        await channel.download_media(media_id)
    assert caught.value.reason == SendErrorReason.BAD_CONFIG
    reason = await channel.ready()
    assert reason is not None and reason.startswith("WhatsApp channel down: 190 ")


async def test_download_refuses_files_over_the_limit(
    graph: FakeGraphAPI, open_channel: OpenChannel
) -> None:
    assert MAX_MEDIA_BYTES == 16 * 1024 * 1024
    channel = await open_channel(channel_kwargs={"max_media_bytes": 1000})
    declared = graph.add_media(b"x" * 10, declared_size=20 * 1024 * 1024)
    with pytest.raises(MediaTooLarge) as caught:
        await channel.download_media(declared)
    assert "20.0 MB" in str(caught.value)
    assert caught.value.reason == SendErrorReason.REJECTED and not caught.value.retryable
    assert not any("attachments" in c.path for c in graph.calls)  # refused before downloading
    for untold in (
        graph.add_media(b"y" * 5000, omit_size=True),
        graph.add_media(b"z" * 5000, declared_size=500),
    ):
        with pytest.raises(MediaTooLarge):
            await channel.download_media(untold)
    assert await channel.download_media(graph.add_media(b"k" * 1000)) == (b"k" * 1000, "image/jpeg")
