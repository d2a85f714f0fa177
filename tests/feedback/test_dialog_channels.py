"""The complaint dialog on the real channels, end to end against the fake platforms on loopback:
a photo with a caption on Telegram (getFile and the download), a voice note and a location on
WhatsApp (media URL and the download), each ending in a ticket with its files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from hub.app import HUB, Hub, create_app
from hub.core.dialogs import dialog_of
from models import Area, FeedbackFile, OutboundMessage, Ticket
from tests.conftest import PUBLIC_URL, make_config, telegram_settings, whatsapp_settings
from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram_hub import callback_update, message_update, post_update, telegram_member
from tests.test_whatsapp_hub import button_reply, inbound, post_webhook, text_from, whatsapp_member

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 2000
OGG = b"OggS\x00\x02" + b"\x00" * 3000
SITI = "+6281234567001"
KELURAHAN = "Sungai Kunjang/Loa Bakung"


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


@pytest_asyncio.fixture
async def tg(db: str, bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[TestClient]:
    config = make_config(
        telegram=telegram_settings(bot_api),
        hub={"public_url": PUBLIC_URL},
        broadcast={"media_dir": str(tmp_path / "media")},
    )
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest_asyncio.fixture
async def wa(db: str, graph: FakeGraphAPI, tmp_path: Path) -> AsyncIterator[TestClient]:
    config = make_config(
        whatsapp=whatsapp_settings(graph), broadcast={"media_dir": str(tmp_path / "media")}
    )
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def answers(address: str) -> list[OutboundMessage]:
    """What the hub queued for the chat, oldest first (Telegram paces one chat to about a
    message a second: the fake sees them later)."""
    return list(await OutboundMessage.filter(address=address).order_by("id"))


def last_text(bot_api: FakeBotAPI) -> dict[str, Any]:
    return bot_api.calls_to("sendMessage")[-1]


async def test_telegram_a_photo_with_its_caption_is_description_and_photo(
    tg: TestClient, bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    hub = hub_of(tg)
    member = await telegram_member(7001)
    assert await post_update(tg, message_update(7001, "/aduan")) == 200
    await send_all(hub)
    question = last_text(bot_api)
    assert "Aduan ini tentang apa?" in question["text"]
    labels = [row[0]["text"] for row in question["reply_markup"]["inline_keyboard"]]
    assert labels[1] == "drainase/banjir"

    await post_update(tg, callback_update(7001, 7001, 1, "aduan:kategori:2"))
    file_id = bot_api.add_file(JPEG, "image/jpeg", "photo.jpg")
    photo = [{"file_id": file_id, "file_unique_id": "u1", "width": 800, "height": 600,
              "file_size": len(JPEG)}]  # fmt: skip
    caption = "Selokan depan rumah Pak RT meluap"
    assert await post_update(tg, message_update(7001, photo=photo, caption=caption)) == 200
    await send_all(hub)
    assert bot_api.calls_to("getFile")[-1]["file_id"] == file_id
    answer = (await answers("7001"))[-1].text
    assert "foto diterima (1 dari paling banyak 5 berkas)" in answer
    assert "kirim foto" in answer.lower()  # the description is there: files are asked next

    await post_update(tg, message_update(7001, "SELESAI"))
    summary = (await answers("7001"))[-1]
    assert "Lampiran: 1 foto" in summary.text and f"Keterangan: {caption}" in summary.text
    assert [b["payload"] for b in summary.buttons] == ["aduan:kirim", "aduan:ubah", "aduan:batal"]
    await post_update(tg, callback_update(7001, 7001, 2, "aduan:kirim"))
    await send_all(hub)

    ticket = await Ticket.get(member_id=member.id)
    assert (ticket.category, ticket.description, ticket.channel) == (
        "drainase/banjir",
        caption,
        "telegram",
    )
    [file] = await FeedbackFile.filter(ticket_id=ticket.id)
    assert (file.kind, file.content_type, file.size) == ("photo", "image/jpeg", len(JPEG))
    assert file.member_id == member.id
    stored = await hub.feedback_files.open_file(file)
    assert stored.read_bytes() == JPEG and stored.parent == tmp_path / "media"
    assert ticket.number in (await answers("7001"))[-1].text
    assert await dialog_of("telegram", "7001") is None


async def test_whatsapp_a_voice_note_and_a_far_location(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    member = await whatsapp_member(SITI)
    # The kelurahan office's coordinates (the RT has none: the nearest area up the tree counts).
    await Area.filter(path=KELURAHAN).update(latitude=-0.5022, longitude=117.1536)

    assert await post_webhook(wa, text_from(SITI, "ADUAN")) == 200
    await post_webhook(wa, text_from(SITI, "4"))  # penerangan jalan
    await post_webhook(wa, text_from(SITI, "Lampu jalan di gang Mawar mati tiga hari"))
    voice_id = graph.add_media(OGG, "audio/ogg; codecs=opus")
    voice = {"mime_type": "audio/ogg; codecs=opus", "id": voice_id, "voice": True}
    assert await post_webhook(wa, inbound(SITI, "audio", voice)) == 200
    # About 27 km away, in Tenggarong.
    far = {"latitude": -0.4200, "longitude": 116.9900, "name": "Gang Mawar",
           "address": "Jl. Mawar"}  # fmt: skip
    assert await post_webhook(wa, inbound(SITI, "location", far)) == 200
    await send_all(hub)
    bodies = [m for m in graph.messages(SITI.removeprefix("+")) if m.get("type") == "interactive"]
    location_answer = bodies[-1]["interactive"]["body"]["text"]
    assert "📍 Lokasi diterima: Gang Mawar, Jl. Mawar." in location_answer
    assert "km dari wilayah Anda" in location_answer

    await post_webhook(wa, button_reply(SITI, "aduan:lanjut", "wamid.x"))
    await send_all(hub)
    summary = [m for m in graph.messages(SITI.removeprefix("+")) if m.get("type") == "interactive"]
    text = summary[-1]["interactive"]["body"]["text"]
    assert "Lampiran: 1 pesan suara" in text and "⚠️ Lokasi sekitar" in text
    await post_webhook(wa, button_reply(SITI, "aduan:kirim", "wamid.y"))
    await send_all(hub)

    ticket = await Ticket.get(member_id=member.id)
    assert ticket.location == {
        "latitude": -0.42,
        "longitude": 116.99,
        "name": "Gang Mawar",
        "address": "Jl. Mawar",
    }
    assert 15 < ticket.details["location_far_km"] < 30
    [file] = await FeedbackFile.filter(ticket_id=ticket.id)
    assert (file.kind, file.content_type) == ("voice", "audio/ogg")
    assert (await hub.feedback_files.open_file(file)).read_bytes() == OGG


async def test_whatsapp_a_location_near_home_is_not_questioned(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    member = await whatsapp_member(SITI)
    await Area.filter(path=KELURAHAN).update(latitude=-0.5022, longitude=117.1536)
    await post_webhook(wa, text_from(SITI, "ADUAN"))
    near = {"latitude": -0.5050, "longitude": 117.1500}  # a dropped pin 500 m away
    await post_webhook(wa, inbound(SITI, "location", near))
    await post_webhook(wa, text_from(SITI, "jalan"))
    await post_webhook(wa, text_from(SITI, "Jalan amblas dekat jembatan"))
    await post_webhook(wa, text_from(SITI, "selesai"))
    await post_webhook(wa, text_from(SITI, "kirim"))
    await send_all(hub)
    ticket = await Ticket.get(member_id=member.id)
    assert ticket.location is not None and ticket.location["latitude"] == -0.505
    assert "location_far_km" not in ticket.details
