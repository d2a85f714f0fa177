"""The dispatcher: every inbound event is stored first, then applied, each in its own boundary.

Stored events (`InboundEvent`) make processing restartable and replays harmless: an event whose
(channel, external id) was seen before is dropped. Storing is one multi-row `INSERT ... ON
CONFLICT DO NOTHING RETURNING` per batch of events: what comes back is what was new, everything
else was a replay. Status updates are applied in batches up the delivery ladder
(hub/inbound/statuses.py); inbound messages go to the conversation handler, and they and channel
events are applied one by one, as their handlers send replies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Sequence

from tortoise.transactions import in_transaction

from channels import (
    ChannelEvent,
    ChannelEventKind,
    Event,
    InboundMessage,
    StatusUpdate,
    event_from_json,
)
from hub.core.timeutil import Clock, utcnow
from hub.inbound.conversations import Conversations
from hub.inbound.events import Deferred, Stored, StoredRow, event_key, storable, too_long
from hub.inbound.statuses import ROWS_PER_STATEMENT, StatusUpdates, batchable
from hub.roster.groups import group_moved, group_removed
from models import ChannelAddress, InboundEvent, OutboundMessage, OutboxState, sql

log = logging.getLogger(__name__)


class Dispatcher(StatusUpdates):
    def __init__(
        self,
        conversations: Conversations,
        *,
        clock: Clock = utcnow,
        channels: Collection[str] = (),
    ) -> None:
        self.conversations = conversations
        self.clock = clock
        self.channels = channels  # the enabled channels, for falling back to another one

    async def receive(self, events: Sequence[Event]) -> None:
        """Store, then process: the sink every channel reports to."""
        await self.process_many(await self.store(events))

    # Storing ------------------------------------------------------------------------------

    async def store(self, events: Sequence[Event]) -> list[Stored]:
        """Store events durably; replays (same channel and key) are dropped here."""
        return (await self.store_batches([events]))[0]

    async def store_batches(self, batches: Sequence[Sequence[Event]]) -> list[list[Stored]]:
        """Store the events of several deliveries at once; for each, the ones that were new.

        Within the whole call the first of the same (channel, key) counts and later ones are
        replays, as if the batches had been stored one after the other. When this returns, the
        new rows are committed.
        """
        rows: list[tuple[str, str, str, dt.datetime]] = []
        owners: dict[tuple[str, str], tuple[int, Event]] = {}
        now = self.clock()
        for n, events in enumerate(batches):
            for event, data in map(storable, events):
                if (field := too_long(event)) is not None:
                    log.warning(
                        "dropping a %s %s: its %s is too long to be genuine",
                        event.channel,
                        type(event).__name__,
                        field,
                    )
                    continue
                key = (event.channel, event_key(event))
                if key in owners:
                    continue
                owners[key] = (n, event)
                rows.append((*key, json.dumps(data), now))
        inserted = await sql.insert_inbound_ignoring_duplicates(rows)
        stored: list[list[Stored]] = [[] for _ in batches]
        for row_id, channel, key in sorted(inserted):
            n, event = owners.pop((channel, key))
            stored[n].append((StoredRow(row_id, key), event))
        if owners and log.isEnabledFor(logging.DEBUG):
            for channel, key in owners:
                log.debug("dropping replayed %s event %s", channel, key)
        return stored

    # Processing ---------------------------------------------------------------------------

    async def process_pending(
        self,
        *,
        older_than: dt.timedelta = dt.timedelta(0),
        limit: int = 1000,
        statuses_only: bool = False,
    ) -> int:
        """Process stored events not yet processed (left by a stop, or deferred), oldest first,
        `limit` at a time; returns how many were taken up.

        `older_than` keeps away from events whose processing is still under way in this process
        (a status update is claimed when applied, so it is never applied twice either way).
        """
        cutoff = self.clock() - older_than
        after, taken = 0, 0
        while True:
            query = InboundEvent.filter(
                processed_at__isnull=True, received_at__lte=cutoff, id__gt=after
            )
            if statuses_only:
                query = query.filter(external_id__startswith="status:")
            rows = (
                await query.order_by("id").limit(limit).values_list("id", "external_id", "payload")
            )
            if not rows:
                return taken
            after = rows[-1][0]
            taken += len(rows)
            await self.process_many(
                [(StoredRow(i, key), event_from_json(payload)) for i, key, payload in rows]
            )

    async def process_many(self, stored: Sequence[Stored]) -> None:
        """Apply stored events: status updates in batches, anything else one by one."""
        statuses = [(row, e) for row, e in stored if batchable(e)]
        for row, event in stored:
            if not batchable(event):
                await self.process(row, event)
        for start in range(0, len(statuses), ROWS_PER_STATEMENT):
            await self.process_statuses(statuses[start : start + ROWS_PER_STATEMENT])

    async def process(self, row: StoredRow | InboundEvent, event: Event) -> None:
        """Apply one stored event inside its own boundary and mark it processed.

        A status update is marked in one transaction with its effect, and applied only if
        nobody marked it first: however often it is handed over, it is applied once.
        """
        try:
            if isinstance(event, StatusUpdate):
                async with in_transaction():
                    if await InboundEvent.filter(id=row.id, processed_at__isnull=True).update(
                        processed_at=self.clock()
                    ):
                        await self.on_status(event)
                return
            if isinstance(event, InboundMessage):
                await self.conversations.on_message(event)
            else:
                await self.on_channel_event(event)
        except Deferred as why:
            log.debug("deferring %s event %s: %s", event.channel, row.external_id, why)
            return  # stays unprocessed (a status's mark was rolled back); tried again later
        except Exception as exc:
            log.exception("processing %s event %s failed", event.channel, row.external_id)
            await InboundEvent.filter(id=row.id).update(
                processed_at=self.clock(), error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            return
        await InboundEvent.filter(id=row.id).update(processed_at=self.clock())

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
