"""The hub with its Telegram channel, end to end against the fake Bot API on loopback.

Updates arrive through the webhook (and, in one test, through long polling); the sender's calls
land on the fake, which records them. These tests check what an RT head on Telegram experiences.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from channels.pacing import RateLimiter
from channels.telegram import TelegramChannel
from hub.access.auth import Scope
from hub.app import HUB, Hub, create_app
from hub.broadcast.service import BroadcastRequest, create_broadcast
from hub.messaging.sender import Sender
from hub.runtime import outbox_hooks
from models import (
    Area,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    GroupChat,
    InboundEvent,
    JoinRequest,
    MessageKind,
    OutboundMessage,
    OutboxState,
)
from tests.conftest import PUBLIC_URL, FakeClock, telegram_config
from tests.conftest import TELEGRAM_WEBHOOK_SECRET as SECRET
from tests.factories import bearer, make_member, make_token
from tests.fake_telegram import BLOCKED, FakeBotAPI, migrated, retry_after
from tests.manual_time import ManualTime

KELURAHAN = "Sungai Kunjang/Loa Bakung"
GROUP = -1002233445566
_ids = itertools.count(1000)


@pytest_asyncio.fixture
async def tg(db: str, bot_api: FakeBotAPI) -> AsyncIterator[TestClient]:
    app = create_app(telegram_config(bot_api), manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "Siti"}


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Siti", "last_name": "Rahma"}


def message_update(user_id: int, text: str = "", chat: dict[str, Any] | None = None, **more: Any):
    message = {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": chat or private_chat(user_id),
        "from": user(user_id),
        **({"text": text} if text else {}),
        **more,
    }
    return {"update_id": next(_ids), "message": message}


def callback_update(user_id: int, chat_id: int, message_id: int, data: str) -> dict[str, Any]:
    chat = private_chat(chat_id) if chat_id > 0 else {"id": chat_id, "type": "supergroup"}
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "from": user(user_id),
            "chat_instance": "1",
            "data": data,
            "message": {"message_id": message_id, "date": int(time.time()), "chat": chat},
        },
    }


def reaction_update(user_id: int, chat_id: int, message_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "message_reaction": {
            "chat": private_chat(chat_id),
            "message_id": message_id,
            "user": user(user_id),
            "date": int(time.time()),
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        },
    }


async def post_update(client: TestClient, update: dict[str, Any], secret: str = SECRET) -> int:
    resp = await client.post(
        "/webhooks/telegram",
        data=json.dumps(update),
        headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
    )
    await hub_of(client).tasks.wait()
    return resp.status


async def send_all(hub: Hub) -> None:
    """Run the sender until nothing is due."""
    while await hub.sender.run_once():
        pass


async def telegram_member(user_id: int, **kwargs: Any):  # type: ignore[no-untyped-def]
    member = await make_member(f"{KELURAHAN}/RT 001", channels=(), **kwargs)
    await ChannelAddress.create(member=member, channel="telegram", address=str(user_id))
    member.preferred_channel = "telegram"
    await member.save()
    return member


async def broadcast(client: TestClient, **audience: Any) -> int:
    token = await make_token()
    resp = await client.post(
        "/api/v1/broadcasts",
        json={
            "title": "Kerja bakti",
            "text": "Kerja bakti hari *Minggu* pukul 07.00 <WITA>.",
            "audience": audience or {"areas": [KELURAHAN]},
        },
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


# Start-up ------------------------------------------------------------------------------------


async def test_start_sets_the_webhook_and_the_command_menu(tg: TestClient, bot_api: FakeBotAPI):
    [webhook] = bot_api.calls_to("setWebhook")
    assert webhook["url"] == "https://balai.example.id/webhooks/telegram"
    assert webhook["secret_token"] == SECRET
    assert {"message_reaction", "chat_member", "poll_answer", "callback_query"} <= set(
        webhook["allowed_updates"]
    )
    [commands] = bot_api.calls_to("setMyCommands")
    assert [c["command"] for c in commands["commands"]] == [
        "bantuan",
        "berhenti",
        "mulai",
        "aduan",
        "layanan",
        "status",
        "cek",
    ]
    assert (await tg.get("/readyz")).status == 200


# Onboarding and acknowledgement --------------------------------------------------------------


async def test_deep_link_then_broadcast_then_tap(tg: TestClient, bot_api: FakeBotAPI) -> None:
    hub = hub_of(tg)
    member = await make_member(f"{KELURAHAN}/RT 001", channels=())
    assert await post_update(tg, message_update(5001, f"/start {member.invite_code}")) == 200
    address = await ChannelAddress.get(channel="telegram", address="5001")
    assert address.member_id == member.id
    await send_all(hub)
    assert "terhubung" in bot_api.calls_to("sendMessage")[-1]["text"]

    broadcast_id = await broadcast(tg)
    await send_all(hub)
    sent = bot_api.calls_to("sendMessage")[-1]
    assert sent["chat_id"] == 5001
    assert sent["parse_mode"] == "HTML"
    assert "<b>Minggu</b>" in sent["text"] and "&lt;WITA&gt;" in sent["text"]
    [[button]] = sent["reply_markup"]["inline_keyboard"]
    assert button["text"] == "✅ Sudah dibaca"
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert delivery.status == DeliveryStatus.SENT
    message_id = int(delivery.external_id.split(":")[1])

    await post_update(tg, callback_update(5001, 5001, message_id, button["callback_data"]))
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED
    assert delivery.ack_evidence == "button"
    [toast] = bot_api.calls_to("answerCallbackQuery")
    assert "tercatat" in toast["text"]

    await send_all(hub)  # the announcement is edited in place
    [edit] = bot_api.calls_to("editMessageText")
    assert edit["chat_id"] == 5001 and edit["message_id"] == message_id
    assert "Sudah dikonfirmasi" in edit["text"]
    assert not (edit.get("reply_markup") or {}).get("inline_keyboard")

    # A second tap: nothing changes, nothing more is sent, the toast says it was recorded before.
    before = len(bot_api.calls_to("sendMessage"))
    await post_update(tg, callback_update(5001, 5001, message_id, button["callback_data"]))
    await send_all(hub)
    assert len(bot_api.calls_to("sendMessage")) == before
    assert len(bot_api.calls_to("editMessageText")) == 1
    assert "sebelumnya" in bot_api.calls_to("answerCallbackQuery")[-1]["text"]


async def test_reaction_and_reply_are_read_evidence(tg: TestClient, bot_api: FakeBotAPI) -> None:
    hub = hub_of(tg)
    await telegram_member(5002)
    await telegram_member(5003)
    broadcast_id = await broadcast(tg)
    await send_all(hub)
    by_chat = {d.address: d for d in await Delivery.filter(broadcast_id=broadcast_id)}
    reacted_id = int(by_chat["5002"].external_id.split(":")[1])
    replied_id = int(by_chat["5003"].external_id.split(":")[1])

    await post_update(tg, reaction_update(5002, 5002, reacted_id))
    reply = {"message_id": replied_id, "date": 0, "chat": private_chat(5003)}
    await post_update(tg, message_update(5003, "Siap, sudah saya teruskan", reply_to_message=reply))

    reacted = await Delivery.get(id=by_chat["5002"].id)
    replied = await Delivery.get(id=by_chat["5003"].id)
    assert (reacted.status, reacted.read_evidence) == (DeliveryStatus.READ, "reaction")
    assert (replied.status, replied.read_evidence) == (DeliveryStatus.READ, "reply")


async def test_contacts_bind_only_the_senders_own_number(tg: TestClient, bot_api: FakeBotAPI):
    hub = hub_of(tg)
    member = await make_member(f"{KELURAHAN}/RT 001", channels=(), phone="+6281234567890")
    foreign = {"phone_number": "6281234567890", "first_name": "Siti", "user_id": 999}
    await post_update(tg, message_update(5004, contact=foreign))
    assert not await ChannelAddress.exists(channel="telegram", address="5004")
    await send_all(hub)
    assert "nomor Anda sendiri" in bot_api.calls_to("sendMessage")[-1]["text"]

    own = {"phone_number": "6281234567890", "first_name": "Siti", "user_id": 5004}
    await post_update(tg, message_update(5004, contact=own))
    address = await ChannelAddress.get(channel="telegram", address="5004")
    assert address.member_id == member.id


async def test_a_stranger_is_told_how_to_join_and_staff_see_the_request(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    await post_update(tg, message_update(5005, "Selamat pagi, saya ketua RT 05"))
    await send_all(hub_of(tg))
    sent = bot_api.calls_to("sendMessage")[-1]
    assert "DAFTAR" in sent["text"]
    keyboard = sent["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    [request] = await JoinRequest.all()
    assert (request.channel, request.address) == ("telegram", "5005")
    token = await make_token()
    listed = await (await tg.get("/api/v1/join-requests", headers=bearer(token))).json()
    assert [r["id"] for r in listed["join_requests"]] == [request.id]


# The webhook itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "wrong-secret"])
async def test_a_wrong_secret_is_403_and_stores_nothing(tg: TestClient, secret: str) -> None:
    assert await post_update(tg, message_update(5006, "halo"), secret=secret) == 403
    assert await InboundEvent.all().count() == 0


async def test_a_replayed_update_is_processed_once(tg: TestClient, bot_api: FakeBotAPI) -> None:
    await telegram_member(5007)
    update = message_update(5007, "BANTUAN")
    assert await post_update(tg, update) == 200
    assert await post_update(tg, update) == 200
    assert await InboundEvent.filter(channel="telegram").count() == 1
    await send_all(hub_of(tg))
    assert len(bot_api.calls_to("sendMessage")) == 1


def poll_answer_update(user_id: int, poll_id: str, option_ids: list[int]) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "poll_answer": {"poll_id": poll_id, "user": user(user_id), "option_ids": option_ids},
    }


async def test_a_changed_poll_vote_is_not_dropped_as_a_replay(tg: TestClient) -> None:
    """Telegram sends a poll answer whenever the vote changes: each change (even back to the
    first choice, or taking the vote back) is an event; the same update sent again is not."""
    await telegram_member(5008)
    first = poll_answer_update(5008, "5933294102837460993", [0])
    votes = [
        first,
        poll_answer_update(5008, "5933294102837460993", [2]),
        poll_answer_update(5008, "5933294102837460993", []),  # taken back
        poll_answer_update(5008, "5933294102837460993", [0]),  # and the first choice again
    ]
    for vote in votes:
        assert await post_update(tg, vote) == 200
    assert await post_update(tg, first) == 200  # Telegram retrying a webhook: a replay
    stored = await InboundEvent.filter(channel="telegram").order_by("id")
    assert len(stored) == 4
    answers = [row.payload["event"]["poll_answer"] for row in stored]
    assert [a["option_ids"] for a in answers] == [[0], [2], [], [0]]
    assert all(row.processed_at is not None and row.error is None for row in stored)


async def test_malformed_and_unused_updates(tg: TestClient) -> None:
    resp = await tg.post(
        "/webhooks/telegram",
        data=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert resp.status == 400
    nested = await tg.post(
        "/webhooks/telegram",
        data=b'{"message": ' + b"[" * 100_000,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert nested.status == 400
    unused = {"update_id": next(_ids), "edited_message": {"message_id": 1, "date": 0}}
    assert await post_update(tg, unused) == 200
    assert await InboundEvent.all().count() == 0
    # A date beyond year 9999 is no reason for a 500: the message is taken as received now.
    assert await post_update(tg, message_update(5009, "halo", date=10**20)) == 200
    assert await InboundEvent.filter(channel="telegram").count() == 1
    # A chat id no column holds is not Telegram's: dropped, not stored.
    assert await post_update(tg, message_update(10**200, "halo")) == 200
    assert await InboundEvent.filter(channel="telegram").count() == 1
    assert await JoinRequest.all().values_list("address", flat=True) == ["5009"]


# Errors from Telegram ------------------------------------------------------------------------


async def test_429_pauses_the_bot_and_the_message_is_sent_later(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(tg)
    time = ManualTime(autojump=True)
    hub.sender.limiters["telegram"] = RateLimiter(30, clock=time, sleep=time.sleep)
    await telegram_member(5008)
    bot_api.fail(*retry_after(3))
    await broadcast(tg)
    before = dt.datetime.now(dt.UTC)
    await hub.sender.run_once()
    message = await OutboundMessage.get(kind="broadcast")
    assert message.state == OutboxState.QUEUED
    assert message.attempts == 1
    assert message.next_attempt_at >= before + dt.timedelta(seconds=3)
    # The whole bot waits retry_after, not just the chat (on the test's clock, which stood still).
    assert hub.sender.limiter("telegram").delay() == pytest.approx(3)


async def test_blocked_marks_the_address_and_falls_back_to_the_next_channel(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(tg)
    member = await telegram_member(5009)
    await ChannelAddress.create(member=member, channel="sandbox", address=f"sandbox-{member.id}")
    bot_api.fail(*BLOCKED, chat_id=5009)
    broadcast_id = await broadcast(tg)
    await send_all(hub)
    blocked = await ChannelAddress.get(channel="telegram", address="5009")
    assert blocked.blocked_at is not None
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert (delivery.channel, delivery.status) == ("sandbox", DeliveryStatus.SENT)
    sandbox = hub.channels["sandbox"]
    assert "Kerja bakti" in sandbox.messages(f"sandbox-{member.id}")[0].text  # type: ignore[attr-defined]


# Groups --------------------------------------------------------------------------------------


async def test_a_linked_group_gets_the_post_and_follows_a_migration(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(tg)
    member = await telegram_member(5010)
    token = await make_token()
    resp = await tg.post(
        "/api/v1/groups/link-codes", json={"area": KELURAHAN}, headers=bearer(token)
    )
    code = (await resp.json())["code"]
    group_chat = {"id": GROUP, "type": "supergroup", "title": "Ketua RT Loa Bakung"}
    await post_update(
        tg, message_update(5010, f"/hubungkan@balaiwarga_bot {code}", chat=group_chat)
    )
    group = await GroupChat.get(channel="telegram")
    assert (group.address, group.title) == (str(GROUP), "Ketua RT Loa Bakung")
    await send_all(hub)
    assert "terhubung" in bot_api.calls_to("sendMessage")[-1]["text"]

    broadcast_id = await broadcast(tg)
    await send_all(hub)
    [post] = [
        c for c in bot_api.calls_to("sendMessage") if c["chat_id"] == GROUP and "Kerja" in c["text"]
    ]
    [[button]] = post["reply_markup"]["inline_keyboard"]
    assert button["callback_data"] == f"ackb:{broadcast_id}"
    post_row = await OutboundMessage.get(kind="group_post")
    post_id = int(post_row.external_id.split(":")[1])

    # A member taps the button under the group post: their own delivery is acknowledged.
    await post_update(tg, callback_update(5010, GROUP, post_id, button["callback_data"]))
    delivery = await Delivery.get(member_id=member.id)
    assert (delivery.status, delivery.ack_evidence) == (DeliveryStatus.ACKNOWLEDGED, "group_button")

    # The group becomes a supergroup with a new id: the next post follows it.
    new_id = -1009988776655
    bot_api.fail(*migrated(new_id), chat_id=GROUP)
    await broadcast(tg)
    await send_all(hub)
    group = await GroupChat.get(id=group.id)
    assert group.address == str(new_id)
    assert any(c["chat_id"] == new_id for c in bot_api.calls_to("sendMessage"))


class Ticks:
    """Monotonic seconds for the channel's per-chat pacing, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_posts_beyond_the_group_limit_wait_their_turn_and_never_fail(
    db: str, bot_api: FakeBotAPI, clock: FakeClock
) -> None:
    """Many send-now broadcasts to one area: the group's limit holds posts back, costing nothing."""
    broadcasts = 8
    config = telegram_config(bot_api, group_messages_per_minute=3, messages_per_second=1000)
    ticks = Ticks()

    async def sink(events: list[Any]) -> None:
        pass

    # No waiting inside send(): every send beyond the chat's limit is held back at once.
    channel = TelegramChannel(
        config.telegram, sink, public_url=PUBLIC_URL, max_chat_wait=0.0, clock=ticks
    )
    await channel.start()
    try:
        sender = Sender({"telegram": channel}, hooks=outbox_hooks(), max_attempts=2, clock=clock)
        await telegram_member(5020)
        area = await Area.get(path=KELURAHAN)
        await GroupChat.create(
            channel="telegram", address=str(GROUP), title="RT", area=area, linked_at=clock()
        )
        for n in range(broadcasts):
            await create_broadcast(
                config,
                BroadcastRequest(title=f"Pengumuman {n}", text="Kerja bakti.", areas=[KELURAHAN]),
                user=None,
                scope=Scope(None, None),
                enabled_channels={"telegram": TelegramChannel},
                now=clock(),
            )
        per_round = []  # posts the group got in each round, a minute apart
        for _ in range(2 * broadcasts):
            if not await OutboundMessage.filter(state=OutboxState.QUEUED).exists():
                break
            before = len([c for c in bot_api.calls_to("sendMessage") if c["chat_id"] == GROUP])
            await sender.run_once()
            after = len([c for c in bot_api.calls_to("sendMessage") if c["chat_id"] == GROUP])
            per_round.append(after - before)
            assert not await OutboundMessage.filter(state=OutboxState.FAILED).exists()
            # Held back by our own pacing: not an attempt.
            assert set(
                await OutboundMessage.filter(state=OutboxState.QUEUED).values_list(
                    "attempts", flat=True
                )
            ) <= {0}
            clock.advance(seconds=61)
            ticks.now += 61
        # The group's limit a minute, never more; the member's private chat took a round each.
        assert per_round == [3, 3, 2] + [0] * (broadcasts - 3)
        posts = OutboundMessage.filter(kind=MessageKind.GROUP_POST)
        assert await posts.filter(state=OutboxState.SENT, attempts=1).count() == broadcasts
        # The private chat (one a second) got every announcement too, each at its first attempt.
        delivered = await Delivery.filter(status=DeliveryStatus.SENT, attempts=1).count()
        assert delivered == broadcasts
        assert bot_api.answered_429 == 0
    finally:
        await channel.stop()


# Long polling ----------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_polling_mode_receives_updates(db: str, bot_api: FakeBotAPI) -> None:
    app = create_app(
        telegram_config(bot_api, mode="polling"), manage_database=False, run_workers=False
    )
    async with TestClient(TestServer(app)) as client:
        member = await make_member(f"{KELURAHAN}/RT 001", channels=())
        bot_api.push_update(message_update(5011, f"/start {member.invite_code}"))

        async def bound() -> bool:
            await hub_of(client).tasks.wait()
            return await ChannelAddress.exists(channel="telegram", address="5011")

        await eventually(bound)
        assert bot_api.calls_to("deleteWebhook")
        assert not bot_api.calls_to("setWebhook")
