"""The life of a broadcast as staff and the scheduler drive it.

Create one (a send-now broadcast is fanned out before the call returns), start a scheduled one or
the due run of a series, record one as missed, and change, pause, resume or cancel one; each
staff action leaves an audit record, and `EDITABLE` says which broadcasts staff may still change.
The checks it applies are in `broadcasts`, the fan-out in `fanout`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from channels import ChannelClasses
from hub.access import audit
from hub.access.auth import Scope
from hub.broadcast.content import check_content, check_schedule, resolve_audience
from hub.broadcast.fanout import fan_out
from hub.broadcast.publication import unused_code
from hub.broadcast.schedule import parse_recurrence
from hub.core.config import Config
from hub.core.errors import Conflict, ValidationFailed
from hub.files.media import check_attachment_ids
from hub.roster.audience import (
    audience_member_ids,
    members_of_groups,
    reached_members,
    resolve_areas,
)
from models import (
    Area,
    Broadcast,
    BroadcastArea,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    Member,
    OutboundMessage,
    OutboxState,
    User,
)

log = logging.getLogger(__name__)


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
    report_button: bool = False  # "Laporkan masalah" under each member's copy
    publish: bool = False  # in the public archive, with a verification code under each copy
    attachments: list[int] = field(default_factory=list)  # Attachment ids, in the order shown


# A feature built on broadcasts (a poll) keeps its own row beside a broadcast sent now: called in
# the broadcast's transaction once it has its id, before the fan-out, it answers the outbox
# columns the announcement messages carry besides the text (see fanout.fan_out's `extras`).
Companion = Callable[[Broadcast], Awaitable[Mapping[str, Any]]]


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
    companion: Companion | None = None,
) -> Broadcast:
    """Validate and store a broadcast; send-now broadcasts are fanned out before this returns.

    A `companion` (only for broadcasts sent now) stores its row in the same transaction.
    """
    title, body = check_content(
        config,
        request.title,
        request.text,
        request.ack_required,
        enabled_channels,
        request.publish,
    )
    schedule = check_schedule(config, request.send_at, request.recurrence, now)
    audience = await resolve_audience(
        request.areas, request.members, request.groups, scope, request.group_ids
    )
    attachment_ids = await check_attachment_ids(request.attachments, scope)

    scheduled = schedule.send_at is not None and (
        schedule.recurrence is not None or schedule.send_at > now
    )
    if companion is not None and scheduled:
        raise ValidationFailed("this kind of broadcast is sent now only", field="send_at")
    async with in_transaction():
        broadcast = await Broadcast.create(
            title=title,
            text=body,
            status=BroadcastStatus.SCHEDULED if scheduled else BroadcastStatus.SENDING,
            ack_required=request.ack_required,
            report_button=request.report_button,
            published=request.publish,
            verification_code=await _code_for(
                request.publish, series=schedule.recurrence is not None
            ),
            audience=audience.stored,
            send_at=schedule.send_at,
            recurrence_cron=schedule.recurrence.cron if schedule.recurrence else None,
            recipients=len(audience.member_ids),
            attachment_ids=attachment_ids or None,
            created_by=user,
        )
        await _store_reach(broadcast.id, audience.reach)
        extras = await companion(broadcast) if companion is not None else None
        if not scheduled:
            await fan_out(
                config,
                broadcast,
                audience.areas,
                audience.member_ids,
                enabled_channels,
                now,
                extras,
            )
        await audit.record(user, "broadcast.create", f"broadcast:{broadcast.id}", title=title)
    if not scheduled:
        await broadcast.refresh_from_db()  # fanning out may have finished it already
    return broadcast


async def _code_for(published: bool, *, series: bool) -> str | None:
    """A new verification code for a published broadcast that is sent itself; none for a series,
    whose runs each get their own."""
    return await unused_code() if published and not series else None


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
        await fan_out(config, broadcast, areas, member_ids, enabled_channels, now)
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
            report_button=series.report_button,
            published=series.published,
            verification_code=await _code_for(series.published and not missed, series=False),
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
            await fan_out(config, run, areas, member_ids, enabled_channels, now)
    await run.refresh_from_db()
    return run


async def mark_missed(broadcast: Broadcast, now: dt.datetime) -> bool:
    """Record that a one-off broadcast was not sent because it was overdue beyond the grace."""
    return bool(
        await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SCHEDULED).update(
            status=BroadcastStatus.MISSED, finished_at=now
        )
    )


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
    report_button: bool | None = None
    publish: bool | None = None
    attachments: list[int] | None = None  # [] removes them all


def _changed_schedule(
    broadcast: Broadcast, changes: BroadcastChanges
) -> tuple[dt.datetime | None, str | None]:
    """(send_at, cron) after the changes; raises ValidationFailed when neither is left."""
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
    return send_at, cron


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
    published = broadcast.published if changes.publish is None else changes.publish
    title, body = check_content(
        config,
        broadcast.title if changes.title is None else changes.title,
        broadcast.text if changes.text is None else changes.text,
        ack_required,
        enabled_channels,
        published,
    )
    schedule = check_schedule(config, *_changed_schedule(broadcast, changes), now)
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
        "report_button": (
            broadcast.report_button if changes.report_button is None else changes.report_button
        ),
        "published": published,
        # Kept while it stays published and sent by itself (a series' runs get their own).
        "verification_code": (
            (broadcast.verification_code or await unused_code())
            if published and schedule.recurrence is None
            else None
        ),
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
