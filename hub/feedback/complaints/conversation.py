"""The RT head's side of a ticket after filing: `STATUS <nomor>`, `STATUS` alone, and the
`tiket:` buttons (status, and the follow-up's Ya / Belum).

Registered on the router by `register()` (composed in hub/runtime.py). A member sees only their
own tickets: a number that is someone else's gets the same polite "not found" as one that does
not exist, so nobody learns that another member's ticket is there. What STATUS tells is what
the RT head was told before (the notes sent with each step, staff's messages), never internal
notes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence

from channels import InboundMessage
from hub.core.config import Config
from hub.core.texts import text as say
from hub.feedback.complaints.board import category_label, sla_of
from hub.feedback.complaints.followup import (
    BUTTON_PREFIX,
    Answer,
    Outcome,
    answer_followup,
    button_payload,
)
from hub.feedback.complaints.tickets import TicketRules, member_ticket, parse_number
from hub.feedback.complaints.workflow import OPEN, status_label
from hub.feedback.replies import queue_reply
from hub.messaging.router import Command, Router, Turn
from models import Ticket, TicketEvent, TicketEventKind, TicketStatus

log = logging.getLogger(__name__)

Toast = Callable[[InboundMessage, str], Awaitable[None]]
LIST_SIZE = 5  # open tickets STATUS alone lists, newest first
_TOLD = (TicketEventKind.STATUS, TicketEventKind.MESSAGE)  # what the RT head was sent
_OUTCOME_KEYS = {
    Outcome.THANKED: "followup_thanks",
    Outcome.ALREADY: "followup_already",
    Outcome.MOVED_ON: "followup_moved_on",
}


def local_date(rules: TicketRules, when: dt.datetime) -> str:
    """`4 Des 2026` in the hub's time zone and language."""
    local = when.astimezone(rules.calendar.tz)
    months = say(rules.language, "ticket_months").split()
    return f"{local.day} {months[local.month - 1]} {local.year}"


async def status_text(rules: TicketRules, ticket: Ticket, now: dt.datetime) -> str:
    """One message with where the ticket stands, as the RT head may see it."""
    lang = rules.language
    lines = [
        say(
            lang,
            "ticket_status_head",
            number=ticket.number,
            status=status_label(lang, ticket.status),
            category=category_label(rules, ticket),
            filed=local_date(rules, ticket.created_at),
        ),
    ]
    if ticket.status in OPEN and ticket.due_at is not None:
        lines.append(say(lang, "ticket_status_due", due=local_date(rules, ticket.due_at)))
        sla = sla_of(ticket, rules.calendar, now)
        if sla.overdue:
            lines.append(say(lang, "ticket_status_late"))
    if ticket.status == TicketStatus.REJECTED and ticket.reason:
        lines.append(say(lang, "ticket_status_reason", reason=ticket.reason))
    if ticket.status == TicketStatus.FORWARDED:
        lines.append(
            say(
                lang,
                "ticket_status_forwarded",
                office=ticket.forwarded_to or "-",
                reference=ticket.reference or "-",
            )
        )
    told = (
        await TicketEvent.filter(ticket_id=ticket.id, internal=False, kind__in=list(_TOLD))
        .exclude(text="")
        .order_by("-id")
        .first()
    )
    if told is not None:
        lines.append(
            say(lang, "ticket_status_note", when=local_date(rules, told.created_at), note=told.text)
        )
    return "\n".join(lines)


class MemberTickets:
    """The handlers; one per hub, built by `register()`."""

    def __init__(
        self,
        config: Config,
        rules: TicketRules,
        wake_sender: Callable[[], None],
        toast: Toast | None = None,
    ) -> None:
        self.config = config
        self.rules = rules
        self.wake_sender = wake_sender
        self.toast = toast

    def say(self, key: str, **values: str) -> str:
        return say(self.rules.language, key, hub=self.config.hub.name, **values)

    async def reply(self, turn: Turn, text: str, buttons: Sequence[dict[str, str]] = ()) -> None:
        """Queue an answer to the chat the message came from."""
        await queue_reply(turn, text, buttons=buttons, due=turn.now)
        self.wake_sender()

    async def status(self, turn: Turn) -> None:
        """STATUS <nomor>: that ticket, if it is the member's; STATUS alone: their open ones."""
        typed = turn.argument.strip()
        if not typed:
            await self._open_tickets(turn)
            return
        number = parse_number(typed)
        if number is None:
            await self.reply(turn, self.say("ticket_bad_number"))
            return
        await self._one(turn, number)

    async def _one(self, turn: Turn, number: str) -> None:
        ticket = await member_ticket(number, turn.member)
        if ticket is None:
            await self.reply(turn, self.say("ticket_not_found", number=number))
            return
        await self.reply(turn, await status_text(self.rules, ticket, turn.now))

    async def _open_tickets(self, turn: Turn) -> None:
        tickets = (
            await Ticket.filter(member_id=turn.member.id, status__in=list(OPEN))
            .order_by("-created_at", "-id")
            .limit(LIST_SIZE)
        )
        if not tickets:
            await self.reply(turn, self.say("ticket_list_none"))
            return
        lang = self.rules.language
        lines = [self.say("ticket_list_head")]
        for n, ticket in enumerate(tickets, 1):
            lines.append(
                self.say(
                    "ticket_list_row",
                    n=str(n),
                    number=ticket.number,
                    category=category_label(self.rules, ticket),
                    status=status_label(lang, ticket.status),
                )
            )
        lines.append(self.say("ticket_list_hint", number=tickets[0].number))
        buttons = [
            {
                "label": self.say("ticket_status_button", number=t.number),
                "payload": button_payload(t.number, "status"),
            }
            for t in tickets
        ]
        await self.reply(turn, "\n".join(lines), buttons)

    async def button(self, turn: Turn) -> None:
        """tiket:<number>:<status|ya|belum>, tapped by the ticket's own RT head."""
        event = turn.event
        number, _, action = (event.button_payload or "").removeprefix(BUTTON_PREFIX).rpartition(":")
        if self.toast is not None:
            try:
                await self.toast(event, self.say("ticket_toast"))
            except Exception:  # a courtesy only: the answer follows as a message
                log.warning("could not show a toast on %s", event.channel, exc_info=True)
        ticket = await member_ticket(number, turn.member)
        if ticket is None:
            await self.reply(turn, self.say("ticket_not_found", number=number[:40]))
            return
        if action == "status":
            await self.reply(turn, await status_text(self.rules, ticket, turn.now))
            return
        if action not in (Answer.YES.value, Answer.NO.value):
            log.info("unknown ticket button %r from member %s", action[:20], turn.member.id)
            return
        outcome = await answer_followup(
            self.rules, ticket, Answer(action), now=turn.now, hub_name=self.config.hub.name
        )
        if outcome == Outcome.REOPENED:
            self.wake_sender()  # the workflow told the RT head, with the ticket's own notice
            return
        fresh = await Ticket.get(id=ticket.id)
        await self.reply(
            turn,
            self.say(
                _OUTCOME_KEYS[outcome],
                number=ticket.number,
                status=status_label(self.rules.language, fresh.status),
            ),
        )


def register(
    router: Router,
    *,
    config: Config,
    rules: TicketRules,
    wake_sender: Callable[[], None],
    toast: Toast | None = None,
) -> MemberTickets:
    """Add STATUS and the `tiket:` buttons to the router."""
    handlers = MemberTickets(config, rules, wake_sender, toast)
    router.add_command(
        Command(
            "status",
            ("STATUS",),
            handlers.status,
            forgiving=True,
            in_menu=True,
            platform_command="status",
            typo_argument=_names_a_ticket,
        )
    )
    router.add_button(BUTTON_PREFIX, handlers.button)
    return handlers


def _names_a_ticket(argument: str) -> bool:
    """A mistyped STATUS is one followed by nothing or by a ticket number."""
    return not argument or parse_number(argument) is not None
