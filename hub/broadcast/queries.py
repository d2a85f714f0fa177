"""Reading broadcasts back: nothing here writes.

The broadcasts a scope may see, one by id, the deliveries of one, and what the API and the
dashboard show of them: delivery counts on the read ladder, group posts and corrections by
outcome, and the summary that puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from hub.access.auth import Scope
from hub.broadcast.publication import format_code
from hub.core.errors import NotFound
from models import Broadcast, Delivery, DeliveryStatus, MessageKind, OutboundMessage, OutboxState
from models.broadcasts import DELIVERY_RANK


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
        "report_button": broadcast.report_button,
        "published": broadcast.published,
        "verification_code": (
            format_code(broadcast.verification_code) if broadcast.verification_code else None
        ),
        "published_at": broadcast.published_at.isoformat() if broadcast.published_at else None,
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
