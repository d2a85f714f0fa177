"""Broadcasts: create one, fan it out to one delivery per recipient, count and cancel."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from channels import ChannelClasses
from hub.access import audit
from hub.access.auth import Scope
from hub.broadcast.deliveries import ack_payload, group_ack_payload
from hub.broadcast.schedule import Recurrence, parse_recurrence
from hub.core.config import Config
from hub.core.errors import Conflict, NotFound, ValidationFailed
from hub.core.outbox import outbound, queue_all, queue_rows
from hub.core.texts import text as say
from hub.files.media import check_attachment_ids
from hub.roster.audience import (
    audience_member_ids,
    groups_by_id,
    members_of_groups,
    reach_of,
    reached_members,
    recipients,
    resolve_areas,
    resolve_groups,
    seats_sent_for,
)
from hub.roster.groups import groups_for
from models import (
    Area,
    Broadcast,
    BroadcastArea,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    User,
    sql,
)
from models.broadcasts import DELIVERY_RANK

log = logging.getLogger(__name__)

TITLE_MAX = 200


@dataclass
class BroadcastRequest:
    title: str
    text: str
    areas: list[str] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # saved member groups, by name
    group_ids: list[int] = field(default_factory=list)  # saved member groups, by id
    send_at: dt.datetime | None = None
    recurrence: str | None = None  # a cron expression in the hub's timezone
    ack_required: bool = True
    attachments: list[int] = field(default_factory=list)  # Attachment ids, in the order shown


def render_broadcast(config: Config, broadcast: Broadcast) -> str:
    """The message an RT head sees."""
    return render_announcement(config, broadcast.title, broadcast.text, broadcast.ack_required)


def render_announcement(config: Config, title: str, text: str, ack_required: bool) -> str:
    lang = config.hub.language
    body = say(lang, "broadcast", title=title, text=text, hub=config.hub.name)
    if ack_required:
        body += "\n\n" + say(lang, "broadcast_ack_hint")
    return body


SUMMARY_LENGTH = 300


def summarize(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """The start of a text on one line, cut at a word, for template variables and previews."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def message_length(text: str) -> int:
    """Length as the messengers count it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def check_content(
    config: Config, title: str, text: str, ack_required: bool, enabled_channels: ChannelClasses
) -> tuple[str, str]:
    """The stripped title and text; raises ValidationFailed if empty or too long to send."""
    title = title.strip()
    body = text.strip()
    if not title:
        raise ValidationFailed("title must not be empty", field="title", code="empty_title")
    if len(title) > TITLE_MAX:
        raise ValidationFailed(
            f"title is longer than {TITLE_MAX} characters", field="title", code="title_too_long"
        )
    if not body:
        raise ValidationFailed("text must not be empty", field="text", code="empty_text")
    limit = config.broadcast.max_text_length
    if len(body) > limit:
        raise ValidationFailed(
            f"text is {len(body)} characters, more than the limit of {limit}",
            field="text",
            code="text_too_long",
        )
    # The announcement as sent (title, text, hub name, ack hint) must fit every channel it may
    # go out on: a message cut by the platform would be worse than a clear refusal now.
    limits = {name: channel.text_limit for name, channel in enabled_channels.items()}
    if limits:
        name, channel_limit = min(limits.items(), key=lambda item: item[1])
        length = message_length(render_announcement(config, title, body, ack_required))
        if length > channel_limit:
            raise ValidationFailed(
                f"the announcement is {length} characters with its title and footer; {name} "
                f"takes at most {channel_limit}: shorten the text by {length - channel_limit}",
                field="text",
                code="text_too_long",
            )
    return title, body


@dataclass(frozen=True)
class Schedule:
    send_at: dt.datetime | None  # None: now
    recurrence: Recurrence | None


def check_schedule(
    config: Config, send_at: dt.datetime | None, cron: str | None, now: dt.datetime
) -> Schedule:
    """Validate when a broadcast goes out; raises ValidationFailed for impossible schedules."""
    if send_at is not None:
        if send_at.tzinfo is None:
            send_at = send_at.replace(tzinfo=config.tz)
        if send_at < now - dt.timedelta(minutes=1):
            raise ValidationFailed("send_at is in the past", field="send_at", code="past_schedule")
    if cron is None:
        return Schedule(send_at, None)
    recurrence = parse_recurrence(cron, config.tz, now)
    start = max(now, send_at) if send_at else now
    # The first run is the first time the cron fires at or after the start.
    first = recurrence.next_run(start - dt.timedelta(microseconds=1))
    if first is None:
        raise ValidationFailed(
            f"recurrence.cron: {cron!r} never fires after {start.isoformat()}",
            field="recurrence.cron",
            code="invalid_cron",
        )
    return Schedule(first, recurrence)


@dataclass(frozen=True)
class Audience:
    areas: list[Area]
    member_ids: list[int]
    stored: dict[str, Any]  # as kept on the broadcast, to be resolved again when it goes out
    reach: list[str]  # the area keys it reaches: who may see the broadcast (BroadcastArea)


async def resolve_audience(
    areas: Sequence[str],
    members: Sequence[int],
    groups: Sequence[str],
    scope: Scope,
    group_ids: Sequence[int] = (),
) -> Audience:
    """Who a request addresses, checked against the scope; raises for unknown or empty ones.

    Saved groups are named by name (`groups`) or by id (`group_ids`), only among those in scope.
    """
    if not areas and not members and not groups and not group_ids:
        raise ValidationFailed(
            "the audience is empty: name areas, groups or members", code="empty_audience"
        )
    resolved = await resolve_areas(areas)
    for area in resolved:
        scope.require_area(area)
    saved_groups = await resolve_groups(groups, scope) | await groups_by_id(group_ids, scope)
    group_members = await members_of_groups(saved_groups.values())
    named = sorted(set(members) | set(group_members))
    member_ids = await audience_member_ids(resolved, named)
    await scope.require_members(named)
    if not member_ids:
        raise ValidationFailed("nobody holds a seat in that audience", code="no_recipients")
    stored = {
        "areas": [a.path for a in resolved],
        "members": sorted(set(members)),
        "groups": sorted(saved_groups),
        "group_ids": sorted(saved_groups.values()),
    }
    reach = await reach_of(resolved, named, scope)
    return Audience(resolved, member_ids, stored, reach)


async def _store_reach(broadcast_id: int, reach: Sequence[str]) -> None:
    """Replace the areas a broadcast reaches (inside the caller's transaction)."""
    await BroadcastArea.filter(broadcast_id=broadcast_id).delete()
    await BroadcastArea.bulk_create(
        [BroadcastArea(broadcast_id=broadcast_id, area_key=key) for key in reach]
    )


async def create_broadcast(
    config: Config,
    request: BroadcastRequest,
    *,
    user: User | None,
    scope: Scope,
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> Broadcast:
    """Validate and store a broadcast; send-now broadcasts are fanned out before this returns."""
    title, body = check_content(
        config, request.title, request.text, request.ack_required, enabled_channels
    )
    schedule = check_schedule(config, request.send_at, request.recurrence, now)
    audience = await resolve_audience(
        request.areas, request.members, request.groups, scope, request.group_ids
    )
    attachment_ids = await check_attachment_ids(request.attachments, scope)

    scheduled = schedule.send_at is not None and (
        schedule.recurrence is not None or schedule.send_at > now
    )
    async with in_transaction():
        broadcast = await Broadcast.create(
            title=title,
            text=body,
            status=BroadcastStatus.SCHEDULED if scheduled else BroadcastStatus.SENDING,
            ack_required=request.ack_required,
            audience=audience.stored,
            send_at=schedule.send_at,
            recurrence_cron=schedule.recurrence.cron if schedule.recurrence else None,
            recipients=len(audience.member_ids),
            attachment_ids=attachment_ids or None,
            created_by=user,
        )
        await _store_reach(broadcast.id, audience.reach)
        if not scheduled:
            await _fan_out(
                config, broadcast, audience.areas, audience.member_ids, enabled_channels, now
            )
        await audit.record(user, "broadcast.create", f"broadcast:{broadcast.id}", title=title)
    if not scheduled:
        await broadcast.refresh_from_db()  # fanning out may have finished it already
    return broadcast


async def _stored_audience(broadcast: Broadcast) -> tuple[list[Area], list[int]]:
    """The audience of a broadcast as it is now (seats change hands; groups change), kept
    within the areas it reached when it was created: a group edited since cannot widen it."""
    stored = broadcast.audience or {}
    areas = await resolve_areas(stored.get("areas", []))
    named = set(stored.get("members", []))
    group_members = await members_of_groups(stored.get("group_ids", []))
    if group_members:
        reach = await BroadcastArea.filter(broadcast_id=broadcast.id).values_list(
            "area_key", flat=True
        )
        named.update(await reached_members(group_members, reach))
    # Members deleted since the broadcast was scheduled are left out, not an error.
    existing = await Member.filter(id__in=sorted(named)).values_list("id", flat=True)
    return areas, await audience_member_ids(areas, sorted(existing))


async def start_due_broadcast(
    config: Config, broadcast: Broadcast, enabled_channels: Collection[str], now: dt.datetime
) -> bool:
    """Fan out a scheduled broadcast whose time has come; False if another process took it."""
    async with in_transaction():
        taken = await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SCHEDULED).update(
            status=BroadcastStatus.SENDING
        )
        if not taken:
            return False
        areas, member_ids = await _stored_audience(broadcast)
        await Broadcast.filter(id=broadcast.id).update(recipients=len(member_ids))
        await _fan_out(config, broadcast, areas, member_ids, enabled_channels, now)
    return True


async def start_series_run(
    config: Config,
    series: Broadcast,
    enabled_channels: Collection[str],
    now: dt.datetime,
    *,
    missed: bool = False,
) -> Broadcast | None:
    """Start the due run of a recurring broadcast and move the series to its next run.

    Returns the run, or None if another process took it. With `missed` the run is recorded as
    missed (the hub was down too long) and nothing is sent.
    """
    assert series.recurrence_cron is not None and series.send_at is not None
    recurrence = parse_recurrence(series.recurrence_cron, config.tz, now)
    next_run = recurrence.next_run(now)
    async with in_transaction():
        # Moving send_at on only if it is still the run we saw makes the run ours alone.
        taken = await Broadcast.filter(
            id=series.id, status=BroadcastStatus.SCHEDULED, send_at=series.send_at
        ).update(
            send_at=next_run or series.send_at,
            status=BroadcastStatus.SCHEDULED if next_run else BroadcastStatus.SENT,
            finished_at=None if next_run else now,
        )
        if not taken:
            return None
        run = await Broadcast.create(
            title=series.title,
            text=series.text,
            status=BroadcastStatus.MISSED if missed else BroadcastStatus.SENDING,
            ack_required=series.ack_required,
            audience=series.audience,
            send_at=series.send_at,
            series_id=series.id,
            attachment_ids=series.attachment_ids,
            created_by_id=series.created_by_id,
            finished_at=now if missed else None,
        )
        reach = await BroadcastArea.filter(broadcast_id=series.id).values_list(
            "area_key", flat=True
        )
        await _store_reach(run.id, reach)
        if not missed:
            areas, member_ids = await _stored_audience(series)
            await Broadcast.filter(id=run.id).update(recipients=len(member_ids))
            await _fan_out(config, run, areas, member_ids, enabled_channels, now)
    await run.refresh_from_db()
    return run


async def mark_missed(broadcast: Broadcast, now: dt.datetime) -> bool:
    """Record that a one-off broadcast was not sent because it was overdue beyond the grace."""
    return bool(
        await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SCHEDULED).update(
            status=BroadcastStatus.MISSED, finished_at=now
        )
    )


async def _fan_out(
    config: Config,
    broadcast: Broadcast,
    areas: list[Area],
    member_ids: list[int],
    enabled_channels: Collection[str],
    now: dt.datetime,
) -> None:
    """Write one delivery and one outbox message per recipient, in batches, before any send."""
    message_text = render_broadcast(config, broadcast)
    template_params = [broadcast.title, summarize(broadcast.text)]
    lang = config.hub.language
    await Broadcast.filter(id=broadcast.id).update(started_at=now)
    # Rows are written with one executemany per batch and table (models.sql.insert_rows,
    # hub.outbox.queue_rows): Tortoise's bulk_create builds a model object per row first, most
    # of the fan-out's CPU.
    outbox_common = {
        "text": message_text,
        "template": "broadcast",
        "template_params": template_params,
        # The sender sends them with or after the text (see hub/files/media.py).
        "attachment_ids": broadcast.attachment_ids or None,
    }
    ack_label = say(lang, "ack_button")
    async for batch in recipients(member_ids, enabled_channels):
        seats = await seats_sent_for([r.member_id for r in batch], areas)
        rows = []
        for r in batch:
            sent_for = seats.get(r.member_id)
            status = DeliveryStatus.PENDING
            if r.channel is None:  # opting out is the member's choice, not a failure to reach
                skipped = r.reason == "opted_out"
                status = DeliveryStatus.SKIPPED if skipped else DeliveryStatus.FAILED
            rows.append(
                {
                    "member_id": r.member_id,
                    "seat_id": sent_for.seat_id if sent_for else None,
                    "area_id": sent_for.area_id if sent_for else None,
                    "channel": r.channel or "",
                    "address": r.address or "",
                    "status": status,
                    "failed_at": now if status == DeliveryStatus.FAILED else None,
                    "failure_reason": r.reason or None,
                }
            )
        await sql.insert_rows(Delivery, {"broadcast_id": broadcast.id}, rows, now)
        created = await sql.pending_deliveries(broadcast.id, [r.member_id for r in batch])
        messages = [
            {
                "delivery_id": delivery_id,
                "member_id": member_id,
                "channel": channel,
                "address": address,
                "buttons": (
                    [{"label": ack_label, "payload": ack_payload(delivery_id)}]
                    if broadcast.ack_required
                    else []
                ),
            }
            for delivery_id, member_id, channel, address in created
        ]
        await queue_rows(MessageKind.BROADCAST, outbox_common, messages, due=now, now=now)
    await _post_in_groups(config, broadcast, areas, enabled_channels, message_text, now)
    # With nobody reachable no message is queued, so the sender would never finish it.
    await finish_if_done(broadcast.id, now)


async def _post_in_groups(
    config: Config,
    broadcast: Broadcast,
    areas: list[Area],
    enabled_channels: Collection[str],
    message_text: str,
    now: dt.datetime,
) -> None:
    """Also post the announcement in the linked groups of the audience's areas.

    Its button acknowledges the delivery of whichever member taps it; the group post itself is
    not a delivery and does not count in the broadcast's numbers.
    """
    buttons = []
    if broadcast.ack_required:
        label = say(config.hub.language, "ack_button")
        buttons = [{"label": label, "payload": group_ack_payload(broadcast.id)}]
    posts = [
        outbound(
            MessageKind.GROUP_POST,
            broadcast_id=broadcast.id,
            channel=group.channel,
            address=group.address,
            text=message_text,
            buttons=buttons,
            attachment_ids=broadcast.attachment_ids or None,
            due=now,
        )
        for group in await groups_for(areas, enabled_channels)
    ]
    await queue_all(posts)


# Broadcasts staff may still change: nothing of them has gone out.
EDITABLE = (BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED)


_NOT_ALLOWED = {"edit": "not_editable", "pause": "not_pausable"}


def _require_editable(broadcast: Broadcast, action: str) -> None:
    if broadcast.status not in EDITABLE:
        hint = " (send a correction instead)" if action == "edit" else ""
        raise Conflict(
            f"broadcast {broadcast.id} is {broadcast.status.value}: only scheduled or paused "
            f"broadcasts can {action}{hint}",
            code=_NOT_ALLOWED[action],
        )


@dataclass
class BroadcastChanges:
    """What staff change in a broadcast before it is sent; None leaves a value as it was."""

    title: str | None = None
    text: str | None = None
    audience: dict[str, Any] | None = None  # {"areas", "members", "groups"}
    send_at: dt.datetime | None = None
    clear_send_at: bool = False  # send_at: null in the request
    recurrence: str | None = None
    clear_recurrence: bool = False
    ack_required: bool | None = None
    attachments: list[int] | None = None  # [] removes them all


async def update_broadcast(
    config: Config,
    broadcast: Broadcast,
    changes: BroadcastChanges,
    *,
    user: User | None,
    scope: Scope,
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> Broadcast:
    """Change a scheduled or paused broadcast, validated as at creation."""
    _require_editable(broadcast, "edit")
    ack_required = broadcast.ack_required if changes.ack_required is None else changes.ack_required
    title, body = check_content(
        config,
        broadcast.title if changes.title is None else changes.title,
        broadcast.text if changes.text is None else changes.text,
        ack_required,
        enabled_channels,
    )
    cron = None if changes.clear_recurrence else (changes.recurrence or broadcast.recurrence_cron)
    if changes.clear_send_at:
        send_at = None
    elif changes.send_at is not None:
        send_at = changes.send_at
    elif cron is not None and changes.recurrence is None and broadcast.recurrence_cron:
        send_at = None  # a series keeps its rhythm: its next run comes from the cron
    else:
        send_at = broadcast.send_at
    if send_at is None and cron is None:
        raise ValidationFailed(
            "a scheduled broadcast needs send_at or a recurrence; to send now, create it anew",
            field="send_at",
            code="missing_schedule",
        )
    schedule = check_schedule(config, send_at, cron, now)
    if changes.audience is not None:
        wanted, wanted_ids = changes.audience, changes.audience.get("group_ids", [])
    else:  # kept as it was: its groups by id, whatever they are called now
        wanted = {**(broadcast.audience or {}), "groups": []}
        wanted_ids = (broadcast.audience or {}).get("group_ids", [])
    audience = await resolve_audience(
        wanted.get("areas", []),
        wanted.get("members", []),
        wanted.get("groups", []),
        scope,
        wanted_ids,
    )
    attachment_ids = broadcast.attachment_ids
    if changes.attachments is not None:
        attachment_ids = await check_attachment_ids(changes.attachments, scope) or None
    values = {
        "title": title,
        "text": body,
        "ack_required": ack_required,
        "attachment_ids": attachment_ids,
        "audience": audience.stored,
        "send_at": schedule.send_at,
        "recurrence_cron": schedule.recurrence.cron if schedule.recurrence else None,
        "recipients": len(audience.member_ids),
    }
    async with in_transaction():
        # Only while it is still unsent: the scheduler may have started it a moment ago.
        changed = await Broadcast.filter(id=broadcast.id, status__in=list(EDITABLE)).update(
            **values
        )
        if not changed:
            await broadcast.refresh_from_db()
            _require_editable(broadcast, "edit")
        await _store_reach(broadcast.id, audience.reach)
        await audit.record(user, "broadcast.edit", f"broadcast:{broadcast.id}", title=title)
    await broadcast.refresh_from_db()
    return broadcast


async def pause_broadcast(
    broadcast: Broadcast, *, user: User | None, now: dt.datetime
) -> Broadcast:
    """Hold a scheduled broadcast (or series): nothing goes out until it is resumed."""
    if broadcast.status == BroadcastStatus.PAUSED:
        raise Conflict(f"broadcast {broadcast.id} is paused already", code="already_paused")
    _require_editable(broadcast, "pause")
    await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SCHEDULED).update(
        status=BroadcastStatus.PAUSED, paused_at=now
    )
    await audit.record(user, "broadcast.pause", f"broadcast:{broadcast.id}")
    await broadcast.refresh_from_db()
    _require_editable(broadcast, "pause")  # started by the scheduler in the meantime
    return broadcast


async def resume_broadcast(
    config: Config, broadcast: Broadcast, *, user: User | None, now: dt.datetime
) -> Broadcast:
    """Schedule a paused broadcast again; a time that passed meanwhile becomes now."""
    if broadcast.status != BroadcastStatus.PAUSED:
        raise Conflict(f"broadcast {broadcast.id} is not paused", code="not_paused")
    send_at = broadcast.send_at
    if send_at is not None and send_at < now:
        if broadcast.recurrence_cron:  # the runs missed while paused are skipped
            send_at = parse_recurrence(broadcast.recurrence_cron, config.tz, now).next_run(now)
        else:
            send_at = now
    await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.PAUSED).update(
        status=BroadcastStatus.SCHEDULED, paused_at=None, send_at=send_at
    )
    await audit.record(user, "broadcast.resume", f"broadcast:{broadcast.id}")
    await broadcast.refresh_from_db()
    return broadcast


async def delivery_counts(broadcast_id: int) -> dict[str, int]:
    """Cumulative counts: an acknowledged delivery also counts as read, delivered and sent."""
    return (await delivery_counts_of([broadcast_id]))[broadcast_id]


async def delivery_counts_of(broadcast_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """delivery_counts for several broadcasts in one query."""
    by_broadcast: dict[int, dict[DeliveryStatus, int]] = {i: {} for i in broadcast_ids}
    if broadcast_ids:
        rows = (
            await Delivery.filter(broadcast_id__in=list(broadcast_ids))
            .annotate(n=Count("id"))
            .group_by("broadcast_id", "status")
            .values_list("broadcast_id", "status", "n")
        )
        for broadcast_id, status, n in rows:
            by_broadcast[broadcast_id][DeliveryStatus(status)] = n
    return {i: _cumulative(by_status) for i, by_status in by_broadcast.items()}


def _cumulative(by_status: dict[DeliveryStatus, int]) -> dict[str, int]:
    counts = {
        "pending": by_status.get(DeliveryStatus.PENDING, 0),
        "failed": by_status.get(DeliveryStatus.FAILED, 0),
        "skipped": by_status.get(DeliveryStatus.SKIPPED, 0),
        "cancelled": by_status.get(DeliveryStatus.CANCELLED, 0),
    }
    for name, rank in (("sent", 1), ("delivered", 2), ("read", 3), ("acknowledged", 4)):
        counts[name] = sum(n for s, n in by_status.items() if DELIVERY_RANK.get(s, -1) >= rank)
    return counts


# Outbox states as the summary counts messages that are not deliveries; cancelled ones are left out.
_MESSAGE_OUTCOME = {
    OutboxState.QUEUED: "pending",
    OutboxState.SENDING: "pending",
    OutboxState.SENT: "sent",
    OutboxState.FAILED: "failed",
}


def _by_outcome(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    counts = {"pending": 0, "sent": 0, "failed": 0}
    for state, n in rows:
        if (outcome := _MESSAGE_OUTCOME.get(OutboxState(state))) is not None:
            counts[outcome] += n
    return counts


async def message_counts(broadcast: Broadcast) -> dict[str, dict[str, int]]:
    """The broadcast's posts in linked group chats and its corrections, pending, sent or failed.

    Neither is a delivery, so neither shows in `delivery_counts`; a post or correction that
    failed for good would otherwise go unseen.
    """
    group_posts = (
        await OutboundMessage.filter(broadcast_id=broadcast.id, kind=MessageKind.GROUP_POST)
        .annotate(n=Count("id"))
        .group_by("state")
        .values_list("state", "n")
    )
    corrections: list[tuple[str, int]] = []
    if broadcast.corrected_at is not None:  # only a corrected broadcast has any
        deliveries = Delivery.filter(broadcast_id=broadcast.id).values("id")
        corrections = (
            await OutboundMessage.filter(
                delivery_id__in=Subquery(deliveries), kind=MessageKind.CORRECTION
            )
            .annotate(n=Count("id"))
            .group_by("state")
            .values_list("state", "n")
        )
    return {"group_posts": _by_outcome(group_posts), "corrections": _by_outcome(corrections)}


def deliveries_of(broadcast: Broadcast) -> QuerySet[Delivery]:
    """The deliveries of a broadcast with their member and their seats, in order of creation."""
    return (
        Delivery.filter(broadcast_id=broadcast.id)
        .prefetch_related("member__seats__area")
        .order_by("id")
    )


def broadcasts_in(scope: Scope) -> QuerySet[Broadcast]:
    """The broadcasts a user may see, newest first, filtered in the database."""
    query = scope.broadcasts()
    broadcasts = Broadcast.all() if query is None else Broadcast.filter(query)
    return broadcasts.order_by("-id")


async def get_broadcast(broadcast_id: int, scope: Scope) -> Broadcast:
    broadcast = await broadcasts_in(scope).get_or_none(id=broadcast_id)
    if broadcast is None:
        raise NotFound(f"no broadcast with id {broadcast_id}")
    return broadcast


async def finish_if_done(broadcast_id: int, now: dt.datetime) -> None:
    """Mark a sending broadcast sent once none of its deliveries is pending."""
    pending = await Delivery.filter(
        broadcast_id=broadcast_id, status=DeliveryStatus.PENDING
    ).exists()
    if not pending:
        await Broadcast.filter(id=broadcast_id, status=BroadcastStatus.SENDING).update(
            status=BroadcastStatus.SENT, finished_at=now
        )


async def cancel_broadcast(
    broadcast: Broadcast, *, user: User | None, now: dt.datetime
) -> Broadcast:
    """Stop what has not left yet; what was already sent stays sent."""
    if broadcast.status in (
        BroadcastStatus.SENT,
        BroadcastStatus.CANCELLED,
        BroadcastStatus.MISSED,
    ):
        raise ValidationFailed(
            f"broadcast {broadcast.id} is already {broadcast.status.value}", code="not_cancellable"
        )
    async with in_transaction():
        deliveries = Delivery.filter(broadcast_id=broadcast.id).values("id")
        # Claimed messages waiting for their turn are stopped too; the sender checks before sending.
        await OutboundMessage.filter(
            Q(delivery_id__in=Subquery(deliveries)) | Q(broadcast_id=broadcast.id),
            state__in=[OutboxState.QUEUED, OutboxState.SENDING],
        ).update(state=OutboxState.CANCELLED)
        await Delivery.filter(broadcast_id=broadcast.id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.CANCELLED
        )
        await Broadcast.filter(id=broadcast.id).update(
            status=BroadcastStatus.CANCELLED, cancelled_at=now
        )
        await audit.record(user, "broadcast.cancel", f"broadcast:{broadcast.id}")
    await broadcast.refresh_from_db()
    return broadcast


async def summary_of(broadcast: Broadcast) -> dict[str, Any]:
    """A broadcast as the API shows it, with its counts (see broadcast_summary)."""
    return (await summaries_of([broadcast]))[0]


async def summaries_of(broadcasts: Sequence[Broadcast]) -> list[dict[str, Any]]:
    """summary_of for a page of broadcasts, their delivery counts in one query."""
    counts = await delivery_counts_of([b.id for b in broadcasts])
    return [broadcast_summary(b, counts[b.id], await message_counts(b)) for b in broadcasts]


def broadcast_summary(
    broadcast: Broadcast, counts: dict[str, int], messages: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """The broadcast with its delivery counts and those of its group posts and corrections."""
    return {
        "id": broadcast.id,
        "title": broadcast.title,
        "status": broadcast.status.value,
        "recipients": broadcast.recipients,
        "ack_required": broadcast.ack_required,
        "send_at": broadcast.send_at.isoformat() if broadcast.send_at else None,
        "recurrence": {"cron": broadcast.recurrence_cron} if broadcast.recurrence_cron else None,
        "series_id": broadcast.series_id,
        "audience": broadcast.audience,
        "created_at": broadcast.created_at.isoformat(),
        "corrected_at": broadcast.corrected_at.isoformat() if broadcast.corrected_at else None,
        "counts": counts,
        "group_posts": messages["group_posts"],
        "corrections": messages["corrections"],
    }
