"""Area scopes stored with what they guard, and lists filtered in the database before paging.

The route x role x area table is in test_permissions.py; these are the cases behind it: a
broadcast keeps the areas it reached when it was created, whatever happens to the groups it
named; lists are cut into pages after the area filter; the 0006 migration gives old rows their
areas.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

from aiohttp.test_utils import TestClient
from tortoise import connections

from hub.app import Hub
from hub.broadcast.service import start_due_broadcast
from models import (
    Attachment,
    Broadcast,
    BroadcastArea,
    BroadcastStatus,
    Delivery,
    MemberGroup,
    UserRole,
)
from models.migration_ops import backfill_area_scopes
from tests.factories import bearer, make_member, make_token, make_user

A = "Sungai Kunjang/Loa Bakung"
B = "Sungai Kunjang/Karang Asam"
LATER = dt.datetime(2031, 1, 6, 0, 0, tzinfo=dt.UTC).isoformat()


async def call(
    client: TestClient, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    resp = await client.request(method, "/api/v1" + path, json=body, headers=bearer(token))
    text = await resp.text()
    return resp.status, json.loads(text) if text else None


async def test_a_group_named_again_does_not_retarget_a_scheduled_broadcast(
    client: TestClient, hub: Hub
) -> None:
    staff_a = await make_token(UserRole.STAFF, areas=(A,))
    staff_b = await make_token(UserRole.STAFF, areas=(B,))
    rt_a = await make_member(f"{A}/RT 001")
    rt_b = await make_member(f"{B}/RT 001")
    status, group = await call(
        client, staff_b, "POST", "/member-groups", {"name": "Panitia", "members": [rt_b.id]}
    )
    assert status == 201, group
    status, scheduled = await call(client, staff_b, "POST", "/broadcasts", {
        "title": "Rapat", "text": "Jumat.", "audience": {"groups": ["Panitia"]}, "send_at": LATER,
    })  # fmt: skip
    assert status == 201, scheduled

    # Deleting the group it goes to is refused, naming the broadcast; renaming is harmless.
    status, body = await call(client, staff_b, "DELETE", f"/member-groups/{group['id']}")
    assert (status, body["error"]["code"]) == (409, "group_in_use"), body
    assert str(scheduled["id"]) in body["error"]["message"]
    status, _ = await call(
        client, staff_b, "PUT", f"/member-groups/{group['id']}",
        {"name": "Panitia lama", "members": [rt_b.id]},
    )  # fmt: skip
    assert status == 200
    status, _ = await call(
        client, staff_a, "POST", "/member-groups", {"name": "Panitia", "members": [rt_a.id]}
    )
    assert status == 201

    broadcast = await Broadcast.get(id=scheduled["id"])
    assert await start_due_broadcast(hub.config, broadcast, hub.enabled_channels, hub.clock())
    assert await Delivery.filter(broadcast_id=broadcast.id).values_list("member_id", flat=True) == [
        rt_b.id
    ]
    status, _ = await call(client, staff_a, "GET", f"/broadcasts/{broadcast.id}/recipients")
    assert status == 404


async def test_a_group_widened_later_cannot_widen_a_scheduled_broadcast(
    client: TestClient, hub: Hub
) -> None:
    admin = await make_token()
    staff_b = await make_token(UserRole.STAFF, areas=(B,))
    rt_a = await make_member(f"{A}/RT 001")
    rt_b = await make_member(f"{B}/RT 001")
    _, group = await call(
        client, staff_b, "POST", "/member-groups", {"name": "Panitia", "members": [rt_b.id]}
    )
    _, scheduled = await call(client, staff_b, "POST", "/broadcasts", {
        "title": "Rapat", "text": "Jumat.", "audience": {"group_ids": [group["id"]]},
        "send_at": LATER,
    })  # fmt: skip
    status, widened = await call(
        client, admin, "PUT", f"/member-groups/{group['id']}",
        {"name": "Panitia", "members": [rt_a.id, rt_b.id]},
    )  # fmt: skip
    assert (status, widened["area"]) == (200, "Sungai Kunjang")  # now the kecamatan's

    broadcast = await Broadcast.get(id=scheduled["id"])
    assert await start_due_broadcast(hub.config, broadcast, hub.enabled_channels, hub.clock())
    members = await Delivery.filter(broadcast_id=broadcast.id).values_list("member_id", flat=True)
    assert members == [rt_b.id]  # kept to the areas it reached when it was made


async def test_attachments_belong_to_their_uploaders_areas(client: TestClient) -> None:
    staff_a = await make_token(UserRole.STAFF, areas=(A,))
    uploader = await make_user(UserRole.STAFF, (B,))
    await make_member(f"{A}/RT 001")
    theirs = await Attachment.create(
        token="b" * 32, filename="b.pdf", content_type="application/pdf", size=1, sha256="0" * 64,
        stored_name="b.pdf", uploaded_by=uploader, area_keys=["sungai kunjang/karang asam"],
    )  # fmt: skip
    status, body = await call(client, staff_a, "POST", "/broadcasts", {
        "title": "x", "text": "y", "audience": {"areas": [A]}, "attachments": [theirs.id],
    })  # fmt: skip
    assert (status, body["error"]["code"]) == (422, "unknown_attachment"), body
    assert await Broadcast.all().count() == 0


async def test_the_broadcast_list_filters_before_it_pages(client: TestClient) -> None:
    staff_a = await make_user(UserRole.STAFF, (A,))
    staff_b = await make_token(UserRole.STAFF, areas=(B,))
    await make_member(f"{B}/RT 001")
    _, own = await call(client, staff_b, "POST", "/broadcasts", {
        "title": "Milik B", "text": "y", "audience": {"areas": [B]},
    })  # fmt: skip
    # Kelurahan A sends 230 afterwards: more than the 200 the list used to look at.
    rows = [
        Broadcast(title=f"A {n}", text="x", status=BroadcastStatus.SENT, audience={"areas": [A]},
                  recipients=1, created_by=staff_a)
        for n in range(230)
    ]  # fmt: skip
    await Broadcast.bulk_create(rows)
    ids = await Broadcast.filter(title__startswith="A ").values_list("id", flat=True)
    await BroadcastArea.bulk_create(
        [BroadcastArea(broadcast_id=i, area_key="sungai kunjang/loa bakung") for i in ids]
    )
    status, page = await call(client, staff_b, "GET", "/broadcasts")
    assert status == 200
    assert [b["id"] for b in page["broadcasts"]] == [own["id"]] and page["next"] is None

    # Staff of A page through their 230, newest first, each once.
    token_a = await make_token(UserRole.STAFF, areas=(A,))
    seen: list[int] = []
    path = "/broadcasts?limit=100"
    while path:
        status, page = await call(client, token_a, "GET", path)
        assert status == 200
        seen += [b["id"] for b in page["broadcasts"]]
        path = f"/broadcasts?limit=100&cursor={page['next']}" if page["next"] else ""
    assert seen == sorted(ids, reverse=True)


async def test_members_come_in_pages(client: TestClient) -> None:
    token = await make_token()
    members = [await make_member(f"{A}/RT {n % 7:03d}") for n in range(120)]
    seen: list[int] = []
    path = "/members?limit=50"
    pages = 0
    while path:
        status, page = await call(client, token, "GET", path)
        assert status == 200, page
        assert len(page["members"]) <= 50
        seen += [m["id"] for m in page["members"]]
        pages += 1
        path = f"/members?limit=50&cursor={page['next']}" if page["next"] else ""
    assert (pages, seen) == (3, [m.id for m in members])
    _, page = await call(client, token, "GET", "/members")
    assert len(page["members"]) == 50  # the default page
    for bad in ("limit=0", "limit=501", "limit=x", "cursor=bm9wZQ", "cursor=%%%"):
        status, body = await call(client, token, "GET", f"/members?{bad}")
        assert status == 422 and body["error"]["code"] in ("bad_limit", "bad_cursor"), bad


async def test_the_migration_gives_old_rows_their_areas(client: TestClient) -> None:
    """Rows from before 0006 (no reach, groups and files without areas) get them once."""
    staff_b = await make_user(UserRole.STAFF, (B,))
    admin = await make_user(UserRole.ADMIN)
    rt_a = await make_member(f"{A}/RT 001")
    rt_b = await make_member(f"{B}/RT 001")
    seatless = await make_member(f"{B}/RT 002")
    await seatless.seats.all().update(ended_at=dt.datetime.now(dt.UTC))
    group_b = await MemberGroup.create(name="Panitia B")
    await group_b.entries.create(member=rt_b)
    mixed = await MemberGroup.create(name="Campur")
    await mixed.entries.create(member=rt_a)
    await mixed.entries.create(member=rt_b)
    by_group = await Broadcast.create(
        title="t", text="x", status=BroadcastStatus.SENT, audience={"groups": ["panitia b"]}
    )
    by_area = await Broadcast.create(
        title="t", text="x", status=BroadcastStatus.SENT,
        audience={"areas": [f"{A}/RT  001"], "members": [seatless.id]},
    )  # fmt: skip
    files = [
        await Attachment.create(
            token=str(n) * 32, filename="f.pdf", content_type="application/pdf", size=1,
            sha256="0" * 64, stored_name=f"{n}.pdf", uploaded_by=user,
        )
        for n, user in ((1, staff_b), (2, admin))
    ]  # fmt: skip

    await backfill_area_scopes(None, SimpleNamespace(client=connections.get("default")))

    async def reach(broadcast: Broadcast) -> list[str]:
        rows = BroadcastArea.filter(broadcast_id=broadcast.id).order_by("area_key")
        return list(await rows.values_list("area_key", flat=True))

    assert await reach(by_group) == ["sungai kunjang/karang asam/rt 001"]
    assert (await Broadcast.get(id=by_group.id)).audience["group_ids"] == [group_b.id]
    assert await reach(by_area) == ["", "sungai kunjang/loa bakung/rt 001"]
    assert (await MemberGroup.get(id=group_b.id)).area_key == "sungai kunjang/karang asam/rt 001"
    assert (await MemberGroup.get(id=mixed.id)).area_key == "sungai kunjang"
    assert [(await Attachment.get(id=f.id)).area_keys for f in files] == [
        ["sungai kunjang/karang asam"],
        None,
    ]
