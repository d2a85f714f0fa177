"""The hand-counted month the participation tests share: March 2030, WITA, and who did what.

| broadcast | day | asks confirmation |
| --- | --- | --- |
| B0 | 28 Feb 23:00 | yes (outside the period) |
| B1..B5 | 1 Mar 02:00; 5, 10, 20, 28 Mar | yes |
| B6 | 15 Mar | no (information only) |
| P | 12 Mar | no: a poll |
| B7 | 30 Mar | yes, still pending |

- Ani (RT 001): B1..B5 acknowledged after 10, 20, 30, 40, 50 minutes; B6 read; voted on P;
  B0 failed (February), B7 pending. 2 complaints and 1 service request in March, 1 in February.
- Dedi held RT 002 until 3 March: B1 acknowledged after 60 minutes.
- Budi holds RT 002 since 4 March: B2 read, B3 sent, B4 delivered, B5 sent, B6 sent, P sent;
  a reminder for each of B2..B5.
- Citra (RT 003): everything failed.
- Eka (RT 004) opted out: B1..B5 skipped.
- Gita (RT 005): B1, B2 acknowledged after 5 minutes, B3..B5 failed.
- Fajar, in another kelurahan: B1..B3 acknowledged.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from hub.access.auth import Scope
from hub.core.config import Config
from hub.insight.participation import Period
from models import (
    Area,
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Member,
    Poll,
    PollVote,
    Seat,
    Ticket,
    TicketKind,
)
from tests.conftest import make_config
from tests.factories import make_member

WITA = zoneinfo.ZoneInfo("Asia/Makassar")
KELURAHAN = "Sungai Kunjang/Loa Bakung"
ELSEWHERE = "Sungai Kunjang/Karang Asam Ulu"
MARCH = Period(dt.date(2030, 3, 1), dt.date(2030, 3, 31), WITA)
S, D, R, A, F, K, P = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.ACKNOWLEDGED,
    DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.PENDING,
)
EVERYONE = Scope(None, None)


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2030, month, day, hour, 0, tzinfo=WITA)


async def broadcast(started: dt.datetime, *, ack: bool = True) -> Broadcast:
    return await Broadcast.create(
        title="Pengumuman", text="Isi", status=BroadcastStatus.SENT, ack_required=ack,
        audience={}, started_at=started,
    )  # fmt: skip


async def deliver(
    sent: Broadcast,
    member: Member,
    status: DeliveryStatus,
    *,
    ack_after: int | None = None,
    reminders: int = 0,
    area: Area | None = None,
) -> Delivery:
    seat = await Seat.filter(member_id=member.id).order_by("-id").first()
    assert seat is not None and sent.started_at is not None
    at_sent = sent.started_at if status not in (P, K) else None
    return await Delivery.create(
        broadcast=sent,
        member=member,
        seat=seat,
        area_id=area.id if area else seat.area_id,
        channel="sandbox",
        address=f"sandbox-{member.id}",
        status=status,
        sent_at=at_sent,
        acknowledged_at=(
            at_sent + dt.timedelta(minutes=ack_after) if at_sent and ack_after is not None else None
        ),
        reminders=reminders,
    )


async def ticket(member: Member, kind: TicketKind, when: dt.datetime) -> None:
    seat = await Seat.get(member_id=member.id)
    await Ticket.create(
        number=f"SKJ-2030-{await Ticket.all().count() + 1:06d}", kind=kind, category="jalan",
        member=member, area_id=seat.area_id, channel="sandbox", address="x", description="d",
        created_at=when,
    )  # fmt: skip


@pytest.fixture
def config() -> Config:
    return make_config(participation={"min_broadcasts": 3, "active_ack_rate": 0.6})


@pytest.fixture
async def month(db: str) -> dict[str, Member]:
    # B0 an hour before March and B1 two hours into it, in WITA: the period is in WITA days.
    b0 = await broadcast(at(2, 28, 23))
    b1 = await broadcast(at(3, 1, 2))
    b2, b3, b4, b5 = [await broadcast(at(3, d)) for d in (5, 10, 20, 28)]
    b6 = await broadcast(at(3, 15), ack=False)
    poll_broadcast = await broadcast(at(3, 12), ack=False)
    poll = await Poll.create(
        broadcast=poll_broadcast, question="?", options=["Ya", "Tidak"], created_at=at(3, 12)
    )
    b7 = await broadcast(at(3, 30))

    ani = await make_member(f"{KELURAHAN}/RT 001", name="Ani")
    for sent, minutes in zip((b1, b2, b3, b4, b5), (10, 20, 30, 40, 50), strict=True):
        await deliver(sent, ani, A, ack_after=minutes)
    await deliver(b6, ani, R)
    voted = await deliver(poll_broadcast, ani, A)
    await PollVote.create(
        poll=poll, member=ani, delivery=voted, option=0, channel="sandbox",
        voted_at=at(3, 12, 10), changed_at=at(3, 12, 10),
    )  # fmt: skip
    await deliver(b0, ani, F)
    await deliver(b7, ani, P)
    await ticket(ani, TicketKind.COMPLAINT, at(3, 3))
    await ticket(ani, TicketKind.COMPLAINT, at(3, 21))
    await ticket(ani, TicketKind.SERVICE, at(3, 22))
    await ticket(ani, TicketKind.COMPLAINT, at(2, 20))

    dedi = await make_member(f"{KELURAHAN}/RT 002", name="Dedi")
    await deliver(b1, dedi, A, ack_after=60)
    await Seat.filter(member_id=dedi.id).update(ended_at=at(3, 3))
    budi = await make_member(f"{KELURAHAN}/RT 002", name="Budi")
    for sent, status in ((b2, R), (b3, S), (b4, D), (b5, S)):
        await deliver(sent, budi, status, reminders=1)
    await deliver(b6, budi, S)
    await deliver(poll_broadcast, budi, S)

    citra = await make_member(f"{KELURAHAN}/RT 003", name="Citra")
    for sent in (b1, b2, b3, b4, b5, b6, poll_broadcast):
        await deliver(sent, citra, F)

    eka = await make_member(f"{KELURAHAN}/RT 004", name="Eka")
    for sent in (b1, b2, b3, b4, b5):
        await deliver(sent, eka, K)

    gita = await make_member(f"{KELURAHAN}/RT 005", name="Gita")
    for sent, status in ((b1, A), (b2, A), (b3, F), (b4, F), (b5, F)):
        await deliver(sent, gita, status, ack_after=5 if status == A else None)

    fajar = await make_member(f"{ELSEWHERE}/RT 001", name="Fajar")
    for sent in (b1, b2, b3):
        await deliver(sent, fajar, A, ack_after=15)
    return {m.name: m for m in (ani, dedi, budi, citra, eka, gita, fajar)}
