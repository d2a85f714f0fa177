"""The ticket workflow: which status may follow which, and what each move does.

baru → diverifikasi → diproses → selesai, with ditolak (a reason) and diteruskan (another office
and its reference) open from every step before selesai. A move is one conditional UPDATE from the
status the caller saw: two staff acting at once move a ticket once, and a move that skips a step
(baru → selesai) is refused with the steps that are allowed. Every move is written to the
ticket's history and the audit log, and told to the RT head on the chat they filed it from (a
WhatsApp template outside the 24-hour window), in one transaction with the move itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.auth import Scope
from hub.core.errors import Conflict, ValidationFailed
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.feedback.complaints.tickets import TicketRules, get_ticket
from models import MessageKind, Ticket, TicketEvent, TicketEventKind, TicketStatus, User

S = TicketStatus
# Where each status may go. `selesai → diproses` is the RT head's "Belum" after the follow-up
# question (or staff reopening); `diteruskan → selesai` closes a case the other office solved.
TRANSITIONS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    S.NEW: (S.VERIFIED, S.REJECTED, S.FORWARDED),
    S.VERIFIED: (S.IN_PROGRESS, S.REJECTED, S.FORWARDED),
    S.IN_PROGRESS: (S.DONE, S.REJECTED, S.FORWARDED),
    S.DONE: (S.IN_PROGRESS,),
    S.REJECTED: (),
    S.FORWARDED: (S.IN_PROGRESS, S.DONE),
}
OPEN = (S.NEW, S.VERIFIED, S.IN_PROGRESS)  # the statuses an SLA runs for
CLOSED = (S.DONE, S.REJECTED, S.FORWARDED)
MAX_NOTE = 1000


class TransitionRefused(Conflict):
    """The ticket cannot move there from where it stands."""

    code = "invalid_transition"


@dataclass(frozen=True)
class Move:
    """What staff asked: the new status and what comes with it."""

    to: TicketStatus
    note: str = ""  # told to the RT head with the change
    reason: str = ""  # required for ditolak
    forwarded_to: str = ""  # required for diteruskan: the office
    reference: str = ""  # their number (a LAPOR! tracking id), optional


def allowed(status: TicketStatus) -> tuple[TicketStatus, ...]:
    return TRANSITIONS[status]


def _check(ticket: Ticket, move: Move) -> None:
    if move.to not in TRANSITIONS[ticket.status]:
        steps = ", ".join(s.value for s in TRANSITIONS[ticket.status]) or "none"
        raise TransitionRefused(
            f"{ticket.number} is {ticket.status.value}: it cannot become {move.to.value} "
            f"(allowed: {steps})"
        )
    if len(move.note) > MAX_NOTE:
        raise ValidationFailed(f"a note has at most {MAX_NOTE} characters", field="note")
    if move.to == S.REJECTED and not move.reason.strip():
        raise ValidationFailed("a rejected ticket needs a reason", field="reason")
    if move.to == S.FORWARDED and not move.forwarded_to.strip():
        raise ValidationFailed("say which office the ticket goes to", field="forwarded_to")


def _columns(ticket: Ticket, move: Move, rules: TicketRules, now: dt.datetime) -> dict:
    """The ticket's columns after the move: timestamps, and the deadline of its next step."""
    columns: dict = {"status": move.to, "updated_at": now}
    _, resolve_days = rules.catalogue.sla(ticket.kind, ticket.category)
    if move.to == S.VERIFIED:
        due = rules.calendar.add_working_days(now, resolve_days)
        columns |= {"verified_at": now, "due_at": due}
    elif move.to == S.IN_PROGRESS and ticket.status in (S.DONE, S.FORWARDED):
        # Reopened: the work starts again, with a fresh deadline.
        columns |= {
            "due_at": rules.calendar.add_working_days(now, resolve_days),
            "resolved_at": None,
            "followup_due_at": None,
            "followup_sent_at": None,
        }
    elif move.to in CLOSED:
        columns |= {"resolved_at": now, "due_at": None}
        if move.to == S.DONE and rules.settings.followup_after_days:
            columns["followup_due_at"] = now + dt.timedelta(days=rules.settings.followup_after_days)
    if move.to == S.REJECTED:
        columns["reason"] = move.reason.strip()
    if move.to == S.FORWARDED:
        columns |= {
            "forwarded_to": move.forwarded_to.strip()[:200],
            "reference": move.reference.strip()[:100] or None,
        }
    return columns


def status_label(language: str, status: TicketStatus) -> str:
    return say(language, f"ticket_status_{status.value}")


def status_message(rules: TicketRules, ticket: Ticket, move: Move, hub_name: str) -> str:
    """What the RT head is told: the number, the new status, and what staff added."""
    lang = rules.language
    lines = [
        say(lang, "ticket_moved", number=ticket.number, status=status_label(lang, move.to)),
        say(lang, f"ticket_moved_{move.to.value}", reason=move.reason.strip(),
            office=move.forwarded_to.strip(), reference=move.reference.strip() or "-"),
    ]  # fmt: skip
    if move.note.strip():
        lines.append(say(lang, "ticket_note", note=move.note.strip()))
    lines.append(say(lang, "ticket_signature", number=ticket.number, hub=hub_name))
    return "\n\n".join(line for line in lines if line)


async def tell_member(
    ticket: Ticket, text: str, status: str, now: dt.datetime, buttons: list[dict] | None = None
) -> None:
    """Queue a message about the ticket to the chat it was filed from (a template outside
    WhatsApp's window: its number and status)."""
    await queue(
        MessageKind.NOTICE,
        member_id=ticket.member_id,  # type: ignore[attr-defined]
        channel=ticket.channel,
        address=ticket.address,
        text=text,
        buttons=buttons or (),
        template="ticket",
        template_params=[ticket.number, status],
        due=now,
    )


async def move_ticket(
    rules: TicketRules,
    number: str,
    move: Move,
    *,
    scope: Scope,
    now: dt.datetime,
    hub_name: str,
    wake_sender: Callable[[], None] = lambda: None,
) -> Ticket:
    """Move a ticket the user may see and act on; raises NotFound, Forbidden (read-only users),
    TransitionRefused (a skipped step, or it moved meanwhile) or ValidationFailed."""
    scope.require_write()
    ticket = await get_ticket(number, scope)
    _check(ticket, move)
    user: User | None = scope.user
    async with in_transaction():
        moved = await Ticket.filter(id=ticket.id, status=ticket.status).update(
            **_columns(ticket, move, rules, now)
        )
        if not moved:
            raise TransitionRefused(f"{ticket.number} was changed meanwhile; reload it")
        await TicketEvent.create(
            ticket_id=ticket.id,
            kind=TicketEventKind.STATUS,
            from_status=ticket.status.value,
            to_status=move.to.value,
            text=move.note.strip(),
            user=user,
            created_at=now,
        )
        await audit.record(
            user, "ticket.move", ticket.number, from_status=ticket.status.value, to=move.to.value
        )
        await tell_member(
            ticket,
            status_message(rules, ticket, move, hub_name),
            status_label(rules.language, move.to),
            now,
        )
    wake_sender()
    return await Ticket.get(id=ticket.id)


def open_followup(ticket: Ticket) -> QuerySet[Ticket]:
    """The ticket, while its follow-up question is asked and not yet answered: what an answer
    claims with one conditional UPDATE, so a second tap (or staff moving it on) finds nothing."""
    return Ticket.filter(
        id=ticket.id,
        status=S.DONE,
        followup_sent_at__isnull=False,
        followup_due_at__isnull=False,
    )


async def record_followup_answer(
    ticket: Ticket, answer: str, action: str, now: dt.datetime
) -> None:
    """The RT head's answer in the ticket's history and the audit log (by the member, no user).
    Written last: the newest event tells a second tap that this was answered already."""
    await TicketEvent.create(
        ticket_id=ticket.id, kind=TicketEventKind.FOLLOWUP, text=answer, created_at=now
    )
    await audit.record(None, action, ticket.number, by="member", answer=answer)


async def reopen_by_member(
    rules: TicketRules, ticket: Ticket, *, now: dt.datetime, hub_name: str
) -> bool:
    """The RT head answered "Belum" to the follow-up question: selesai → diproses by the
    workflow's rule, once. One conditional UPDATE from "selesai, asked, not yet answered" (a
    second tap, or an answer after staff moved it on, finds nothing to change and returns
    False); the ticket counts one more reopening, its history and the audit log say who (the
    RT head, no user), and the RT head is told, in the same transaction."""
    move = Move(S.IN_PROGRESS)
    if move.to not in TRANSITIONS[S.DONE]:  # the table is the one rule: keep it so
        raise TransitionRefused(f"{ticket.number} cannot be reopened")
    async with in_transaction():
        moved = await open_followup(ticket).update(
            **_columns(ticket, move, rules, now), reopened=F("reopened") + 1
        )
        if not moved:
            return False
        await TicketEvent.create(
            ticket_id=ticket.id,
            kind=TicketEventKind.STATUS,
            from_status=S.DONE.value,
            to_status=S.IN_PROGRESS.value,
            created_at=now,
        )
        await record_followup_answer(ticket, "belum", "ticket.reopen", now)
        text = say(rules.language, "followup_reopened", number=ticket.number, hub=hub_name)
        await tell_member(ticket, text, status_label(rules.language, S.IN_PROGRESS), now)
    return True
