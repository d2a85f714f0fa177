"""The staff inbox, staff side: threads per member, reading, replying, turning a message into a
ticket.

A thread is one member's inbox messages, as far as the user's areas reach: every query is
filtered by the message's area in the database (`Scope.area_filter`), so a message written under
another kelurahan's seat is never read, and a message without an area (its writer held no seat)
is for unscoped users only. Threads are ordered by their latest message's id (newest-active
first), which is also their page key. A reply is an outgoing inbox message and the outbound row
that carries it, written in one transaction; where it goes and whether it can go as free text is
asked of the channel's class (`window_open`), never of its name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count, Max
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from channels import Channel
from hub.access import audit
from hub.access.areas import within
from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.errors import Conflict, NotFound, ValidationFailed
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.feedback.complaints.tickets import TicketRules, file_ticket, in_scope
from hub.feedback.complaints.workflow import status_label, tell_member
from models import (
    Area,
    ChannelAddress,
    FeedbackFile,
    InboxDirection,
    InboxMessage,
    Member,
    MessageKind,
    Ticket,
    TicketKind,
    TicketStatus,
)

MAX_REPLY = 4096  # characters: what one message on every channel takes
THREAD_TICKETS = 20  # the member's latest tickets shown beside a thread

ChannelClasses = Mapping[str, type[Channel]]


@dataclass(frozen=True)
class Thread:
    """One member's conversation with the staff, as one line of the list."""

    member: Member
    area: Area | None  # the area of its latest message
    last: InboxMessage
    unread: int  # incoming messages nobody opened yet

    @property
    def key(self) -> int:
        return int(self.last.id)


@dataclass(frozen=True)
class ReplyTarget:
    """Where a staff answer to a member goes, and whether it can go as free text there."""

    address: ChannelAddress
    window_open: bool

    @property
    def delivery(self) -> str:
        return "text" if self.window_open else "template"


def scoped(scope: Scope) -> QuerySet[InboxMessage]:
    """The inbox messages the user may read, filtered by area in the database."""
    messages = InboxMessage.all()
    area_filter = scope.area_filter()
    if area_filter is not None:
        messages = messages.filter(area_filter)
    return messages


def _unread(messages: QuerySet[InboxMessage]) -> QuerySet[InboxMessage]:
    return messages.filter(direction=InboxDirection.IN, read_at__isnull=True)


async def unread_count(scope: Scope) -> int:
    """Incoming messages in scope nobody opened yet (the navigation's badge)."""
    return await _unread(scoped(scope)).count()


async def threads(
    scope: Scope,
    *,
    limit: int,
    before: int | None = None,
    unread_only: bool = False,
    area: Area | None = None,
) -> tuple[list[Thread], bool]:
    """A page of threads, newest-active first, and whether more follow; `before` is the key of
    the previous page's last thread. Raises Forbidden for an area outside the scope."""
    messages = scoped(scope)
    if area is not None:
        scope.require_area(area)
        messages = messages.filter(within(area, "area__"))
    if unread_only:
        messages = messages.filter(member_id__in=Subquery(_unread(messages).values("member_id")))
    grouped = messages.annotate(last_id=Max("id")).group_by("member_id")
    if before is not None:
        grouped = grouped.filter(last_id__lt=before)
    heads = await grouped.order_by("-last_id").limit(limit + 1).values("member_id", "last_id")
    more = len(heads) > limit
    heads = heads[:limit]
    if not heads:
        return [], False
    member_ids = [h["member_id"] for h in heads]
    counts = await (
        _unread(messages)
        .filter(member_id__in=member_ids)
        .annotate(n=Count("id"))
        .group_by("member_id")
        .values("member_id", "n")
    )
    unread = {c["member_id"]: c["n"] for c in counts}
    lasts = await InboxMessage.filter(id__in=[h["last_id"] for h in heads]).select_related(
        "area", "member"
    )
    by_id = {m.id: m for m in lasts}
    found = []
    for head in heads:
        last = by_id[head["last_id"]]
        found.append(Thread(last.member, last.area, last, unread.get(head["member_id"], 0)))
    return found, more


async def thread_member(member_id: int, scope: Scope) -> Member:
    """The member whose thread the user may read; NotFound when none of it is in scope (a
    member elsewhere is not confirmed to exist)."""
    if not await scoped(scope).filter(member_id=member_id).exists():
        raise NotFound("no inbox thread with that member")
    return await Member.get(id=member_id)


async def thread_messages(
    member_id: int, scope: Scope, *, limit: int, before: int | None = None
) -> tuple[list[InboxMessage], bool]:
    """A page of the member's messages and staff answers, newest first, and whether more follow."""
    messages = scoped(scope).filter(member_id=member_id)
    if before is not None:
        messages = messages.filter(id__lt=before)
    rows = list(
        await messages.order_by("-id").limit(limit + 1).select_related("area", "user", "ticket")
    )
    return rows[:limit], len(rows) > limit


async def member_tickets(member_id: int, scope: Scope) -> list[Ticket]:
    """The member's latest tickets the user may see, as context beside the thread (read-only)."""
    return list(
        await in_scope(scope).filter(member_id=member_id).order_by("-id").limit(THREAD_TICKETS)
    )


async def mark_read(member_id: int, scope: Scope, now: dt.datetime) -> int:
    """Mark the member's unread incoming messages in scope read; returns how many changed."""
    scope.require_write()
    await thread_member(member_id, scope)
    ids = _unread(scoped(scope).filter(member_id=member_id)).values("id")
    return await InboxMessage.filter(id__in=Subquery(ids), read_at__isnull=True).update(read_at=now)


# Replies ---------------------------------------------------------------------------------------


def _reachable(address: ChannelAddress | None, channels: ChannelClasses) -> bool:
    return (
        address is not None
        and address.channel in channels
        and address.opted_out_at is None
        and address.blocked_at is None
    )


async def reply_target(
    member: Member, channels: ChannelClasses, now: dt.datetime
) -> ReplyTarget | None:
    """Where an answer goes: where the member last wrote, else their preferred channel, else any
    address they can be reached at; None when there is none."""
    last = (
        await InboxMessage.filter(member_id=member.id, direction=InboxDirection.IN)
        .order_by("-id")
        .first()
    )
    addresses = list(await ChannelAddress.filter(member_id=member.id).order_by("id"))
    candidates = []
    if last is not None:
        candidates += [
            a for a in addresses if (a.channel, a.address) == (last.channel, last.address)
        ]
    candidates += [a for a in addresses if a.channel == member.preferred_channel]
    candidates += addresses
    for address in candidates:
        if _reachable(address, channels):
            opened = channels[address.channel].window_open(address.last_inbound_at, now)
            return ReplyTarget(address, opened)
    return None


def _reply_text(config: Config, text: str, channel: type[Channel]) -> str:
    """The answer as the member reads it: signed as the staff's, if the channel takes that."""
    signed = say(config.hub.language, "inbox_reply", text=text, hub=config.hub.name)
    return signed if len(signed.encode("utf-16-le")) // 2 <= channel.text_limit else text


@dataclass(frozen=True)
class Reply:
    message: InboxMessage
    delivery: str  # "text" inside the free-text window, "template" outside it


async def reply(
    config: Config,
    member_id: int,
    text: str,
    *,
    scope: Scope,
    now: dt.datetime,
    channels: ChannelClasses,
    wake_sender: Callable[[], None] = lambda: None,
) -> Reply:
    """Answer the member from the inbox: the outgoing message and its outbound row together.
    Raises NotFound (no thread in scope), Forbidden (read-only users), ValidationFailed (empty
    or too long) or Conflict (the member cannot be reached)."""
    scope.require_write()
    text = text.strip()
    if not text:
        raise ValidationFailed("text: must not be empty", field="text")
    if len(text) > MAX_REPLY:
        raise ValidationFailed(f"text: at most {MAX_REPLY} characters", field="text")
    member = await thread_member(member_id, scope)
    target = await reply_target(member, channels, now)
    if target is None:
        raise Conflict("the member cannot be reached on any running channel", code="unreachable")
    # The reply belongs to the thread as the user sees it: the area of what it answers.
    answered = await scoped(scope).filter(member_id=member_id).order_by("-id").first()
    address = target.address
    async with in_transaction():
        outbound = await queue(
            MessageKind.NOTICE,
            member_id=member.id,
            channel=address.channel,
            address=address.address,
            text=_reply_text(config, text, channels[address.channel]),
            template="reply",
            template_params=[text],
            due=now,
        )
        message = await InboxMessage.create(
            member_id=member.id,
            area_id=answered.area_id if answered else None,  # type: ignore[attr-defined]
            direction=InboxDirection.OUT,
            channel=address.channel,
            address=address.address,
            text=text,
            outbound=outbound,
            user=scope.user,
            created_at=now,
        )
    wake_sender()
    return Reply(message, target.delivery)


# Tickets ---------------------------------------------------------------------------------------


async def to_ticket(
    rules: TicketRules,
    message_id: int,
    *,
    kind: TicketKind,
    category: str,
    description: str | None,
    scope: Scope,
    now: dt.datetime,
    wake_sender: Callable[[], None] = lambda: None,
) -> Ticket:
    """File a ticket from a member's message (its text, or the staff's edit of it), link it, and
    tell the member its number; once only. Raises NotFound, Forbidden, ValidationFailed (an
    unknown category, no text), Conflict (made a ticket already) or TooManyTickets."""
    scope.require_write()
    message = await scoped(scope).get_or_none(id=message_id).select_related("member")
    if message is None:
        raise NotFound("no inbox message with that id")
    if message.direction != InboxDirection.IN:
        raise ValidationFailed("only a member's message can become a ticket", field="id")
    if message.ticket_id is not None:  # type: ignore[attr-defined]
        raise Conflict("this message is a ticket already", code="already_ticket")
    # The photo, voice note or document the member sent with it goes to the ticket too (it
    # stays linked to the message as well, so the thread still shows it).
    file_ids = await FeedbackFile.filter(inbox_message_id=message.id).values_list("id", flat=True)
    async with in_transaction():
        ticket = await file_ticket(
            rules,
            kind=kind,
            category=category,
            member=message.member,
            channel=message.channel,
            address=message.address,
            description=message.text if description is None else description,
            now=now,
            file_ids=list(file_ids),
        )
        # Two staff at once: the second finds it linked and its ticket is rolled back.
        linked = await InboxMessage.filter(id=message.id, ticket_id__isnull=True).update(
            ticket_id=ticket.id
        )
        if not linked:
            raise Conflict("this message is a ticket already", code="already_ticket")
        await audit.record(
            scope.user, "inbox.ticket", ticket.number, message_id=message.id, kind=kind.value
        )
        language = rules.language
        told = say(language, "inbox_ticket_filed", number=ticket.number)
        await tell_member(ticket, told, status_label(language, TicketStatus.NEW), now)
    wake_sender()
    return ticket


# Files -----------------------------------------------------------------------------------------


async def files_of(messages: Sequence[InboxMessage]) -> dict[int, list[FeedbackFile]]:
    """The files members sent with these messages, by message id, oldest first."""
    found: dict[int, list[FeedbackFile]] = {m.id: [] for m in messages}
    if found:
        rows = await FeedbackFile.filter(inbox_message_id__in=list(found)).order_by("id")
        for row in rows:
            found[row.inbox_message_id].append(row)  # type: ignore[attr-defined]
    return found


async def message_file(message_id: int, file_id: int, scope: Scope) -> FeedbackFile:
    """A file sent with an inbox message whose area is in the user's scope (asked of the
    database, through the message); NotFound otherwise, as if it did not exist."""
    files = FeedbackFile.filter(id=file_id, inbox_message_id=message_id)
    area_filter = scope.area_filter("inbox_message__area__path_key")
    if area_filter is not None:
        files = files.filter(area_filter)
    found = await files.first()
    if found is None:
        raise NotFound("no such file with that inbox message")
    return found


def file_view(message: InboxMessage, file: FeedbackFile) -> dict[str, Any]:
    """The API shape of a file sent with an inbox message."""
    return {
        "id": file.id,
        "kind": file.kind,
        "content_type": file.content_type,
        "size": file.size,
        "url": f"/api/v1/inbox/messages/{message.id}/files/{file.id}",
    }


def message_view(message: InboxMessage, files: Sequence[FeedbackFile] = ()) -> dict[str, Any]:
    """The API shape of one inbox message; needs `user` and `ticket` fetched (select_related)."""
    return {
        "id": message.id,
        "direction": message.direction.value,
        "kind": message.kind,
        "text": message.text,
        "channel": message.channel,
        "created_at": message.created_at.isoformat(),
        "read_at": message.read_at.isoformat() if message.read_at else None,
        "user": message.user.username if message.user else None,
        "ticket": message.ticket.number if message.ticket else None,
        "files": [file_view(message, f) for f in files],
    }
