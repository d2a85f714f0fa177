"""The staff inbox on the sandbox: what RT heads write lands in threads staff read and answer."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from aiohttp.test_utils import TestClient

from channels import InboundKind, InboundMessage, Location, Media, MediaKind
from channels.sandbox import SandboxChannel
from hub.app import HUB, Hub
from hub.core.texts import text as say
from hub.feedback.files import FileRefused
from models import (
    AuditLog,
    FeedbackFile,
    InboxDirection,
    InboxMessage,
    MessageKind,
    OutboundMessage,
    Ticket,
    UserRole,
)
from tests.conftest import FakeClock
from tests.factories import bearer, make_member, make_token

KELURAHAN = "Sungai Kunjang/Loa Bakung"
OTHER = "Sungai Kunjang/Karang Asam"
QUESTION = "Pak, kapan jadwal fogging di RT kami? Nyamuk banyak sekali."


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


def said(hub: Hub, key: str, **values: str) -> str:
    return say("id", key, hub=hub.config.hub.name, **values)


async def write(hub: Hub, member_id: int, text: str) -> list[str]:
    """The member writes on their sandbox phone; what the hub answered, once sent."""
    address = f"sandbox-{member_id}"
    before = len(phone(hub).messages(address))
    await phone(hub).act(address, text=text)
    await hub.sender.run_once()
    return [m.text for m in phone(hub).messages(address)[before:]]


async def api(
    client: TestClient, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    resp = await client.request(method, "/api/v1" + path, json=body, headers=bearer(token))
    return resp.status, await resp.json()


async def test_round_trip_on_the_sandbox(client: TestClient) -> None:
    hub = hub_of(client)
    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    member = await make_member(f"{KELURAHAN}/RT 003", name="Bu Sari")

    assert await write(hub, member.id, QUESTION) == [said(hub, "message_received")]
    [stored] = await InboxMessage.all().select_related("area")
    assert (stored.direction, stored.text, stored.kind) == (InboxDirection.IN, QUESTION, "text")
    assert stored.area is not None and stored.area.path == f"{KELURAHAN}/RT 003"
    assert stored.external_id and stored.read_at is None

    assert await api(client, token, "GET", "/inbox/unread") == (200, {"unread": 1})
    status, listed = await api(client, token, "GET", "/inbox?unread=true")
    assert status == 200 and listed["next"] is None
    [thread] = listed["threads"]
    assert (thread["id"], thread["member"]["name"], thread["unread"]) == (member.id, "Bu Sari", 1)
    assert thread["area"] == f"{KELURAHAN}/RT 003"
    assert thread["last_message"]["text"] == QUESTION

    status, sent = await api(
        client, token, "POST", f"/inbox/members/{member.id}/reply", {"text": "Kamis pagi, Bu."}
    )
    assert (status, sent["delivery"]) == (201, "text")
    await hub.sender.run_once()
    shown = phone(hub).messages(f"sandbox-{member.id}")[-1].text
    assert shown == said(hub, "inbox_reply", text="Kamis pagi, Bu.")
    reply = await InboxMessage.get(id=sent["id"]).select_related("outbound", "user")
    assert reply.direction == InboxDirection.OUT and reply.user is not None
    assert reply.outbound is not None and reply.outbound.kind == MessageKind.NOTICE
    assert reply.outbound.template == "reply"

    status, detail = await api(client, token, "GET", f"/inbox/members/{member.id}")
    assert status == 200
    assert [(m["direction"], m["text"]) for m in detail["messages"]] == [
        ("out", "Kamis pagi, Bu."),
        ("in", QUESTION),
    ]
    assert await api(client, token, "POST", f"/inbox/members/{member.id}/read") == (
        200,
        {"marked": 1},
    )
    assert await api(client, token, "GET", "/inbox/unread") == (200, {"unread": 0})
    assert (await api(client, token, "GET", "/inbox?unread=true"))[1]["threads"] == []
    assert await api(client, token, "POST", f"/inbox/members/{member.id}/read") == (
        200,
        {"marked": 0},
    )


async def test_the_receipt_is_said_once_per_half_hour(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    lines = [f"Baris ke-{n} dari laporan saya tentang saluran air" for n in range(5)]
    answers = [await write(hub, member.id, line) for line in lines]
    assert answers == [[said(hub, "message_received")], [], [], [], []]
    clock.advance(minutes=29)
    assert await write(hub, member.id, "Satu lagi tambahan dari saya, Pak") == []
    clock.advance(minutes=2)  # 31 minutes after the receipt
    assert await write(hub, member.id, "Dan ini pertanyaan yang berikutnya") == [
        said(hub, "message_received")
    ]
    assert await InboxMessage.filter(direction=InboxDirection.IN).count() == 7


async def test_short_unknown_words_and_typos_are_stored_and_answered(client: TestClient) -> None:
    hub = hub_of(client)
    member = await make_member(f"{KELURAHAN}/RT 001")
    assert await write(hub, member.id, "halo") == [said(hub, "unknown_command", text="halo")]
    assert await write(hub, member.id, "BERHENTII") == [
        said(hub, "did_you_mean", suggestion="BERHENTI")
    ]
    # A keyword is the keyword's, not the inbox's.
    await write(hub, member.id, "BANTUAN")
    assert await InboxMessage.all().order_by("id").values_list("text", flat=True) == [
        "halo",
        "BERHENTII",
    ]
    # The hint does not count as the receipt: a question after it still gets one.
    assert await write(hub, member.id, QUESTION) == [said(hub, "message_received")]


async def test_media_is_stored_with_its_caption_and_a_location_as_coordinates(
    client: TestClient,
) -> None:
    hub = hub_of(client)
    member = await make_member(f"{KELURAHAN}/RT 001")
    address = f"sandbox-{member.id}"
    now = dt.datetime.now(dt.UTC)
    photo = Media(MediaKind.PHOTO, "f-1", "image/jpeg", 150_000, caption="Saluran tersumbat")
    for n, more in enumerate(
        (
            {"kind": InboundKind.PHOTO, "media": photo, "text": "Saluran tersumbat"},
            {"kind": InboundKind.LOCATION, "location": Location(-0.512345, 117.123456, "Pos")},
            {"kind": InboundKind.OTHER, "platform_type": "sticker"},
        )
    ):
        event = InboundMessage("sandbox", address, f"ext-{n}", now, **more)
        await hub.dispatcher.receive([event])
    await hub.tasks.wait()
    rows = await InboxMessage.all().order_by("id").values_list("kind", "text")
    assert rows == [("photo", "Saluran tersumbat"), ("location", "-0.512345, 117.123456 · Pos")]
    await hub.sender.run_once()
    # The sandbox cannot hand over a file: the photo is answered with the reason (not the
    # receipt), so the location after it still gets the receipt.
    assert [m.text for m in phone(hub).messages(address)] == [
        said(hub, "dialog_file_unavailable"),
        said(hub, "media_received"),
    ]
    assert not await FeedbackFile.exists()


async def test_a_file_is_fetched_for_photos_voice_notes_and_documents_only(
    client: TestClient, monkeypatch
) -> None:
    hub = hub_of(client)
    member = await make_member(f"{KELURAHAN}/RT 001")
    seen: list[str] = []

    async def take(event: InboundMessage, *args: Any) -> FeedbackFile:
        seen.append(event.kind.value)
        raise FileRefused("again")

    monkeypatch.setattr(hub.inbox, "files", SimpleNamespace(take=take, max_mb=16))
    now = dt.datetime.now(dt.UTC)
    voice = Media(MediaKind.VOICE, "f-2", "audio/ogg", 9_000)
    address = f"sandbox-{member.id}"
    await hub.dispatcher.receive(
        [
            InboundMessage("sandbox", address, "v-1", now, kind=InboundKind.VOICE, media=voice),
            InboundMessage("sandbox", address, "t-1", now, text=QUESTION),
            InboundMessage(
                "sandbox", address, "l-1", now, kind=InboundKind.LOCATION,
                location=Location(-0.5, 117.1),
            ),
        ]
    )  # fmt: skip
    await hub.tasks.wait()
    assert seen == ["voice"]
    assert await InboxMessage.all().order_by("id").values_list("kind", flat=True) == [
        "voice",
        "text",
        "location",
    ]


async def test_staff_of_another_kelurahan_see_no_thread(client: TestClient) -> None:
    hub = hub_of(client)
    ours = await make_token(UserRole.STAFF, (KELURAHAN,))
    theirs = await make_token(UserRole.STAFF, (OTHER,))
    member = await make_member(f"{KELURAHAN}/RT 001", name="Pak Darto")
    await write(hub, member.id, QUESTION)
    [message] = await InboxMessage.all()

    assert await api(client, theirs, "GET", "/inbox") == (200, {"threads": [], "next": None})
    assert await api(client, theirs, "GET", "/inbox/unread") == (200, {"unread": 0})
    for method, path, body in (
        ("GET", f"/inbox/members/{member.id}", None),
        ("POST", f"/inbox/members/{member.id}/read", None),
        ("POST", f"/inbox/members/{member.id}/reply", {"text": "Halo"}),
        ("POST", f"/inbox/messages/{message.id}/ticket", {"kind": "aduan", "category": "lainnya"}),
    ):
        status, answer = await api(client, theirs, method, path, body)
        assert status == 404, (path, answer)
        assert "Pak Darto" not in str(answer)
    status, _ = await api(client, theirs, "GET", f"/inbox?area={KELURAHAN}")
    assert status == 403
    assert (await api(client, ours, "GET", f"/inbox?area={KELURAHAN}/RT 001"))[1]["threads"]
    assert (await InboxMessage.get(id=message.id)).read_at is None
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE).count() == 0


async def test_a_message_without_an_area_is_for_unscoped_users_only(client: TestClient) -> None:
    hub = hub_of(client)
    member = await make_member(f"{KELURAHAN}/RT 001")
    await InboxMessage.create(
        member=member, direction=InboxDirection.IN, channel="sandbox",
        address=f"sandbox-{member.id}", text=QUESTION, created_at=hub.clock(),
    )  # fmt: skip
    staff = await make_token(UserRole.STAFF, (KELURAHAN,))
    admin = await make_token()
    assert await api(client, staff, "GET", "/inbox/unread") == (200, {"unread": 0})
    assert await api(client, admin, "GET", "/inbox/unread") == (200, {"unread": 1})


async def test_officials_read_but_cannot_reply(client: TestClient) -> None:
    hub = hub_of(client)
    official = await make_token(UserRole.OFFICIAL, (KELURAHAN,))
    member = await make_member(f"{KELURAHAN}/RT 001")
    await write(hub, member.id, QUESTION)
    assert (await api(client, official, "GET", f"/inbox/members/{member.id}"))[0] == 200
    for path in (f"/inbox/members/{member.id}/reply", f"/inbox/members/{member.id}/read"):
        status, _ = await api(client, official, "POST", path, {"text": "Halo"})
        assert status == 403
    assert not await InboxMessage.filter(direction=InboxDirection.OUT).exists()
    assert await InboxMessage.filter(read_at__isnull=True).count() == 1


async def test_a_reply_must_say_something_within_the_limit(client: TestClient) -> None:
    hub = hub_of(client)
    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    member = await make_member(f"{KELURAHAN}/RT 001")
    await write(hub, member.id, QUESTION)
    path = f"/inbox/members/{member.id}/reply"
    for body in ({}, {"text": ""}, {"text": "   \n "}, {"text": "x" * 4097}, {"text": 7}):
        status, answer = await api(client, token, "POST", path, body)
        assert status == 422, (body, answer)
        assert answer["error"]["code"] == "invalid"
    assert (await api(client, token, "POST", path, {"text": "x" * 4096}))[0] == 201
    assert await InboxMessage.filter(direction=InboxDirection.OUT).count() == 1
    # A member who never wrote has no thread to answer.
    silent = await make_member(f"{KELURAHAN}/RT 002")
    status, _ = await api(client, token, "POST", f"/inbox/members/{silent.id}/reply", {"text": "?"})
    assert status == 404


async def test_a_message_becomes_a_ticket_once(client: TestClient) -> None:
    hub = hub_of(client)
    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    member = await make_member(f"{KELURAHAN}/RT 001")
    await write(hub, member.id, QUESTION)
    [message] = await InboxMessage.all()
    path = f"/inbox/messages/{message.id}/ticket"
    body = {"kind": "aduan", "category": "drainase/banjir"}

    status, made = await api(client, token, "POST", path, body)
    assert status == 201, made
    ticket = await Ticket.get(number=made["number"])
    assert (ticket.description, ticket.member_id, ticket.channel) == (  # type: ignore[attr-defined]
        QUESTION,
        member.id,
        "sandbox",
    )
    assert (await InboxMessage.get(id=message.id)).ticket_id == ticket.id  # type: ignore[attr-defined]
    assert await AuditLog.filter(action="inbox.ticket", target=ticket.number).exists()
    await hub.sender.run_once()
    told = phone(hub).messages(f"sandbox-{member.id}")[-1].text
    assert told == said(hub, "inbox_ticket_filed", number=ticket.number)

    status, again = await api(client, token, "POST", path, body)
    assert status == 409, again
    assert await Ticket.all().count() == 1
    status, detail = await api(client, token, "GET", f"/inbox/members/{member.id}")
    assert detail["tickets"] == [
        {"number": ticket.number, "kind": "aduan", "category": "drainase/banjir",
         "status": "baru", "created_at": ticket.created_at.isoformat()}
    ]  # fmt: skip
    assert detail["messages"][0]["ticket"] == ticket.number


async def test_a_ticket_needs_a_known_category_and_a_members_message(client: TestClient) -> None:
    hub = hub_of(client)
    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    member = await make_member(f"{KELURAHAN}/RT 001")
    await write(hub, member.id, QUESTION)
    [message] = await InboxMessage.all()
    path = f"/inbox/messages/{message.id}/ticket"
    for body in (
        {"kind": "aduan", "category": "tidak-ada"},
        {"kind": "keluhan", "category": "lainnya"},
        {"kind": "aduan", "category": "lainnya", "description": ""},
        {"kind": "aduan"},
    ):
        status, answer = await api(client, token, "POST", path, body)
        assert status == 422, (body, answer)
    status, _ = await api(client, token, "POST", "/inbox/messages/999999/ticket",
                          {"kind": "aduan", "category": "lainnya"})  # fmt: skip
    assert status == 404
    edited = {"kind": "aduan", "category": "lainnya", "description": "Fogging di RT 001"}
    status, made = await api(client, token, "POST", path, edited)
    assert status == 201
    assert (await Ticket.get(number=made["number"])).description == "Fogging di RT 001"


async def test_threads_are_paged_newest_active_first(client: TestClient) -> None:
    hub = hub_of(client)
    token = await make_token()
    members = [await make_member(f"{KELURAHAN}/RT 00{n}") for n in range(1, 4)]
    for member in members:
        await write(hub, member.id, QUESTION)
    await write(hub, members[0].id, "Tambahan dari saya untuk pertanyaan tadi")
    status, first = await api(client, token, "GET", "/inbox?limit=2")
    assert status == 200
    assert [t["id"] for t in first["threads"]] == [members[0].id, members[2].id]
    assert first["threads"][0]["unread"] == 2
    status, second = await api(client, token, "GET", f"/inbox?limit=2&cursor={first['next']}")
    assert status == 200
    assert [t["id"] for t in second["threads"]] == [members[1].id]
    assert second["next"] is None
    assert (await api(client, token, "GET", "/inbox?unread=maybe"))[0] == 422
