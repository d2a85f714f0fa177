"""Group chats of RT heads: link codes (API and CLI), linking in the group, group posts of
broadcasts, taps, reactions and replies in the group, migration, removal and cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tortoise.backends.base.executor import EXECUTOR_CACHE

from channels import ChannelEvent, ChannelEventKind, InboundKind, InboundMessage, SendErrorReason
from hub.access.auth import create_token
from hub.app import HUB, Hub
from hub.broadcast.deliveries import group_ack_payload
from hub.cli import main
from hub.core.db import close_database, open_database
from hub.roster.groups import LINK_CODE_DAYS
from models import (
    AuditLog,
    Delivery,
    DeliveryStatus,
    GroupChat,
    GroupLinkCode,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    UserRole,
)
from tests.conftest import CLOCK_START, FakeClock
from tests.factories import bearer, make_area, make_member, make_token, make_user
from tests.test_dashboard import log_in
from tests.test_messenger_features import (
    FakeChat,
    hub_said,
    inbound,
    last_outbox_id,
    post_broadcast,
    queued,
    receive,
)

KECAMATAN = "Sungai Kunjang"
AREA = f"{KECAMATAN}/Loa Bakung"
ELSEWHERE = f"{KECAMATAN}/Karang Asam"
GROUP = "-100500"
TITLE = "Ketua RT Loa Bakung"


def add_fake(hub: Hub) -> FakeChat:
    channel = FakeChat(hub.receive)
    hub.channels[FakeChat.name] = channel
    return channel


@pytest.fixture
def fake(hub: Hub) -> FakeChat:
    return add_fake(hub)


async def link_code(client: TestClient, token: str, area: str = AREA) -> str:
    resp = await client.post(
        "/api/v1/groups/link-codes", json={"area": area}, headers=bearer(token)
    )
    assert resp.status == 201, await resp.text()
    return (await resp.json())["code"]


def in_group(
    text: str = "", *, group: str = GROUP, sender: str = "tg-admin", **fields: Any
) -> InboundMessage:
    return inbound("fakechat", group, text, sender=sender, in_group=True, **fields)


async def linked_group(client: TestClient, hub: Hub, area: str = AREA, group: str = GROUP) -> None:
    await make_area(area)
    code = await link_code(client, await make_token(), area)
    await receive(hub, in_group(f"HUBUNGKAN {code}", group=group, chat_title=TITLE))
    assert await GroupChat.exists(channel="fakechat", address=group, removed_at=None)


async def member_on_fakechat(area: str = f"{AREA}/RT 001") -> tuple[Member, str]:
    member = await make_member(area, channels=("fakechat",))
    return member, f"fakechat-{member.id}"


async def group_posts(broadcast_id: int) -> list[OutboundMessage]:
    return list(
        await OutboundMessage.filter(broadcast_id=broadcast_id, kind=MessageKind.GROUP_POST)
    )


# Link codes ---------------------------------------------------------------------------------


async def test_staff_get_a_link_code_for_an_area_in_their_scope(
    client: TestClient, hub: Hub
) -> None:
    await make_area(ELSEWHERE)
    await make_area(f"{AREA}/RT 001")
    user = await make_user(UserRole.STAFF, (AREA,))
    token = await create_token(user)
    before = dt.datetime.now(dt.UTC)

    resp = await client.post(
        "/api/v1/groups/link-codes", json={"area": " loa bakung "}, headers=bearer(token)
    )
    assert resp.status == 422  # a path is the full path, not a name
    resp = await client.post(
        "/api/v1/groups/link-codes", json={"area": AREA.lower()}, headers=bearer(token)
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["area"] == AREA
    assert body["instruction"] == f"/hubungkan {body['code']}"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert before + dt.timedelta(days=LINK_CODE_DAYS) <= expires
    assert expires <= dt.datetime.now(dt.UTC) + dt.timedelta(days=LINK_CODE_DAYS)
    row = await GroupLinkCode.get(code=body["code"]).select_related("area")
    assert (row.area.path, row.created_by_id, row.used_at) == (AREA, user.id, None)
    assert await AuditLog.filter(action="group.link_code", target=AREA).exists()

    below = await client.post(
        "/api/v1/groups/link-codes", json={"area": f"{AREA}/RT 001"}, headers=bearer(token)
    )
    assert below.status == 201


@pytest.mark.parametrize(
    ("role", "area", "status", "code"),
    [
        (UserRole.STAFF, ELSEWHERE, 403, "forbidden"),
        (UserRole.STAFF, KECAMATAN, 403, "forbidden"),
        (UserRole.STAFF, f"{KECAMATAN}/Nowhere", 422, "unknown_area"),
        (UserRole.OFFICIAL, AREA, 403, "forbidden"),
        (UserRole.ADMIN, f"{KECAMATAN}/Nowhere", 422, "unknown_area"),
    ],
)
async def test_link_codes_refused(
    client: TestClient, hub: Hub, role: UserRole, area: str, status: int, code: str
) -> None:
    await make_area(ELSEWHERE)
    token = await make_token(role, (AREA,) if role != UserRole.ADMIN else ())
    resp = await client.post(
        "/api/v1/groups/link-codes", json={"area": area}, headers=bearer(token)
    )
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert not await GroupLinkCode.exists()


@pytest.mark.parametrize("body", [{}, {"area": ""}, {"area": AREA, "extra": 1}, {"area": 5}])
async def test_a_malformed_link_code_request_is_422(
    client: TestClient, hub: Hub, body: dict[str, Any]
) -> None:
    await make_area(AREA)
    resp = await client.post(
        "/api/v1/groups/link-codes", json=body, headers=bearer(await make_token())
    )
    assert resp.status == 422
    assert not await GroupLinkCode.exists()


# The command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("HUB_CONFIG", "HUB_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite://{tmp_path}/hub.sqlite3"\n', encoding="utf-8")
    EXECUTOR_CACHE.clear()  # insert SQL is cached per connection name, across databases
    yield path
    EXECUTOR_CACHE.clear()


def _in_cli_database(config: Path, work: Any) -> Any:
    async def run() -> Any:
        await open_database(f"sqlite://{config.parent}/hub.sqlite3")
        try:
            return await work()
        finally:
            await close_database()

    EXECUTOR_CACHE.clear()
    return asyncio.run(run())


def test_hub_group_code_prints_a_working_code(
    cli_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(cli_config), "migrate"]) == 0
    _in_cli_database(cli_config, lambda: make_area(AREA))
    capsys.readouterr()

    assert main(["--config", str(cli_config), "group", "code", AREA.upper()]) == 0
    out, err = capsys.readouterr()
    code = out.strip()
    assert out == code + "\n" and len(code) == 8
    assert f"/hubungkan {code}" in err and AREA in err

    async def stored() -> tuple[str, bool]:
        row = await GroupLinkCode.get(code=code).select_related("area")
        return row.area.path, row.used_at is None and row.expires_at > dt.datetime.now(dt.UTC)

    assert _in_cli_database(cli_config, stored) == (AREA, True)


def test_hub_group_code_for_an_unknown_area_exits_2(
    cli_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(cli_config), "migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", str(cli_config), "group", "code", "Nowhere/At All"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("hub: unknown area") and len(err.splitlines()) == 1
    assert main(["--config", str(cli_config), "group", "code"]) == 2


# Linking in the group -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["HUBUNGKAN {code}", "/hubungkan@balaiwarga_bot {lower}", "link {lower}"]
)
async def test_a_code_sent_in_a_group_links_it_once(
    client: TestClient, hub: Hub, fake: FakeChat, typed: str
) -> None:
    await make_area(AREA)
    code = await link_code(client, await make_token())
    text = typed.format(code=code, lower=code.lower())
    await receive(hub, in_group(text, chat_title=TITLE))

    group = await GroupChat.get(channel="fakechat", address=GROUP).select_related("area")
    assert (group.title, group.area.path, group.removed_at) == (TITLE, AREA, None)
    assert group.linked_at is not None
    replies = await queued(GROUP)
    assert [r.text for r in replies] == [hub_said(hub, "group_linked", area=AREA)]
    assert (replies[0].member_id, replies[0].kind) == (None, MessageKind.REPLY)
    assert (await GroupLinkCode.get(code=code)).used_at is not None
    await hub.sender.run_once()
    assert [o.text for o in fake.sent_to(GROUP)] == [replies[0].text]

    # The same code in another group is refused; the first group stays linked.
    await receive(hub, in_group(f"HUBUNGKAN {code}", group="-100600"))
    assert await GroupChat.filter(address="-100600").count() == 0
    assert [r.text for r in await queued("-100600")] == [hub_said(hub, "group_bad_code", code=code)]
    assert await GroupChat.all().count() == 1


async def test_a_code_cannot_link_two_groups_even_at_the_same_moment(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await make_area(AREA)
    code = await link_code(client, await make_token())
    await asyncio.gather(
        receive(hub, in_group(f"HUBUNGKAN {code}", group="-1001")),
        receive(hub, in_group(f"HUBUNGKAN {code}", group="-1002")),
    )
    assert await GroupChat.all().count() == 1


async def test_unknown_codes_and_chatter_in_a_group(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await receive(hub, in_group("HUBUNGKAN ZZZZ9999"))
    assert [r.text for r in await queued(GROUP)] == [
        hub_said(hub, "group_bad_code", code="ZZZZ9999")
    ]
    after = await last_outbox_id()
    # Ordinary talk in a group, even from a member, gets no answer.
    _, address = await member_on_fakechat()
    for text in ("HUBUNGKAN", "halo semua", "BANTUAN", "BERHENTI"):
        await receive(hub, in_group(text, sender=address))
    await receive(hub, in_group(kind=InboundKind.PHOTO, sender=address))
    assert await queued(GROUP, after=after) == []
    assert not await GroupChat.exists()


async def test_an_expired_code_is_refused(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    add_fake(hub)
    token = await make_token()
    await make_area(AREA)
    late = await link_code(timed, token)
    just_in_time = await link_code(timed, token)
    stored = await GroupLinkCode.get(code=late)
    assert stored.expires_at == CLOCK_START + dt.timedelta(days=LINK_CODE_DAYS)

    clock.advance(days=LINK_CODE_DAYS, seconds=-1)
    await receive(hub, in_group(f"HUBUNGKAN {just_in_time}", group="-1001"))
    assert await GroupChat.exists(address="-1001")

    clock.advance(seconds=1)
    await receive(hub, in_group(f"HUBUNGKAN {late}", group="-1002"))
    assert not await GroupChat.exists(address="-1002")
    assert [r.text for r in await queued("-1002")] == [hub_said(hub, "group_bad_code", code=late)]
    assert (await GroupLinkCode.get(code=late)).used_at is None


async def test_the_groups_api_lists_linked_groups_in_scope(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await make_area(ELSEWHERE)
    await linked_group(client, hub)
    group = await GroupChat.get(address=GROUP)

    expected = [
        {
            "id": group.id,
            "channel": "fakechat",
            "title": TITLE,
            "area": AREA,
            "linked_at": group.linked_at.isoformat(),
        }
    ]
    for token in (
        await make_token(),
        await make_token(UserRole.STAFF, (AREA,)),
        await make_token(UserRole.OFFICIAL, (KECAMATAN,)),
    ):
        resp = await client.get("/api/v1/groups", headers=bearer(token))
        assert resp.status == 200
        assert (await resp.json())["groups"] == expected
    elsewhere = await make_token(UserRole.STAFF, (ELSEWHERE,))
    resp = await client.get("/api/v1/groups", headers=bearer(elsewhere))
    assert (await resp.json())["groups"] == []
    assert (await client.get("/api/v1/groups")).status == 401


# Group posts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "posted", "recipients"),
    [
        ([AREA], True, 1),
        ([KECAMATAN], True, 2),
        ([ELSEWHERE], False, 1),
        ([f"{AREA}/RT 001"], False, 1),  # the group is the kelurahan's, wider than that RT
    ],
)
async def test_a_broadcast_posts_in_the_linked_groups_of_its_areas(
    client: TestClient,
    hub: Hub,
    fake: FakeChat,
    audience: list[str],
    posted: bool,
    recipients: int,
) -> None:
    await make_member(f"{AREA}/RT 001", channels=("fakechat",))
    await make_member(f"{ELSEWHERE}/RT 001", channels=("fakechat",))
    await linked_group(client, hub)

    broadcast_id = await post_broadcast(client, await make_token(), areas=audience)
    # The post is not a delivery: the broadcast's numbers count its members only.
    assert await Delivery.filter(broadcast_id=broadcast_id).count() == recipients
    posts = await group_posts(broadcast_id)
    if not posted:
        assert posts == []
        return
    assert len(posts) == 1
    post = posts[0]
    assert (post.channel, post.address, post.delivery_id, post.member_id) == (
        "fakechat",
        GROUP,
        None,
        None,
    )
    assert post.buttons == [
        {"label": hub_said(hub, "ack_button"), "payload": group_ack_payload(broadcast_id)}
    ]
    assert "Kerja bakti" in post.text

    await hub.sender.run_once()
    await post.refresh_from_db()
    assert post.state == OutboxState.SENT
    assert post.external_id is not None
    assert [o.buttons[0].payload for o in fake.sent_to(GROUP)[1:]] == [
        group_ack_payload(broadcast_id)
    ]


async def test_the_report_button_goes_under_members_copies_not_the_group_post(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    """A complaint tapped in a group would be filed by whoever tapped it: the group post keeps
    its acknowledgement button only."""
    await member_on_fakechat()
    await linked_group(client, hub)
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Info", "text": "Posyandu buka.", "audience": {"areas": [AREA]},
              "report_button": True},
        headers=bearer(await make_token()),
    )  # fmt: skip
    assert resp.status == 201
    broadcast_id = (await resp.json())["id"]
    [post] = await group_posts(broadcast_id)
    assert [b["payload"] for b in post.buttons] == [group_ack_payload(broadcast_id)]
    [own] = await OutboundMessage.filter(
        delivery__broadcast_id=broadcast_id, kind=MessageKind.BROADCAST
    )
    assert [b["payload"] for b in own.buttons] == [
        f"ack:{own.delivery_id}",
        f"aduan:{broadcast_id}",
    ]


async def test_a_post_without_acknowledgement_has_no_button(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await member_on_fakechat()
    await linked_group(client, hub)
    resp = await client.post(
        "/api/v1/broadcasts",
        json={
            "title": "Info",
            "text": "Posyandu buka.",
            "audience": {"areas": [AREA]},
            "ack_required": False,
        },
        headers=bearer(await make_token()),
    )
    assert resp.status == 201
    posts = await group_posts((await resp.json())["id"])
    assert [p.buttons for p in posts] == [[]]


async def sent_group_post(client: TestClient, hub: Hub) -> tuple[int, OutboundMessage]:
    broadcast_id = await post_broadcast(client, await make_token(), areas=[AREA])
    await hub.sender.run_once()
    (post,) = await group_posts(broadcast_id)
    assert post.state == OutboxState.SENT and post.external_id
    return broadcast_id, post


async def test_a_member_tapping_the_group_post_acknowledges_their_own_delivery(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    member, address = await member_on_fakechat()
    other, _ = await member_on_fakechat(f"{AREA}/RT 002")
    outsider, outsider_address = await member_on_fakechat(f"{ELSEWHERE}/RT 001")
    await linked_group(client, hub)
    broadcast_id, post = await sent_group_post(client, hub)
    after = await last_outbox_id()

    def group_tap(sender: str) -> InboundMessage:
        return in_group(
            sender=sender,
            kind=InboundKind.BUTTON,
            button_payload=group_ack_payload(broadcast_id),
            reply_to=post.external_id,
        )

    await receive(hub, group_tap(address))
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert (delivery.status, delivery.ack_evidence) == (DeliveryStatus.ACKNOWLEDGED, "group_button")
    assert delivery.acknowledged_at is not None
    untouched = await Delivery.get(broadcast_id=broadcast_id, member_id=other.id)
    assert untouched.status == DeliveryStatus.SENT

    await receive(hub, group_tap(address))  # again
    await receive(hub, group_tap("tg-stranger"))  # not on the roster
    await receive(hub, group_tap(outsider_address))  # on the roster, not a recipient
    assert [text for _, text in fake.toasts] == [
        hub_said(hub, "ack_toast"),
        hub_said(hub, "ack_toast_already"),
        hub_said(hub, "ack_toast_unknown"),
        hub_said(hub, "ack_toast_unknown"),
    ]
    # In the group the hub answers taps with toasts only: nothing is posted, nothing edited.
    assert await OutboundMessage.filter(id__gt=after).count() == 0
    assert not await Delivery.exists(member_id=outsider.id)


@pytest.mark.parametrize(
    ("kind", "text", "evidence"),
    [
        (InboundKind.REACTION, "👍", "reaction"),
        (InboundKind.TEXT, "Siap, terima kasih", "reply"),
        (InboundKind.PHOTO, "", "photo"),
    ],
)
async def test_reactions_and_replies_in_the_group_mark_the_member_read(
    client: TestClient, hub: Hub, fake: FakeChat, kind: InboundKind, text: str, evidence: str
) -> None:
    member, address = await member_on_fakechat()
    other, _ = await member_on_fakechat(f"{AREA}/RT 002")
    await linked_group(client, hub)
    broadcast_id, post = await sent_group_post(client, hub)
    after = await last_outbox_id()

    await receive(
        hub,
        in_group(text, sender=address, kind=kind, reply_to=post.external_id),
        in_group(text, sender="tg-stranger", kind=kind, reply_to=post.external_id),
    )
    delivery = await Delivery.get(broadcast_id=broadcast_id, member_id=member.id)
    assert (delivery.status, delivery.read_evidence) == (DeliveryStatus.READ, evidence)
    assert (await Delivery.get(broadcast_id=broadcast_id, member_id=other.id)).status == (
        DeliveryStatus.SENT
    )
    assert await OutboundMessage.filter(id__gt=after).count() == 0


async def test_a_migrated_group_keeps_its_link_and_its_queued_posts(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await member_on_fakechat()
    await linked_group(client, hub)
    await hub.sender.run_once()  # the "linked" reply
    broadcast_id = await post_broadcast(client, await make_token(), areas=[AREA])
    (post,) = await group_posts(broadcast_id)
    assert post.state == OutboxState.QUEUED

    await receive(
        hub,
        ChannelEvent(
            "fakechat",
            GROUP,
            ChannelEventKind.GROUP_MIGRATED,
            dt.datetime.now(dt.UTC),
            {"new_address": "-100999"},
        ),
    )
    # The channel may report the same move twice (the update, and a send that hit the old id).
    await receive(
        hub,
        ChannelEvent(
            "fakechat",
            GROUP,
            ChannelEventKind.GROUP_MIGRATED,
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
            {"new_address": "-100999"},
        ),
    )
    group = await GroupChat.get(channel="fakechat")
    assert (group.address, group.removed_at) == ("-100999", None)
    await post.refresh_from_db()
    assert post.address == "-100999"

    await hub.sender.run_once()
    assert len(fake.sent_to("-100999")) == 1
    assert len(fake.sent_to(GROUP)) == 1  # only the "linked" reply, before the move
    later = await post_broadcast(client, await make_token(), areas=[AREA])
    assert [p.address for p in await group_posts(later)] == ["-100999"]


async def test_a_group_the_hub_was_removed_from_gets_no_more_posts(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await member_on_fakechat()
    await linked_group(client, hub)
    at = dt.datetime(2030, 3, 4, 3, 0, tzinfo=dt.UTC)
    await receive(hub, ChannelEvent("fakechat", GROUP, ChannelEventKind.REMOVED_FROM_GROUP, at))
    assert (await GroupChat.get(address=GROUP)).removed_at == at

    token = await make_token()
    broadcast_id = await post_broadcast(client, token, areas=[AREA])
    assert await group_posts(broadcast_id) == []
    resp = await client.get("/api/v1/groups", headers=bearer(token))
    assert (await resp.json())["groups"] == []

    # Added back and linked again with a fresh code: posts resume.
    await linked_group(client, hub)
    assert await GroupChat.all().count() == 1
    again = await post_broadcast(client, token, areas=[AREA])
    assert [p.address for p in await group_posts(again)] == [GROUP]


async def test_cancelling_a_broadcast_cancels_its_group_posts(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    await member_on_fakechat()
    await linked_group(client, hub)
    await hub.sender.run_once()
    token = await make_token()
    broadcast_id = await post_broadcast(client, token, areas=[AREA])
    other = await post_broadcast(client, token, areas=[AREA])

    resp = await client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    assert [p.state for p in await group_posts(broadcast_id)] == [OutboxState.CANCELLED]
    assert [p.state for p in await group_posts(other)] == [OutboxState.QUEUED]

    sent_before = len(fake.sent_to(GROUP))
    await hub.sender.run_once()
    assert len(fake.sent_to(GROUP)) == sent_before + 1  # only the other broadcast's post
    assert [p.state for p in await group_posts(other)] == [OutboxState.SENT]


async def test_a_group_post_or_correction_that_fails_for_good_shows_on_the_broadcast(
    client: TestClient, hub: Hub, fake: FakeChat
) -> None:
    """Neither is a delivery: without their own counts the broadcast would look complete."""
    _, address = await member_on_fakechat()
    await linked_group(client, hub)
    await hub.sender.run_once()
    token = await make_token()
    fake.refuse[GROUP] = SendErrorReason.REJECTED
    broadcast_id = await post_broadcast(client, token, areas=[AREA])
    await hub.sender.run_once()
    assert [p.state for p in await group_posts(broadcast_id)] == [OutboxState.FAILED]

    url = f"/api/v1/broadcasts/{broadcast_id}"
    summary = await (await client.get(url, headers=bearer(token))).json()
    assert (summary["counts"]["sent"], summary["counts"]["failed"]) == (1, 0)
    assert summary["group_posts"] == {"pending": 0, "sent": 0, "failed": 1}
    assert summary["corrections"] == {"pending": 0, "sent": 0, "failed": 0}

    # The member's copy cannot be edited here: the correction goes as a new message, and fails.
    fake.refuse[address] = SendErrorReason.REJECTED
    resp = await client.post(
        f"{url}/correction", json={"text": "Minggu pukul 08.00."}, headers=bearer(token)
    )
    assert resp.status == 200, await resp.text()
    await hub.sender.run_once()
    summary = await (await client.get(url, headers=bearer(token))).json()
    assert summary["corrections"] == {"pending": 0, "sent": 0, "failed": 1}
    assert summary["group_posts"] == {"pending": 0, "sent": 0, "failed": 1}

    await log_in(client)
    page = await (await client.get(f"/broadcasts/{broadcast_id}")).text()
    assert "1 postingan di grup RT gagal terkirim" in page
    assert "1 koreksi gagal terkirim" in page
    assert (
        'stat bad"><span class="stat-n">1</span><span class="stat-l">Postingan grup gagal' in page
    )
