"""The outbox hooks of a broadcast's messages: the announcement, its reminders, its corrections.

Registered for their kinds in hub/runtime.py; the sender calls them without knowing the kinds
(see hub/core/outbox.py).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Sequence

from tortoise.expressions import F, Subquery

from channels import SendResult
from hub.broadcast.fallback import next_address, queue_elsewhere
from hub.broadcast.fanout import finish_if_done
from hub.core.outbox import KindHooks, RowUpdate
from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    OutboundMessage,
    OutboxState,
)

# A delivery cancelled while its announcement was in flight: it left all the same, so say so.
_STILL_OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.CANCELLED.value)
_NOT_RECEIVED = {DeliveryStatus.FAILED, DeliveryStatus.CANCELLED, DeliveryStatus.SKIPPED}
CORRECTION_RECHECK = dt.timedelta(seconds=30)


async def finish_broadcasts(delivery_ids: Collection[int], now: dt.datetime) -> None:
    """Mark sent the broadcasts these deliveries completed (once per round, not per send)."""
    if not delivery_ids:
        return
    broadcast_ids = (
        await Delivery.filter(id__in=list(delivery_ids))
        .distinct()
        .values_list("broadcast_id", flat=True)
    )
    for broadcast_id in sorted(broadcast_ids):
        await finish_if_done(broadcast_id, now)


class AnnouncementHooks(KindHooks):
    """The announcement itself: its delivery climbs to SENT or fails, and the broadcast ends."""

    def sent_updates(
        self, message: OutboundMessage, result: SendResult, attempts: int
    ) -> Sequence[RowUpdate]:
        if message.delivery_id is None:
            return ()
        columns = dict(
            status=DeliveryStatus.SENT,
            sent_at=result.sent_at,
            external_id=result.external_id,
            attempts=attempts,
        )
        if result.poll_id is not None:  # a native poll: its answers name only this id
            columns["poll_ref"] = result.poll_id
        return (RowUpdate(Delivery, message.delivery_id, columns, _STILL_OPEN),)

    async def on_sent(self, messages: Sequence[OutboundMessage], now: dt.datetime) -> None:
        await finish_broadcasts({m.delivery_id for m in messages if m.delivery_id}, now)

    async def on_retry(self, message: OutboundMessage, attempts: int) -> None:
        if message.delivery_id is None:
            return
        # Staff see the retries on the recipient list while the delivery is pending.
        await Delivery.filter(id=message.delivery_id, status=DeliveryStatus.PENDING).update(
            attempts=attempts
        )

    async def on_failed(
        self, message: OutboundMessage, reason: str, attempts: int, now: dt.datetime
    ) -> None:
        if message.delivery_id is None:
            return
        await Delivery.filter(id=message.delivery_id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, failed_at=now, failure_reason=reason, attempts=attempts
        )
        await finish_broadcasts([message.delivery_id], now)

    async def fallback_address(
        self, message: OutboundMessage, channels: Collection[str]
    ) -> ChannelAddress | None:
        return await next_address(message, channels)

    async def queue_elsewhere(
        self, message: OutboundMessage, address: ChannelAddress, now: dt.datetime
    ) -> None:
        await queue_elsewhere(message, address, now)

    async def on_idle(self, now: dt.datetime) -> None:
        """Mark sent the broadcasts whose last outcome a stopped sender wrote but never finished."""
        pending = Delivery.filter(status=DeliveryStatus.PENDING).values("broadcast_id")
        left = await (
            Broadcast.filter(status=BroadcastStatus.SENDING)
            .exclude(id__in=Subquery(pending))
            .values_list("id", flat=True)
        )
        for broadcast_id in left:
            await finish_if_done(broadcast_id, now)


class ReminderHooks(KindHooks):
    """A nudge about an unacknowledged delivery: dropped once acknowledged, counted when sent."""

    async def before_send(self, message: OutboundMessage, now: dt.datetime) -> bool:
        """A reminder queued before the member acknowledged is not sent after all."""
        acknowledged = await Delivery.filter(
            id=message.delivery_id, status=DeliveryStatus.ACKNOWLEDGED
        ).exists()
        if acknowledged:
            await OutboundMessage.filter(
                id=message.id, state=OutboxState.SENDING, claim_token=message.claim_token
            ).update(
                state=OutboxState.CANCELLED,
                failure_reason="acknowledged before the reminder left",
                claim_token=None,
                claimed_until=None,
            )
        return not acknowledged

    async def on_sent(self, messages: Sequence[OutboundMessage], now: dt.datetime) -> None:
        sent = Counter(m.delivery_id for m in messages if m.delivery_id is not None)
        by_count: dict[int, list[int]] = {}
        for delivery_id, count in sent.items():
            by_count.setdefault(count, []).append(delivery_id)
        for count, delivery_ids in by_count.items():
            await Delivery.filter(id__in=delivery_ids).update(reminders=F("reminders") + count)


class CorrectionHooks(KindHooks):
    """A corrected announcement goes only where the original left; it waits while that is in
    flight."""

    async def before_send(self, message: OutboundMessage, now: dt.datetime) -> bool:
        delivery = await Delivery.get_or_none(id=message.delivery_id).only(
            "id", "status", "channel"
        )
        ours = OutboundMessage.filter(
            id=message.id, state=OutboxState.SENDING, claim_token=message.claim_token
        )
        if delivery is not None and delivery.status == DeliveryStatus.PENDING:
            await ours.update(
                state=OutboxState.QUEUED,
                next_attempt_at=now + CORRECTION_RECHECK,
                claim_token=None,
                claimed_until=None,
            )
            return False
        # Gone elsewhere after a fallback: that channel got the corrected text in the first place.
        if (
            delivery is None
            or delivery.status in _NOT_RECEIVED
            or delivery.channel != message.channel
        ):
            await ours.update(
                state=OutboxState.CANCELLED,
                failure_reason="the original announcement did not arrive here",
                claim_token=None,
                claimed_until=None,
            )
            return False
        return True
