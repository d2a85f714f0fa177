"""STATUS on the RT head's phone: their own ticket in one message, their open ones as a list,
the same polite "not found" for someone else's ticket and for none at all, typos forgiven."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient

from hub.app import HUB, Hub
from hub.core.texts import text as say
from models import Member, Ticket, TicketKind
from tests.conftest import FakeClock
from tests.factories import bearer, make_member
from tests.feedback.test_ticket_api import (
    KELURAHAN,
    WITA,
    config,  # noqa: F401 - the module's configuration (prefixes, holiday)
    file,
    patch,
    phone,
    staff_token,
)


async def send(hub: Hub, member: Member, text: str = "", **kwargs: Any) -> list[str]:
    """The member types (or taps); what the phone shows afterwards."""
    address = f"sandbox-{member.id}"
    before = len(phone(hub).messages(address))
    await phone(hub).act(address, text=text, **kwargs)
    await hub.sender.run_once()
    return [m.text for m in phone(hub).messages(address)[before:]]


async def test_status_of_an_own_ticket_in_one_message(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    clock.now = dt.datetime(2030, 3, 7, 10, 0, tzinfo=WITA).astimezone(dt.UTC)
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await file(hub, member)
    token = await staff_token(timed)
    await patch(timed, token, ticket.number, status="diverifikasi", note="Petugas datang Senin")
    url = f"/api/v1/complaints/{ticket.number}"
    await timed.post(f"{url}/notes", json={"text": "Rahasia internal"}, headers=bearer(token))
    await hub.sender.run_once()

    answer = await send(hub, member, f"status {ticket.number.lower()}")
    assert len(answer) == 1
    text = answer[0]
    assert ticket.number in text and "drainase/banjir" in text
    assert "Sudah diverifikasi" in text
    assert "7 Mar 2030" in text  # filed
    assert "Petugas datang Senin" in text  # the last note told to the RT head
    assert "Rahasia" not in text
    assert "Target" in text  # still open: its deadline

    # A message from staff is what they were told last.
    await timed.post(f"{url}/messages", json={"text": "Mohon ditunggu"}, headers=bearer(token))
    await hub.sender.run_once()
    assert "Mohon ditunggu" in (await send(hub, member, f"STATUS {ticket.number}"))[0]


async def test_someone_elses_ticket_and_an_unknown_one_read_alike(timed: TestClient) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    neighbour = await make_member(f"{KELURAHAN}/RT 002", name="Bu Sari")
    theirs = await file(hub, neighbour, description="Pohon tumbang di gang 3")
    unknown = "SKJ-2030-999999"
    other = await send(hub, member, f"STATUS {theirs.number}")
    missing = await send(hub, member, f"STATUS {unknown}")
    assert other == [say("id", "ticket_not_found", number=theirs.number)]
    assert missing == [say("id", "ticket_not_found", number=unknown)]
    assert not any(w in other[0] for w in ("Pohon", "Bu Sari", "Baru"))
    assert await send(hub, member, "STATUS nomor saya") == [say("id", "ticket_bad_number")]


async def test_status_alone_lists_the_open_ones_newest_first(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    assert await send(hub, member, "STATUS") == [say("id", "ticket_list_none")]
    tickets = []
    for n in range(7):
        clock.advance(minutes=31)
        tickets.append(await file(hub, member, description=f"Aduan {n}"))
    await Ticket.filter(id=tickets[-1].id).update(status="ditolak")  # closed: not listed
    await file(hub, await make_member(f"{KELURAHAN}/RT 002"))  # someone else's
    (text,) = await send(hub, member, "/status")
    listed = [t.number for t in tickets[1:6]][::-1]
    assert [line.split()[1] for line in text.splitlines()[1:6]] == listed
    buttons = phone(hub).messages(f"sandbox-{member.id}")[-1].buttons
    assert [b.payload for b in buttons] == [f"tiket:{n}:status" for n in listed]
    (tapped,) = await send(hub, member, button=buttons[0].payload)
    assert listed[0] in tapped and "Baru diterima" in tapped


async def test_a_typo_is_forgiven(timed: TestClient) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await file(hub, member, kind=TicketKind.SERVICE, category="domisili")
    (text,) = await send(hub, member, f"STATSU {ticket.number}")
    assert ticket.number in text and "Surat keterangan domisili" in text
    assert "STATUS <nomor>" in hub.router.help_text("id")


async def test_a_forged_button_for_another_members_ticket_tells_nothing(
    timed: TestClient,
) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    neighbour = await make_member(f"{KELURAHAN}/RT 002")
    theirs = await file(hub, neighbour)
    mine = await file(hub, member)
    await send(hub, member, "STATUS")
    # The phone holds a status button; the member's own client sends another payload with it.
    address = f"sandbox-{member.id}"
    message = phone(hub).messages(address)[-1]
    message.buttons = (*message.buttons, type(message.buttons[0])("x", f"tiket:{theirs.number}:ya"))
    answer = await send(hub, member, button=f"tiket:{theirs.number}:ya")
    assert answer == [say("id", "ticket_not_found", number=theirs.number)]
    assert (await Ticket.get(id=theirs.id)).status == "baru"
    assert mine.number in (await send(hub, member, button=f"tiket:{mine.number}:status"))[0]
