"""The follow-up question after a ticket is solved: asked once (even by two schedulers), held in
quiet hours; "Ya" thanks, "Belum" reopens through the workflow; a second tap changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp.test_utils import TestClient

from hub.app import HUB, Hub
from hub.core.texts import text as say
from jobs import JOB_DEFAULTS, create_scheduler
from jobs.feedback import ask_ticket_followups
from models import AuditLog, Member, Ticket, TicketEvent, TicketStatus
from tests.conftest import FakeClock
from tests.factories import make_member
from tests.feedback.test_ticket_api import (
    KELURAHAN,
    WITA,
    config,  # noqa: F401 - the module's configuration (prefixes, holiday)
    file,
    patch,
    phone,
    staff_token,
)
from tests.feedback.test_ticket_status import send


async def solved(timed: TestClient, member: Member) -> Ticket:
    """A ticket of the member, moved to selesai by staff (the notice already on the phone)."""
    hub: Hub = timed.app[HUB]
    ticket = await file(hub, member)
    token = await staff_token(timed)
    for status in ("diverifikasi", "diproses", "selesai"):
        code, body = await patch(timed, token, ticket.number, status=status)
        assert code == 200, body
    await hub.sender.run_once()
    return await Ticket.get(id=ticket.id)


def question_of(hub: Hub, member: Member) -> list[str]:
    return [
        m.text
        for m in phone(hub).messages(f"sandbox-{member.id}")
        if "Apakah masalahnya sudah beres?" in m.text
    ]


async def test_the_question_is_asked_once_when_due(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await solved(timed, member)
    assert await ask_ticket_followups(hub) == {"asked": 0}  # not yet: three days after
    clock.advance(days=3)
    # Two schedulers at the same moment: one claims it.
    summaries = await asyncio.gather(ask_ticket_followups(hub), ask_ticket_followups(hub))
    assert sorted(s["asked"] for s in summaries) == [0, 1]
    assert await ask_ticket_followups(hub) == {"asked": 0}
    await hub.sender.run_once()
    (question,) = question_of(hub, member)
    assert ticket.number in question
    buttons = phone(hub).messages(f"sandbox-{member.id}")[-1].buttons
    assert [(b.label, b.payload) for b in buttons] == [
        (say("id", "followup_yes_button"), f"tiket:{ticket.number}:ya"),
        (say("id", "followup_no_button"), f"tiket:{ticket.number}:belum"),
    ]
    assert (await Ticket.get(id=ticket.id)).followup_sent_at == clock.now


async def test_quiet_hours_hold_the_question(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    await solved(timed, member)
    clock.now = dt.datetime(2030, 3, 7, 22, 0, tzinfo=WITA).astimezone(dt.UTC)
    assert await ask_ticket_followups(hub) == {"asked": 0, "held_for_quiet_hours": 1}
    await hub.sender.run_once()
    assert question_of(hub, member) == []
    clock.now = dt.datetime(2030, 3, 8, 6, 0, tzinfo=WITA).astimezone(dt.UTC)
    assert await ask_ticket_followups(hub) == {"asked": 1}


async def _asked(timed: TestClient, clock: FakeClock, member: Member) -> Ticket:
    hub = timed.app[HUB]
    ticket = await solved(timed, member)
    clock.advance(days=3)
    assert (await ask_ticket_followups(hub))["asked"] == 1
    await hub.sender.run_once()
    return ticket


async def test_ya_thanks_once(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await _asked(timed, clock, member)
    payload = f"tiket:{ticket.number}:ya"
    assert await send(hub, member, button=payload) == [
        say("id", "followup_thanks", number=ticket.number)
    ]
    answers = await TicketEvent.filter(ticket_id=ticket.id, kind="followup")
    assert [a.text for a in answers] == ["ya"]
    assert (await Ticket.get(id=ticket.id)).status == TicketStatus.DONE
    assert await send(hub, member, button=payload) == [
        say("id", "followup_already", number=ticket.number)
    ]
    belum = await send(hub, member, button=f"tiket:{ticket.number}:belum")
    assert belum == [say("id", "followup_already", number=ticket.number)]
    assert await TicketEvent.filter(ticket_id=ticket.id, kind="followup").count() == 1
    assert (await Ticket.get(id=ticket.id)).status == TicketStatus.DONE


async def test_belum_reopens_the_ticket_once(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await _asked(timed, clock, member)
    (told,) = await send(hub, member, button=f"tiket:{ticket.number}:belum")
    assert told == say("id", "followup_reopened", number=ticket.number, hub="Balai Warga")
    reopened = await Ticket.get(id=ticket.id)
    assert (reopened.status, reopened.reopened) == (TicketStatus.IN_PROGRESS, 1)
    assert reopened.resolved_at is None and reopened.followup_sent_at is None
    assert reopened.due_at is not None and reopened.due_at > clock.now
    events = await TicketEvent.filter(ticket_id=ticket.id).order_by("-id").limit(2)
    assert [(e.kind, e.from_status, e.to_status, e.text, e.user_id) for e in events] == [
        ("followup", None, None, "belum", None),
        ("status", "selesai", "diproses", "", None),
    ]
    assert await AuditLog.filter(action="ticket.reopen", target=ticket.number, user=None).count()
    # A second tap, or "Ya" after it, changes nothing.
    for action in ("belum", "ya"):
        answer = await send(hub, member, button=f"tiket:{ticket.number}:{action}")
        assert answer == [say("id", "followup_already", number=ticket.number)]
    assert (await Ticket.get(id=ticket.id)).reopened == 1
    # Solved again: asked again, three days later.
    token = await staff_token(timed)
    assert (await patch(timed, token, ticket.number, status="selesai"))[0] == 200
    clock.advance(days=3)
    assert (await ask_ticket_followups(hub))["asked"] == 1


async def test_an_answer_after_the_ticket_moved_on_changes_nothing(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await _asked(timed, clock, member)
    token = await staff_token(timed)
    assert (await patch(timed, token, ticket.number, status="diproses"))[0] == 200  # staff
    await hub.sender.run_once()
    answer = await send(hub, member, button=f"tiket:{ticket.number}:ya")
    moved_on = say("id", "followup_moved_on", number=ticket.number, status="Sedang diproses")
    assert answer == [moved_on]
    assert await TicketEvent.filter(ticket_id=ticket.id, kind="followup").count() == 0
    assert (await Ticket.get(id=ticket.id)).reopened == 0


def test_the_job_is_scheduled_like_the_others(timed: TestClient) -> None:
    scheduler = create_scheduler(timed.app[HUB])
    job = scheduler.get_job("ticket_followups")
    assert job is not None and job.func.__name__ == "ask_ticket_followups"
    assert JOB_DEFAULTS["max_instances"] == 1 and JOB_DEFAULTS["coalesce"] is True
