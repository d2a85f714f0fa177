"""The staff inbox on the real channels: WhatsApp through the fake Graph API (the 24-hour window
open and closed), Telegram through the fake Bot API."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from hub.app import HUB, Hub, create_app
from hub.core.texts import text as say
from models import ChannelAddress, InboxDirection, InboxMessage, Member, OutboundMessage, UserRole
from tests.conftest import TELEGRAM_WEBHOOK_SECRET, telegram_config
from tests.factories import bearer, make_area, make_member, make_token
from tests.fake_graph import FakeGraphAPI, signed_webhook, text_notification
from tests.fake_telegram import FakeBotAPI

KELURAHAN = "Sungai Kunjang/Loa Bakung"
RT1 = f"{KELURAHAN}/RT 001"
SITI = "+6281234567001"
QUESTION = "Pak, lampu jalan di gang Mawar mati sejak Senin. Kapan bisa diperbaiki?"
ANSWER = "Terima kasih, Bu Siti.\nPetugas PJU datang hari Kamis."
_ids = itertools.count(5000)


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def said(hub: Hub, key: str, **values: str) -> str:
    return say("id", key, hub=hub.config.hub.name, **values)


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def reply(client: TestClient, member: Member, text: str) -> dict[str, Any]:
    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    resp = await client.post(
        f"/api/v1/inbox/members/{member.id}/reply", json={"text": text}, headers=bearer(token)
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


# WhatsApp -------------------------------------------------------------------------------------


async def whatsapp_member(wrote: dt.timedelta | None) -> Member:
    member = await make_member(RT1, channels=(), phone=SITI, name="Bu Siti")
    last = dt.datetime.now(dt.UTC) - wrote if wrote is not None else None
    await ChannelAddress.create(
        member=member, channel="whatsapp", address=SITI, last_inbound_at=last
    )
    member.preferred_channel = "whatsapp"
    await member.save()
    return member


async def test_whatsapp_question_answered_inside_the_window_as_text(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    member = await whatsapp_member(None)
    body, headers = signed_webhook(text_notification(SITI[1:], QUESTION))
    assert (await wa.post("/webhooks/whatsapp", data=body, headers=headers)).status == 200
    await hub.tasks.wait()
    [stored] = await InboxMessage.all()
    assert (stored.channel, stored.address, stored.text) == ("whatsapp", SITI, QUESTION)
    assert stored.external_id and stored.external_id.startswith("wamid.")

    assert (await reply(wa, member, ANSWER))["delivery"] == "text"
    await send_all(hub)
    bodies = [m["text"]["body"] for m in graph.messages(SITI) if m.get("type") == "text"]
    assert bodies == [said(hub, "message_received"), said(hub, "inbox_reply", text=ANSWER)]


async def test_whatsapp_answer_after_the_window_goes_as_the_reply_template(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    graph.templates["balasan_petugas"] = 1  # the approved template for staff answers
    member = await whatsapp_member(dt.timedelta(hours=30))
    await InboxMessage.create(
        member=member, area=await make_area(RT1), direction=InboxDirection.IN,
        channel="whatsapp", address=SITI, text=QUESTION,
        created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=30),
    )  # fmt: skip

    assert (await reply(wa, member, ANSWER))["delivery"] == "template"
    await send_all(hub)
    [sent] = graph.messages(SITI)
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "balasan_petugas"
    [parameter] = sent["template"]["components"][0]["parameters"]
    assert parameter["text"] == "Terima kasih, Bu Siti. Petugas PJU datang hari Kamis."
    outbound = await OutboundMessage.get(member_id=member.id)
    assert outbound.used_template is True


# Telegram -------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def tg(db: str, bot_api: FakeBotAPI) -> AsyncIterator[TestClient]:
    app = create_app(telegram_config(bot_api), manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def message_update(user_id: int, text: str) -> dict[str, Any]:
    chat = {"id": user_id, "type": "private", "first_name": "Darto"}
    sender = {"id": user_id, "is_bot": False, "first_name": "Darto"}
    message = {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": chat,
        "from": sender,
        "text": text,
    }
    return {"update_id": next(_ids), "message": message}


async def test_a_question_from_telegram_is_answered_from_the_inbox(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(tg)
    user_id = 424242
    member = await make_member(RT1, channels=(), name="Pak Darto")
    await ChannelAddress.create(member=member, channel="telegram", address=str(user_id))
    member.preferred_channel = "telegram"
    await member.save()

    resp = await tg.post(
        "/webhooks/telegram",
        data=json.dumps(message_update(user_id, QUESTION)),
        headers={
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET,
            "Content-Type": "application/json",
        },
    )
    assert resp.status == 200
    await hub.tasks.wait()
    [stored] = await InboxMessage.all()
    assert (stored.channel, stored.address, stored.text) == ("telegram", str(user_id), QUESTION)
    await send_all(hub)
    receipt = bot_api.calls_to("sendMessage")[-1]
    assert str(receipt["chat_id"]) == str(user_id)
    assert "akan diteruskan ke petugas kelurahan" in receipt["text"]

    assert (await reply(tg, member, "Kamis pagi, Pak."))["delivery"] == "text"
    await send_all(hub)
    answer = bot_api.calls_to("sendMessage")[-1]
    assert str(answer["chat_id"]) == str(user_id)
    assert "Kamis pagi, Pak." in answer["text"]
