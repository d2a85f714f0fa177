"""Conversations through the sandbox phone: keywords, typos, opt-out, joining, replies, replays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels import InboundMessage
from channels.sandbox import SandboxChannel
from hub.app import Hub
from hub.core.texts import text as say
from models import (
    ChannelAddress,
    Conversation,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    Member,
    OutboundMessage,
)
from tests.factories import bearer, make_member, make_token

AREA = "Sungai Kunjang/Loa Bakung"


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


def hub_said(hub: Hub, key: str, **values: Any) -> str:
    return say("id", key, hub=hub.config.hub.name, **values)


async def send(hub: Hub, address: str, text: str = "", **kwargs: Any) -> list[str]:
    """Act as the phone at `address`, let the sender run, return what the hub answered."""
    before = len(phone(hub).messages(address))
    await phone(hub).act(address, text=text, **kwargs)
    await hub.sender.run_once()
    assert await InboundEvent.filter(error__isnull=False).count() == 0
    return [m.text for m in phone(hub).messages(address)[before:]]


async def address_of(member: Member) -> ChannelAddress:
    return await ChannelAddress.get(member_id=member.id, channel="sandbox")


async def broadcast(client: TestClient, hub: Hub, token: str) -> int:
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Kerja bakti", "text": "Minggu pukul 07.00.", "audience": {"areas": [AREA]}},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    await hub.sender.run_once()
    return (await resp.json())["id"]


# Keywords ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["BANTUAN", "bantuan", " Bantuan! ", "HELP", "/help", "BANTAUN", "1"]
)
async def test_help_answers_the_commands(client: TestClient, hub: Hub, typed: str) -> None:
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    assert await send(hub, address, typed) == [hub.router.help_text("id")]


async def test_typos_of_harmless_commands_are_taken_as_meant(client: TestClient, hub: Hub) -> None:
    parse = hub.router.parse
    assert parse("BANTAUN") == ("help", "", None)
    assert parse("MULIA") == ("start", "", None)
    assert parse("/start@balaiwarga_bot") == ("start", "", None)
    # A typo of a command that changes something is asked back, never guessed.
    assert parse("BERHENTY") == (None, "", "BERHENTI")
    assert parse("   ") == (None, "", None)
    assert parse("2") == ("stop", "", None)  # the menu's numbers
    beyond = str(len(hub.router.menu_commands()) + 1)
    assert parse(beyond) == (None, beyond, None)
    assert parse("4") == ("aduan", "", None)  # ADUAN, LAYANAN and STATUS follow in the menu


async def test_a_typo_of_berhenti_is_asked_back_not_applied(client: TestClient, hub: Hub) -> None:
    member = await make_member(f"{AREA}/RT 001")
    address = await address_of(member)
    assert await send(hub, address.address, "BERHENTY") == [
        hub_said(hub, "did_you_mean", suggestion="BERHENTI")
    ]
    assert (await address_of(member)).opted_out_at is None


async def test_an_unknown_word_gets_the_polite_reply(client: TestClient, hub: Hub) -> None:
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    assert await send(hub, address, "halo") == [hub_said(hub, "unknown_command", text="halo")]
    assert "belum memahami" in hub_said(hub, "unknown_command", text="x")


async def test_free_text_is_taken_as_a_message_for_staff(client: TestClient, hub: Hub) -> None:
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    text = "Pak, lampu jalan di gang 3 mati sejak kemarin"
    assert await send(hub, address, text) == [hub_said(hub, "message_received")]
    stored = await InboundEvent.filter(channel="sandbox").order_by("-id").first()
    assert stored is not None and stored.payload["event"]["text"] == text


async def test_berhenti_opts_out_and_broadcasts_skip_the_member(
    client: TestClient, hub: Hub
) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001")
    other = await make_member(f"{AREA}/RT 002")
    address = (await address_of(member)).address

    assert await send(hub, address, "BERHENTI") == [hub_said(hub, "opted_out")]
    row = await address_of(member)
    assert row.opted_out_at is not None
    assert not row.reachable

    broadcast_id = await broadcast(client, hub, token)
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert delivery.status == DeliveryStatus.SKIPPED  # skipped and counted, not failed
    assert delivery.failure_reason == "opted_out"
    assert not await OutboundMessage.filter(delivery_id=delivery.id).exists()
    assert phone(hub).messages(address)[-1].text == hub_said(hub, "opted_out")
    sent = await Delivery.get(broadcast_id=broadcast_id, member_id=other.id)
    assert sent.status == DeliveryStatus.SENT

    view = await (await client.get(f"/api/v1/members/{member.id}", headers=bearer(token))).json()
    assert view["status"] == "opted_out"


async def test_mulai_opts_back_in(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001", name="Pak Darto")
    address = (await address_of(member)).address
    await send(hub, address, "STOP")
    assert (await address_of(member)).opted_out_at is not None

    assert await send(hub, address, "mulai") == [hub_said(hub, "opted_in", name="Pak Darto")]
    assert (await address_of(member)).opted_out_at is None

    broadcast_id = await broadcast(client, hub, token)
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert delivery.status == DeliveryStatus.SENT
    assert "Kerja bakti" in phone(hub).messages(address)[-1].text


# Strangers and joining -----------------------------------------------------------------------


async def test_a_stranger_gets_the_join_instructions(client: TestClient, hub: Hub) -> None:
    assert await send(hub, "sandbox-stranger", "halo") == [hub_said(hub, "stranger")]
    assert "DAFTAR" in hub_said(hub, "stranger")
    assert not await ChannelAddress.filter(address="sandbox-stranger").exists()


async def test_daftar_with_an_invite_code_binds_the_stranger(client: TestClient, hub: Hub) -> None:
    member = await make_member(f"{AREA}/RT 007", name="Bu Sari", channels=())
    assert member.preferred_channel is None

    answer = await send(hub, "sandbox-new-phone", f"daftar {member.invite_code.lower()}")
    assert answer == [hub_said(hub, "joined", name="Bu Sari", area=f"{AREA}/RT 007")]
    address = await ChannelAddress.get(channel="sandbox", address="sandbox-new-phone")
    assert address.member_id == member.id
    assert (await Member.get(id=member.id)).preferred_channel == "sandbox"

    # From now on the phone is the member's: commands work.
    assert await send(hub, "sandbox-new-phone", "BANTUAN") == [hub.router.help_text("id")]


async def test_a_wrong_invite_code_binds_nothing(client: TestClient, hub: Hub) -> None:
    await make_member(f"{AREA}/RT 007", channels=())
    answer = await send(hub, "sandbox-new-phone", "DAFTAR ZZZZ9999")
    assert answer == [hub_said(hub, "bad_code", code="ZZZZ9999")]
    assert not await ChannelAddress.filter(address="sandbox-new-phone").exists()


# Replies to broadcasts -----------------------------------------------------------------------


async def test_a_reply_to_a_broadcast_marks_it_read(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    broadcast_id = await broadcast(client, hub, token)
    message = phone(hub).messages(address)[-1]

    answer = await send(hub, address, "Nanti saya sampaikan ke warga.", reply_to=message.id)
    assert answer == [hub_said(hub, "reply_noted")]
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert delivery.status == DeliveryStatus.READ
    assert delivery.read_evidence == "reply"
    assert delivery.read_at is not None
    assert delivery.acknowledged_at is None


async def test_a_command_sent_as_a_reply_is_still_obeyed(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    broadcast_id = await broadcast(client, hub, token)
    message = phone(hub).messages(address)[-1]

    assert await send(hub, address, "BERHENTI", reply_to=message.id) == [hub_said(hub, "opted_out")]
    assert (await address_of(member)).opted_out_at is not None
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert delivery.status == DeliveryStatus.READ


# Replays and state ---------------------------------------------------------------------------


async def test_a_replayed_event_changes_nothing(client: TestClient, hub: Hub) -> None:
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    event = InboundMessage(
        channel="sandbox",
        address=address,
        external_id="sbx-in-replayed",
        received_at=dt.datetime.now(dt.UTC),
        text="BERHENTI",
    )
    await hub.dispatcher.receive([event])
    opted_out_at = (await address_of(member)).opted_out_at
    assert opted_out_at is not None
    replies = await OutboundMessage.filter(address=address).count()
    conversations = await Conversation.all().values()

    await hub.dispatcher.receive([event])
    await hub.dispatcher.receive([event, event])
    assert (await address_of(member)).opted_out_at == opted_out_at
    assert await OutboundMessage.filter(address=address).count() == replies == 1
    assert await InboundEvent.filter(external_id="msg:sbx-in-replayed").count() == 1
    assert await Conversation.all().values() == conversations


async def test_events_stored_but_not_processed_are_processed_after_a_restart(
    client: TestClient, hub: Hub
) -> None:
    member = await make_member(f"{AREA}/RT 001")
    address = (await address_of(member)).address
    event = InboundMessage(
        channel="sandbox",
        address=address,
        external_id="stored-before-crash",
        received_at=dt.datetime.now(dt.UTC),
        text="BERHENTI",
    )
    await hub.dispatcher.store([event])  # the hub stopped before processing it
    assert (await address_of(member)).opted_out_at is None
    assert await hub.dispatcher.process_pending() == 1
    assert (await address_of(member)).opted_out_at is not None
    assert await hub.dispatcher.process_pending() == 0
