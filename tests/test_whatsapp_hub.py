"""The hub with its WhatsApp channel, end to end against the fake Graph API on loopback.

Notifications arrive signed at /webhooks/whatsapp; the sender's calls land on the fake, which
records them. These tests check what an RT head on WhatsApp experiences and what staff see.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.pacing import RateLimiter
from channels.whatsapp import THROUGHPUT_RETRY_AFTER
from hub.app import HUB, Hub, create_app
from hub.core.texts import text as say
from hub.feedback.files import FeedbackFiles
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    FeedbackFile,
    InboundEvent,
    InboxMessage,
    JoinRequest,
    Member,
    OutboundMessage,
    OutboxState,
)
from tests.conftest import BUSINESS_PHONE, make_config, whatsapp_config
from tests.factories import bearer, make_member, make_token
from tests.fake_graph import (
    APP_SECRET,
    TEMPLATE_LANGUAGE,
    TOKEN,
    VERIFY_TOKEN,
    FakeGraphAPI,
    notification,
    sign,
    signed_webhook,
    status_notification,
    text_notification,
)
from tests.fake_graph import Media as GraphMedia
from tests.fake_graph import status as status_entry
from tests.manual_time import ManualTime

KELURAHAN = "Sungai Kunjang/Loa Bakung"
RT1 = f"{KELURAHAN}/RT 001"
SITI = "+6281234567001"
BUDI = "+6281234567003"
AHMAD = "+6281234567005"
TITLE = "Kerja bakti"
TEXT = "Kerja bakti hari Minggu pukul 07.00 WITA.\n\nMohon  warga membawa cangkul."
SUMMARY = "Kerja bakti hari Minggu pukul 07.00 WITA. Mohon warga membawa cangkul."


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def said(key: str, **values: str) -> str:
    return say("id", key, hub=make_config().hub.name, **values)


# Notifications as Meta posts them ----------------------------------------------------------


def new_wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(18)).decode()


def inbound(phone: str, kind: str, content: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A notification of one message of `kind` from `phone` (E.164 with plus)."""
    wa_id = phone.removeprefix("+")
    return notification(
        {
            "contacts": [{"profile": {"name": "Siti Rahmawati"}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": new_wamid(),
                    "timestamp": str(int(time.time())),
                    "type": kind,
                    kind: content,
                    **more,
                }
            ],
        }
    )


def text_from(phone: str, text: str) -> dict[str, Any]:
    return text_notification(phone.removeprefix("+"), text)


def button_reply(phone: str, payload: str, tapped: str) -> dict[str, Any]:
    """A tap on an interactive reply button under our message `tapped`."""
    content = {"type": "button_reply", "button_reply": {"id": payload, "title": "Sudah dibaca"}}
    context = {"context": {"from": "6281100011100", "id": tapped}}
    return inbound(phone, "interactive", content, **context)


def template_button(phone: str, payload: str, tapped: str) -> dict[str, Any]:
    """A tap on the quick-reply button of our template message `tapped`."""
    context = {"context": {"from": "6281100011100", "id": tapped}}
    return inbound(phone, "button", {"payload": payload, "text": "Sudah dibaca"}, **context)


def reaction(phone: str, on: str, emoji: str = "👍") -> dict[str, Any]:
    return inbound(phone, "reaction", {"message_id": on, "emoji": emoji})


def wamid_of(payload: dict[str, Any]) -> str:
    return str(payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"])


async def post_webhook(
    client: TestClient, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
) -> int:
    """POST a notification signed with the app secret (or with `headers`); waits for processing."""
    body, signed = signed_webhook(payload)
    resp = await client.post("/webhooks/whatsapp", data=body, headers=signed | (headers or {}))
    await hub_of(client).tasks.wait()
    return resp.status


async def send_all(hub: Hub) -> None:
    """Run the sender until nothing is due."""
    while await hub.sender.run_once():
        pass


# Rows ---------------------------------------------------------------------------------------


async def whatsapp_member(phone: str, *, wrote: dt.timedelta | None = None) -> Member:
    """A roster member with their WhatsApp address, who last wrote `wrote` ago (None: never)."""
    member = await make_member(RT1, channels=(), phone=phone)
    last = dt.datetime.now(dt.UTC) - wrote if wrote is not None else None
    await ChannelAddress.create(
        member=member, channel="whatsapp", address=phone, last_inbound_at=last
    )
    member.preferred_channel = "whatsapp"
    await member.save()
    return member


async def broadcast(client: TestClient, *, title: str = TITLE, **audience: Any) -> int:
    token = await make_token()
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": title, "text": TEXT, "audience": audience or {"areas": [KELURAHAN]}},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def sent_announcement(client: TestClient, member: Member) -> Delivery:
    """Broadcast to the member and send it; their delivery, sent."""
    await broadcast(client, members=[member.id])
    await send_all(hub_of(client))
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.status == DeliveryStatus.SENT, delivery.failure_reason
    return delivery


def same_time(value: dt.datetime | None, timestamp: int) -> bool:
    """Whether a stored time is the webhook's `timestamp` (seconds since the epoch)."""
    return value is not None and value.timestamp() == timestamp


def texts_to(graph: FakeGraphAPI, phone: str) -> list[str]:
    """The free-text bodies the fake took for `phone`, oldest first."""
    return [m["text"]["body"] for m in graph.messages(phone) if m.get("type") == "text"]


# The webhook itself --------------------------------------------------------------------------


async def test_the_subscription_handshake(wa: TestClient) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "11582"}
    resp = await wa.get("/webhooks/whatsapp", params=query)
    assert (resp.status, await resp.text()) == (200, "11582")
    wrong = await wa.get("/webhooks/whatsapp", params=query | {"hub.verify_token": "tebakan"})
    assert wrong.status == 403
    assert "11582" not in await wrong.text()


def bad_signatures(body: bytes) -> dict[str, str | None]:
    """X-Hub-Signature-256 values Meta would never send with `body` (None: no header)."""
    return {
        "missing": None,
        "empty": "",
        "zeros": "sha256=" + "0" * 64,
        "sha1": "sha1=" + sign(body)[len("sha256=") :][:40],
        "other-secret": sign(body, "an-app-secret-of-another-app"),
        "changed-body": sign(body.replace(b"BANTUAN", b"BERHENTI")),
    }


@pytest.mark.parametrize("case", list(bad_signatures(b"")))
async def test_a_bad_signature_is_401_and_stores_nothing(wa: TestClient, case: str) -> None:
    await whatsapp_member(SITI)
    body = json.dumps(text_from(SITI, "BANTUAN")).encode()
    signature = bad_signatures(body)[case]
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    resp = await wa.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 401
    await hub_of(wa).tasks.wait()
    assert await InboundEvent.all().count() == 0
    assert await OutboundMessage.all().count() == 0


@pytest.mark.parametrize(
    "garbage", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"entry": ' + b"[" * 100_000]
)
async def test_a_valid_signature_over_garbage_is_400(wa: TestClient, garbage: bytes) -> None:
    assert await post_webhook(wa, garbage) == 400
    assert await InboundEvent.all().count() == 0


async def test_a_message_id_too_long_to_be_genuine_is_not_stored(wa: TestClient) -> None:
    await whatsapp_member(SITI)
    too_long = "wamid." + "A" * 5000
    good = text_from(SITI, "halo")
    batch = json.loads(json.dumps(good))
    messages = batch["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(0, {**messages[0], "id": too_long})
    for payload in (
        text_notification(SITI.removeprefix("+"), "halo", wamid=too_long),
        status_notification([status_entry(too_long, "read")]),  # matches nothing of ours
        text_from("+" + "6" * 5000, "halo"),
        batch,  # the rest of a notification is kept
    ):
        assert await post_webhook(wa, payload) == 200
    assert await InboundEvent.all().values_list("external_id", flat=True) == [
        f"msg:{wamid_of(good)}"
    ]
    assert not await JoinRequest.exists()


# Onboarding ----------------------------------------------------------------------------------


async def test_a_roster_member_with_an_address_is_known_by_their_first_message(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    member = await whatsapp_member(SITI)
    written = int(time.time())
    payload = text_notification(SITI[1:], "Selamat pagi, Pak Lurah", timestamp=written)
    assert await post_webhook(wa, payload) == 200
    [address] = await ChannelAddress.filter(member_id=member.id)
    assert (address.channel, address.address) == ("whatsapp", SITI)
    assert same_time(address.last_inbound_at, written)
    assert await JoinRequest.all().count() == 0
    await send_all(hub_of(wa))
    assert texts_to(graph, SITI) == [said("message_received")]


async def test_a_roster_number_binds_itself_on_the_first_message(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    member = await make_member(RT1, channels=(), phone=SITI)  # on the roster, no address yet
    await post_webhook(wa, text_from(SITI, "halo"))
    [address] = await ChannelAddress.filter(member_id=member.id)
    assert (address.channel, address.address) == ("whatsapp", SITI)
    assert address.last_inbound_at is not None
    await member.refresh_from_db()
    assert member.preferred_channel == "whatsapp"
    await post_webhook(wa, text_from(SITI, "halo lagi"))
    assert await ChannelAddress.filter(member_id=member.id).count() == 1
    await send_all(hub_of(wa))
    assert len(texts_to(graph, SITI)) == 2


async def test_a_stranger_is_told_how_to_join_and_staff_see_the_request(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    assert await post_webhook(wa, text_from(BUDI, "Selamat pagi, saya ketua RT 05")) == 200
    await send_all(hub_of(wa))
    [instructions] = texts_to(graph, BUDI)
    assert instructions == said("stranger")
    assert "DAFTAR" in instructions
    [request] = await JoinRequest.all()
    assert (request.channel, request.address, request.phone) == ("whatsapp", BUDI, BUDI)
    assert request.name == "Siti Rahmawati"
    assert request.first_text == "Selamat pagi, saya ketua RT 05"
    assert not await ChannelAddress.exists(channel="whatsapp", address=BUDI)


@pytest.mark.parametrize(
    "typed", ["daftar {code}", "  Daftar    {lower}  ", "DAFTAR\n{code}", "daftar {spaced}"]
)
async def test_daftar_with_the_invite_code_binds_a_stranger(
    wa: TestClient, graph: FakeGraphAPI, typed: str
) -> None:
    hub = hub_of(wa)
    member = await make_member(RT1, channels=(), phone="+6281300000999")  # another number
    code = member.invite_code
    await post_webhook(wa, text_from(BUDI, "halo"))
    assert await JoinRequest.filter(resolved_at__isnull=True).count() == 1

    spaced = f"{code[:4]} {code[4:]}"
    await post_webhook(
        wa, text_from(BUDI, typed.format(code=code, lower=code.lower(), spaced=spaced))
    )
    address = await ChannelAddress.get(channel="whatsapp", address=BUDI)
    assert address.member_id == member.id
    assert address.last_inbound_at is not None  # they just wrote: free text may answer
    assert await JoinRequest.filter(resolved_at__isnull=True).count() == 0
    await send_all(hub)
    assert texts_to(graph, BUDI)[-1] == said("joined", name=member.name, area=RT1)


async def test_a_wrong_code_is_answered(wa: TestClient, graph: FakeGraphAPI) -> None:
    await post_webhook(wa, text_from(BUDI, "DAFTAR ZZZZ9999"))
    assert not await ChannelAddress.exists(channel="whatsapp", address=BUDI)
    await send_all(hub_of(wa))
    assert texts_to(graph, BUDI) == [said("bad_code", code="ZZZZ9999")]


@pytest.mark.parametrize("stop_word", ["BERHENTI", "stop", " Berhenti "])
async def test_stop_and_start_again(wa: TestClient, graph: FakeGraphAPI, stop_word: str) -> None:
    hub = hub_of(wa)
    member = await whatsapp_member(SITI)
    await post_webhook(wa, text_from(SITI, stop_word))
    address = await ChannelAddress.get(channel="whatsapp", address=SITI)
    assert address.opted_out_at is not None
    await send_all(hub)
    assert texts_to(graph, SITI) == [said("opted_out")]

    # Opted out: the next announcement is not sent to them.
    broadcast_id = await broadcast(wa, members=[member.id])
    await send_all(hub)
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.SKIPPED, "opted_out")
    assert len(graph.messages(SITI)) == 1

    await post_webhook(wa, text_from(SITI, "MULAI"))
    await address.refresh_from_db()
    assert address.opted_out_at is None
    await send_all(hub)
    assert texts_to(graph, SITI)[-1] == said("opted_in", name=member.name)


@pytest.mark.parametrize("typed", ["BANTAUN", "bantuan", "Bantuan "])
async def test_help_forgives_case_and_typos(
    wa: TestClient, graph: FakeGraphAPI, typed: str
) -> None:
    await whatsapp_member(SITI)
    await post_webhook(wa, text_from(SITI, typed))
    await send_all(hub_of(wa))
    assert texts_to(graph, SITI) == [hub_of(wa).router.help_text("id")]


# The 24-hour window --------------------------------------------------------------------------


async def test_inside_the_window_the_announcement_has_the_button(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    delivery = await sent_announcement(wa, member)
    [sent] = graph.messages(SITI)
    assert sent["to"] == SITI.removeprefix("+")
    assert sent["type"] == "interactive"
    interactive = sent["interactive"]
    assert interactive["type"] == "button"
    assert TITLE in interactive["body"]["text"] and "cangkul" in interactive["body"]["text"]
    [button] = interactive["action"]["buttons"]
    assert button["reply"] == {"id": f"ack:{delivery.id}", "title": "✅ Sudah dibaca"}
    [(wamid, _)] = graph.accepted
    assert delivery.external_id == wamid
    message = await OutboundMessage.get(delivery_id=delivery.id)
    assert (message.state, message.used_template) == (OutboxState.SENT, False)


@pytest.mark.parametrize("wrote", [None, dt.timedelta(hours=25)], ids=["never", "25-hours-ago"])
async def test_outside_the_window_the_announcement_goes_as_the_template(
    wa: TestClient, graph: FakeGraphAPI, wrote: dt.timedelta | None
) -> None:
    member = await whatsapp_member(SITI, wrote=wrote)
    delivery = await sent_announcement(wa, member)
    [sent] = graph.messages(SITI)
    assert sent["type"] == "template"
    template = sent["template"]
    assert template["name"] == "pengumuman_baru"
    assert template["language"] == {"code": TEMPLATE_LANGUAGE}
    components = {c["type"]: c for c in template["components"]}
    assert [p["text"] for p in components["body"]["parameters"]] == [TITLE, SUMMARY]
    assert components["button"]["sub_type"] == "quick_reply"
    assert components["button"]["parameters"] == [
        {"type": "payload", "payload": f"ack:{delivery.id}"}
    ]
    message = await OutboundMessage.get(delivery_id=delivery.id)
    assert (message.state, message.used_template) == (OutboxState.SENT, True)
    assert delivery.external_id == graph.accepted[0][0]


async def test_a_window_meta_says_is_closed_gets_the_template(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=23))
    graph.fail(131047, free_form_only=True)
    delivery = await sent_announcement(wa, member)
    assert [m["type"] for m in graph.messages(SITI)] == ["interactive", "template"]
    message = await OutboundMessage.get(delivery_id=delivery.id)
    assert (message.state, message.attempts, message.used_template) == (OutboxState.SENT, 1, True)
    assert delivery.external_id == graph.accepted[0][0]


async def test_a_window_closed_reported_in_a_failed_status_gets_the_template(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    """Meta accepts the free text, then reports 131047 in a failed status: send the template."""
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=23))
    delivery = await sent_announcement(wa, member)
    free_text_id = delivery.external_id
    failed = status_entry(free_text_id, "failed", recipient=SITI[1:], error_code=131047)
    assert await post_webhook(wa, status_notification([failed])) == 200
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.external_id) == (DeliveryStatus.PENDING, None)

    await send_all(hub_of(wa))
    assert [m["type"] for m in graph.messages(SITI)] == ["interactive", "template"]
    await delivery.refresh_from_db()
    message = await OutboundMessage.get(delivery_id=delivery.id)
    assert (delivery.status, message.used_template) == (DeliveryStatus.SENT, True)
    assert delivery.external_id not in (None, free_text_id)

    # The same failure delivered again (Meta retries) resends nothing more.
    assert await post_webhook(wa, status_notification([failed])) == 200
    await send_all(hub_of(wa))
    assert len(graph.messages(SITI)) == 2


async def test_the_window_counts_from_when_the_member_wrote_not_when_meta_told_us(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    """After an outage Meta retries a member's message for hours, with its own timestamp."""
    member = await whatsapp_member(SITI)
    written = int(time.time()) - 24 * 3600 + 60  # nearly 24 hours ago
    await post_webhook(wa, text_notification(SITI[1:], "Siap, Pak", timestamp=written))
    address = await ChannelAddress.get(channel="whatsapp", address=SITI)
    assert same_time(address.last_inbound_at, written)
    delivery = await sent_announcement(wa, member)
    assert [m["type"] for m in graph.messages(SITI)] == ["template"]
    assert (await OutboundMessage.get(delivery_id=delivery.id)).used_template is True

    # An older message retried after a newer one does not move the time back.
    await post_webhook(wa, text_notification(SITI[1:], "Halo", timestamp=written - 3600))
    await address.refresh_from_db()
    assert same_time(address.last_inbound_at, written)


@pytest.mark.parametrize(
    ("wrote", "tap"),
    [(dt.timedelta(hours=1), button_reply), (None, template_button)],
    ids=["reply-button", "template-quick-reply"],
)
async def test_the_tap_acknowledges_and_is_answered(
    wa: TestClient, graph: FakeGraphAPI, wrote: dt.timedelta | None, tap: Any
) -> None:
    hub = hub_of(wa)
    member = await whatsapp_member(SITI, wrote=wrote)
    delivery = await sent_announcement(wa, member)
    assert delivery.external_id is not None
    before = dt.datetime.now(dt.UTC)

    tapped = tap(SITI, f"ack:{delivery.id}", delivery.external_id)
    assert await post_webhook(wa, tapped) == 200
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.ack_evidence) == (DeliveryStatus.ACKNOWLEDGED, "button")
    assert delivery.acknowledged_at is not None and delivery.acknowledged_at >= before
    assert graph.read_marks == [wamid_of(tapped)]  # blue ticks on the tap: WhatsApp has no toast
    await send_all(hub)
    # WhatsApp cannot edit the announcement: the thanks come as a reply (free text, the window
    # is open now they wrote), and the outbox holds no edit.
    assert texts_to(graph, SITI) == [said("ack_thanks", name=member.name, title=TITLE)]
    assert not await OutboundMessage.filter(edit_of__isnull=False).exists()

    # Meta retries the same notification: nothing changes, nothing more is sent.
    assert await post_webhook(wa, tapped) == 200
    await send_all(hub)
    assert len(texts_to(graph, SITI)) == 1
    # A second tap of their own is told it was recorded before.
    await post_webhook(wa, tap(SITI, f"ack:{delivery.id}", delivery.external_id))
    await send_all(hub)
    assert texts_to(graph, SITI)[-1] == said("ack_already", title=TITLE)
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED


async def test_a_tap_on_someone_elses_announcement_counts_for_nobody(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    siti = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    await whatsapp_member(BUDI, wrote=dt.timedelta(hours=1))
    delivery = await sent_announcement(wa, siti)
    await post_webhook(wa, button_reply(BUDI, f"ack:{delivery.id}", str(delivery.external_id)))
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    await send_all(hub_of(wa))
    assert texts_to(graph, BUDI) == [said("ack_unknown")]


# Statuses ------------------------------------------------------------------------------------


async def counts(client: TestClient, broadcast_id: int) -> dict[str, int]:
    token = await make_token()
    resp = await client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=bearer(token))
    return dict((await resp.json())["counts"])


async def test_sent_delivered_read_move_the_delivery(wa: TestClient) -> None:
    delivery = await sent_announcement(wa, await whatsapp_member(SITI, wrote=dt.timedelta(hours=1)))
    wamid, t0 = str(delivery.external_id), int(time.time())
    for offset, kind, expected in [
        (1, "sent", DeliveryStatus.SENT),
        (2, "delivered", DeliveryStatus.DELIVERED),
        (3, "read", DeliveryStatus.READ),
    ]:
        entry = status_entry(wamid, kind, timestamp=t0 + offset)
        assert await post_webhook(wa, status_notification([entry])) == 200
        await delivery.refresh_from_db()
        assert delivery.status == expected
    assert same_time(delivery.delivered_at, t0 + 2)
    assert same_time(delivery.read_at, t0 + 3)
    assert delivery.read_evidence == "receipt"
    assert await InboundEvent.filter(processed_at__isnull=True).count() == 0


async def test_statuses_out_of_order_never_move_it_down(wa: TestClient) -> None:
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    delivery = await sent_announcement(wa, member)
    wamid, t0 = str(delivery.external_id), int(time.time())
    await post_webhook(wa, status_notification([status_entry(wamid, "read", timestamp=t0 + 5)]))
    await post_webhook(
        wa, status_notification([status_entry(wamid, "delivered", timestamp=t0 + 3)])
    )
    await post_webhook(wa, status_notification([status_entry(wamid, "sent", timestamp=t0 + 1)]))
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.READ
    assert same_time(delivery.read_at, t0 + 5)
    # Read implies delivered: the broadcast counts it so.
    numbers = await counts(wa, delivery.broadcast_id)  # type: ignore[attr-defined]
    assert (numbers["sent"], numbers["delivered"], numbers["read"]) == (1, 1, 1)


async def test_the_same_status_twice_changes_nothing(wa: TestClient) -> None:
    delivery = await sent_announcement(wa, await whatsapp_member(SITI, wrote=dt.timedelta(hours=1)))
    wamid, t0 = str(delivery.external_id), int(time.time())
    payload = status_notification([status_entry(wamid, "delivered", timestamp=t0 + 2)])
    assert await post_webhook(wa, payload) == 200
    await delivery.refresh_from_db()
    delivered_at = delivery.delivered_at
    assert same_time(delivered_at, t0 + 2)

    body, headers = signed_webhook(payload)
    again = await wa.post("/webhooks/whatsapp", data=body, headers=headers)
    assert again.status == 200
    assert (await again.json())["events"] == 0
    await hub_of(wa).tasks.wait()
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.delivered_at) == (DeliveryStatus.DELIVERED, delivered_at)
    assert await InboundEvent.filter(channel="whatsapp").count() == 1


async def test_failed_keeps_metas_code_and_title(wa: TestClient) -> None:
    delivery = await sent_announcement(wa, await whatsapp_member(SITI, wrote=dt.timedelta(hours=1)))
    entry = status_entry(str(delivery.external_id), "failed", error_code=131026)
    assert await post_webhook(wa, status_notification([entry])) == 200
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failed_at is not None
    assert delivery.failure_reason is not None
    assert delivery.failure_reason.startswith("131026 Message undeliverable")


async def test_a_status_for_an_unknown_message_waits_for_its_send_record(wa: TestClient) -> None:
    hub = hub_of(wa)
    delivery = await sent_announcement(wa, await whatsapp_member(SITI, wrote=dt.timedelta(hours=1)))
    wamid = str(delivery.external_id)
    # The receipt overtakes the sender's record of the send.
    message = await OutboundMessage.get(delivery_id=delivery.id)
    await OutboundMessage.filter(id=message.id).update(external_id=None)

    assert await post_webhook(wa, status_notification([status_entry(wamid, "delivered")])) == 200
    [event] = await InboundEvent.all()
    assert event.processed_at is None
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT

    await OutboundMessage.filter(id=message.id).update(external_id=wamid)
    assert await hub.dispatcher.process_pending() == 1
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    await event.refresh_from_db()
    assert event.processed_at is not None and event.error is None
    assert await hub.dispatcher.process_pending() == 0


async def test_a_batch_of_statuses_applies_each_once(wa: TestClient) -> None:
    members = [
        await whatsapp_member(phone, wrote=dt.timedelta(hours=1)) for phone in (SITI, BUDI, AHMAD)
    ]
    broadcast_id = await broadcast(wa)
    await send_all(hub_of(wa))
    by_phone = {d.address: d for d in await Delivery.filter(broadcast_id=broadcast_id)}
    assert set(by_phone) == {m.phone for m in members}
    t0 = int(time.time())
    siti, budi, ahmad = (str(by_phone[p].external_id) for p in (SITI, BUDI, AHMAD))
    batch = status_notification(
        [
            status_entry(siti, "delivered", timestamp=t0 + 1, recipient=SITI[1:]),
            status_entry(budi, "delivered", timestamp=t0 + 1, recipient=BUDI[1:]),
            status_entry(budi, "read", timestamp=t0 + 2, recipient=BUDI[1:]),
            status_entry(siti, "delivered", timestamp=t0 + 1, recipient=SITI[1:]),  # repeated
            status_entry(ahmad, "failed", timestamp=t0 + 1, recipient=AHMAD[1:], error_code=131026),
        ]
    )
    assert await post_webhook(wa, batch) == 200
    assert await InboundEvent.filter(channel="whatsapp").count() == 4

    async def states() -> dict[str, tuple[DeliveryStatus, dt.datetime | None]]:
        rows = await Delivery.filter(broadcast_id=broadcast_id)
        return {d.address: (d.status, d.delivered_at) for d in rows}

    first = await states()
    assert {p: s for p, (s, _) in first.items()} == {
        SITI: DeliveryStatus.DELIVERED,
        BUDI: DeliveryStatus.READ,
        AHMAD: DeliveryStatus.FAILED,
    }
    assert await post_webhook(wa, batch) == 200  # Meta's retry of the whole batch
    assert await states() == first
    assert await InboundEvent.filter(channel="whatsapp").count() == 4


# Errors through the sender -------------------------------------------------------------------


async def test_undeliverable_fails_for_good(wa: TestClient, graph: FakeGraphAPI) -> None:
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    graph.fail(131026, to=SITI)
    broadcast_id = await broadcast(wa, members=[member.id])
    await send_all(hub_of(wa))
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason is not None
    assert "131026 Message undeliverable" in delivery.failure_reason
    message = await OutboundMessage.get(delivery_id=delivery.id)
    assert (message.state, message.attempts) == (OutboxState.FAILED, 1)
    assert len(graph.messages(SITI)) == 1  # not retried


async def test_undeliverable_falls_back_to_the_sandbox(wa: TestClient, graph: FakeGraphAPI) -> None:
    hub = hub_of(wa)
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    await ChannelAddress.create(member=member, channel="sandbox", address=f"sandbox-{member.id}")
    graph.fail(131026, to=SITI)
    broadcast_id = await broadcast(wa, members=[member.id])
    await send_all(hub)
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert (delivery.channel, delivery.status) == ("sandbox", DeliveryStatus.SENT)
    sandbox = hub.channels["sandbox"]
    [received] = sandbox.messages(f"sandbox-{member.id}")  # type: ignore[attr-defined]
    assert TITLE in received.text
    [failed] = await OutboundMessage.filter(state=OutboxState.FAILED)
    assert failed.failure_reason is not None and "(next: sandbox)" in failed.failure_reason


async def test_undeliverable_falls_back_to_the_members_other_number(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    """The member's second WhatsApp number never wrote: the fallback goes as the template."""
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    await ChannelAddress.create(member=member, channel="whatsapp", address=BUDI)
    graph.fail(131026, to=SITI)
    broadcast_id = await broadcast(wa, members=[member.id])
    await send_all(hub_of(wa))
    delivery = await Delivery.get(broadcast_id=broadcast_id)
    assert (delivery.address, delivery.status) == (BUDI, DeliveryStatus.SENT), (
        delivery.failure_reason
    )
    [sent] = graph.messages(BUDI)
    assert sent["type"] == "template"
    components = {c["type"]: c for c in sent["template"]["components"]}
    assert [p["text"] for p in components["body"]["parameters"]] == [TITLE, SUMMARY]
    assert components["button"]["parameters"][0]["payload"] == f"ack:{delivery.id}"
    fallback = await OutboundMessage.get(delivery_id=delivery.id, address=BUDI)
    assert fallback.used_template is True


async def test_throughput_limit_requeues_and_pauses_the_number(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    time = ManualTime(autojump=True)
    hub.sender.limiters["whatsapp"] = RateLimiter(80, clock=time, sleep=time.sleep)
    await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    graph.fail(130429)
    await broadcast(wa)
    before = dt.datetime.now(dt.UTC)
    assert await hub.sender.run_once() == 1
    message = await OutboundMessage.get(kind="broadcast")
    assert (message.state, message.attempts) == (OutboxState.QUEUED, 1)
    assert message.next_attempt_at >= before + dt.timedelta(seconds=5)
    assert message.failure_reason is not None and "130429" in message.failure_reason
    # The whole number waits (on the test's clock, which stood still).
    assert hub.sender.limiter("whatsapp").delay() == pytest.approx(THROUGHPUT_RETRY_AFTER)
    delivery = await Delivery.get(id=message.delivery_id)  # type: ignore[arg-type]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert (await wa.get("/readyz")).status == 200


async def test_spam_limit_requeues_and_tells_staff(wa: TestClient, graph: FakeGraphAPI) -> None:
    hub = hub_of(wa)
    await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    assert (await wa.get("/readyz")).status == 200
    graph.fail(131048)
    await broadcast(wa)
    before = dt.datetime.now(dt.UTC)
    await hub.sender.run_once()
    message = await OutboundMessage.get(kind="broadcast")
    assert message.state == OutboxState.QUEUED
    assert message.next_attempt_at >= before + dt.timedelta(hours=1) - dt.timedelta(seconds=1)
    resp = await wa.get("/readyz")
    assert resp.status == 503
    [reason] = (await resp.json())["reasons"]
    assert reason.startswith("whatsapp:") and "spam limit" in reason


@pytest.mark.parametrize("how", ["revoked", "quoted"])
async def test_a_bad_token_keeps_the_message_and_never_shows_the_token(
    wa: TestClient, graph: FakeGraphAPI, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = hub_of(wa)
    await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    assert (await wa.get("/readyz")).status == 200
    if how == "revoked":
        graph.token = "EAAJanotherTokenOnTheServer"  # staff revoked ours at Meta
    else:  # Meta quotes what it could not parse
        graph.fail(190, message=f"Malformed access token {TOKEN}")
    await broadcast(wa)
    await hub.sender.run_once()
    message = await OutboundMessage.get(kind="broadcast")
    assert (message.state, message.attempts) == (OutboxState.QUEUED, 1)  # nothing lost
    assert message.failure_reason is not None and "190" in message.failure_reason
    delivery = await Delivery.get(id=message.delivery_id)  # type: ignore[arg-type]
    assert delivery.status == DeliveryStatus.PENDING
    resp = await wa.get("/readyz")
    body = await resp.text()
    assert resp.status == 503
    assert "whatsapp: WhatsApp channel down: 190" in body
    for text in (body, caplog.text, message.failure_reason):
        assert TOKEN not in text and APP_SECRET not in text

    # The right token is back: the message goes at its next turn and the hub is ready again.
    graph.token = TOKEN
    await OutboundMessage.filter(id=message.id).update(next_attempt_at=dt.datetime.now(dt.UTC))
    await send_all(hub)
    await message.refresh_from_db()
    assert message.state == OutboxState.SENT
    assert (await wa.get("/readyz")).status == 200


async def test_a_token_revoked_for_longer_than_all_retries_loses_nothing(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    graph.token = "EAAJanotherTokenOnTheServer"
    await broadcast(wa)
    message = await OutboundMessage.get(kind="broadcast")
    for _ in range(hub.config.broadcast.max_attempts + 2):  # a weekend of retries, compressed
        await OutboundMessage.filter(id=message.id).update(next_attempt_at=dt.datetime.now(dt.UTC))
        assert await hub.sender.run_once() == 1
    await message.refresh_from_db()
    assert message.state == OutboxState.QUEUED
    assert message.attempts == hub.config.broadcast.max_attempts + 2
    delivery = await Delivery.get(id=message.delivery_id)  # type: ignore[arg-type]
    assert delivery.status == DeliveryStatus.PENDING

    graph.token = TOKEN  # staff fixed it on Monday
    await OutboundMessage.filter(id=message.id).update(next_attempt_at=dt.datetime.now(dt.UTC))
    await send_all(hub)
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


# Invites -------------------------------------------------------------------------------------


@pytest.mark.parametrize("business_phone", [BUSINESS_PHONE, "0811-0001-1100", "6281100011100"])
async def test_the_invite_opens_a_chat_with_daftar_ready(
    db: str, graph: FakeGraphAPI, business_phone: str
) -> None:
    app = create_app(
        whatsapp_config(graph, business_phone=business_phone),
        manage_database=False,
        run_workers=False,
    )
    async with TestClient(TestServer(app)) as client:
        member = await make_member(RT1, channels=())
        token = await make_token()
        resp = await client.get(f"/api/v1/members/{member.id}/invite", headers=bearer(token))
        assert resp.status == 200
        invite = await resp.json()
    assert invite["code"] == member.invite_code
    assert invite["whatsapp_link"] == (
        f"https://wa.me/6281100011100?text=DAFTAR%20{member.invite_code}"
    )


# Media and reactions -------------------------------------------------------------------------


async def test_an_image_and_a_voice_note_are_stored_and_answered(
    wa: TestClient, graph: FakeGraphAPI, tmp_path: Path
) -> None:
    await whatsapp_member(SITI)
    # The files as Meta holds them; the hub keeps its copies in a folder of this test's own.
    hub_of(wa).inbox.files = FeedbackFiles(tmp_path / "media", max_bytes=16 * 1024 * 1024)
    graph.media["1480331"] = GraphMedia(b"\xff\xd8\xff\xe0" + b"\x01" * 500, "image/jpeg", "", None)
    graph.media["1012345"] = GraphMedia(b"OggS\x00\x02" + b"\x00" * 500, "audio/ogg", "", None)
    image = {"caption": "Selokan tersumbat di gang 4", "mime_type": "image/jpeg", "id": "1480331"}
    voice = {"mime_type": "audio/ogg; codecs=opus", "id": "1012345", "voice": True}
    assert await post_webhook(wa, inbound(SITI, "image", image)) == 200
    assert await post_webhook(wa, inbound(SITI, "audio", voice)) == 200
    events = [e.payload["event"] for e in await InboundEvent.all().order_by("id")]
    assert [(e["kind"], e["text"]) for e in events] == [
        ("photo", "Selokan tersumbat di gang 4"),
        ("voice", ""),
    ]
    assert events[0]["media"]["file_id"] == "1480331"
    assert events[1]["media"] == {
        "kind": "voice",
        "file_id": "1012345",
        "mime_type": "audio/ogg; codecs=opus",
        "size": None,
        "file_name": "",
        "caption": "",
        "duration": None,
    }
    assert all(e.processed_at is not None and e.error is None for e in await InboundEvent.all())
    await send_all(hub_of(wa))
    # Both go to the staff inbox; one receipt answers them (at most one per half hour).
    assert texts_to(graph, SITI) == [said("media_received")]
    assert await InboxMessage.all().order_by("id").values_list("kind", "text") == [
        ("photo", "Selokan tersumbat di gang 4"),
        ("voice", ""),
    ]
    assert await FeedbackFile.all().order_by("id").values_list("kind", "content_type") == [
        ("photo", "image/jpeg"),
        ("voice", "audio/ogg"),
    ]


async def test_a_sticker_is_stored_and_otherwise_ignored(wa: TestClient, graph: FakeGraphAPI):
    await whatsapp_member(SITI)
    sticker = {"mime_type": "image/webp", "id": "5551234", "animated": False}
    assert await post_webhook(wa, inbound(SITI, "sticker", sticker)) == 200
    [event] = await InboundEvent.all()
    assert event.payload["event"]["kind"] == "other"
    await send_all(hub_of(wa))
    assert graph.messages(SITI) == []


async def test_a_reaction_on_the_announcement_marks_it_read(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    member = await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    delivery = await sent_announcement(wa, member)
    assert await post_webhook(wa, reaction(SITI, str(delivery.external_id))) == 200
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.read_evidence) == (DeliveryStatus.READ, "reaction")
    assert delivery.read_at is not None
    await send_all(hub_of(wa))
    assert len(graph.messages(SITI)) == 1  # a reaction needs no answer
