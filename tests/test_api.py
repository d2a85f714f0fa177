"""The JSON API: tokens and area scopes, members, broadcasts, bad input, health and metrics."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from tortoise.exceptions import OperationalError

from hub.access import auth
from hub.app import HUB, Hub
from hub.core.config import Config
from hub.files.media import MediaStore
from jobs.broadcasts import start_due_broadcasts
from models import ApiToken, Broadcast, Delivery, OutboundMessage, OutboxState, User, UserRole
from tests.conftest import FakeClock, make_config
from tests.factories import bearer, make_area, make_member, make_token, make_user

LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"
KARANG_ASAM = "Sungai Kunjang/Karang Asam"
MEMBER_KEYS = {"id", "name", "area", "rt", "phone", "channels", "preferred_channel", "status"}
COUNT_KEYS = {"pending", "sent", "delivered", "read", "acknowledged", "failed"}
RECIPIENT_KEYS = {
    "member_id",
    "name",
    "area",
    "channel",
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "acknowledged_at",
    "failure_reason",
    "reminders",
}


@pytest.fixture
def config() -> Config:
    return make_config(
        telegram={"bot_username": "balaiwarga_bot"},
        whatsapp={"business_phone": "+62 811-5000-123"},
        web={"max_body_kb": 64},
    )


async def rows() -> tuple[int, int, int]:
    return (
        await Broadcast.all().count(),
        await Delivery.all().count(),
        await OutboundMessage.all().count(),
    )


async def error_of(resp: Any, status: int | None = None) -> dict[str, str]:
    """The error body, checked for the one error format."""
    body = await resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert 400 <= resp.status < 500, (resp.status, body)
    if status is not None:
        assert resp.status == status, (resp.status, body)
    return body["error"]


def broadcast_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Kerja bakti",
        "text": "Kerja bakti hari Minggu pukul 07.00.",
        "audience": {"areas": [LOA_BAKUNG], "members": []},
        "send_at": None,
        "recurrence": None,
        "ack_required": True,
    }
    body.update(changes)
    return body


# Authentication and scopes -------------------------------------------------------------------


async def test_requests_without_a_valid_token_are_401(client: TestClient) -> None:
    member = await make_member()
    token = await make_token()
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": f"Basic {token}"},
        bearer("bw_not-a-real-token"),
        bearer("not-even-our-prefix"),
        bearer(token + "x"),
    ):
        for path in ("/api/v1/members", f"/api/v1/members/{member.id}", "/api/v1/broadcasts"):
            resp = await client.get(path, headers=headers)
            assert (await error_of(resp, 401))["code"] == "unauthorized"
        resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=headers)
        await error_of(resp, 401)
    assert await rows() == (0, 0, 0)
    assert (await client.get("/api/v1/members", headers=bearer(token))).status == 200


async def test_a_revoked_token_is_401(client: TestClient) -> None:
    token = await make_token()
    assert (await client.get("/api/v1/members", headers=bearer(token))).status == 200
    await ApiToken.all().update(revoked_at=dt.datetime.now(dt.UTC))
    await error_of(await client.get("/api/v1/members", headers=bearer(token)), 401)


async def test_the_token_of_a_deactivated_user_is_401(client: TestClient) -> None:
    token = await make_token()
    await User.all().update(is_active=False)
    await error_of(await client.get("/api/v1/members", headers=bearer(token)), 401)


async def test_tokens_never_reach_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await make_token()
    wrong = "bw_wrong-token-that-someone-guessed"
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await client.get("/api/v1/members", headers=bearer(token))
    await client.get("/api/v1/members", headers=bearer(wrong))
    await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))
    await client.post("/api/v1/broadcasts", data=b"{", headers=bearer(token))
    assert caplog.records  # the requests were logged, just not their tokens
    assert token not in caplog.text
    assert token[len(auth.TOKEN_PREFIX) :] not in caplog.text
    assert wrong not in caplog.text


async def test_a_token_records_its_last_use(client: TestClient) -> None:
    token = await make_token()
    assert (await ApiToken.get()).last_used_at is None
    await client.get("/api/v1/members", headers=bearer(token))
    assert (await ApiToken.get()).last_used_at is not None


async def test_a_scoped_user_cannot_see_or_reach_other_areas(client: TestClient) -> None:
    mine = await make_member(f"{LOA_BAKUNG}/RT 001")
    theirs = await make_member(f"{KARANG_ASAM}/RT 001")
    admin = await make_token()
    staff = await make_token(UserRole.STAFF, areas=(LOA_BAKUNG,))

    listed = await (await client.get("/api/v1/members", headers=bearer(staff))).json()
    assert [m["id"] for m in listed["members"]] == [mine.id]
    for path in (f"/api/v1/members/{theirs.id}", f"/api/v1/members/{theirs.id}/invite"):
        resp = await client.get(path, headers=bearer(staff))
        assert resp.status in (403, 404)
        await error_of(resp)
    resp = await client.get("/api/v1/members", params={"area": KARANG_ASAM}, headers=bearer(staff))
    assert (await error_of(resp, 403))["code"] == "forbidden"
    resp = await client.get(f"/api/v1/members/{mine.id}", headers=bearer(staff))
    assert resp.status == 200

    # A broadcast the admin sent to the other area is invisible to the scoped user.
    resp = await client.post(
        "/api/v1/broadcasts",
        json=broadcast_body(audience={"areas": [KARANG_ASAM]}),
        headers=bearer(admin),
    )
    assert resp.status == 201
    other = (await resp.json())["id"]
    for method, path in (
        ("GET", f"/api/v1/broadcasts/{other}"),
        ("GET", f"/api/v1/broadcasts/{other}/recipients"),
        ("POST", f"/api/v1/broadcasts/{other}/cancel"),
    ):
        resp = await client.request(method, path, headers=bearer(staff))
        assert (await error_of(resp, 404))["code"] == "not_found"
    listed = await (await client.get("/api/v1/broadcasts", headers=bearer(staff))).json()
    assert listed["broadcasts"] == []
    assert (await Broadcast.get(id=other)).status.value == "sending"

    # ...and cannot create one there, by area or by member.
    before = await rows()
    for audience in (
        {"areas": [KARANG_ASAM]},
        {"members": [theirs.id]},
        {"areas": ["Sungai Kunjang"]},
    ):
        resp = await client.post(
            "/api/v1/broadcasts", json=broadcast_body(audience=audience), headers=bearer(staff)
        )
        assert resp.status in (403, 404)
        await error_of(resp)
    assert await rows() == before

    resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(staff))
    assert resp.status == 201
    created = await resp.json()
    assert created["recipients"] == 1
    resp = await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(staff))
    assert resp.status == 200


async def test_an_official_can_read_but_not_create_or_cancel(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    official = await make_token(UserRole.OFFICIAL)
    admin = await make_token()
    assert (await client.get("/api/v1/members", headers=bearer(official))).status == 200
    resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(official))
    assert (await error_of(resp, 403))["code"] == "forbidden"
    assert await rows() == (0, 0, 0)

    created = await (
        await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(admin))
    ).json()
    resp = await client.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=bearer(official))
    await error_of(resp, 403)
    assert (await Broadcast.get(id=created["id"])).status.value == "sending"
    resp = await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(official))
    assert resp.status == 200


# Members -------------------------------------------------------------------------------------


async def test_members_are_listed_by_area_ignoring_case_and_spaces(client: TestClient) -> None:
    token = await make_token()
    first = await make_member(f"{LOA_BAKUNG}/RT 001", name="Pak Darto")
    second = await make_member(f"{LOA_BAKUNG}/RT 002", name="Bu Sari")
    other = await make_member(f"{KARANG_ASAM}/RT 001")

    everyone = await (await client.get("/api/v1/members", headers=bearer(token))).json()
    assert {m["id"] for m in everyone["members"]} == {first.id, second.id, other.id}

    for area in ("  sungai KUNJANG /loa   bakung ", "Sungai Kunjang/Loa Bakung"):
        resp = await client.get("/api/v1/members", params={"area": area}, headers=bearer(token))
        assert resp.status == 200
        members = (await resp.json())["members"]
        assert [m["id"] for m in members] == [first.id, second.id]

    resp = await client.get(
        "/api/v1/members", params={"area": f"{LOA_BAKUNG}/rt 002"}, headers=bearer(token)
    )
    assert [m["name"] for m in (await resp.json())["members"]] == ["Bu Sari"]


async def test_an_unknown_area_is_an_error(client: TestClient) -> None:
    token = await make_token()
    await make_member()
    for area in ("Sungai Kunjang/Nowhere", "", "///", "Sungai Kunjang\x00", "x" * 5000, "İ" * 400):
        resp = await client.get("/api/v1/members", params={"area": area}, headers=bearer(token))
        assert (await error_of(resp))["code"] == "unknown_area"


async def test_member_detail_and_invite_have_the_contract_shape(client: TestClient) -> None:
    token = await make_token()
    member = await make_member(f"{LOA_BAKUNG}/RT 012", name="Pak Darto", phone="+6281234567890")
    no_phone = await make_member(f"{LOA_BAKUNG}/RT 013", channels=())

    resp = await client.get(f"/api/v1/members/{member.id}", headers=bearer(token))
    assert resp.status == 200
    view = await resp.json()
    assert MEMBER_KEYS <= set(view)
    assert view == {
        "id": member.id,
        "name": "Pak Darto",
        "area": f"{LOA_BAKUNG}/RT 012",
        "rt": "RT 012",
        "role": "ketua_rt",
        "phone": "+6281234567890",
        "channels": ["sandbox"],
        "preferred_channel": "sandbox",
        "status": "reachable",
    }
    listed = await (await client.get("/api/v1/members", headers=bearer(token))).json()
    assert listed["members"][0] == view

    view = await (await client.get(f"/api/v1/members/{no_phone.id}", headers=bearer(token))).json()
    assert view["channels"] == []
    assert view["status"] == "not_joined"

    resp = await client.get(f"/api/v1/members/{member.id}/invite", headers=bearer(token))
    assert resp.status == 200
    assert await resp.json() == {
        "code": member.invite_code,
        "telegram_link": f"https://t.me/balaiwarga_bot?start={member.invite_code}",
        "whatsapp_link": f"https://wa.me/628115000123?text=DAFTAR%20{member.invite_code}",
    }


async def test_officials_cannot_read_invite_codes(client: TestClient) -> None:
    member = await make_member(f"{LOA_BAKUNG}/RT 012")
    official = await make_token(UserRole.OFFICIAL)
    resp = await client.get(f"/api/v1/members/{member.id}/invite", headers=bearer(official))
    assert (await error_of(resp, 403))["code"] == "forbidden"
    assert member.invite_code not in await resp.text()
    # The member themself stays visible to them.
    resp = await client.get(f"/api/v1/members/{member.id}", headers=bearer(official))
    assert resp.status == 200


@pytest.mark.parametrize("member_id", ["999999", "abc", "-1", "1.5", "99999999999999999999"])
async def test_an_unknown_member_is_404(client: TestClient, member_id: str) -> None:
    token = await make_token()
    for suffix in ("", "/invite"):
        resp = await client.get(f"/api/v1/members/{member_id}{suffix}", headers=bearer(token))
        assert (await error_of(resp, 404))["code"] == "not_found"
    resp = await client.get(f"/api/v1/broadcasts/{member_id}", headers=bearer(token))
    await error_of(resp, 404)


# Creating broadcasts: bad input --------------------------------------------------------------

BAD_BODIES: list[tuple[str, Any, str | None]] = [
    ("missing title", {"text": "x", "audience": {"areas": [LOA_BAKUNG]}}, "invalid"),
    ("title not text", broadcast_body(title=5), "invalid"),
    ("blank title", broadcast_body(title="   "), "empty_title"),
    ("long title", broadcast_body(title="x" * 201), "invalid"),
    ("text not text", broadcast_body(text=["a"]), "invalid"),
    ("blank text", broadcast_body(text=" \n "), "empty_text"),
    ("text over 4096", broadcast_body(text="x" * 4097), "invalid"),
    ("null byte", broadcast_body(text="Kerja\u0000bakti"), "invalid"),
    ("null byte in area", broadcast_body(audience={"areas": ["Loa\u0000Bakung"]}), "invalid"),
    ("audience missing", {"title": "x", "text": "y"}, "invalid"),
    ("audience not object", broadcast_body(audience=[LOA_BAKUNG]), "invalid"),
    ("areas not list", broadcast_body(audience={"areas": LOA_BAKUNG}), "invalid"),
    ("member id text", broadcast_body(audience={"members": ["1"]}), "invalid"),
    ("member id zero", broadcast_body(audience={"members": [0]}), "invalid"),
    ("member id float", broadcast_body(audience={"members": [1.5]}), "invalid"),
    ("member id huge", broadcast_body(audience={"members": [2**63]}), "invalid"),
    ("audience extra key", broadcast_body(audience={"areas": [LOA_BAKUNG], "rw": []}), "invalid"),
    ("unknown member", broadcast_body(audience={"members": [987654]}), "unknown_member"),
    (
        "unknown area",
        broadcast_body(audience={"areas": ["Sungai Kunjang/Nowhere"]}),
        "unknown_area",
    ),
    ("empty audience", broadcast_body(audience={}), "empty_audience"),
    ("empty lists", broadcast_body(audience={"areas": [], "members": []}), "empty_audience"),
    ("nobody seated", broadcast_body(audience={"areas": [KARANG_ASAM]}), "no_recipients"),
    ("send_at in the past", broadcast_body(send_at="2020-01-01T08:00:00+08:00"), "past_schedule"),
    ("send_at not a date", broadcast_body(send_at="besok pagi"), "invalid"),
    ("send_at a number", broadcast_body(send_at=1767225600), "invalid"),
    ("send_at at the end of time", broadcast_body(send_at="9999-12-31T23:59:59-12:00"), None),
    ("recurrence not object", broadcast_body(recurrence="0 8 * * 1"), "invalid"),
    ("recurrence no cron", broadcast_body(recurrence={"every": "monday"}), "invalid"),
    ("cron four fields", broadcast_body(recurrence={"cron": "0 8 * *"}), "invalid"),
    ("cron garbage", broadcast_body(recurrence={"cron": "a b c d e"}), "invalid_cron"),
    ("cron minute 61", broadcast_body(recurrence={"cron": "61 8 * * 1"}), "invalid_cron"),
    ("cron never fires", broadcast_body(recurrence={"cron": "0 8 30 2 *"}), "invalid_cron"),
    ("cron weekday 8", broadcast_body(recurrence={"cron": "0 8 * * 8"}), "invalid_cron"),
    (
        "cron every minute",
        broadcast_body(recurrence={"cron": "* * * * *"}),
        "recurrence_too_frequent",
    ),
    ("unknown group", broadcast_body(audience={"groups": ["Panitia"]}), "unknown_group"),
    ("ack_required text", broadcast_body(ack_required="yes"), "invalid"),
    ("unknown property", broadcast_body(priority="high"), "invalid"),
    ("area path too long", broadcast_body(audience={"areas": ["x" * 501]}), "invalid"),
    ("area path long", broadcast_body(audience={"areas": ["x/" * 250]}), "unknown_area"),
    ("area key too long", broadcast_body(audience={"areas": ["İ" * 400]}), "unknown_area"),
    ("array body", [broadcast_body()], "malformed_json"),
    ("string body", "Kerja bakti", "malformed_json"),
]


@pytest.mark.parametrize(
    ("body", "code"), [(b, c) for _, b, c in BAD_BODIES], ids=[label for label, _, _ in BAD_BODIES]
)
async def test_bad_broadcasts_are_refused_and_nothing_is_written(
    client: TestClient, body: Any, code: str | None
) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_area(KARANG_ASAM)  # exists, but nobody holds a seat there
    before = await rows()
    resp = await client.post("/api/v1/broadcasts", json=body, headers=bearer(token))
    error = await error_of(resp)
    if code is not None:
        assert error["code"] == code, error
    assert await rows() == before


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"title": "Kerja bakti", ', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"NaN", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    ],
)
async def test_malformed_bodies_are_400(client: TestClient, data: bytes, content_type: str) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")
    resp = await client.post(
        "/api/v1/broadcasts",
        data=data,
        headers={**bearer(token), "Content-Type": content_type},
    )
    await error_of(resp, 400)
    assert await rows() == (0, 0, 0)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"title=Kerja+bakti", "application/x-www-form-urlencoded"),
        (b'{"title": "x"}', "text/plain"),
    ],
)
async def test_bodies_that_are_not_json_are_415(
    client: TestClient, data: bytes, content_type: str
) -> None:
    token = await make_token()
    resp = await client.post(
        "/api/v1/broadcasts", data=data, headers={**bearer(token), "Content-Type": content_type}
    )
    error = await error_of(resp, 415)
    assert error["code"] == "unsupported_media_type"
    assert await rows() == (0, 0, 0)


async def test_an_oversized_body_is_413_in_the_error_format(client: TestClient) -> None:
    token = await make_token()
    big = broadcast_body(text="x" * 70 * 1024)
    resp = await client.post("/api/v1/broadcasts", json=big, headers=bearer(token))
    assert (await error_of(resp, 413))["code"] == "too_large"
    assert await rows() == (0, 0, 0)


async def test_unknown_routes_and_methods_use_the_error_format(client: TestClient) -> None:
    token = await make_token()
    await error_of(await client.get("/api/v1/nothing-here", headers=bearer(token)), 404)
    await error_of(await client.delete("/api/v1/members", headers=bearer(token)), 405)
    await error_of(await client.put("/api/v1/broadcasts", headers=bearer(token)), 405)


async def test_a_405_says_which_methods_are_allowed(client: TestClient) -> None:
    token = await make_token()
    for method, path, allowed in (
        ("DELETE", "/api/v1/members", {"GET", "HEAD"}),
        ("PUT", "/api/v1/broadcasts", {"GET", "HEAD", "POST"}),
    ):
        resp = await client.request(method, path, headers=bearer(token))
        await error_of(resp, 405)
        assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed
        assert resp.content_type == "application/json"


async def test_every_kind_of_response_says_nosniff(
    client: TestClient, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await make_token()

    async def broken() -> str | None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hub.channels["sandbox"], "ready", broken)
    responses = [
        await client.get("/api/v1/members", headers=bearer(token)),  # JSON
        await client.get("/api/v1/members"),  # the API's JSON errors: 401, 404, 405
        await client.get("/api/v1/members/999", headers=bearer(token)),
        await client.delete("/api/v1/members", headers=bearer(token)),
        await client.get("/nothing-here"),  # aiohttp's own error pages: 404 and 405
        await client.put("/healthz"),
        await client.post("/webhooks/nosuch", data=b"{}"),
        await client.get("/readyz"),  # and its 500 for an uncaught exception
        await client.get("/healthz"),
    ]
    assert [r.status for r in responses] == [200, 401, 404, 405, 404, 405, 404, 500, 200]
    for resp in responses:
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", resp.url


# Creating, scheduling and cancelling broadcasts ----------------------------------------------


async def test_a_broadcast_has_the_contract_shape(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    member = await make_member(f"{LOA_BAKUNG}/RT 001", name="Pak Darto")
    unreachable = await make_member(f"{LOA_BAKUNG}/RT 002", channels=())
    resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))
    assert resp.status == 201
    created = await resp.json()
    assert set(created) == {"id", "status", "recipients"}
    assert created["recipients"] == 2

    await hub.sender.run_once()
    view = await (
        await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    ).json()
    assert {"id", "title", "status", "recipients", "counts"} <= set(view)
    assert COUNT_KEYS <= set(view["counts"])
    assert view["title"] == "Kerja bakti"
    assert view["status"] == "sent"
    assert view["counts"]["sent"] == 1
    assert view["counts"]["failed"] == 1

    listed = await (await client.get("/api/v1/broadcasts", headers=bearer(token))).json()
    assert [b["id"] for b in listed["broadcasts"]] == [created["id"]]

    resp = await client.get(f"/api/v1/broadcasts/{created['id']}/recipients", headers=bearer(token))
    recipients = (await resp.json())["recipients"]
    assert all(RECIPIENT_KEYS <= set(r) for r in recipients)
    by_member = {r["member_id"]: r for r in recipients}
    assert by_member[member.id]["status"] == "sent"
    assert by_member[member.id]["name"] == "Pak Darto"
    assert by_member[member.id]["area"] == f"{LOA_BAKUNG}/RT 001"
    assert by_member[member.id]["channel"] == "sandbox"
    assert by_member[member.id]["sent_at"] is not None
    assert by_member[unreachable.id]["status"] == "failed"
    assert by_member[unreachable.id]["failure_reason"] == "no_channel"
    assert by_member[unreachable.id]["channel"] is None


async def test_a_broadcast_nobody_can_receive_is_finished_at_once(client: TestClient) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001", channels=())
    resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))
    created = await resp.json()
    assert created["recipients"] == 1
    view = await (
        await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    ).json()
    assert view["counts"]["failed"] == 1
    assert view["status"] == "sent"


async def test_a_scheduled_broadcast_waits_for_its_time(
    timed: TestClient, clock: FakeClock
) -> None:
    hub: Hub = timed.app[HUB]
    token = await make_token()
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002")
    send_at = clock.now + dt.timedelta(hours=2)
    resp = await timed.post(
        "/api/v1/broadcasts",
        json=broadcast_body(send_at=send_at.isoformat()),
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["status"] == "scheduled"
    assert created["recipients"] == 2
    assert (await Delivery.all().count(), await OutboundMessage.all().count()) == (0, 0)

    clock.advance(hours=1)
    assert await start_due_broadcasts(hub) == {"due": 0, "started": 0, "missed": 0}
    assert await hub.sender.run_once() == 0
    assert await Delivery.all().count() == 0

    clock.advance(hours=1, minutes=1)
    assert await start_due_broadcasts(hub) == {"due": 1, "started": 1, "missed": 0}
    assert await start_due_broadcasts(hub) == {"due": 0, "started": 0, "missed": 0}
    assert await Delivery.filter(broadcast_id=created["id"]).count() == 2
    assert await hub.sender.run_once() == 2
    view = await (
        await timed.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    ).json()
    assert view["status"] == "sent"
    assert view["counts"]["sent"] == 2
    phone = await timed.get(f"/api/v1/sandbox/members/{member.id}/messages", headers=bearer(token))
    assert len((await phone.json())["messages"]) == 1


async def test_send_at_without_an_offset_is_in_the_hub_time_zone(
    timed: TestClient, clock: FakeClock
) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")
    resp = await timed.post(
        "/api/v1/broadcasts",
        json=broadcast_body(send_at="2030-03-04T18:30:00"),  # WITA, UTC+8
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    broadcast = await Broadcast.get(id=(await resp.json())["id"])
    assert broadcast.send_at == dt.datetime(2030, 3, 4, 10, 30, tzinfo=dt.UTC)


async def test_send_at_just_now_sends_now(timed: TestClient, clock: FakeClock) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")
    send_at = (clock.now - dt.timedelta(seconds=20)).isoformat()
    resp = await timed.post(
        "/api/v1/broadcasts", json=broadcast_body(send_at=send_at), headers=bearer(token)
    )
    assert (await resp.json())["status"] == "sending"
    assert await Delivery.all().count() == 1


async def test_cancel_stops_what_has_not_been_sent(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    members = [await make_member(f"{LOA_BAKUNG}/RT 00{i}") for i in range(1, 4)]
    created = await (
        await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))
    ).json()
    resp = await client.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    view = await resp.json()
    assert view["status"] == "cancelled"
    assert view["counts"]["cancelled"] == 3
    assert view["counts"]["pending"] == 0

    assert await hub.sender.run_once() == 0
    states = set(await OutboundMessage.all().values_list("state", flat=True))
    assert states == {OutboxState.CANCELLED}
    for member in members:
        phone = await client.get(
            f"/api/v1/sandbox/members/{member.id}/messages", headers=bearer(token)
        )
        assert (await phone.json())["messages"] == []

    again = await client.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=bearer(token))
    assert (await error_of(again, 422))["code"] == "not_cancellable"


async def test_cancel_keeps_what_already_left(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002")
    hub.sender.batch_size = 1
    created = await (
        await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))
    ).json()
    assert await hub.sender.run_once() == 1
    view = await (
        await client.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=bearer(token))
    ).json()
    assert view["counts"]["sent"] == 1
    assert view["counts"]["cancelled"] == 1
    assert await hub.sender.run_once() == 0


async def test_a_cancelled_scheduled_broadcast_never_starts(
    timed: TestClient, clock: FakeClock
) -> None:
    hub: Hub = timed.app[HUB]
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")
    send_at = (clock.now + dt.timedelta(hours=1)).isoformat()
    created = await (
        await timed.post(
            "/api/v1/broadcasts", json=broadcast_body(send_at=send_at), headers=bearer(token)
        )
    ).json()
    resp = await timed.post(f"/api/v1/broadcasts/{created['id']}/cancel", headers=bearer(token))
    assert (await resp.json())["status"] == "cancelled"
    clock.advance(hours=2)
    assert await start_due_broadcasts(hub) == {"due": 0, "started": 0, "missed": 0}
    assert await Delivery.all().count() == 0


async def test_a_scoped_user_with_no_areas_sees_everything(client: TestClient) -> None:
    """A staff account without areas covers the whole installation (as `hub user add` says)."""
    member = await make_member(f"{KARANG_ASAM}/RT 001")
    token = await auth.create_token(await make_user(UserRole.STAFF))
    resp = await client.get(f"/api/v1/members/{member.id}", headers=bearer(token))
    assert resp.status == 200


# The sandbox phone through the API ----------------------------------------------------------


async def test_bad_sandbox_actions_are_4xx(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    no_phone = await make_member(f"{LOA_BAKUNG}/RT 002", channels=())
    url = f"/api/v1/sandbox/members/{member.id}/messages"
    for body in (
        {},
        {"text": ""},
        {"text": "   "},
        {"button": "ack:999"},
        {"reply_to": "sbx-out-404", "text": "siap"},
        {"reply_to": "sbx-out-404"},
        {"text": "halo", "extra": 1},
        {"text": 5},
        {"text": "ha\u0000lo"},
    ):
        await error_of(await client.post(url, json=body, headers=bearer(token)))
    for path in (
        f"/api/v1/sandbox/members/{no_phone.id}/messages",
        "/api/v1/sandbox/members/999/messages",
    ):
        await error_of(await client.get(path, headers=bearer(token)), 404)
        resp = await client.post(path, json={"text": "halo"}, headers=bearer(token))
        await error_of(resp, 404)
    official = await make_token(UserRole.OFFICIAL)
    await error_of(await client.post(url, json={"text": "halo"}, headers=bearer(official)), 403)
    assert await hub.sender.run_once() == 0  # none of them reached the hub as a message


# A locked database ---------------------------------------------------------------------------

LOCK_ERRORS = [
    pytest.param(lambda: sqlite3.OperationalError("database is locked"), id="sqlite3"),
    pytest.param(
        lambda: OperationalError(sqlite3.OperationalError("database is locked")), id="tortoise"
    ),
    pytest.param(lambda: asyncpg.DeadlockDetectedError("deadlock detected"), id="postgres"),
]


async def busy_of(resp: Any) -> None:
    """A 503 to retry, in the one error format."""
    assert resp.status == 503, await resp.text()
    assert resp.headers["Retry-After"] == "5"
    body = await resp.json()
    assert body["error"]["code"] == "busy" and "try again" in body["error"]["message"], body
    assert set(body["error"]) == {"code", "message"}


@pytest.mark.parametrize("lock_error", LOCK_ERRORS)
async def test_a_locked_database_is_a_503_to_retry(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, lock_error: Any
) -> None:
    token = await make_token()
    await make_member(f"{LOA_BAKUNG}/RT 001")

    async def locked(*args: object, **kwargs: object) -> None:
        raise lock_error()

    monkeypatch.setattr("hub.web.api.broadcasts.create_broadcast", locked)
    resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))

    await busy_of(resp)
    assert await rows() == (0, 0, 0)


async def test_other_database_errors_stay_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await make_token()

    async def broken(*args: object, **kwargs: object) -> None:
        raise OperationalError(sqlite3.OperationalError("no such table: broadcast"))

    monkeypatch.setattr("hub.web.api.broadcasts.create_broadcast", broken)
    resp = await client.post("/api/v1/broadcasts", json=broadcast_body(), headers=bearer(token))

    assert resp.status == 500
    assert (await resp.json())["error"]["code"] == "internal"


@pytest.mark.parametrize("lock_error", LOCK_ERRORS)
async def test_a_locked_database_outside_the_api_is_a_503_too(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, lock_error: Any
) -> None:
    async def locked(*args: object, **kwargs: object) -> None:
        raise lock_error()

    monkeypatch.setattr(MediaStore, "find", locked)

    await busy_of(await client.get("/media/abcdef/surat.pdf"))


# Health and metrics --------------------------------------------------------------------------


async def test_health_readiness_and_metrics(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}

    resp = await client.get("/readyz")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "ready"

    await client.get("/api/v1/members")  # a 401, counted too
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert "# TYPE hub_http_requests_total counter" in text
    assert "# TYPE hub_outbox_queued gauge" in text
    assert 'status="401"' in text
    assert "hub_messages_sent" in text
