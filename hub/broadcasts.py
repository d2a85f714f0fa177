"""Broadcasts: create one, fan it out to one delivery per recipient, count and cancel."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from hub import audit
from hub.audience import audience_member_ids, recipients, resolve_areas
from hub.auth import Scope
from hub.config import Config
from hub.deliveries import ack_payload, group_ack_payload
from hub.errors import NotFound, ValidationFailed
from hub.groups import groups_for
from hub.texts import text as say
from models import (
    Area,
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    MessageKind,
    OutboundMessage,
    OutboxState,
    User,
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
    send_at: dt.datetime | None = None
    ack_required: bool = True


def render_broadcast(config: Config, broadcast: Broadcast) -> str:
    """The message an RT head sees."""
    lang = config.hub.language
    body = say(lang, "broadcast", title=broadcast.title, text=broadcast.text, hub=config.hub.name)
    if broadcast.ack_required:
        body += "\n\n" + say(lang, "broadcast_ack_hint")
    return body


SUMMARY_LENGTH = 300


def summarize(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """The start of a text on one line, cut at a word, for template variables and previews."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


async def create_broadcast(
    config: Config,
    request: BroadcastRequest,
    *,
    user: User | None,
    scope: Scope,
    enabled_channels: set[str],
    now: dt.datetime,
) -> Broadcast:
    """Validate and store a broadcast; send-now broadcasts are fanned out before this returns."""
    title = request.title.strip()
    body = request.text.strip()
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
    if request.send_at is not None:
        if request.send_at.tzinfo is None:
            request.send_at = request.send_at.replace(tzinfo=config.tz)
        if request.send_at < now - dt.timedelta(minutes=1):
            raise ValidationFailed("send_at is in the past", field="send_at", code="past_schedule")
    if not request.areas and not request.members:
        raise ValidationFailed(
            "the audience is empty: name areas or members", code="empty_audience"
        )
    areas = await resolve_areas(request.areas)
    for area in areas:
        scope.require_area(area)
    member_ids = await audience_member_ids(areas, request.members)
    await scope.require_members(request.members)
    if not member_ids:
        raise ValidationFailed("nobody holds a seat in that audience", code="no_recipients")

    scheduled = request.send_at is not None and request.send_at > now
    async with in_transaction():
        broadcast = await Broadcast.create(
            title=title,
            text=body,
            status=BroadcastStatus.SCHEDULED if scheduled else BroadcastStatus.SENDING,
            ack_required=request.ack_required,
            audience={"areas": [a.path for a in areas], "members": sorted(set(request.members))},
            send_at=request.send_at,
            recipients=len(member_ids),
            created_by=user,
        )
        if not scheduled:
            await _fan_out(config, broadcast, areas, member_ids, enabled_channels, now)
        await audit.record(user, "broadcast.create", f"broadcast:{broadcast.id}", title=title)
    if not scheduled:
        await broadcast.refresh_from_db()  # fanning out may have finished it already
    return broadcast


async def start_due_broadcast(
    config: Config, broadcast: Broadcast, enabled_channels: set[str], now: dt.datetime
) -> bool:
    """Fan out a scheduled broadcast whose time has come; False if another process took it."""
    async with in_transaction():
        taken = await Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SCHEDULED).update(
            status=BroadcastStatus.SENDING
        )
        if not taken:
            return False
        areas = await resolve_areas(broadcast.audience.get("areas", []))
        member_ids = await audience_member_ids(areas, broadcast.audience.get("members", []))
        await Broadcast.filter(id=broadcast.id).update(recipients=len(member_ids))
        await _fan_out(config, broadcast, areas, member_ids, enabled_channels, now)
    return True


async def _fan_out(
    config: Config,
    broadcast: Broadcast,
    areas: list[Area],
    member_ids: list[int],
    enabled_channels: set[str],
    now: dt.datetime,
) -> None:
    """Write one delivery and one outbox message per recipient, in batches, before any send."""
    message_text = render_broadcast(config, broadcast)
    template_params = [broadcast.title, summarize(broadcast.text)]
    lang = config.hub.language
    await Broadcast.filter(id=broadcast.id).update(started_at=now)
    async for batch in recipients(member_ids, enabled_channels):
        rows = []
        for r in batch:
            unreachable = r.channel is None
            rows.append(
                Delivery(
                    broadcast_id=broadcast.id,
                    member_id=r.member_id,
                    channel=r.channel or "",
                    address=r.address or "",
                    status=DeliveryStatus.FAILED if unreachable else DeliveryStatus.PENDING,
                    failed_at=now if unreachable else None,
                    failure_reason=r.reason or None,
                )
            )
        await Delivery.bulk_create(rows)
        created = await Delivery.filter(
            broadcast_id=broadcast.id,
            member_id__in=[r.member_id for r in batch],
            status=DeliveryStatus.PENDING,
        ).values("id", "member_id", "channel", "address")
        buttons = []
        messages = []
        for d in created:
            if broadcast.ack_required:
                buttons = [{"label": say(lang, "ack_button"), "payload": ack_payload(d["id"])}]
            messages.append(
                OutboundMessage(
                    kind=MessageKind.BROADCAST,
                    delivery_id=d["id"],
                    member_id=d["member_id"],
                    channel=d["channel"],
                    address=d["address"],
                    text=message_text,
                    buttons=buttons,
                    template="broadcast",
                    template_params=template_params,
                    next_attempt_at=now,
                )
            )
        await OutboundMessage.bulk_create(messages)
    await _post_in_groups(config, broadcast, areas, enabled_channels, message_text, now)
    # With nobody reachable no message is queued, so the sender would never finish it.
    await finish_if_done(broadcast.id, now)


async def _post_in_groups(
    config: Config,
    broadcast: Broadcast,
    areas: list[Area],
    enabled_channels: set[str],
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
        OutboundMessage(
            kind=MessageKind.GROUP_POST,
            broadcast_id=broadcast.id,
            channel=group.channel,
            address=group.address,
            text=message_text,
            buttons=buttons,
            next_attempt_at=now,
        )
        for group in await groups_for(areas, enabled_channels)
    ]
    if posts:
        await OutboundMessage.bulk_create(posts)


async def delivery_counts(broadcast_id: int) -> dict[str, int]:
    """Cumulative counts: an acknowledged delivery also counts as read, delivered and sent."""
    rows = (
        await Delivery.filter(broadcast_id=broadcast_id)
        .annotate(n=Count("id"))
        .group_by("status")
        .values_list("status", "n")
    )
    by_status = {DeliveryStatus(status): n for status, n in rows}
    counts = {
        "pending": by_status.get(DeliveryStatus.PENDING, 0),
        "failed": by_status.get(DeliveryStatus.FAILED, 0),
        "cancelled": by_status.get(DeliveryStatus.CANCELLED, 0),
    }
    for name, rank in (("sent", 1), ("delivered", 2), ("read", 3), ("acknowledged", 4)):
        counts[name] = sum(n for s, n in by_status.items() if DELIVERY_RANK.get(s, -1) >= rank)
    return counts


async def deliveries_of(broadcast: Broadcast) -> list[Delivery]:
    """Every delivery of a broadcast with its member and their seats, in order of creation."""
    return list(
        await Delivery.filter(broadcast_id=broadcast.id)
        .prefetch_related("member__seats__area")
        .order_by("id")
    )


async def get_broadcast(broadcast_id: int, scope: Scope) -> Broadcast:
    broadcast = await Broadcast.get_or_none(id=broadcast_id)
    if broadcast is None or not await scope.sees_broadcast(broadcast):
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
    if broadcast.status in (BroadcastStatus.SENT, BroadcastStatus.CANCELLED):
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


def broadcast_summary(broadcast: Broadcast, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": broadcast.id,
        "title": broadcast.title,
        "status": broadcast.status.value,
        "recipients": broadcast.recipients,
        "ack_required": broadcast.ack_required,
        "send_at": broadcast.send_at.isoformat() if broadcast.send_at else None,
        "created_at": broadcast.created_at.isoformat(),
        "counts": counts,
    }
