"""What staff do with a ticket besides moving it: internal notes, messages to the RT head,
assigning it, and reading its files.

Each takes the ticket's number and the user's scope: the ticket is found through the scope's
filter (NotFound outside it, never Forbidden), and each change is one transaction with its
history entry and audit row. A message to the RT head is queued in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.auth import Scope
from hub.core.errors import NotFound, ValidationFailed
from hub.core.texts import text as say
from hub.feedback.complaints.board import assignable
from hub.feedback.complaints.tickets import TicketRules, get_ticket
from hub.feedback.complaints.workflow import status_label, tell_member
from models import FeedbackFile, Ticket, TicketEvent, TicketEventKind

MAX_TEXT = 2000  # a note or a message to the RT head


def _clean(text: str, field: str) -> str:
    text = text.replace("\x00", "").strip()
    if not text:
        raise ValidationFailed(f"{field}: must not be empty", field=field)
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"{field}: at most {MAX_TEXT} characters", field=field)
    return text


async def add_note(number: str, text: str, *, scope: Scope, now: dt.datetime) -> TicketEvent:
    """An internal note: staff only, never sent to the RT head nor shown by STATUS."""
    scope.require_write()
    text = _clean(text, "text")
    ticket = await get_ticket(number, scope)
    async with in_transaction():
        event = await TicketEvent.create(
            ticket_id=ticket.id,
            kind=TicketEventKind.NOTE,
            text=text,
            internal=True,
            user=scope.user,
            created_at=now,
        )
        await audit.record(scope.user, "ticket.note", ticket.number, event=event.id)
    return event


async def message_member(
    rules: TicketRules,
    number: str,
    text: str,
    *,
    scope: Scope,
    now: dt.datetime,
    hub_name: str,
    wake_sender: Callable[[], None] = lambda: None,
) -> TicketEvent:
    """Write to the RT head about the ticket, on the chat they filed it from."""
    scope.require_write()
    text = _clean(text, "text")
    ticket = await get_ticket(number, scope)
    message = say(
        rules.language, "ticket_staff_message", number=ticket.number, text=text, hub=hub_name
    )
    async with in_transaction():
        event = await TicketEvent.create(
            ticket_id=ticket.id,
            kind=TicketEventKind.MESSAGE,
            text=text,
            user=scope.user,
            created_at=now,
        )
        await audit.record(scope.user, "ticket.message", ticket.number, event=event.id)
        await tell_member(ticket, message, status_label(rules.language, ticket.status), now)
    wake_sender()
    return event


async def assign(number: str, user_id: int | None, *, scope: Scope, now: dt.datetime) -> Ticket:
    """Give the ticket to an active staff user or admin who can see its area (None: nobody).
    Who may take it is asked of the database; anyone else is refused with ValidationFailed."""
    scope.require_write()
    ticket = await get_ticket(number, scope)
    assignee = None
    if user_id is not None:
        assignee = await assignable(ticket).get_or_none(id=user_id)
        if assignee is None:
            raise ValidationFailed(
                "user_id: no active staff user or admin who can see this ticket's area",
                field="user_id",
            )
    async with in_transaction():
        await Ticket.filter(id=ticket.id).update(assignee_id=user_id, updated_at=now)
        await TicketEvent.create(
            ticket_id=ticket.id,
            kind=TicketEventKind.ASSIGNED,
            text=assignee.username if assignee else "",
            internal=True,
            user=scope.user,
            created_at=now,
        )
        await audit.record(scope.user, "ticket.assign", ticket.number, assignee=user_id)
    return await Ticket.get(id=ticket.id)


async def ticket_file(
    number: str, file_id: int, scope: Scope, folder: Path
) -> tuple[FeedbackFile, Path]:
    """A file of a ticket the user may see, and where its bytes are; NotFound otherwise."""
    ticket = await get_ticket(number, scope)
    found = await FeedbackFile.get_or_none(id=file_id, ticket_id=ticket.id)
    if found is None:
        raise NotFound("no such file on this ticket")
    path = folder / found.stored_name
    # stored_name is written by the hub; a name that leaves the folder is not served anyway.
    if path.parent != folder or not path.is_file():
        raise NotFound("the file is no longer stored")
    return found, path
