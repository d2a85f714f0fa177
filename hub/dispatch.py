"""The dispatcher: every inbound event is stored first, then applied, each in its own boundary.

Stored events (`InboundEvent`) make processing restartable and replays harmless: an event whose
(channel, external id) was seen before is dropped. Status updates climb a delivery's ladder and
never move it down; inbound messages go to the conversation handler.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from tortoise.exceptions import IntegrityError

from channels import (
    ChannelEvent,
    ChannelEventKind,
    Event,
    InboundMessage,
    StatusKind,
    StatusUpdate,
)
from hub.conversations import Conversations
from hub.deliveries import apply_status
from hub.groups import group_moved, group_removed
from hub.timeutil import Clock, utcnow
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    OutboundMessage,
    OutboxState,
)

log = logging.getLogger(__name__)

_STATUS_TO_DELIVERY = {
    StatusKind.SENT: DeliveryStatus.SENT,
    StatusKind.DELIVERED: DeliveryStatus.DELIVERED,
    StatusKind.READ: DeliveryStatus.READ,
    StatusKind.ACKNOWLEDGED: DeliveryStatus.ACKNOWLEDGED,
}
_EVENT_TYPES = {cls.__name__: cls for cls in (InboundMessage, StatusUpdate, ChannelEvent)}


def event_key(event: Event) -> str:
    """The id that makes an event unique within its channel."""
    if isinstance(event, StatusUpdate):
        return f"status:{event.external_id}:{event.status.value}"
    if isinstance(event, InboundMessage):
        return f"msg:{event.external_id}"
    return f"event:{event.address}:{event.kind.value}:{event.at.isoformat()}"


def event_to_json(event: Event) -> dict[str, Any]:
    data = dataclasses.asdict(event)
    for key, value in data.items():
        if isinstance(value, dt.datetime):
            data[key] = value.isoformat()
    return {"type": type(event).__name__, "event": data}


def event_from_json(stored: dict[str, Any]) -> Event:
    cls = _EVENT_TYPES[stored["type"]]
    data = dict(stored["event"])
    for f in dataclasses.fields(cls):
        if f.name in data and f.type in ("dt.datetime",) and data[f.name] is not None:
            data[f.name] = dt.datetime.fromisoformat(data[f.name])
    if cls is StatusUpdate:
        data["status"] = StatusKind(data["status"])
    if cls is ChannelEvent:
        data["kind"] = ChannelEventKind(data["kind"])
    return cls(**data)


# How long a status for a message id we do not know is kept for its send record to appear.
UNKNOWN_STATUS_GRACE = dt.timedelta(minutes=10)


class Deferred(Exception):
    """This event cannot be applied yet; leave it stored and try again later."""


class Dispatcher:
    def __init__(self, conversations: Conversations, *, clock: Clock = utcnow) -> None:
        self.conversations = conversations
        self.clock = clock

    async def receive(self, events: Sequence[Event]) -> None:
        """Store, then process: the sink every channel reports to."""
        stored = await self.store(events)
        for row, event in stored:
            await self.process(row, event)

    async def store(self, events: Sequence[Event]) -> list[tuple[InboundEvent, Event]]:
        """Store events durably; replays (same channel and key) are dropped here."""
        stored = []
        for event in events:
            try:
                row = await InboundEvent.create(
                    channel=event.channel,
                    external_id=event_key(event),
                    payload=event_to_json(event),
                )
            except IntegrityError:
                log.info("dropping replayed %s event %s", event.channel, event_key(event))
                continue
            stored.append((row, event))
        return stored

    async def process_pending(
        self, *, older_than: dt.timedelta = dt.timedelta(0), limit: int = 1000
    ) -> int:
        """Process stored events not yet processed: left by a stop, or deferred.

        `older_than` keeps away from events whose processing is still under way in this process.
        """
        rows = (
            await InboundEvent.filter(
                processed_at__isnull=True, received_at__lte=self.clock() - older_than
            )
            .order_by("id")
            .limit(limit)
        )
        for row in rows:
            await self.process(row, event_from_json(row.payload))
        return len(rows)

    async def process(self, row: InboundEvent, event: Event) -> None:
        try:
            if isinstance(event, StatusUpdate):
                await self.on_status(event)
            elif isinstance(event, InboundMessage):
                await self.conversations.on_message(event)
            else:
                await self.on_channel_event(event)
        except Deferred as why:
            log.debug("deferring %s event %s: %s", event.channel, row.external_id, why)
            return  # stays unprocessed; process_pending takes it up again
        except Exception as exc:
            log.exception("processing %s event %s failed", event.channel, row.external_id)
            await InboundEvent.filter(id=row.id).update(
                processed_at=self.clock(), error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            return
        await InboundEvent.filter(id=row.id).update(processed_at=self.clock())

    async def on_status(self, event: StatusUpdate) -> None:
        message = await OutboundMessage.get_or_none(
            channel=event.channel, external_id=event.external_id
        ).only("id", "delivery_id")
        if message is None:
            if self.clock() - event.at < UNKNOWN_STATUS_GRACE:
                # The send may not be recorded yet (the answer and the receipt raced): try later.
                raise Deferred("no message with that id yet")
            log.info(
                "dropping status %s for unknown message %s", event.status.value, event.external_id
            )
            return
        if message.delivery_id is None:
            return  # a reply or notice: nothing tracks its reading
        if event.status == StatusKind.FAILED:
            await Delivery.filter(
                id=message.delivery_id,
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENT],
            ).update(status=DeliveryStatus.FAILED, failed_at=event.at, failure_reason=event.reason)
            return
        await apply_status(
            message.delivery_id, _STATUS_TO_DELIVERY[event.status], event.at, event.evidence
        )

    async def on_channel_event(self, event: ChannelEvent) -> None:
        if event.kind == ChannelEventKind.GROUP_MIGRATED:
            new_address = str(event.payload["new_address"])
            await group_moved(event.channel, event.address, new_address)
            await OutboundMessage.filter(
                channel=event.channel, address=event.address, state=OutboxState.QUEUED
            ).update(address=new_address)
            return
        if event.kind == ChannelEventKind.REMOVED_FROM_GROUP:
            await group_removed(event.channel, event.address, event.at)
            return
        updates = {
            ChannelEventKind.OPT_OUT: {"opted_out_at": event.at},
            ChannelEventKind.OPT_IN: {"opted_out_at": None},
            ChannelEventKind.BLOCKED: {"blocked_at": event.at},
            ChannelEventKind.UNBLOCKED: {"blocked_at": None},
            ChannelEventKind.NEW_CONVERSATION: {"last_inbound_at": event.at, "blocked_at": None},
        }[event.kind]
        await ChannelAddress.filter(channel=event.channel, address=event.address).update(**updates)
