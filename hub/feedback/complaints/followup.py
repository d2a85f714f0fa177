"""The follow-up: a few days after a ticket is solved, the RT head is asked whether it held.

The question goes once per solving: a ticket `selesai` whose `followup_due_at` has passed and
whose `followup_sent_at` is empty is claimed by one conditional UPDATE of `followup_sent_at`
before the question is queued (in the same transaction), so two schedulers never ask twice. Like
reminders, it waits out the quiet hours. "Ya" is recorded once (the claim clears
`followup_due_at`); "Belum" reopens the ticket through the workflow (workflow.reopen_by_member).
An answer after the ticket moved on, or a second tap, changes nothing.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from hub.core.config import Config
from hub.core.texts import text as say
from hub.core.timeutil import in_quiet_hours
from hub.feedback.complaints.board import category_label
from hub.feedback.complaints.tickets import TicketRules
from hub.feedback.complaints.workflow import (
    open_followup,
    record_followup_answer,
    reopen_by_member,
    status_label,
    tell_member,
)
from models import Ticket, TicketEvent, TicketEventKind, TicketStatus

BUTTON_PREFIX = "tiket:"  # tiket:<number>:status | tiket:<number>:ya | tiket:<number>:belum
BATCH = 200  # questions queued per run; the next run takes the rest


class Answer(StrEnum):
    YES = "ya"  # it held: thanks
    NO = "belum"  # not solved: the ticket is reopened


class Outcome(StrEnum):
    THANKED = "thanked"
    REOPENED = "reopened"
    ALREADY = "already"  # answered before (a second tap)
    MOVED_ON = "moved_on"  # no question is open: the ticket moved on, or none was asked


def button_payload(number: str, action: str) -> str:
    return f"{BUTTON_PREFIX}{number}:{action}"


def _due(now: dt.datetime) -> Any:
    return Ticket.filter(
        status=TicketStatus.DONE, followup_due_at__lte=now, followup_sent_at__isnull=True
    )


async def ask_followups(
    rules: TicketRules, config: Config, now: dt.datetime, *, batch: int = BATCH
) -> dict[str, int]:
    """Queue the question for every solved ticket that is due; returns a summary."""
    due = _due(now)
    if in_quiet_hours(now, config.tz, config.broadcast.quiet_hours):
        return {"asked": 0, "held_for_quiet_hours": await due.count()}
    lang = rules.language
    buttons = [
        {"label": say(lang, "followup_yes_button"), "payload": ""},
        {"label": say(lang, "followup_no_button"), "payload": ""},
    ]
    asked = 0
    for ticket in await due.order_by("id").limit(batch):
        async with in_transaction():
            claimed = await Ticket.filter(
                id=ticket.id, status=TicketStatus.DONE, followup_sent_at__isnull=True
            ).update(followup_sent_at=now)
            if not claimed:
                continue  # another scheduler asked it a moment ago
            question = say(
                lang,
                "followup_question",
                number=ticket.number,
                category=category_label(rules, ticket),
            )
            await tell_member(
                ticket,
                question,
                status_label(lang, TicketStatus.DONE),
                now,
                buttons=[
                    {**buttons[0], "payload": button_payload(ticket.number, Answer.YES)},
                    {**buttons[1], "payload": button_payload(ticket.number, Answer.NO)},
                ],
            )
        asked += 1
    return {"asked": asked}


async def _thank(ticket: Ticket, now: dt.datetime) -> bool:
    """Record "Ya" once: the claim clears followup_due_at while the question is open."""
    async with in_transaction():
        claimed = await open_followup(ticket).update(followup_due_at=None)
        if not claimed:
            return False
        await record_followup_answer(ticket, Answer.YES.value, "ticket.followup", now)
    return True


async def answer_followup(
    rules: TicketRules, ticket: Ticket, answer: Answer, *, now: dt.datetime, hub_name: str
) -> Outcome:
    """The RT head's answer to the question about their own ticket (the caller checked that)."""
    if ticket.status != TicketStatus.DONE:
        done = False
    elif answer == Answer.YES:
        done = await _thank(ticket, now)
    else:
        done = await reopen_by_member(rules, ticket, now=now, hub_name=hub_name)
    if done:
        return Outcome.THANKED if answer == Answer.YES else Outcome.REOPENED
    newest = await TicketEvent.filter(ticket_id=ticket.id).order_by("-id").first()
    if newest is not None and newest.kind == TicketEventKind.FOLLOWUP:
        return Outcome.ALREADY
    return Outcome.MOVED_ON
