"""Corrections of a sent broadcast: edited in place on Telegram, a marked correction on WhatsApp
(free text inside the 24-hour window, the template outside it), nothing for those the original
never reached, and the corrected text for messages that had not left yet."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from channels.sandbox import SandboxChannel
from hub.app import HUB, Hub, create_app
from hub.broadcast.corrections import correct_broadcast
from hub.core.config import Config
from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
)
from tests.conftest import telegram_config, whatsapp_settings
from tests.factories import bearer, make_member, make_token
from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram_hub import callback_update, post_update

KELURAHAN = "Sungai Kunjang/Loa Bakung"
SITI = "+6281234567001"
TEXT = "Kerja bakti hari Minggu pukul 07.00 WITA."
FIXED = "Kerja bakti hari Minggu pukul 08.00 WITA (bukan 07.00)."


@pytest_asyncio.fixture
async def both(db: str, bot_api: FakeBotAPI, graph: FakeGraphAPI) -> AsyncIterator[TestClient]:
    """The hub with Telegram and WhatsApp (and the sandbox) enabled, against the fakes."""
    config = telegram_config(bot_api).replace("whatsapp", **whatsapp_settings(graph))
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def member_on(channel: str, address: str, *, wrote: dt.timedelta | None = None) -> Member:
    member = await make_member(f"{KELURAHAN}/RT 001", channels=())
    last = dt.datetime.now(dt.UTC) - wrote if wrote is not None else None
    await ChannelAddress.create(
        member=member, channel=channel, address=address, last_inbound_at=last
    )
    member.preferred_channel = channel
    await member.save()
    return member


async def broadcast(client: TestClient, token: str) -> int:
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Kerja bakti", "text": TEXT, "audience": {"areas": [KELURAHAN]}},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def correct(
    client: TestClient, token: str, broadcast_id: int, **body: Any
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        f"/api/v1/broadcasts/{broadcast_id}/correction",
        json=body or {"text": FIXED},
        headers=bearer(token),
    )
    return resp.status, await resp.json()


async def test_telegram_is_edited_in_place_and_whatsapp_gets_a_marked_correction(
    both: TestClient, bot_api: FakeBotAPI, graph: FakeGraphAPI
) -> None:
    hub = hub_of(both)
    token = await make_token()
    on_telegram = await member_on("telegram", "5001")
    await member_on("whatsapp", SITI, wrote=dt.timedelta(hours=1))
    broadcast_id = await broadcast(both, token)
    await send_all(hub)
    [original] = bot_api.calls_to("sendMessage")
    assert "07.00" in original["text"]

    status, result = await correct(both, token, broadcast_id)
    assert status == 200, result
    assert (result["edited"], result["resent"], result["updated_before_sending"]) == (1, 1, 0)
    assert result["broadcast"]["corrected_at"] is not None
    await send_all(hub)

    [edit] = bot_api.calls_to("editMessageText")
    delivery = await Delivery.get(member_id=on_telegram.id)
    assert edit["message_id"] == int(delivery.external_id.split(":")[1])
    assert "08.00" in edit["text"] and "07.00 WITA." not in edit["text"]
    [[button]] = edit["reply_markup"]["inline_keyboard"]  # still to be acknowledged
    assert len(bot_api.calls_to("sendMessage")) == 1  # nothing new in the Telegram chat

    *_, correction = graph.messages(SITI)
    body = correction["interactive"]["body"]["text"]
    assert "KOREKSI" in body and "08.00" in body
    stored = await Broadcast.get(id=broadcast_id)
    assert stored.text == FIXED
    assert [r["text"] for r in stored.revisions] == [TEXT]

    # The RT head acknowledges after the correction: the edit keeps the corrected text.
    await post_update(
        both, callback_update(5001, 5001, edit["message_id"], button["callback_data"])
    )
    await send_all(hub)
    *_, marked = bot_api.calls_to("editMessageText")
    assert "08.00" in marked["text"] and "Sudah dikonfirmasi" in marked["text"]


async def test_outside_the_window_the_correction_goes_as_the_template(
    both: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(both)
    token = await make_token()
    await member_on("whatsapp", SITI)  # never wrote: the window is closed
    broadcast_id = await broadcast(both, token)
    await send_all(hub)
    status, result = await correct(both, token, broadcast_id, title="Kerja bakti", text=FIXED)
    assert status == 200, result
    await send_all(hub)
    original, correction = graph.messages(SITI)
    assert original["type"] == correction["type"] == "template"
    params = [
        p["text"]
        for c in correction["template"]["components"]
        if c["type"] == "body"
        for p in c["parameters"]
    ]
    assert params[0] == "KOREKSI: Kerja bakti"
    assert "08.00" in params[1]


async def test_an_acknowledged_telegram_announcement_is_edited_without_its_button(
    both: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(both)
    token = await make_token()
    member = await member_on("telegram", "5001")
    broadcast_id = await broadcast(both, token)
    await send_all(hub)
    await Delivery.filter(member_id=member.id).update(
        status=DeliveryStatus.ACKNOWLEDGED, acknowledged_at=dt.datetime.now(dt.UTC)
    )
    status, _ = await correct(both, token, broadcast_id)
    assert status == 200
    await send_all(hub)
    [edit] = bot_api.calls_to("editMessageText")
    assert "08.00" in edit["text"] and "Sudah dikonfirmasi" in edit["text"]
    assert not (edit.get("reply_markup") or {}).get("inline_keyboard")


async def test_those_not_reached_get_no_correction_and_queued_ones_go_out_corrected(
    both: TestClient, bot_api: FakeBotAPI, graph: FakeGraphAPI
) -> None:
    hub = hub_of(both)
    token = await make_token()
    await member_on("telegram", "5001")
    await member_on("whatsapp", SITI, wrote=dt.timedelta(hours=1))
    failed = await member_on("telegram", "5002")
    broadcast_id = await broadcast(both, token)
    await Delivery.filter(member_id=failed.id).update(
        status=DeliveryStatus.FAILED, failure_reason="blocked"
    )
    await OutboundMessage.filter(member_id=failed.id).update(state=OutboxState.FAILED)

    # Nothing has been sent yet: the queued messages take the corrected text.
    status, result = await correct(both, token, broadcast_id)
    assert status == 200, result
    assert (result["edited"], result["resent"], result["updated_before_sending"]) == (0, 0, 2)
    await send_all(hub)
    [sent] = bot_api.calls_to("sendMessage")
    assert sent["chat_id"] == 5001 and "08.00" in sent["text"]
    [whatsapp] = graph.messages(SITI)
    assert "08.00" in whatsapp["interactive"]["body"]["text"]
    assert not bot_api.calls_to("editMessageText")


async def test_a_message_in_flight_is_corrected_once_it_has_left(
    both: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(both)
    token = await make_token()
    await member_on("whatsapp", SITI, wrote=dt.timedelta(hours=1))
    broadcast_id = await broadcast(both, token)
    [in_flight] = await hub.sender.claim()  # a sender holds it, its request under way

    status, result = await correct(both, token, broadcast_id)
    assert status == 200, result
    assert result["resent"] == 1
    correction = await OutboundMessage.get(kind=MessageKind.CORRECTION)
    assert correction.next_attempt_at > dt.datetime.now(dt.UTC)

    # Due before the original has left, the correction waits for it.
    await OutboundMessage.filter(id=correction.id).update(next_attempt_at=dt.datetime.now(dt.UTC))
    await send_all(hub)
    await correction.refresh_from_db()
    assert correction.state == OutboxState.QUEUED
    assert graph.messages(SITI) == []

    # The original leaves with the text it was claimed with (the member wrote an hour ago).
    await hub.sender.deliver(in_flight, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert "07.00" in graph.messages(SITI)[0]["interactive"]["body"]["text"]
    await OutboundMessage.filter(id=correction.id).update(next_attempt_at=dt.datetime.now(dt.UTC))
    await send_all(hub)
    _, corrected = graph.messages(SITI)
    assert "KOREKSI" in corrected["interactive"]["body"]["text"]


async def test_a_correction_for_an_original_that_failed_is_dropped(both: TestClient) -> None:
    hub = hub_of(both)
    token = await make_token()
    member = await member_on("whatsapp", SITI, wrote=dt.timedelta(hours=1))
    broadcast_id = await broadcast(both, token)
    await hub.sender.claim()
    await correct(both, token, broadcast_id)
    await Delivery.filter(member_id=member.id).update(status=DeliveryStatus.FAILED)
    await OutboundMessage.filter(kind=MessageKind.CORRECTION).update(
        next_attempt_at=dt.datetime.now(dt.UTC)
    )
    await send_all(hub)
    correction = await OutboundMessage.get(kind=MessageKind.CORRECTION)
    assert correction.state == OutboxState.CANCELLED


async def test_corrections_that_cannot_be_made_are_refused(both: TestClient) -> None:
    hub = hub_of(both)
    token = await make_token()
    await member_on("telegram", "5001")
    scheduled = await both.post(
        "/api/v1/broadcasts",
        json={
            "title": "Kerja bakti",
            "text": TEXT,
            "audience": {"areas": [KELURAHAN]},
            "send_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        },
        headers=bearer(token),
    )
    scheduled_id = (await scheduled.json())["id"]
    status, body = await correct(both, token, scheduled_id)
    assert (status, body["error"]["code"]) == (409, "not_sent_yet")

    sent_id = await broadcast(both, token)
    await send_all(hub)
    status, body = await correct(both, token, sent_id, text=TEXT)
    assert (status, body["error"]["code"]) == (409, "nothing_to_correct")
    status, body = await correct(both, token, sent_id, text="   ")
    assert (status, body["error"]["code"]) == (422, "empty_text")
    status, body = await correct(both, token, sent_id, text="x" * 5000)
    assert status == 422
    assert await OutboundMessage.filter(kind=MessageKind.CORRECTION).count() == 0
    assert (await Broadcast.get(id=sent_id)).revisions is None


async def test_concurrent_corrections_keep_every_revision(db: str, config: Config) -> None:
    # Fifty staff correct at once, each holding the broadcast as they loaded it: every earlier
    # version must be kept, each exactly once, as a chain (no correction replaces a stale text).
    sent = await Broadcast.create(
        title="Kerja bakti", text=TEXT, status=BroadcastStatus.SENT, audience={"areas": []}
    )
    loaded = [await Broadcast.get(id=sent.id) for _ in range(50)]
    now = dt.datetime.now(dt.UTC)
    await asyncio.gather(
        *(
            correct_broadcast(
                config,
                broadcast,
                title=None,
                text=f"Koreksi nomor {i}",
                user=None,
                enabled_channels={"sandbox": SandboxChannel},
                now=now,
            )
            for i, broadcast in enumerate(loaded)
        )
    )
    stored = await Broadcast.get(id=sent.id)
    texts = [r["text"] for r in stored.revisions]
    assert len(texts) == 50
    assert texts[0] == TEXT
    assert sorted([*texts[1:], stored.text]) == sorted(f"Koreksi nomor {i}" for i in range(50))


async def test_a_channel_this_version_no_longer_knows_gets_a_marked_correction(
    db: str, config: Config
) -> None:
    # A delivery an older version made on a channel since removed: nothing can edit it, so the
    # marked correction is queued (it waits, as for a channel not running) and nothing crashes.
    member = await make_member(f"{KELURAHAN}/RT 001", channels=())
    sent = await Broadcast.create(
        title="Kerja bakti", text=TEXT, status=BroadcastStatus.SENT, audience={"areas": []}
    )
    await Delivery.create(
        broadcast=sent,
        member=member,
        channel="pager",
        address="777",
        status=DeliveryStatus.SENT,
        external_id="pager-1",
    )
    result = await correct_broadcast(
        config,
        sent,
        title=None,
        text=FIXED,
        user=None,
        enabled_channels={"sandbox": SandboxChannel},
        now=dt.datetime.now(dt.UTC),
    )
    assert (result.edited, result.resent) == (0, 1)
    [row] = await OutboundMessage.filter(kind=MessageKind.CORRECTION)
    assert (row.channel, row.address, row.edit_of, row.state) == (
        "pager",
        "777",
        None,
        OutboxState.QUEUED,
    )
    assert "08.00" in row.text
