"""Filing tickets and moving them through the workflow, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from hub.access.auth import Scope
from hub.core.errors import Forbidden, NotFound, ValidationFailed
from hub.feedback.complaints.tickets import (
    TicketRules,
    TooManyTickets,
    file_ticket,
    get_ticket,
    parse_number,
)
from hub.feedback.complaints.workflow import Move, TransitionRefused, move_ticket
from models import (
    AuditLog,
    MessageKind,
    OutboundMessage,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
    UserRole,
)
from tests.conftest import make_config
from tests.factories import make_member, make_user

RULES = TicketRules.from_config(
    make_config(feedback={"ticket_prefixes": ("Sungai Kunjang=SKJ",), "complaints_per_hour": 3})
)
# Tuesday 1 December 2026, 10:00 WITA.
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


async def _file(member, now=NOW, **values) -> Ticket:
    values = {
        "kind": TicketKind.COMPLAINT,
        "category": "drainase/banjir",
        "description": "Got mampet di depan masjid",
        **values,
    }
    return await file_ticket(
        RULES, member=member, channel="sandbox", address=f"sandbox-{member.id}", now=now, **values
    )


async def test_numbers_count_per_kecamatan_and_year(db: str) -> None:
    here = await make_member("Sungai Kunjang/Loa Bakung/RT 001")
    there = await make_member("Samarinda Ulu/Air Hitam/RT 004")
    first, second = await _file(here), await _file(here)
    elsewhere = await _file(there)
    next_year = await _file(there, now=NOW + dt.timedelta(days=60))
    assert [first.number, second.number] == ["SKJ-2026-000001", "SKJ-2026-000002"]
    assert elsewhere.number == "SUL-2026-000001"  # initials, filled from the last word
    assert next_year.number == "SUL-2027-000001"


async def test_filings_at_the_same_moment_get_distinct_numbers(db: str) -> None:
    members = [await make_member(f"Sungai Kunjang/Loa Bakung/RT {n:03d}") for n in range(12)]
    tickets = await asyncio.gather(*(_file(m) for m in members))
    numbers = sorted(t.number for t in tickets)
    assert numbers == [f"SKJ-2026-{n:06d}" for n in range(1, 13)]


async def test_a_new_ticket_is_due_for_verification_in_three_working_days(db: str) -> None:
    ticket = await _file(await make_member())
    assert ticket.status == TicketStatus.NEW
    assert ticket.due_at == dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)  # Friday 16:00 WITA
    events = await TicketEvent.filter(ticket_id=ticket.id)
    assert [(e.kind, e.to_status) for e in events] == [("created", "baru")]


async def test_bad_filings_are_refused_and_write_nothing(db: str) -> None:
    member = await make_member()
    with pytest.raises(ValidationFailed):
        await _file(member, description="   ")
    with pytest.raises(ValidationFailed):
        await _file(member, description="x" * 2001)
    with pytest.raises(ValidationFailed):
        await _file(member, category="tidak ada")
    with pytest.raises(ValidationFailed):
        await _file(member, kind=TicketKind.SERVICE, category="drainase/banjir")
    assert await Ticket.all().count() == 0


async def test_a_member_files_only_so_many_tickets_an_hour(db: str) -> None:
    member = await make_member()
    for minute in range(3):
        await _file(member, now=NOW + dt.timedelta(minutes=minute))
    with pytest.raises(TooManyTickets):
        await _file(member, now=NOW + dt.timedelta(minutes=10))
    assert await _file(member, now=NOW + dt.timedelta(minutes=61))  # the hour has passed


async def test_a_service_request_uses_the_services_sla(db: str) -> None:
    ticket = await _file(await make_member(), kind=TicketKind.SERVICE, category="domisili")
    assert ticket.kind == TicketKind.SERVICE and ticket.category == "domisili"


async def _move(number: str, to: TicketStatus, scope: Scope, **values) -> Ticket:
    return await move_ticket(
        RULES, number, Move(to, **values), scope=scope, now=NOW, hub_name="Balai Warga"
    )


async def test_every_step_is_told_to_the_rt_head_and_written_down(db: str) -> None:
    member = await make_member()
    ticket = await _file(member)
    staff = await make_user(UserRole.STAFF, ("Sungai Kunjang/Loa Bakung",))
    scope = await Scope.of(staff)
    for to in (TicketStatus.VERIFIED, TicketStatus.IN_PROGRESS, TicketStatus.DONE):
        ticket = await _move(ticket.number, to, scope, note=f"langkah {to.value}")
    assert ticket.status == TicketStatus.DONE
    assert ticket.resolved_at == NOW and ticket.due_at is None
    assert ticket.followup_due_at == NOW + dt.timedelta(days=3)
    notices = await OutboundMessage.filter(kind=MessageKind.NOTICE).order_by("id")
    assert len(notices) == 3
    assert all(n.address == f"sandbox-{member.id}" and n.template == "ticket" for n in notices)
    assert ticket.number in notices[0].text and "Sudah diverifikasi" in notices[0].text
    assert "langkah selesai" in notices[2].text
    assert notices[2].template_params == [ticket.number, "Selesai"]
    history = await TicketEvent.filter(ticket_id=ticket.id, kind="status").order_by("id")
    assert [(e.from_status, e.to_status) for e in history] == [
        ("baru", "diverifikasi"),
        ("diverifikasi", "diproses"),
        ("diproses", "selesai"),
    ]
    assert all(e.user_id == staff.id for e in history)
    assert await AuditLog.filter(action="ticket.move", target=ticket.number).count() == 3


async def test_a_step_cannot_be_skipped_nor_taken_twice(db: str) -> None:
    ticket = await _file(await make_member())
    scope = await Scope.of(None)
    with pytest.raises(TransitionRefused, match="allowed: diverifikasi, ditolak, diteruskan"):
        await _move(ticket.number, TicketStatus.DONE, scope)
    await _move(ticket.number, TicketStatus.VERIFIED, scope)
    with pytest.raises(TransitionRefused):
        await _move(ticket.number, TicketStatus.VERIFIED, scope)
    assert await OutboundMessage.all().count() == 1


async def test_two_staff_moving_at_once_move_it_once(db: str) -> None:
    ticket = await _file(await make_member())
    scope = await Scope.of(None)
    # Neither may follow the other: on PostgreSQL the second may read the ticket after the first
    # committed (diverifikasi → ditolak would then be a legal step, not a lost race).
    results = await asyncio.gather(
        _move(ticket.number, TicketStatus.FORWARDED, scope, forwarded_to="Dinas PUPR"),
        _move(ticket.number, TicketStatus.REJECTED, scope, reason="Bukan wilayah kami"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, TransitionRefused) for r in results) == 1
    assert await TicketEvent.filter(ticket_id=ticket.id, kind="status").count() == 1
    assert await OutboundMessage.all().count() == 1


async def test_rejecting_needs_a_reason_and_forwarding_an_office(db: str) -> None:
    ticket = await _file(await make_member())
    scope = await Scope.of(None)
    with pytest.raises(ValidationFailed):
        await _move(ticket.number, TicketStatus.REJECTED, scope)
    with pytest.raises(ValidationFailed):
        await _move(ticket.number, TicketStatus.FORWARDED, scope, reference="LAPOR-1")
    moved = await _move(
        ticket.number, TicketStatus.FORWARDED, scope, forwarded_to="Dinas PUPR", reference="L-77"
    )
    assert (moved.forwarded_to, moved.reference) == ("Dinas PUPR", "L-77")
    notice = await OutboundMessage.get(kind=MessageKind.NOTICE)
    assert "Dinas PUPR" in notice.text and "L-77" in notice.text


async def test_staff_of_another_area_and_officials_cannot_move_it(db: str) -> None:
    ticket = await _file(await make_member("Sungai Kunjang/Loa Bakung/RT 001"))
    other = await Scope.of(await make_user(UserRole.STAFF, ("Sungai Kunjang/Karang Asam Ulu",)))
    with pytest.raises(NotFound):
        await _move(ticket.number, TicketStatus.VERIFIED, other)
    with pytest.raises(NotFound):
        await get_ticket(ticket.number, other)
    official = await Scope.of(await make_user(UserRole.OFFICIAL, ("Sungai Kunjang",)))
    assert (await get_ticket(ticket.number, official)).id == ticket.id
    with pytest.raises(Forbidden):
        await _move(ticket.number, TicketStatus.VERIFIED, official)
    assert (await Ticket.get(id=ticket.id)).status == TicketStatus.NEW


def test_numbers_are_read_as_people_type_them() -> None:
    assert parse_number("status skj-2026-123") == "SKJ-2026-000123"
    assert parse_number("SKJ - 2026 - 000123") == "SKJ-2026-000123"
    assert parse_number("STATUS") is None
