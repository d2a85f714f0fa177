"""Who gets a broadcast and where: saved groups, the preview per channel with its template count,
opted-out members skipped and counted, and falling back to a member's other channel (also when
WhatsApp reports a number undeliverable after accepting the message)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hub.app import HUB, Hub, create_app
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    Member,
    MemberGroup,
    OutboundMessage,
    OutboxState,
    UserRole,
)
from tests.conftest import make_config, whatsapp_config
from tests.factories import bearer, make_member, make_token
from tests.fake_graph import (
    FakeGraphAPI,
    signed_webhook,
    status_notification,
)
from tests.fake_graph import status as status_entry

KELURAHAN = "Sungai Kunjang/Loa Bakung"
OTHER = "Sungai Kunjang/Karang Asam Ulu"


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def on_whatsapp(
    phone: str, *, wrote: dt.timedelta | None = None, also_sandbox: bool = False
) -> Member:
    """A member preferring WhatsApp who last wrote `wrote` ago (None: never)."""
    member = await make_member(
        f"{KELURAHAN}/RT 001", channels=("sandbox",) if also_sandbox else (), phone=phone
    )
    last = dt.datetime.now(dt.UTC) - wrote if wrote is not None else None
    await ChannelAddress.create(
        member=member, channel="whatsapp", address=phone, last_inbound_at=last
    )
    member.preferred_channel = "whatsapp"
    await member.save()
    return member


async def post(client: TestClient, token: str, url: str, body: Any) -> tuple[int, Any]:
    resp = await client.post(url, json=body, headers=bearer(token))
    return resp.status, await resp.json()


# Preview -------------------------------------------------------------------------------------


async def test_the_preview_counts_channels_templates_skipped_and_unreachable(
    wa: TestClient,
) -> None:
    token = await make_token()
    await on_whatsapp("+6281234567001", wrote=dt.timedelta(hours=2))  # window open
    await on_whatsapp("+6281234567002")  # never wrote: the template
    await on_whatsapp("+6281234567003", wrote=dt.timedelta(hours=30))  # window closed
    await make_member(f"{KELURAHAN}/RT 002")  # sandbox
    opted_out = await make_member(f"{KELURAHAN}/RT 003")
    await ChannelAddress.filter(member=opted_out).update(opted_out_at=dt.datetime.now(dt.UTC))
    await make_member(f"{KELURAHAN}/RT 004", channels=())  # no address at all

    status, preview = await post(
        wa, token, "/api/v1/broadcasts/preview", {"audience": {"areas": [KELURAHAN]}}
    )
    assert status == 200, preview
    assert preview == {
        "recipients": 6,
        "by_channel": {"whatsapp": 3, "sandbox": 1},
        "templates": 2,
        "skipped": 1,
        "unreachable": {"no_channel": 1},
    }
    assert await OutboundMessage.all().count() == 0  # a preview sends nothing


async def test_the_preview_counts_templates_by_the_rule_the_channel_sends_by(
    wa: TestClient,
) -> None:
    """Inside 24 hours but within WhatsApp's 5-minute margin is a template, as sent."""
    token = await make_token()
    await on_whatsapp("+6281234567001", wrote=dt.timedelta(hours=23, minutes=50))  # free text
    await on_whatsapp("+6281234567002", wrote=dt.timedelta(hours=23, minutes=58))  # template
    status, preview = await post(
        wa, token, "/api/v1/broadcasts/preview", {"audience": {"areas": [KELURAHAN]}}
    )
    assert status == 200, preview
    assert (preview["by_channel"], preview["templates"]) == ({"whatsapp": 2}, 1)


async def test_a_bad_preview_is_refused(wa: TestClient) -> None:
    token = await make_token()
    for audience, code in [
        ({}, "empty_audience"),
        ({"areas": ["Sungai Kunjang/Nowhere"]}, "unknown_area"),
        ({"groups": ["Panitia"]}, "unknown_group"),
    ]:
        status, body = await post(wa, token, "/api/v1/broadcasts/preview", {"audience": audience})
        assert (status, body["error"]["code"]) == (422, code)


# Opted out: skipped and counted ----------------------------------------------------------------


async def test_opted_out_members_are_skipped_and_counted_not_failed(wa: TestClient) -> None:
    token = await make_token()
    await make_member(f"{KELURAHAN}/RT 001")
    opted_out = await make_member(f"{KELURAHAN}/RT 002")
    await ChannelAddress.filter(member=opted_out).update(opted_out_at=dt.datetime.now(dt.UTC))
    status, created = await post(
        wa,
        token,
        "/api/v1/broadcasts",
        {"title": "Ronda", "text": "Jadwal ronda.", "audience": {"areas": [KELURAHAN]}},
    )
    assert status == 201, created
    await send_all(hub_of(wa))
    resp = await wa.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    counts = (await resp.json())["counts"]
    assert (counts["sent"], counts["skipped"], counts["failed"]) == (1, 1, 0)
    delivery = await Delivery.get(member_id=opted_out.id)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.SKIPPED, "opted_out")
    assert not await OutboundMessage.filter(delivery_id=delivery.id).exists()
    assert (await resp.json())["status"] == "sent"


# Saved groups ----------------------------------------------------------------------------------


async def test_a_saved_group_is_an_audience(wa: TestClient) -> None:
    token = await make_token()
    first = await make_member(f"{KELURAHAN}/RT 001")
    second = await make_member(f"{OTHER}/RT 005")
    await make_member(f"{KELURAHAN}/RT 002")  # not in the group

    status, group = await post(
        wa, token, "/api/v1/member-groups", {"name": "Panitia 17 Agustus", "members": [first.id]}
    )
    assert status == 201, group
    resp = await wa.put(
        f"/api/v1/member-groups/{group['id']}",
        json={"name": "Panitia  17 Agustus", "members": [first.id, second.id]},
        headers=bearer(token),
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["members"] == sorted([first.id, second.id])

    status, created = await post(
        wa,
        token,
        "/api/v1/broadcasts",
        {
            "title": "Rapat panitia",
            "text": "Rapat panitia Jumat malam.",
            "audience": {"groups": ["panitia 17 agustus"]},
        },
    )
    assert status == 201, created
    assert created["recipients"] == 2
    assert {d.member_id for d in await Delivery.all()} == {first.id, second.id}
    listing = await (await wa.get("/api/v1/member-groups", headers=bearer(token))).json()
    assert [g["name"] for g in listing["groups"]] == ["Panitia 17 Agustus"]


async def test_bad_groups_are_refused(wa: TestClient) -> None:
    token = await make_token()
    member = await make_member(f"{KELURAHAN}/RT 001")
    status, _ = await post(
        wa, token, "/api/v1/member-groups", {"name": "RW", "members": [member.id]}
    )
    assert status == 201
    for body, expected, code in [
        ({"name": "rw", "members": [member.id]}, 409, "group_exists"),
        ({"name": "  ", "members": []}, 422, "empty_name"),
        ({"name": "Baru", "members": [987654]}, 422, "unknown_member"),
        ({"name": "Baru"}, 422, "invalid"),
    ]:
        status, error = await post(wa, token, "/api/v1/member-groups", body)
        assert (status, error["error"]["code"]) == (expected, code), body
    assert await MemberGroup.all().count() == 1


async def test_a_scoped_user_cannot_use_a_group_beyond_their_areas(wa: TestClient) -> None:
    admin = await make_token()
    inside = await make_member(f"{KELURAHAN}/RT 001")
    outside = await make_member(f"{OTHER}/RT 005")
    status, _ = await post(
        wa, admin, "/api/v1/member-groups", {"name": "Campur", "members": [inside.id, outside.id]}
    )
    assert status == 201
    staff = await make_token(UserRole.STAFF, areas=(KELURAHAN,))
    status, body = await post(
        wa,
        staff,
        "/api/v1/broadcasts",
        {"title": "x", "text": "y", "audience": {"groups": ["Campur"]}},
    )
    # The group belongs to the kecamatan both kelurahan share: not the staff's to see or use.
    assert (status, body["error"]["code"]) == (422, "unknown_group"), body
    status, body = await post(
        wa, staff, "/api/v1/member-groups", {"name": "Luar", "members": [outside.id]}
    )
    assert status == 403, body


# Falling back to the other channel -------------------------------------------------------------


async def test_an_undeliverable_whatsapp_number_falls_back_to_the_other_channel(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    hub = hub_of(wa)
    token = await make_token()
    phone = "+6281234567001"
    member = await on_whatsapp(phone, wrote=dt.timedelta(hours=1), also_sandbox=True)
    status, created = await post(
        wa,
        token,
        "/api/v1/broadcasts",
        {"title": "Ronda", "text": "Jadwal ronda.", "audience": {"members": [member.id]}},
    )
    assert status == 201, created
    await send_all(hub)
    delivery = await Delivery.get(member_id=member.id)
    assert (delivery.channel, delivery.status) == ("whatsapp", DeliveryStatus.SENT)

    # WhatsApp accepted the message, then reports the number cannot receive it (131026).
    failed = status_notification([status_entry(delivery.external_id, "failed", error_code=131026)])
    for _ in range(2):  # a repeated webhook changes nothing more
        body, headers = signed_webhook(failed)
        resp = await wa.post("/webhooks/whatsapp", data=body, headers=headers)
        assert resp.status == 200
        await hub.tasks.wait()
    await send_all(hub)

    await delivery.refresh_from_db()
    assert (delivery.channel, delivery.status) == ("sandbox", DeliveryStatus.SENT)
    messages = await OutboundMessage.filter(delivery_id=delivery.id).order_by("id")
    assert [(m.channel, m.state) for m in messages] == [
        ("whatsapp", OutboxState.FAILED),
        ("sandbox", OutboxState.SENT),
    ]
    assert "131026" in (messages[0].failure_reason or "")


async def test_an_undeliverable_number_with_no_other_channel_fails_with_the_reason(
    wa: TestClient,
) -> None:
    hub = hub_of(wa)
    token = await make_token()
    member = await on_whatsapp("+6281234567001", wrote=dt.timedelta(hours=1))
    await post(
        wa,
        token,
        "/api/v1/broadcasts",
        {"title": "Ronda", "text": "Jadwal ronda.", "audience": {"members": [member.id]}},
    )
    await send_all(hub)
    delivery = await Delivery.get(member_id=member.id)
    body, headers = signed_webhook(
        status_notification([status_entry(delivery.external_id, "failed", error_code=131026)])
    )
    await wa.post("/webhooks/whatsapp", data=body, headers=headers)
    await hub.tasks.wait()
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "131026" in (delivery.failure_reason or "")


async def test_a_channel_disabled_mid_broadcast_waits_while_the_others_go_on(
    db: str, graph: FakeGraphAPI
) -> None:
    member_wa = await on_whatsapp("+6281234567001", wrote=dt.timedelta(hours=1))
    member_sandbox = await make_member(f"{KELURAHAN}/RT 002")
    token = await make_token()
    enabled = whatsapp_config(graph)
    async with TestClient(
        TestServer(create_app(enabled, manage_database=False, run_workers=False))
    ) as client:
        status, created = await post(
            client,
            token,
            "/api/v1/broadcasts",
            {"title": "Ronda", "text": "Jadwal ronda.", "audience": {"areas": [KELURAHAN]}},
        )
        assert status == 201, created

    # The hub restarts with WhatsApp switched off (say its token expired): the sandbox goes on.
    disabled = make_config()
    async with TestClient(
        TestServer(create_app(disabled, manage_database=False, run_workers=False))
    ) as client:
        await send_all(hub_of(client))
        by_member = {d.member_id: d for d in await Delivery.all()}
        assert by_member[member_sandbox.id].status == DeliveryStatus.SENT
        assert by_member[member_wa.id].status == DeliveryStatus.PENDING
        resp = await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
        assert (await resp.json())["status"] == "sending"
    assert graph.messages() == []

    # WhatsApp back on: the waiting delivery goes out, once.
    async with TestClient(
        TestServer(create_app(enabled, manage_database=False, run_workers=False))
    ) as client:
        await send_all(hub_of(client))
        resp = await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
        assert (await resp.json())["status"] == "sent"
    assert len(graph.messages("+6281234567001")) == 1
