"""Polls through the fake platforms: a native Telegram poll (sendPoll, the poll id kept on the
delivery, poll_answer updates vote, change and take back, stopPoll on closing) and a WhatsApp
list (a list_reply votes), each vote counted once however often the webhook comes."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app
from hub.runtime import HUB, Hub
from models import ChannelAddress, Delivery, DeliveryStatus, Member, Poll, PollVote
from tests.conftest import TELEGRAM_WEBHOOK_SECRET, make_config, telegram_settings
from tests.conftest import whatsapp_settings as wa_settings
from tests.factories import bearer, make_member, make_token
from tests.fake_graph import FakeGraphAPI, notification, signed_webhook
from tests.fake_telegram import FakeBotAPI

KELURAHAN = "Sungai Kunjang/Loa Bakung"
_ids = itertools.count(77_000)


@pytest_asyncio.fixture
async def both(db: str, bot_api: FakeBotAPI, graph: FakeGraphAPI) -> AsyncIterator[TestClient]:
    config = make_config(
        telegram=telegram_settings(bot_api),
        whatsapp=wa_settings(graph),
        hub={"public_url": "https://balai.example.id"},
    )
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def member_on(channel: str, address: str, rt: str = "RT 001") -> Member:
    member = await make_member(f"{KELURAHAN}/{rt}", channels=())
    await ChannelAddress.create(
        member=member,
        channel=channel,
        address=address,
        last_inbound_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    member.preferred_channel = channel
    await member.save()
    return member


async def create_poll(client: TestClient, options: list[str]) -> int:
    resp = await client.post(
        "/api/v1/polls",
        json={
            "question": "Kapan rapat RT sebaiknya diadakan?",
            "options": options,
            "audience": {"areas": [KELURAHAN]},
            "closes_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        },
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


def poll_answer(poll_id: str, user_id: int, options: list[int], update_id: int) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Siti"}
    answer = {"poll_id": poll_id, "user": user, "option_ids": options}
    return {"update_id": update_id, "poll_answer": answer}


async def telegram_webhook(client: TestClient, update: dict[str, Any]) -> None:
    resp = await client.post(
        "/webhooks/telegram",
        data=json.dumps(update),
        headers={
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET,
            "Content-Type": "application/json",
        },
    )
    assert resp.status == 200
    await hub_of(client).tasks.wait()


async def whatsapp_webhook(client: TestClient, payload: dict[str, Any]) -> None:
    body, headers = signed_webhook(payload)
    resp = await client.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 200
    await hub_of(client).tasks.wait()


def list_reply(phone: str, payload: str, tapped: str) -> dict[str, Any]:
    wa_id = phone.removeprefix("+")
    message = {
        "from": wa_id,
        "id": f"wamid.vote{next(_ids)}",
        "timestamp": str(int(dt.datetime.now(dt.UTC).timestamp())),
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": payload, "title": "Sabtu"}},
        "context": {"from": "6281100011100", "id": tapped},
    }
    contacts = [{"profile": {"name": "Siti"}, "wa_id": wa_id}]
    return notification({"contacts": contacts, "messages": [message]})


async def test_a_native_telegram_poll_votes_changes_and_retracts(
    both: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(both)
    member = await member_on("telegram", "5011")
    poll_id = await create_poll(both, ["Jumat malam", "Sabtu malam", "Minggu pagi"])
    await send_all(hub)
    [sent] = bot_api.calls_to("sendPoll")
    assert sent["chat_id"] == 5011 and sent["is_anonymous"] is False
    assert sent["question"] == "Kapan rapat RT sebaiknya diadakan?"
    [platform_poll] = bot_api.polls.values()
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.poll_ref == platform_poll["id"] and delivery.status == DeliveryStatus.SENT
    replies_before = len(bot_api.calls_to("sendMessage"))

    vote = poll_answer(platform_poll["id"], 5011, [1], next(_ids))
    await telegram_webhook(both, vote)
    await telegram_webhook(both, vote)  # the same update again: a replay, dropped
    [row] = await PollVote.filter(poll_id=poll_id)
    assert (row.option, row.channel) == (1, "telegram")
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED and delivery.ack_evidence == "poll"

    await telegram_webhook(both, poll_answer(platform_poll["id"], 5011, [2], next(_ids)))
    assert [v.option for v in await PollVote.filter(poll_id=poll_id)] == [2]
    await telegram_webhook(both, poll_answer(platform_poll["id"], 5011, [], next(_ids)))
    assert await PollVote.filter(poll_id=poll_id).count() == 0
    await telegram_webhook(both, poll_answer(platform_poll["id"], 5011, [0], next(_ids)))
    assert [v.option for v in await PollVote.filter(poll_id=poll_id)] == [0]
    await send_all(hub)
    assert len(bot_api.calls_to("sendMessage")) == replies_before  # the poll shows the vote

    # Someone else answering a poll (forwarded to them) that was never sent to them.
    await member_on("telegram", "6022", rt="RT 002")
    await telegram_webhook(both, poll_answer(platform_poll["id"], 6022, [1], next(_ids)))
    await send_all(hub)
    assert "tidak dikirim kepada Anda" in bot_api.calls_to("sendMessage")[-1]["text"]
    assert await PollVote.filter(poll_id=poll_id).count() == 1

    resp = await both.post(f"/api/v1/polls/{poll_id}/close", headers=bearer(await make_token()))
    assert resp.status == 200
    await hub.tasks.wait()
    [stop] = bot_api.calls_to("stopPoll")
    assert stop["chat_id"] == 5011
    assert platform_poll["is_closed"] is True
    await telegram_webhook(both, poll_answer(platform_poll["id"], 5011, [1], next(_ids)))
    assert [v.option for v in await PollVote.filter(poll_id=poll_id)] == [0]


async def test_whatsapp_gets_a_list_and_a_list_reply_votes_once(
    both: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(both)
    phone = "+6281234500011"
    member = await member_on("whatsapp", phone)
    telegram = await member_on("telegram", "7033", rt="RT 002")
    options = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat"]
    poll_id = await create_poll(both, options)
    await send_all(hub)
    [sent] = [m for m in graph.messages(phone) if m.get("type") == "interactive"]
    assert sent["interactive"]["type"] == "list"
    rows = sent["interactive"]["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"poll:{poll_id}:{n}" for n in range(5)]
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.poll_ref is None and delivery.external_id

    tap = list_reply(phone, f"poll:{poll_id}:4", delivery.external_id)
    await whatsapp_webhook(both, tap)
    await whatsapp_webhook(both, tap)  # Meta delivers it again
    await send_all(hub)
    [row] = await PollVote.filter(poll_id=poll_id)
    assert (row.member_id, row.option, row.channel) == (member.id, 4, "whatsapp")
    thanks = [m["text"]["body"] for m in graph.messages(phone) if m.get("type") == "text"]
    assert len(thanks) == 1 and thanks[0].startswith("Terima kasih, pilihan Anda: Jumat.")

    # One member, one vote, whatever the channel: the Telegram member's vote is their own.
    platform_poll = (await Delivery.get(member_id=telegram.id)).poll_ref
    assert platform_poll is not None
    await telegram_webhook(both, poll_answer(platform_poll, 7033, [0], next(_ids)))
    votes = await PollVote.filter(poll_id=poll_id).order_by("member_id")
    assert [(v.member_id, v.option) for v in votes] == [(member.id, 4), (telegram.id, 0)]
    poll = await Poll.get(id=poll_id)
    assert poll.options == options
