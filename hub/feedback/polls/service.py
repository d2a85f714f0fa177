"""Creating polls and closing them: a poll is a broadcast with options.

`create_poll` stores the broadcast (through hub.broadcast.service, as POST /api/v1/broadcasts
does) and the Poll row in one transaction; the fan-out gives every announcement message the
poll as plain data (`poll:<poll id>:<option>` payloads), which the sender hands to the channel:
a native poll where the platform has one, buttons or a list elsewhere. Closing is a conditional
UPDATE open → closed that queues the result to the voters in the same transaction; native polls
are stopped on the platform afterwards, best effort.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from channels import Channel, ChannelClasses
from channels.capabilities import ClosesPolls
from channels.pacing import RateLimiter
from hub.access import audit
from hub.access.auth import Scope
from hub.broadcast.content import TITLE_MAX, summarize
from hub.broadcast.queries import broadcasts_in
from hub.broadcast.service import BroadcastRequest, create_broadcast
from hub.core.config import Config
from hub.core.errors import Conflict, NotFound, ValidationFailed
from hub.core.outbox import outbound, queue_all
from hub.core.texts import text as say
from models import (
    Broadcast,
    Delivery,
    DeliveryStatus,
    MessageKind,
    OutboundMessage,
    Poll,
    PollStatus,
    PollVote,
    User,
)

log = logging.getLogger(__name__)

POLL_PREFIX = "poll:"  # button payloads: poll:<poll id>:<option index>
QUESTION_MAX = 300
OPTION_MAX = 100
OPTIONS_MIN = 2
OPTIONS_MAX = 10
# Deliveries whose recipient never got the poll: not counted among those who could vote.
_NOT_ELIGIBLE = [DeliveryStatus.CANCELLED, DeliveryStatus.SKIPPED, DeliveryStatus.FAILED]


@dataclass
class PollRequest:
    question: str
    options: list[str]
    areas: list[str] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    closes_at: dt.datetime | None = None  # None: open until staff close it
    send_result: bool = False


def payload(poll_id: int, option: int) -> str:
    """The button payload that votes `option` (from 0) in poll `poll_id`."""
    return f"{POLL_PREFIX}{poll_id}:{option}"


def parse_payload(text: str | None) -> tuple[int, int] | None:
    """(poll id, option) of a vote button's payload; None for anything else."""
    prefix, _, rest = (text or "").partition(":")
    poll_id, _, option = rest.partition(":")
    if prefix + ":" != POLL_PREFIX or not all(_is_number(p) for p in (poll_id, option)):
        return None
    return int(poll_id), int(option)


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


def check_poll(
    question: str, options: Sequence[str], closes_at: dt.datetime | None, now: dt.datetime
) -> tuple[str, list[str]]:
    """The stripped question and options; raises ValidationFailed for a poll no one can send."""
    question = question.strip()
    if not question:
        raise ValidationFailed(
            "question must not be empty", field="question", code="empty_question"
        )
    if len(question) > QUESTION_MAX:
        raise ValidationFailed(
            f"question is longer than {QUESTION_MAX} characters",
            field="question",
            code="question_too_long",
        )
    cleaned = [" ".join(option.split()) for option in options]
    if not OPTIONS_MIN <= len(cleaned) <= OPTIONS_MAX:
        raise ValidationFailed(
            f"a poll has {OPTIONS_MIN} to {OPTIONS_MAX} options, not {len(cleaned)}",
            field="options",
            code="option_count",
        )
    if not all(cleaned):
        raise ValidationFailed("an option is empty", field="options", code="empty_option")
    if any(len(option) > OPTION_MAX for option in cleaned):
        raise ValidationFailed(
            f"an option is longer than {OPTION_MAX} characters",
            field="options",
            code="option_too_long",
        )
    if len({option.casefold() for option in cleaned}) < len(cleaned):
        raise ValidationFailed(
            "two options are the same", field="options", code="duplicate_options"
        )
    if closes_at is not None and closes_at <= now:
        raise ValidationFailed(
            "closes_at is not in the future", field="closes_at", code="past_closing"
        )
    return question, cleaned


def closing_words(config: Config, closes_at: dt.datetime) -> str:
    """`Senin, 4 Maret 2030 pukul 18.00 WITA`: a time as RT heads read it, in the hub's zone."""
    lang = config.hub.language
    local = closes_at.astimezone(config.tz)
    return say(
        lang,
        "poll_when",
        weekday=say(lang, "poll_weekdays").split(",")[local.weekday()],
        day=local.day,
        month=say(lang, "poll_months").split(",")[local.month - 1],
        year=local.year,
        time=f"{local:%H.%M}",
        tz=local.tzname() or "",
    )


def poll_text(
    config: Config, question: str, options: Sequence[str], closes_at: dt.datetime | None
) -> str:
    """The broadcast's text: the question, the numbered options and when it closes, so that a
    channel without native polls, and a template, read well."""
    lang = config.hub.language
    lines = [say(lang, "poll_option_line", number=n, option=o) for n, o in enumerate(options, 1)]
    closing = (
        say(lang, "poll_closes", when=closing_words(config, closes_at))
        if closes_at is not None
        else say(lang, "poll_open_until_closed")
    )
    return say(lang, "poll_body", question=question, options="\n".join(lines), closing=closing)


async def create_poll(
    config: Config,
    request: PollRequest,
    *,
    user: User | None,
    scope: Scope,
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> Poll:
    """Validate and store a poll and its broadcast, sent now, in one transaction."""
    if request.closes_at is not None and request.closes_at.tzinfo is None:
        request.closes_at = request.closes_at.replace(tzinfo=config.tz)
    question, options = check_poll(request.question, request.options, request.closes_at, now)
    created: list[Poll] = []

    async def store_poll(broadcast: Broadcast) -> Mapping[str, Any]:
        poll = await Poll.create(
            broadcast=broadcast,
            question=question,
            options=options,
            closes_at=request.closes_at,
            send_result=request.send_result,
            created_at=now,
        )
        created.append(poll)
        payloads = [payload(poll.id, n) for n in range(len(options))]
        # The same outbox columns for every recipient; the template is the poll's, outside
        # a free-text window (it carries the text, not the options).
        return {
            "poll": {"question": question, "options": options, "payloads": payloads},
            "template": "poll",
        }

    broadcast = await create_broadcast(
        config,
        BroadcastRequest(
            title=summarize(question, TITLE_MAX),
            text=poll_text(config, question, options, request.closes_at),
            areas=request.areas,
            members=request.members,
            groups=request.groups,
            group_ids=request.group_ids,
            ack_required=False,  # the vote is the acknowledgement
        ),
        user=user,
        scope=scope,
        enabled_channels=enabled_channels,
        now=now,
        companion=store_poll,
    )
    [poll] = created
    poll.broadcast = broadcast
    return poll


# Reading polls back ---------------------------------------------------------------------------


def polls_in(scope: Scope) -> QuerySet[Poll]:
    """The polls a user may see (those of broadcasts in scope), filtered in the database."""
    if scope.broadcasts() is None:
        return Poll.all()
    return Poll.filter(broadcast_id__in=Subquery(broadcasts_in(scope).values("id")))


async def get_poll(poll_id: int, scope: Scope) -> Poll:
    """The poll with its broadcast, if the user may see it (else NotFound)."""
    poll = await polls_in(scope).get_or_none(id=poll_id).select_related("broadcast")
    if poll is None:
        raise NotFound(f"no poll with id {poll_id}")
    return poll


async def open_polls_count(scope: Scope) -> int:
    """How many polls in scope still take votes (the dashboard's badge)."""
    return await polls_in(scope).filter(status=PollStatus.OPEN).count()


def is_closed(poll: Poll, now: dt.datetime) -> bool:
    """Whether the poll takes no more votes: closed, or past its closing time."""
    return poll.status == PollStatus.CLOSED or (
        poll.closes_at is not None and poll.closes_at <= now
    )


# Closing -------------------------------------------------------------------------------------


async def close_poll(
    config: Config, poll_id: int, scope: Scope, now: dt.datetime, *, user: User | None = None
) -> Poll:
    """Staff close a poll early: no more votes; the result goes to the voters if asked."""
    scope.require_write()
    poll = await get_poll(poll_id, scope)
    if not await close(config, poll, now):
        raise Conflict(f"poll {poll_id} is closed already", code="poll_closed")
    await audit.record(user, "poll.close", f"poll:{poll_id}")
    await poll.refresh_from_db()
    return poll


async def close(config: Config, poll: Poll, now: dt.datetime) -> bool:
    """Close an open poll and queue its result in the same transaction; False if it was not
    open any more (closed by another process or by staff a moment ago)."""
    async with in_transaction():
        moved = await Poll.filter(id=poll.id, status=PollStatus.OPEN).update(
            status=PollStatus.CLOSED, closed_at=now
        )
        if moved and poll.send_result:
            await queue_all(await _result_messages(config, poll, now))
    return bool(moved)


async def _result_messages(config: Config, poll: Poll, now: dt.datetime) -> list[Any]:
    """One NOTICE per voter, where the poll reached them: the counts and their own choice."""
    lang = config.hub.language
    counts = dict(
        await PollVote.filter(poll_id=poll.id)
        .annotate(n=Count("id"))
        .group_by("option")
        .values_list("option", "n")
    )
    voters = sum(counts.values())
    eligible = await eligible_deliveries(poll).count()
    lines = [say(lang, "poll_result_head", question=poll.question)]
    lines += [
        say(lang, "poll_result_line", number=n, option=o, votes=counts.get(n - 1, 0))
        for n, o in enumerate(poll.options, 1)
    ]
    lines.append(say(lang, "poll_result_total", voters=voters, eligible=eligible))
    summary = "\n".join(lines)
    votes = await PollVote.filter(poll_id=poll.id, delivery_id__isnull=False).select_related(
        "delivery"
    )
    messages = []
    for vote in votes:
        delivery = vote.delivery
        assert delivery is not None
        yours = say(lang, "poll_result_yours", option=poll.options[vote.option])
        messages.append(
            outbound(
                MessageKind.NOTICE,
                member_id=vote.member_id,
                channel=delivery.channel,
                address=delivery.address,
                text=f"{summary}\n\n{yours}",
                template="poll",
                template_params=[summarize(poll.question, 200), summarize(summary)],
                due=now,
            )
        )
    return messages


def eligible_deliveries(poll: Poll) -> QuerySet[Delivery]:
    """The deliveries that may vote: every one of the broadcast's that was not cancelled,
    skipped (opted out) or failed."""
    return Delivery.filter(broadcast_id=poll.broadcast_id).exclude(status__in=_NOT_ELIGIBLE)


async def stop_native_polls(
    poll: Poll,
    channels: Mapping[str, Channel],
    limiter: Callable[[str], RateLimiter] | None = None,
) -> int:
    """Close the poll's native polls on platforms that can (ClosesPolls); best effort, logged.
    Returns how many were closed."""
    rows = await Delivery.filter(
        broadcast_id=poll.broadcast_id, poll_ref__isnull=False, external_id__isnull=False
    ).values_list("channel", "address", "external_id")
    posts = await OutboundMessage.filter(
        broadcast_id=poll.broadcast_id,
        kind=MessageKind.GROUP_POST,
        poll_ref__isnull=False,
        external_id__isnull=False,
    ).values_list("channel", "address", "external_id")
    stopped = 0
    for channel_name, address, external_id in [*rows, *posts]:  # the group posts' polls too
        channel = channels.get(channel_name)
        if not isinstance(channel, ClosesPolls):
            continue
        try:
            if limiter is not None:
                await limiter(channel_name).acquire()
            await channel.close_poll(address, external_id)
            stopped += 1
        except Exception:  # the hub refuses late votes anyway: the platform's poll is a courtesy
            log.warning("poll %s: could not close it on %s", poll.id, channel_name, exc_info=True)
    return stopped
