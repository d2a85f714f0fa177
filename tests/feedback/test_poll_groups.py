"""Polls in linked group chats: a native Telegram poll in the group (its poll id kept on the
group post's outbox row), answers from members counted on their own delivery, changed and taken
back, nothing counted for a group member the poll was not sent to; on a channel without native
polls the options are buttons under the group post, answered with toasts only."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from channels import InboundKind, InboundMessage
from hub.app import create_app
from hub.feedback.polls.service import payload
from hub.runtime import HUB, Hub
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    GroupChat,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    PollVote,
)
from tests.conftest import make_config, telegram_settings
from tests.factories import bearer, make_area, make_member, make_token
from tests.fake_telegram import FakeBotAPI
from tests.feedback.test_poll_channels import poll_answer, telegram_webhook
from tests.test_messenger_features import FakeChat, hub_said, inbound, last_outbox_id, receive

KELURAHAN = "Sungai Kunjang/Loa Bakung"
ELSEWHERE = "Sungai Kunjang/Karang Asam"
GROUP = -100_700
OPTIONS = ["Jumat malam", "Sabtu malam", "Minggu pagi"]
_ids = itertools.count(88_000)


@pytest_asyncio.fixture
async def telegram(db: str, bot_api: FakeBotAPI) -> AsyncIterator[TestClient]:
    config = make_config(
        telegram=telegram_settings(bot_api), hub={"public_url": "https://balai.example.id"}
    )
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def member_on(channel: str, address: str, area: str) -> Member:
    member = await make_member(area, channels=())
    await ChannelAddress.create(member=member, channel=channel, address=address)
    member.preferred_channel = channel
    await member.save()
    return member


async def link(channel: str, address: str) -> None:
    await GroupChat.create(
        channel=channel,
        address=address,
        title="Ketua RT Loa Bakung",
        area=await make_area(KELURAHAN),
        linked_at=dt.datetime.now(dt.UTC),
    )


async def create_poll(client: TestClient) -> int:
    resp = await client.post(
        "/api/v1/polls",
        json={
            "question": "Kapan rapat RT sebaiknya diadakan?",
            "options": OPTIONS,
            "audience": {"areas": [KELURAHAN]},
            "closes_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        },
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def group_post(poll_id: int) -> OutboundMessage:
    [post] = await OutboundMessage.filter(kind=MessageKind.GROUP_POST, broadcast__poll__id=poll_id)
    return post


async def test_a_native_poll_in_the_group_counts_each_members_vote_on_their_delivery(
    telegram: TestClient, bot_api: FakeBotAPI
) -> None:
    hub = hub_of(telegram)
    await link("telegram", str(GROUP))
    member = await member_on("telegram", "5011", f"{KELURAHAN}/RT 001")
    outsider = await member_on("telegram", "6022", f"{ELSEWHERE}/RT 001")
    poll_id = await create_poll(telegram)
    await send_all(hub)

    to_group = [c for c in bot_api.calls_to("sendPoll") if c["chat_id"] == GROUP]
    assert len(to_group) == 1 and to_group[0]["is_anonymous"] is False
    assert to_group[0]["question"] == "Kapan rapat RT sebaiknya diadakan?"
    post = await group_post(poll_id)
    delivery = await Delivery.get(member_id=member.id)
    assert post.state == OutboxState.SENT and post.poll_ref
    assert post.poll_ref != delivery.poll_ref  # the group's poll is a poll of its own
    messages_before = len(bot_api.calls_to("sendMessage"))

    # The member votes in the group: the answer names the group's poll and the voter only.
    vote = poll_answer(post.poll_ref, 5011, [1], next(_ids))
    await telegram_webhook(telegram, vote)
    await telegram_webhook(telegram, vote)  # the same update again: dropped
    [row] = await PollVote.filter(poll_id=poll_id)
    assert (row.member_id, row.option, row.delivery_id) == (member.id, 1, delivery.id)
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.ack_evidence) == (DeliveryStatus.ACKNOWLEDGED, "poll")

    await telegram_webhook(telegram, poll_answer(post.poll_ref, 5011, [2], next(_ids)))
    assert [v.option for v in await PollVote.filter(poll_id=poll_id)] == [2]
    await telegram_webhook(telegram, poll_answer(post.poll_ref, 5011, [], next(_ids)))
    assert await PollVote.filter(poll_id=poll_id).count() == 0
    await telegram_webhook(telegram, poll_answer(post.poll_ref, 5011, [0], next(_ids)))
    await send_all(hub)
    assert [v.option for v in await PollVote.filter(poll_id=poll_id)] == [0]
    assert len(bot_api.calls_to("sendMessage")) == messages_before  # the poll shows the vote

    # A member of the group the poll was not sent to: nothing counted, nothing in the group.
    await telegram_webhook(telegram, poll_answer(post.poll_ref, 6022, [1], next(_ids)))
    await send_all(hub)
    assert await PollVote.filter(poll_id=poll_id).count() == 1
    assert not await PollVote.exists(member_id=outsider.id)
    assert all(c["chat_id"] != GROUP for c in bot_api.calls_to("sendMessage"))

    # Closing stops the group's poll too.
    resp = await telegram.post(f"/api/v1/polls/{poll_id}/close", headers=bearer(await make_token()))
    assert resp.status == 200
    await hub.tasks.wait()
    assert {c["chat_id"] for c in bot_api.calls_to("stopPoll")} == {5011, GROUP}


async def test_poll_buttons_under_a_group_post_vote_for_the_tapping_member(
    client: TestClient, hub: Hub
) -> None:
    chat = FakeChat(hub.receive)
    hub.channels[FakeChat.name] = chat
    group = "-100800"
    await link("fakechat", group)
    member = await member_on("fakechat", "fc-siti", f"{KELURAHAN}/RT 001")
    await member_on("fakechat", "fc-budi", f"{ELSEWHERE}/RT 001")
    poll_id = await create_poll(client)
    await send_all(hub)
    [posted] = chat.sent_to(group)
    assert [b.payload for b in posted.poll_buttons()] == [payload(poll_id, n) for n in range(3)]
    assert (await group_post(poll_id)).poll_ref is None  # buttons: no platform poll id
    after = await last_outbox_id()

    def tap(sender: str, option: int) -> InboundMessage:
        return inbound(
            "fakechat",
            group,
            sender=sender,
            in_group=True,
            kind=InboundKind.BUTTON,
            button_payload=payload(poll_id, option),
        )

    await receive(hub, tap("fc-siti", 1))
    await receive(hub, tap("fc-siti", 2))
    await receive(hub, tap("fc-budi", 0))  # on the roster, not a recipient
    await receive(hub, tap("fc-stranger", 0))  # not on the roster
    [vote] = await PollVote.filter(poll_id=poll_id)
    assert (vote.member_id, vote.option) == (member.id, 2)
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED
    toasts = [text for _, text in chat.toasts]
    assert OPTIONS[1] in toasts[0] and OPTIONS[2] in toasts[1]
    assert toasts[2:] == [hub_said(hub, "poll_not_yours"), hub_said(hub, "ack_toast_unknown")]
    # Toasts only: nothing posted in the group, nothing queued for anyone.
    assert await OutboundMessage.filter(id__gt=after).count() == 0
