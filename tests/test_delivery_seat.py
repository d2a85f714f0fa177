"""A delivery names the seat and area it was sent for, so participation follows the seat."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from aiohttp.test_utils import TestClient
from tortoise import connections

from models import Broadcast, BroadcastStatus, Delivery, DeliveryStatus, Seat, SeatRole
from models.migration_ops import backfill_delivery_seats
from tests.factories import bearer, make_area, make_member, make_token

KELURAHAN = "Sungai Kunjang/Loa Bakung"


async def _broadcast(client: TestClient, token: str, audience: dict[str, list]) -> int:
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Rapat", "text": "Rapat RT hari Sabtu.", "audience": audience},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def test_a_delivery_keeps_the_seat_it_was_sent_for(client: TestClient) -> None:
    token = await make_token()
    head = await make_member(f"{KELURAHAN}/RT 001")
    first = await _broadcast(client, token, {"areas": [f"{KELURAHAN}/RT 001"]})

    # The seat changes hands: the old delivery stays with the seat, the new one goes to the
    # new holder of the same seat's area.
    now = dt.datetime.now(dt.UTC)
    old_seat = await Seat.get(member_id=head.id)
    await Seat.filter(id=old_seat.id).update(ended_at=now)
    successor = await make_member(f"{KELURAHAN}/RT 001")
    second = await _broadcast(client, token, {"areas": [f"{KELURAHAN}/RT 001"]})

    before = await Delivery.get(broadcast_id=first)
    after = await Delivery.get(broadcast_id=second)
    new_seat = await Seat.get(member_id=successor.id)
    assert (before.member_id, before.seat_id, before.area_id) == (
        head.id,
        old_seat.id,
        old_seat.area_id,
    )
    assert (after.member_id, after.seat_id, after.area_id) == (
        successor.id,
        new_seat.id,
        old_seat.area_id,
    )


async def test_the_seat_inside_the_named_areas_is_chosen(client: TestClient) -> None:
    """Someone who heads an RW and an RT is reached for the area the broadcast names."""
    token = await make_token()
    member = await make_member(f"{KELURAHAN}/RW 02", role=SeatRole.KETUA_RW)
    rt = await make_area(f"{KELURAHAN}/RW 01/RT 003")
    rt_seat = await Seat.create(
        member=member, area=rt, role=SeatRole.KETUA_RT, started_at=dt.datetime.now(dt.UTC)
    )
    rw_seat = await Seat.get(member_id=member.id, role=SeatRole.KETUA_RW)
    seatless = await make_member(f"{KELURAHAN}/RT 009")
    await Seat.filter(member_id=seatless.id).update(ended_at=dt.datetime.now(dt.UTC))

    by_rw = await _broadcast(client, token, {"areas": [f"{KELURAHAN}/RW 02"]})
    by_rt = await _broadcast(client, token, {"areas": [f"{KELURAHAN}/RW 01"]})
    named = await _broadcast(client, token, {"members": [member.id, seatless.id]})

    assert (await Delivery.get(broadcast_id=by_rw)).seat_id == rw_seat.id
    assert (await Delivery.get(broadcast_id=by_rt)).seat_id == rt_seat.id
    # Named directly: an RT seat comes before an RW seat; no current seat, no seat.
    rows = await Delivery.filter(broadcast_id=named).order_by("member_id")
    assert [(d.member_id, d.seat_id, d.area_id) for d in rows] == [
        (member.id, rt_seat.id, rt.id),
        (seatless.id, None, None),
    ]


async def test_the_migration_gives_old_deliveries_the_seat_held_then(client: TestClient) -> None:
    day = dt.timedelta(days=1)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    head = await make_member(f"{KELURAHAN}/RT 001")
    first_seat = await Seat.get(member_id=head.id)
    await Seat.filter(id=first_seat.id).update(started_at=now - 10 * day, ended_at=now - 5 * day)
    second_area = await make_area(f"{KELURAHAN}/RT 002")
    second_seat = await Seat.create(
        member=head, area=second_area, role=SeatRole.KETUA_RT, started_at=now - 5 * day
    )
    late = await make_member(f"{KELURAHAN}/RT 003")  # seated after the broadcast went out
    late_seat = await Seat.get(member_id=late.id)
    await Seat.filter(id=late_seat.id).update(started_at=now - day)

    async def old_delivery(member_id: int, sent_at: dt.datetime) -> int:
        broadcast = await Broadcast.create(
            title="t", text="x", status=BroadcastStatus.SENT, audience={}, started_at=sent_at
        )
        delivery = await Delivery.create(
            broadcast=broadcast,
            member_id=member_id,
            channel="sandbox",
            address="a",
            status=DeliveryStatus.SENT,
        )
        return delivery.id

    then = await old_delivery(head.id, now - 7 * day)
    lately = await old_delivery(head.id, now - 2 * day)
    before_seat = await old_delivery(late.id, now - 3 * day)

    await backfill_delivery_seats(None, SimpleNamespace(client=connections.get("default")))

    found = {
        d.id: (d.seat_id, d.area_id)
        for d in await Delivery.filter(id__in=[then, lately, before_seat])
    }
    assert found == {
        then: (first_seat.id, first_seat.area_id),
        lately: (second_seat.id, second_area.id),
        before_seat: (late_seat.id, late_seat.area_id),
    }
