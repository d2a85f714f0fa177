"""The hub side of messenger features, driven through Hub.receive and the sender.

Onboarding by invite code and by shared contact, opt-out and in, acknowledgement taps with edits
in place or thank-you replies, every kind of read evidence, falling back to a member's next
channel, join requests for staff, and the bot command menu. A recording fake channel
("fakechat", no editing, toasts recorded, send errors scripted per address) stands beside the
sandbox (which edits in place).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels import (
    Channel,
    ChannelEvent,
    ChannelEventKind,
    EventSink,
    InboundKind,
    InboundMessage,
    Location,
    Media,
    MediaKind,
    Outgoing,
    SendError,
    SendErrorReason,
    SendResult,
    StatusKind,
    StatusUpdate,
)
from channels.sandbox import SandboxChannel
from hub.app import Hub
from hub.broadcast.deliveries import ack_payload
from hub.core.texts import text as say
from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    InboxMessage,
    JoinRequest,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    UserRole,
)
from tests.factories import bearer, make_member, make_token

AREA = "Sungai Kunjang/Loa Bakung"
RT1 = f"{AREA}/RT 001"


# A recording channel ------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeSettings:
    messages_per_second: int = 10_000


class FakeChat(Channel):
    """A messenger that cannot edit: records sends, toasts and the command menu.

    `refuse[address]` makes every send to that address fail with that reason; `fail_once[address]`
    fails the next sends there with the listed errors, one each.
    """

    name = "fakechat"
    can_edit = False

    def __init__(self, sink: EventSink) -> None:
        super().__init__(FakeSettings(), sink)
        self.sent: list[Outgoing] = []
        self.toasts: list[tuple[InboundMessage, str]] = []
        self.commands: list[tuple[str, str]] | None = None
        self.started = 0
        self.refuse: dict[str, SendErrorReason] = {}
        self.fail_once: dict[str, list[SendError]] = {}
        self.attempts: list[str] = []
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self.started += 1

    async def send(self, outgoing: Outgoing) -> SendResult:
        self.attempts.append(outgoing.address)
        if outgoing.address in self.refuse:
            raise SendError(self.refuse[outgoing.address], "scripted")
        if self.fail_once.get(outgoing.address):
            raise self.fail_once[outgoing.address].pop(0)
        self.sent.append(outgoing)
        return SendResult(f"fc-{next(self._ids)}", dt.datetime.now(dt.UTC))

    async def answer(self, event: InboundMessage, text: str) -> None:
        self.toasts.append((event, text))

    async def publish_commands(self, commands: list[tuple[str, str]]) -> None:
        self.commands = list(commands)

    def sent_to(self, address: str) -> list[Outgoing]:
        return [o for o in self.sent if o.address == address]


@pytest.fixture
def fake(hub: Hub) -> FakeChat:
    channel = FakeChat(hub.receive)
    hub.channels[FakeChat.name] = channel  # the sender and create_broadcast see the same mapping
    return channel


# Helpers ------------------------------------------------------------------------------------

_event_ids = itertools.count(1)


def inbound(channel: str, address: str, text: str = "", **fields: Any) -> InboundMessage:
    """An inbound message with a fresh external id, as a platform would report it."""
    return InboundMessage(
        channel=channel,
        address=address,
        external_id=f"in-{next(_event_ids)}",
        received_at=dt.datetime.now(dt.UTC),
        text=text,
        **fields,
    )


def photo(size: int | None) -> Media:
    return Media(MediaKind.PHOTO, f"photo-{size}", "image/jpeg", size)


async def receive(hub: Hub, *events: InboundMessage | StatusUpdate | ChannelEvent) -> None:
    """Hand events to the hub as a channel does; none of them may fail in processing."""
    await hub.receive(list(events))
    errors = await InboundEvent.filter(error__isnull=False).values_list("error", flat=True)
    assert errors == [], errors


def hub_said(hub: Hub, key: str, **values: Any) -> str:
    return say("id", key, hub=hub.config.hub.name, **values)


async def queued(address: str, *, after: int = 0) -> list[OutboundMessage]:
    """Outbox rows for an address, oldest first, with ids above `after`."""
    return list(await OutboundMessage.filter(address=address, id__gt=after).order_by("id"))


async def last_outbox_id() -> int:
    row = await OutboundMessage.all().order_by("-id").first()
    return row.id if row else 0


async def texts_to(address: str, *, after: int = 0) -> list[str]:
    return [m.text for m in await queued(address, after=after)]


async def address_row(member: Member, channel: str) -> ChannelAddress:
    return await ChannelAddress.get(member_id=member.id, channel=channel)


async def post_broadcast(
    client: TestClient, token: str, *, areas: list[str] | None = None, members: list[int] = ()
) -> int:
    audience: dict[str, Any] = {"areas": areas or [], "members": list(members)}
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Kerja bakti", "text": "Minggu pukul 07.00.", "audience": audience},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def sent_delivery(client: TestClient, hub: Hub, member: Member) -> Delivery:
    """Broadcast to one member and send it; returns their sent delivery."""
    broadcast_id = await post_broadcast(client, await make_token(), members=[member.id])
    await hub.sender.run_once()
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.external_id is not None
    return delivery


def sandbox(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


# 1. Onboarding ------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["/start {code}", "DAFTAR {code}", "daftar {lower}"])
async def test_an_invite_code_binds_an_unknown_sender(
    client: TestClient, hub: Hub, fake: FakeChat, typed: str
) -> None:
    member = await make_member(f"{AREA}/RT 007", name="Bu Sari", channels=())
    assert member.preferred_channel is None
    text = typed.format(code=member.invite_code, lower=member.invite_code.lower())

    await receive(hub, inbound("fakechat", "tg-501", text, sender_name="Sari"))

    address = await ChannelAddress.get(channel="fakechat", address="tg-501")
    assert address.member_id == member.id
    assert (await Member.get(id=member.id)).preferred_channel == "fakechat"
    replies = await queued("tg-501")
    assert [r.text for r in replies] == [
        hub_said(hub, "joined", name="Bu Sari", area=f"{AREA}/RT 007")
    ]
    assert replies[0].kind == MessageKind.REPLY
    assert replies[0].member_id == member.id
    assert not await JoinRequest.exists()

    await hub.sender.run_once()
    assert [o.text for o in fake.sent_to("tg-501")] == [replies[0].text]


async def test_joining_keeps_an_existing_preferred_channel(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("sandbox",))
    await receive(hub, inbound("fakechat", "tg-502", f"/start {member.invite_code}"))
    assert await ChannelAddress.filter(member_id=member.id).count() == 2
    assert (await Member.get(id=member.id)).preferred_channel == "sandbox"


async def test_a_bad_invite_code_binds_nothing(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await make_member(RT1, channels=())
    await receive(hub, inbound("fakechat", "tg-503", "/start ZZZZ9999"))
    assert await texts_to("tg-503") == [hub_said(hub, "bad_code", code="ZZZZ9999")]
    assert not await ChannelAddress.filter(channel="fakechat").exists()


async def test_a_used_code_from_another_account_waits_for_staff_and_the_rt_head_is_told(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, name="Pak Darto", channels=())
    await receive(hub, inbound("fakechat", "tg-701", f"/start {member.invite_code}"))
    rt_head = await address_row(member, "fakechat")
    after = await last_outbox_id()

    # Someone else sends the same code: not bound, a join request naming Pak Darto instead.
    await receive(
        hub, inbound("fakechat", "tg-702", f"/start {member.invite_code}", sender_name="X")
    )
    assert not await ChannelAddress.exists(address="tg-702")
    assert await texts_to("tg-702", after=after) == [hub_said(hub, "claim_pending")]
    [request] = await JoinRequest.filter(address="tg-702", resolved_at=None)
    assert (request.name, request.channel) == ("X", "fakechat")
    [alert] = await queued(rt_head.address, after=after)
    assert alert.text == hub_said(hub, "claim_alert", name="Pak Darto", channel="fakechat")
    assert (alert.member_id, alert.kind) == (member.id, MessageKind.NOTICE)

    # Sent again: the same answer, and no second alert.
    after = await last_outbox_id()
    await receive(hub, inbound("fakechat", "tg-702", f"DAFTAR {member.invite_code}"))
    assert await texts_to("tg-702", after=after) == [hub_said(hub, "claim_pending")]
    assert await queued(rt_head.address, after=after) == []
    assert await JoinRequest.filter(address="tg-702").count() == 1

    # A tap from that account on the RT head's announcement is not the RT head's confirmation.
    delivery = await sent_delivery(client, hub, member)
    await receive(
        hub,
        inbound(
            "fakechat", "tg-702", kind=InboundKind.BUTTON, button_payload=ack_payload(delivery.id)
        ),
    )
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert await ChannelAddress.filter(member_id=member.id).count() == 1


async def test_two_accounts_sending_one_code_at_once_bind_one(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=())
    await asyncio.gather(
        *(
            hub.conversations.on_message(
                inbound("fakechat", f"tg-71{n}", f"/start {member.invite_code}")
            )
            for n in range(5)
        )
    )
    assert await ChannelAddress.filter(member_id=member.id).count() == 1
    assert await JoinRequest.filter(resolved_at=None).count() == 4


async def test_a_stranger_gets_one_join_request_and_the_phone_button(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    for text in ("halo", "selamat pagi pak", "/start"):
        await receive(hub, inbound("fakechat", "tg-504", text, sender_name="Pak Anton"))

    requests = await JoinRequest.filter(channel="fakechat", address="tg-504")
    assert len(requests) == 1
    assert (requests[0].name, requests[0].first_text, requests[0].phone) == (
        "Pak Anton",
        "halo",
        None,
    )
    assert requests[0].resolved_at is None
    replies = await queued("tg-504")
    assert [r.text for r in replies] == [hub_said(hub, "stranger")] * 3
    assert {r.phone_button for r in replies} == {hub_said(hub, "phone_button")}
    assert not await ChannelAddress.filter(address="tg-504").exists()

    await hub.sender.run_once()
    assert fake.sent_to("tg-504")[0].phone_button == hub_said(hub, "phone_button")


async def test_sharing_a_roster_phone_binds_the_member(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, name="Pak Budi", channels=(), phone="+6281234567001")
    await receive(hub, inbound("fakechat", "tg-505", "halo"))
    assert await JoinRequest.filter(address="tg-505", resolved_at=None).exists()

    after = await last_outbox_id()
    contact = inbound("fakechat", "tg-505", kind=InboundKind.CONTACT, phone="+6281234567001")
    await receive(hub, contact)

    address = await ChannelAddress.get(channel="fakechat", address="tg-505")
    assert address.member_id == member.id
    assert address.last_inbound_at is not None
    request = await JoinRequest.get(address="tg-505")
    assert request.resolved_at is not None
    assert await texts_to("tg-505", after=after) == [
        hub_said(hub, "phone_verified", name="Pak Budi")
    ]


async def test_joining_by_phone_sets_the_preferred_channel_if_none(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=(), phone="+6281234567011")
    kept = await make_member(RT1, channels=("sandbox",), phone="+6281234567012")
    for address, phone in (("tg-511", "+6281234567011"), ("tg-512", "+6281234567012")):
        await receive(hub, inbound("fakechat", address, kind=InboundKind.CONTACT, phone=phone))
    assert (await Member.get(id=member.id)).preferred_channel == "fakechat"
    assert (await Member.get(id=kept.id)).preferred_channel == "sandbox"


async def test_a_number_the_platform_vouches_for_binds_and_the_text_is_obeyed(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    """WhatsApp-style: the sender's address is their number, so their first text joins them."""
    member = await make_member(RT1, channels=(), phone="+6281234567013")
    await receive(hub, inbound("fakechat", "wa-513", "BANTUAN", phone="+6281234567013"))
    assert (await ChannelAddress.get(address="wa-513")).member_id == member.id
    assert await texts_to("wa-513") == [hub.router.help_text("id")]


async def test_sharing_an_unknown_phone_makes_a_join_request(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await make_member(RT1, channels=(), phone="+6281234567002")
    contact = inbound(
        "fakechat",
        "tg-506",
        kind=InboundKind.CONTACT,
        phone="+6289999999999",
        sender_name="Pak Joko",
    )
    await receive(hub, contact)

    request = await JoinRequest.get(channel="fakechat", address="tg-506")
    assert (request.phone, request.name, request.resolved_at) == (
        "+6289999999999",
        "Pak Joko",
        None,
    )
    assert await texts_to("tg-506") == [hub_said(hub, "phone_unknown", phone="+6289999999999")]
    assert not await ChannelAddress.filter(address="tg-506").exists()


async def test_a_later_contact_adds_the_phone_to_the_join_request(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await receive(hub, inbound("fakechat", "tg-507", "halo"))
    await receive(
        hub, inbound("fakechat", "tg-507", kind=InboundKind.CONTACT, phone="+6289999999998")
    )
    request = await JoinRequest.get(address="tg-507")
    assert (request.phone, request.first_text) == ("+6289999999998", "halo")


async def test_someone_elses_contact_binds_nobody(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    # Even a roster member's number is no proof when it is not the sender's own.
    await make_member(RT1, channels=(), phone="+6281234567003")
    await receive(hub, inbound("fakechat", "tg-508", kind=InboundKind.FOREIGN_CONTACT))
    assert await texts_to("tg-508") == [hub_said(hub, "share_own_number")]
    assert (await queued("tg-508"))[0].phone_button == hub_said(hub, "phone_button")
    assert not await ChannelAddress.filter(channel="fakechat").exists()


async def test_a_member_sharing_someone_elses_contact_is_asked_for_their_own(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    address = (await address_row(member, "fakechat")).address
    await receive(hub, inbound("fakechat", address, kind=InboundKind.FOREIGN_CONTACT))
    assert await texts_to(address) == [hub_said(hub, "share_own_number")]


async def test_a_shared_number_that_differs_from_the_roster_is_not_called_verified(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, name="Bu Ani", channels=("fakechat",), phone="+6281234567004")
    address = (await address_row(member, "fakechat")).address
    await receive(
        hub, inbound("fakechat", address, kind=InboundKind.CONTACT, phone="+6281299999999")
    )
    assert await texts_to(address) == [hub_said(hub, "phone_mismatch", phone="+6281299999999")]


async def test_a_contact_written_differently_still_matches_the_roster(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=(), phone="+6281234567005")
    event = inbound("fakechat", "stranger-7", kind=InboundKind.CONTACT, phone="0812-3456-7005")
    await receive(hub, event)
    assert (
        await ChannelAddress.get(channel="fakechat", address="stranger-7")
    ).member_id == member.id


async def test_a_tap_on_someone_elses_announcement_is_answered_where_there_is_no_toast(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    owner = await make_member(RT1, channels=("fakechat",))
    other = await make_member(RT1.replace("001", "002"), channels=("fakechat",))
    delivery = await sent_delivery(client, hub, owner)
    other_address = (await address_row(other, "fakechat")).address
    after = await last_outbox_id()
    await receive(
        hub,
        inbound(
            "fakechat",
            other_address,
            kind=InboundKind.BUTTON,
            button_payload=ack_payload(delivery.id),
        ),
    )
    assert await texts_to(other_address, after=after) == [hub_said(hub, "ack_unknown")]
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


async def test_a_member_sharing_their_own_contact_is_verified(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, name="Bu Ani", channels=("fakechat",), phone="+6281234567004")
    address = (await address_row(member, "fakechat")).address
    await receive(
        hub, inbound("fakechat", address, kind=InboundKind.CONTACT, phone="+6281234567004")
    )
    assert await texts_to(address) == [hub_said(hub, "phone_verified", name="Bu Ani")]
    assert await ChannelAddress.filter(member_id=member.id).count() == 1
    assert not await JoinRequest.exists()


# 2. Opt-out and opt-in ----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["BERHENTI", "/berhenti", "STOP", "/berhenti@balaiwarga_bot"])
async def test_stop_words_opt_out(client: TestClient, hub: Hub, fake: FakeChat, typed: str) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    address = (await address_row(member, "fakechat")).address
    await receive(hub, inbound("fakechat", address, typed))
    assert (await address_row(member, "fakechat")).opted_out_at is not None
    assert await texts_to(address) == [hub_said(hub, "opted_out")]


async def test_an_opted_out_member_gets_no_broadcast_until_mulai(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    token = await make_token()
    member = await make_member(RT1, name="Pak Darto", channels=("fakechat",))
    other = await make_member(f"{AREA}/RT 002", channels=("fakechat",))
    address = (await address_row(member, "fakechat")).address
    await receive(hub, inbound("fakechat", address, "/berhenti"))
    await hub.sender.run_once()

    first = await post_broadcast(client, token, areas=[AREA])
    delivery = await Delivery.get(broadcast_id=first, member_id=member.id)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.SKIPPED, "opted_out")
    assert not await OutboundMessage.filter(delivery_id=delivery.id).exists()
    await hub.sender.run_once()
    assert [o.text for o in fake.sent_to(address)] == [hub_said(hub, "opted_out")]
    assert (await Delivery.get(broadcast_id=first, member_id=other.id)).status == (
        DeliveryStatus.SENT
    )
    assert (await Broadcast.get(id=first)).status == BroadcastStatus.SENT

    await receive(hub, inbound("fakechat", address, "MULAI"))
    assert (await address_row(member, "fakechat")).opted_out_at is None
    assert (await queued(address))[-1].text == hub_said(hub, "opted_in", name="Pak Darto")

    second = await post_broadcast(client, token, areas=[AREA])
    await hub.sender.run_once()
    assert (await Delivery.get(broadcast_id=second, member_id=member.id)).status == (
        DeliveryStatus.SENT
    )


async def test_start_from_a_member_who_never_stopped_shows_the_menu(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, name="Pak Darto", channels=("fakechat",))
    address = (await address_row(member, "fakechat")).address
    await receive(hub, inbound("fakechat", address, "/start"))
    await receive(hub, inbound("fakechat", address, f"/start {member.invite_code}"))
    assert await texts_to(address) == [hub.router.menu_text("id", "Pak Darto")] * 2
    assert (await address_row(member, "fakechat")).opted_out_at is None


# 3. Acknowledgement -------------------------------------------------------------------------


def tap(delivery: Delivery, payload: str | None = None, **fields: Any) -> InboundMessage:
    return inbound(
        delivery.channel,
        delivery.address,
        kind=InboundKind.BUTTON,
        button_payload=payload or ack_payload(delivery.id),
        reply_to=delivery.external_id,
        **fields,
    )


async def test_a_tap_on_an_editing_channel_changes_the_announcement_in_place(
    client: TestClient, hub: Hub
) -> None:
    member = await make_member(RT1, channels=("sandbox",))
    delivery = await sent_delivery(client, hub, member)
    announcement = await OutboundMessage.get(delivery_id=delivery.id)
    after = await last_outbox_id()

    await receive(hub, tap(delivery))

    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED
    assert (delivery.ack_evidence, delivery.acknowledged_at is not None) == ("button", True)
    edits = await queued(delivery.address, after=after)
    assert len(edits) == 1, [e.text for e in edits]  # no thank-you reply besides the edit
    edit = edits[0]
    assert edit.edit_of == delivery.external_id
    assert edit.text == f"{announcement.text}\n\n{hub_said(hub, 'acknowledged_mark')}"
    assert edit.buttons == []
    assert edit.kind != MessageKind.REPLY

    await hub.sender.run_once()
    shown = sandbox(hub).messages(delivery.address)
    assert len(shown) == 1
    assert shown[0].edited
    assert shown[0].text.endswith(hub_said(hub, "acknowledged_mark"))
    assert shown[0].buttons == ()

    # A second tap (a new event) changes nothing and queues nothing.
    acknowledged_at = delivery.acknowledged_at
    after = await last_outbox_id()
    await receive(hub, tap(delivery))
    await delivery.refresh_from_db()
    assert delivery.acknowledged_at == acknowledged_at
    assert await queued(delivery.address, after=after) == []


async def test_after_the_edit_went_out_the_announcement_is_still_found(
    client: TestClient, hub: Hub
) -> None:
    """The edit carries the announcement's platform id; receipts and replies still land."""
    member = await make_member(RT1, channels=("sandbox",))
    delivery = await sent_delivery(client, hub, member)
    await receive(hub, tap(delivery))
    await hub.sender.run_once()
    assert (await OutboundMessage.get(edit_of=delivery.external_id)).state == OutboxState.SENT

    after = await last_outbox_id()
    await receive(
        hub,
        StatusUpdate("sandbox", delivery.external_id, StatusKind.READ, dt.datetime.now(dt.UTC)),
        inbound("sandbox", delivery.address, "Sampai ke warga.", reply_to=delivery.external_id),
    )
    assert await texts_to(delivery.address, after=after) == [hub_said(hub, "reply_noted")]
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED


async def test_a_tap_on_a_channel_without_editing_gets_a_thank_you_and_a_toast(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, name="Pak Budi", channels=("fakechat",))
    delivery = await sent_delivery(client, hub, member)
    after = await last_outbox_id()

    event = tap(delivery)
    await receive(hub, event)

    await delivery.refresh_from_db()
    assert (delivery.status, delivery.ack_evidence) == (DeliveryStatus.ACKNOWLEDGED, "button")
    replies = await queued(delivery.address, after=after)
    assert [r.text for r in replies] == [
        hub_said(hub, "ack_thanks", name="Pak Budi", title="Kerja bakti")
    ]
    assert replies[0].edit_of is None
    assert [(e.external_id, text) for e, text in fake.toasts] == [
        (event.external_id, hub_said(hub, "ack_toast"))
    ]

    again = tap(delivery)
    await receive(hub, again)
    assert fake.toasts[-1] == (again, hub_said(hub, "ack_toast_already"))
    assert (await queued(delivery.address, after=after))[-1].text == hub_said(
        hub, "ack_already", title="Kerja bakti"
    )


async def test_a_tap_on_someone_elses_delivery_is_refused(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    token = await make_token()
    member = await make_member(RT1, channels=("fakechat",))
    other = await make_member(f"{AREA}/RT 002", channels=("fakechat",))
    broadcast_id = await post_broadcast(client, token, members=[member.id, other.id])
    await hub.sender.run_once()
    mine = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    theirs = await Delivery.get(broadcast_id=broadcast_id, member_id=other.id)
    after = await last_outbox_id()

    await receive(hub, tap(mine, ack_payload(theirs.id)))

    assert [text for _, text in fake.toasts] == [hub_said(hub, "ack_toast_unknown")]
    for delivery in (mine, theirs):
        await delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.acknowledged_at is None
    refused = await queued(mine.address, after=after)
    assert [r for r in refused if r.edit_of is not None or "Terima kasih" in r.text] == []


async def test_a_failing_toast_does_not_lose_the_edit(client: TestClient, hub: Hub) -> None:
    """A toast is a courtesy: if the platform refuses it, the tap still counts in full."""
    member = await make_member(RT1, channels=("sandbox",))
    delivery = await sent_delivery(client, hub, member)

    async def broken_answer(event: InboundMessage, text: str) -> None:
        raise RuntimeError("query is too old")

    hub.conversations.answer = broken_answer
    await receive(hub, tap(delivery))
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED
    assert await OutboundMessage.filter(edit_of=delivery.external_id).count() == 1


async def test_an_unknown_button_payload_changes_nothing(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    delivery = await sent_delivery(client, hub, member)
    after = await last_outbox_id()
    for payload in ("menu:1", "ack:", "ack:abc", "ackb:x"):
        await receive(hub, tap(delivery, payload))
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert await queued(delivery.address, after=after) == []


# 4. Read evidence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "evidence"),
    [(InboundKind.REACTION, "reaction"), (InboundKind.POLL_ANSWER, "poll_answer")],
)
async def test_reactions_and_poll_answers_mark_read_silently(
    client: TestClient, hub: Hub, fake: FakeChat, kind: InboundKind, evidence: str
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    delivery = await sent_delivery(client, hub, member)
    after = await last_outbox_id()

    await receive(
        hub, inbound("fakechat", delivery.address, "👍", kind=kind, reply_to=delivery.external_id)
    )

    await delivery.refresh_from_db()
    assert (delivery.status, delivery.read_evidence) == (DeliveryStatus.READ, evidence)
    assert delivery.read_at is not None
    assert delivery.acknowledged_at is None
    assert await queued(delivery.address, after=after) == []


async def test_a_reaction_on_a_message_that_is_not_the_members_changes_nothing(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    token = await make_token()
    member = await make_member(RT1, channels=("fakechat",))
    other = await make_member(f"{AREA}/RT 002", channels=("fakechat",))
    broadcast_id = await post_broadcast(client, token, members=[member.id, other.id])
    await hub.sender.run_once()
    mine = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    theirs = await Delivery.get(broadcast_id=broadcast_id, member_id=other.id)

    await receive(
        hub,
        inbound("fakechat", mine.address, kind=InboundKind.REACTION, reply_to=theirs.external_id),
        inbound("fakechat", mine.address, kind=InboundKind.REACTION, reply_to="fc-nosuch"),
    )
    for delivery in (mine, theirs):
        await delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT


async def test_a_text_reply_marks_read_and_is_answered(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    delivery = await sent_delivery(client, hub, member)
    after = await last_outbox_id()
    await receive(
        hub,
        inbound(
            "fakechat", delivery.address, "Nanti saya sampaikan", reply_to=delivery.external_id
        ),
    )
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.read_evidence) == (DeliveryStatus.READ, "reply")
    assert await texts_to(delivery.address, after=after) == [hub_said(hub, "reply_noted")]


async def test_statuses_never_move_down(client: TestClient, hub: Hub, fake: FakeChat) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    delivery = await sent_delivery(client, hub, member)
    await receive(
        hub,
        inbound(
            "fakechat", delivery.address, kind=InboundKind.REACTION, reply_to=delivery.external_id
        ),
    )
    await delivery.refresh_from_db()
    read_at = delivery.read_at

    late = dt.datetime.now(dt.UTC)
    await receive(
        hub,
        StatusUpdate("fakechat", delivery.external_id, StatusKind.DELIVERED, late),
        StatusUpdate("fakechat", delivery.external_id, StatusKind.SENT, late),
    )
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.read_at, delivery.delivered_at) == (
        DeliveryStatus.READ,
        read_at,
        None,
    )

    # A poll answer after the acknowledgement does not take it back to read either.
    await receive(hub, tap(delivery))
    await receive(
        hub,
        inbound(
            "fakechat",
            delivery.address,
            kind=InboundKind.POLL_ANSWER,
            reply_to=delivery.external_id,
        ),
    )
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.read_evidence) == (DeliveryStatus.ACKNOWLEDGED, "reaction")


# A file is fetched and checked (size against [feedback] max_file_mb, type from the bytes) by
# hub/feedback/files.py; on the real channels see tests/feedback/test_inbox_media*.py. FakeChat
# cannot hand a file over: the member is told, politely, and the message is stored all the same.
@pytest.mark.parametrize(
    ("kind", "content", "key"),
    [
        (InboundKind.PHOTO, {"media": photo(150_000)}, "dialog_file_unavailable"),
        (
            InboundKind.DOCUMENT,
            {"media": Media(MediaKind.DOCUMENT, "f-2", size=50 * 1024 * 1024)},
            "dialog_file_unavailable",
        ),
        (InboundKind.VOICE, {"media": Media(MediaKind.VOICE, "f-3")}, "dialog_file_unavailable"),
        (InboundKind.LOCATION, {"location": Location(-0.5, 117.1)}, "media_received"),
    ],
)
async def test_media_outside_a_dialog_is_stored_and_answered(
    client: TestClient,
    hub: Hub,
    fake: FakeChat,
    kind: InboundKind,
    content: dict[str, Any],
    key: str,
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    address = (await address_row(member, "fakechat")).address
    await receive(hub, inbound("fakechat", address, kind=kind, **content))
    assert await texts_to(address) == [hub_said(hub, key)]
    assert await InboxMessage.filter(member_id=member.id, kind=kind.value).exists()


async def test_media_sent_as_a_reply_marks_read(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    delivery = await sent_delivery(client, hub, member)
    await receive(
        hub,
        inbound(
            "fakechat",
            delivery.address,
            kind=InboundKind.PHOTO,
            reply_to=delivery.external_id,
            media=photo(1000),
        ),
    )
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.read_evidence) == (DeliveryStatus.READ, "reply")


async def test_other_kinds_are_stored_and_otherwise_ignored(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    address = (await address_row(member, "fakechat")).address
    event = inbound("fakechat", address, kind=InboundKind.OTHER, platform_type="sticker")
    await receive(hub, event)
    assert await queued(address) == []
    stored = await InboundEvent.get(external_id=f"msg:{event.external_id}")
    assert stored.processed_at is not None
    assert (await address_row(member, "fakechat")).last_inbound_at is not None


# 6. Falling back to the next channel --------------------------------------------------------


@pytest.mark.parametrize("reason", [SendErrorReason.BLOCKED, SendErrorReason.UNKNOWN_RECIPIENT])
async def test_an_unreachable_address_falls_back_to_the_next_channel(
    client: TestClient, hub: Hub, fake: FakeChat, reason: SendErrorReason
) -> None:
    member = await make_member(RT1, channels=("fakechat", "sandbox"))
    first = await address_row(member, "fakechat")
    second = await address_row(member, "sandbox")
    fake.refuse[first.address] = reason
    broadcast_id = await post_broadcast(client, await make_token(), members=[member.id])
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert (delivery.channel, delivery.address) == ("fakechat", first.address)

    assert await hub.sender.run_once() == 1
    await first.refresh_from_db()
    assert (first.blocked_at is not None) == (reason == SendErrorReason.BLOCKED)
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.channel, delivery.address) == (
        DeliveryStatus.PENDING,
        "sandbox",
        second.address,
    )
    rows = await OutboundMessage.filter(delivery_id=delivery.id).order_by("id")
    assert [(r.channel, r.state) for r in rows] == [
        ("fakechat", OutboxState.FAILED),
        ("sandbox", OutboxState.QUEUED),
    ]
    assert rows[1].buttons == rows[0].buttons
    assert rows[1].text == rows[0].text

    assert await hub.sender.run_once() == 1
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.failure_reason is None
    shown = sandbox(hub).messages(second.address)
    assert len(shown) == 1 and "Kerja bakti" in shown[0].text
    assert (await Broadcast.get(id=broadcast_id)).status == BroadcastStatus.SENT

    # The tap on the copy that arrived acknowledges the same delivery.
    await receive(hub, tap(delivery))
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED


async def test_without_another_address_the_delivery_fails_with_the_reason(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    address = await address_row(member, "fakechat")
    fake.refuse[address.address] = SendErrorReason.BLOCKED
    broadcast_id = await post_broadcast(client, await make_token(), members=[member.id])
    await hub.sender.run_once()

    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason == "blocked: scripted"
    assert (await address_row(member, "fakechat")).blocked_at is not None
    assert await OutboundMessage.filter(delivery_id=delivery.id).count() == 1
    assert (await Broadcast.get(id=broadcast_id)).status == BroadcastStatus.SENT
    assert await hub.sender.run_once() == 0


async def test_a_blocked_fallback_address_fails_the_delivery(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat", "sandbox"))
    fake.refuse[(await address_row(member, "fakechat")).address] = SendErrorReason.BLOCKED
    sandbox(hub).set_blocked((await address_row(member, "sandbox")).address, True)
    broadcast_id = await post_broadcast(client, await make_token(), members=[member.id])
    for _ in range(3):
        await hub.sender.run_once()
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason is not None and delivery.failure_reason.startswith("blocked")
    assert await ChannelAddress.filter(member_id=member.id, blocked_at=None).count() == 0


async def test_falling_back_never_goes_round_in_circles(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    """Two addresses that both answer "no such chat" are each tried once, then it fails."""
    member = await make_member(RT1, channels=("fakechat",))
    spare = await ChannelAddress.create(member=member, channel="fakechat", address="fc-spare")
    for row in await ChannelAddress.filter(member_id=member.id):
        fake.refuse[row.address] = SendErrorReason.UNKNOWN_RECIPIENT
    broadcast_id = await post_broadcast(client, await make_token(), members=[member.id])
    for _ in range(5):
        await hub.sender.run_once()

    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason is not None
    assert delivery.failure_reason.startswith("unknown_recipient")
    assert sorted(fake.attempts) == sorted([f"fakechat-{member.id}", spare.address])
    assert (await Broadcast.get(id=broadcast_id)).status == BroadcastStatus.SENT


async def test_a_retryable_error_does_not_fall_back(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat", "sandbox"))
    address = await address_row(member, "fakechat")
    fake.fail_once[address.address] = [SendError(SendErrorReason.CONNECTION, "reset")]
    broadcast_id = await post_broadcast(client, await make_token(), members=[member.id])
    await hub.sender.run_once()
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert (delivery.status, delivery.channel, delivery.attempts) == (
        DeliveryStatus.PENDING,
        "fakechat",
        1,
    )
    assert await OutboundMessage.filter(delivery_id=delivery.id).count() == 1


async def test_blocked_and_unblocked_events_set_and_clear_the_mark(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=("fakechat",))
    address = await address_row(member, "fakechat")
    at = dt.datetime(2030, 3, 4, 3, 0, tzinfo=dt.UTC)
    await receive(hub, ChannelEvent("fakechat", address.address, ChannelEventKind.BLOCKED, at))
    await address.refresh_from_db()
    assert address.blocked_at == at

    token = await make_token()
    blocked = await post_broadcast(client, token, members=[member.id])
    delivery = await Delivery.get(broadcast_id=blocked)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.FAILED, "blocked")

    later = at + dt.timedelta(hours=1)
    await receive(hub, ChannelEvent("fakechat", address.address, ChannelEventKind.UNBLOCKED, later))
    await address.refresh_from_db()
    assert address.blocked_at is None
    unblocked = await post_broadcast(client, token, members=[member.id])
    await hub.sender.run_once()
    assert (await Delivery.get(broadcast_id=unblocked)).status == DeliveryStatus.SENT


# 7. Join requests in the API ----------------------------------------------------------------


async def test_join_requests_are_listed_for_staff_until_resolved(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member = await make_member(RT1, channels=())
    await receive(hub, inbound("fakechat", "tg-601", "halo pak", sender_name="Calon Ketua"))
    await receive(
        hub,
        inbound(
            "fakechat",
            "tg-602",
            kind=InboundKind.CONTACT,
            phone="+6289900000001",
            sender_name="Orang Lain",
        ),
    )
    admin = await make_token()
    staff = await make_token(UserRole.STAFF, (AREA,))
    official = await make_token(UserRole.OFFICIAL, (AREA,))

    for token in (admin, staff):
        resp = await client.get("/api/v1/join-requests", headers=bearer(token))
        assert resp.status == 200
        rows = (await resp.json())["join_requests"]
        assert [(r["channel"], r["name"], r["phone"], r["first_text"]) for r in rows] == [
            ("fakechat", "Calon Ketua", None, "halo pak"),
            ("fakechat", "Orang Lain", "+6289900000001", ""),
        ]
        assert all(r["created_at"] for r in rows)

    resp = await client.get("/api/v1/join-requests", headers=bearer(official))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    assert (await client.get("/api/v1/join-requests")).status == 401

    await receive(hub, inbound("fakechat", "tg-601", f"DAFTAR {member.invite_code}"))
    rows = (await (await client.get("/api/v1/join-requests", headers=bearer(admin))).json())[
        "join_requests"
    ]
    assert [r["name"] for r in rows] == ["Orang Lain"]
    assert await JoinRequest.filter(resolved_at__isnull=False).count() == 1


# 8. The bot command menu --------------------------------------------------------------------


async def test_start_channels_publishes_the_indonesian_commands(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await hub.start_channels()
    assert fake.started == 1
    assert fake.commands == hub.router.platform_commands("id")
    assert [name for name, _ in fake.commands] == [
        "bantuan",
        "berhenti",
        "mulai",
        "aduan",
        "layanan",
        "status",
        "cek",
    ]
    assert dict(fake.commands)["berhenti"] == "Berhenti menerima pengumuman"
