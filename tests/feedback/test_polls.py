"""Polls on the sandbox phone: voting by button, changing and taking back, refusals, closing by
the job with the result sent once, results and turnout by area, and the API's checks."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from aiohttp.test_utils import TestClient

from channels import InboundKind, InboundMessage
from channels.sandbox import SandboxChannel
from hub.runtime import HUB, Hub
from jobs.feedback_polls import close_due_polls
from models import (
    Broadcast,
    Delivery,
    DeliveryStatus,
    MessageKind,
    OutboundMessage,
    Poll,
    PollStatus,
    PollVote,
    UserRole,
)
from tests.conftest import FakeClock
from tests.factories import bearer, make_member, make_token

KELURAHAN = "Sungai Kunjang/Loa Bakung"
OTHER = "Sungai Kunjang/Karang Asam"
OPTIONS = ["Setuju", "Tidak setuju", "Ragu-ragu"]
_taps = itertools.count(1)


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def create(client: TestClient, token: str, **body: Any) -> Any:
    clock: FakeClock = hub_of(client).clock  # type: ignore[assignment]
    payload = {
        "question": "Setujukah kerja bakti dipindah ke hari Sabtu?",
        "options": OPTIONS,
        "audience": {"areas": [KELURAHAN]},
        "closes_at": (clock() + dt.timedelta(hours=2)).isoformat(),
        **body,
    }
    resp = await client.post("/api/v1/polls", json=payload, headers=bearer(token))
    return resp.status, await resp.json()


async def tap(hub: Hub, address: str, payload: str) -> list[str]:
    """The member taps a button (even one their phone does not show); what the hub answers."""
    before = len(phone(hub).messages(address))
    event = InboundMessage(
        channel="sandbox",
        address=address,
        external_id=f"tap-{next(_taps)}",
        received_at=hub.clock(),
        kind=InboundKind.BUTTON,
        button_payload=payload,
    )
    await hub.receive([event])
    await hub.tasks.wait()
    await send_all(hub)
    return [m.text for m in phone(hub).messages(address)[before:]]


async def test_a_poll_goes_out_as_buttons_and_votes_count_once(timed: TestClient) -> None:
    hub = hub_of(timed)
    first = await make_member(f"{KELURAHAN}/RT 001")
    second = await make_member(f"{KELURAHAN}/RT 002")
    stranger = await make_member(f"{OTHER}/RT 001")
    status, created = await create(timed, await make_token())
    assert status == 201, created
    assert created["recipients"] == 2 and created["status"] == "open"
    poll = await Poll.get(id=created["id"]).select_related("broadcast")
    assert poll.broadcast.ack_required is False
    await send_all(hub)

    address = f"sandbox-{first.id}"
    [shown] = phone(hub).messages(address)
    assert "1. Setuju\n2. Tidak setuju\n3. Ragu-ragu" in shown.text
    assert "Senin, 4 Maret 2030 pukul 12.00 WITA" in shown.text  # 10.00 WITA + 2 hours
    assert [b.label for b in shown.buttons] == OPTIONS
    assert [b.payload for b in shown.buttons] == [f"poll:{poll.id}:{n}" for n in range(3)]
    row = await OutboundMessage.get(kind=MessageKind.BROADCAST, member_id=first.id)
    assert row.template == "poll" and row.poll["payloads"][0] == f"poll:{poll.id}:0"

    answer = await tap(hub, address, f"poll:{poll.id}:0")
    assert answer == [
        "Terima kasih, pilihan Anda: Setuju. Anda bisa mengubahnya sampai "
        "Senin, 4 Maret 2030 pukul 12.00 WITA."
    ]
    delivery = await Delivery.get(member_id=first.id, broadcast_id=poll.broadcast_id)
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED and delivery.ack_evidence == "poll"

    hub.clock.advance(minutes=5)  # type: ignore[attr-defined]
    assert "Ragu-ragu" in (await tap(hub, address, f"poll:{poll.id}:2"))[0]
    await tap(hub, address, f"poll:{poll.id}:2")  # the same choice again changes nothing
    [vote] = await PollVote.filter(poll_id=poll.id)
    assert (vote.member_id, vote.option, vote.channel) == (first.id, 2, "sandbox")
    assert vote.changed_at - vote.voted_at == dt.timedelta(minutes=5)

    assert await tap(hub, address, f"poll:{poll.id}:7") == [
        "Mohon maaf, pilihan tidak dikenal. Silakan ketuk salah satu pilihan yang ada."
    ]
    outsider = await tap(hub, f"sandbox-{stranger.id}", f"poll:{poll.id}:0")
    assert "tidak dikirim kepada Anda" in outsider[0]
    assert await tap(hub, f"sandbox-{second.id}", f"poll:{poll.id + 99}:0")  # no such poll
    assert [(v.member_id, v.option) for v in await PollVote.filter(poll_id=poll.id)] == [
        (first.id, 2)
    ]


async def test_closing_refuses_votes_and_sends_the_result_once(timed: TestClient) -> None:
    hub = hub_of(timed)
    clock: FakeClock = hub.clock  # type: ignore[assignment]
    members = [await make_member(f"{KELURAHAN}/RT 00{n}") for n in (1, 2, 3)]
    _, created = await create(timed, await make_token(), send_result=True)
    poll_id = created["id"]
    await send_all(hub)
    for member, option in zip(members[:2], (0, 0), strict=True):
        await tap(hub, f"sandbox-{member.id}", f"poll:{poll_id}:{option}")

    clock.advance(hours=1)
    assert await close_due_polls(hub) == {"due": 0, "closed": 0, "native_polls_stopped": 0}
    clock.advance(hours=1, seconds=1)
    late = await tap(hub, f"sandbox-{members[2].id}", f"poll:{poll_id}:1")
    assert late == ["Mohon maaf, jajak pendapat ini sudah ditutup. Pilihan Anda tidak dicatat."]
    assert await PollVote.filter(poll_id=poll_id).count() == 2

    summary = await close_due_polls(hub)
    assert summary == {"due": 1, "closed": 1, "native_polls_stopped": 0}
    assert await close_due_polls(hub) == {"due": 0, "closed": 0, "native_polls_stopped": 0}
    poll = await Poll.get(id=poll_id)
    assert poll.status == PollStatus.CLOSED and poll.closed_at == clock()
    results = await OutboundMessage.filter(kind=MessageKind.NOTICE).order_by("id")
    assert sorted(r.member_id for r in results) == sorted(m.id for m in members[:2])
    await send_all(hub)
    [*_, told] = phone(hub).messages(f"sandbox-{members[0].id}")
    assert "1. Setuju: 2 suara" in told.text and "2. Tidak setuju: 0 suara" in told.text
    assert "2 dari 3 penerima" in told.text and "Pilihan Anda: Setuju." in told.text
    assert not [m for m in phone(hub).messages(f"sandbox-{members[2].id}") if "Hasil" in m.text]

    token = await make_token()
    resp = await timed.post(f"/api/v1/polls/{poll_id}/close", headers=bearer(token))
    assert resp.status == 409
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE).count() == 2


async def test_results_and_turnout_by_area(timed: TestClient) -> None:
    hub = hub_of(timed)
    rt1 = [await make_member(f"{KELURAHAN}/RT 001") for _ in range(3)]
    rt2 = [await make_member(f"{KELURAHAN}/RT 002") for _ in range(2)]
    opted_out = await make_member(f"{KELURAHAN}/RT 002")
    await opted_out.addresses.all().update(opted_out_at=hub.clock())
    token = await make_token()
    _, created = await create(timed, token, closes_at=None)
    poll_id = created["id"]
    await send_all(hub)
    for member, option in ((rt1[0], 0), (rt1[1], 1), (rt2[0], 0)):
        await tap(hub, f"sandbox-{member.id}", f"poll:{poll_id}:{option}")
    answer = await tap(hub, f"sandbox-{rt1[0].id}", f"poll:{poll_id}:0")
    assert "selama jajak pendapat masih dibuka" in answer[0]

    resp = await timed.get(f"/api/v1/polls/{poll_id}", headers=bearer(token))
    body = await resp.json()
    assert body["status"] == "open" and body["closes_at"] is None
    assert body["options"] == [
        {"text": "Setuju", "votes": 2},
        {"text": "Tidak setuju", "votes": 1},
        {"text": "Ragu-ragu", "votes": 0},
    ]
    assert (body["voters"], body["eligible"], body["turnout"]) == (3, 5, 0.6)
    assert body["areas"] == [
        {"area": f"{KELURAHAN}/RT 001", "eligible": 3, "voters": 2, "turnout": 0.6667},
        {"area": f"{KELURAHAN}/RT 002", "eligible": 2, "voters": 1, "turnout": 0.5},
    ]
    listed = await (await timed.get("/api/v1/polls", headers=bearer(token))).json()
    assert [(p["id"], p["voters"], p["eligible"]) for p in listed["polls"]] == [(poll_id, 3, 5)]
    assert listed["next"] is None


async def test_staff_close_early_and_scope(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    await make_member(f"{OTHER}/RT 001")
    staff = await make_token(UserRole.STAFF, (KELURAHAN,))
    other_staff = await make_token(UserRole.STAFF, (OTHER,))
    official = await make_token(UserRole.OFFICIAL, (KELURAHAN,))
    _, created = await create(timed, staff)
    poll_id = created["id"]
    await send_all(hub)
    await tap(hub, f"sandbox-{member.id}", f"poll:{poll_id}:1")

    for token, status in ((other_staff, 404), (official, 200)):
        resp = await timed.get(f"/api/v1/polls/{poll_id}", headers=bearer(token))
        assert resp.status == status
    listed = await (await timed.get("/api/v1/polls", headers=bearer(other_staff))).json()
    assert listed["polls"] == []
    assert (await create(timed, other_staff))[0] == 403  # A's areas: not B's to address
    assert (await create(timed, official))[0] == 403
    close = f"/api/v1/polls/{poll_id}/close"
    assert (await timed.post(close, headers=bearer(official))).status == 403
    assert (await timed.post(close, headers=bearer(other_staff))).status == 404
    assert (await Poll.get(id=poll_id)).status == PollStatus.OPEN

    resp = await timed.post(close, headers=bearer(staff))
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "closed" and body["voters"] == 1
    assert (
        "jajak pendapat ini sudah ditutup"
        in (await tap(hub, f"sandbox-{member.id}", f"poll:{poll_id}:0"))[0]
    )
    assert (await PollVote.get(poll_id=poll_id)).option == 1
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE).count() == 0  # not asked


async def test_the_api_refuses_polls_no_one_can_answer(timed: TestClient) -> None:
    await make_member(f"{KELURAHAN}/RT 001")
    token = await make_token()
    clock: FakeClock = hub_of(timed).clock  # type: ignore[assignment]
    for body in (
        {"options": ["Ya"]},
        {"options": [f"Pilihan {n}" for n in range(11)]},
        {"options": ["Ya", "ya "]},
        {"options": ["Ya", ""]},
        {"options": ["Ya", "   "]},
        {"options": ["Ya", "x" * 101]},
        {"question": ""},
        {"question": "x" * 301},
        {"closes_at": (clock() - dt.timedelta(minutes=1)).isoformat()},
        {"closes_at": "besok"},
        {"audience": {}},
    ):
        status, answer = await create(timed, token, **body)
        assert status == 422, (body, answer)
        assert set(answer["error"]) >= {"code", "message"}
    assert await Poll.all().count() == 0 and await Broadcast.all().count() == 0
    status, created = await create(timed, token, options=[f"Pilihan {n}" for n in range(10)])
    assert status == 201, created
