"""Status updates: climbing a delivery's ladder in batches, and what a failed status sets off.

Status updates climb a delivery's ladder and never move it down. They are applied in batches: one
lookup of their messages, a claim of the events (`processed_at` set where it is still null) and
the ladder's conditional UPDATEs, all in one transaction, so an event's effect and its being
marked processed commit together and happen once. Applied one by one (`on_status`), a status
that failed may send the announcement on the member's next channel instead, or resend it as the
template when the platform's window had closed. `StatusUpdates` is this half of the `Dispatcher`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection, Sequence
from typing import Any

from tortoise.transactions import in_transaction

from channels import Event, StatusKind, StatusUpdate
from hub.broadcast.deliveries import apply_status, healed_by
from hub.broadcast.fallback import next_address, queue_elsewhere
from hub.core.timeutil import Clock
from hub.inbound.conversations import Conversations
from hub.inbound.events import Deferred, StoredRow
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    MessageKind,
    OutboundMessage,
    OutboxState,
    sql,
)
from models.broadcasts import DELIVERY_RANK

log = logging.getLogger(__name__)

_STATUS_TO_DELIVERY = {
    StatusKind.SENT: DeliveryStatus.SENT,
    StatusKind.DELIVERED: DeliveryStatus.DELIVERED,
    StatusKind.READ: DeliveryStatus.READ,
    StatusKind.ACKNOWLEDGED: DeliveryStatus.ACKNOWLEDGED,
}

# Status updates are applied in batches of this many: one statement each (models/sql.py).
ROWS_PER_STATEMENT = sql.ROWS_PER_STATEMENT


def batchable(event: Event) -> bool:
    """Status updates go through the batched path, unless they ask for more than a ladder step."""
    return (
        isinstance(event, StatusUpdate)
        and not event.window_closed
        and not event.recipient_unreachable
    )


# How long a status for a message id we do not know is kept for its send record to appear.
UNKNOWN_STATUS_GRACE = dt.timedelta(minutes=10)


def _ladder_from(status: DeliveryStatus) -> tuple[DeliveryStatus, ...]:
    """The statuses a delivery may leave for `status` in a batched step (models.sql.apply_ladder):
    as hub.deliveries.apply_status says, and for `failed` as `on_status` says."""
    if status == DeliveryStatus.FAILED:
        return (DeliveryStatus.PENDING, DeliveryStatus.SENT)
    lower = [s for s, rank in DELIVERY_RANK.items() if rank < DELIVERY_RANK[status]]
    return (*lower, *healed_by(status))


_LADDER_FROM = {
    status: _ladder_from(status) for status in [*sql.TIMESTAMP_COLUMN, DeliveryStatus.FAILED]
}


@dataclasses.dataclass(frozen=True)
class _Step:
    """One status update's effect on one delivery."""

    event_id: int
    delivery_id: int
    status: DeliveryStatus
    params: tuple[Any, ...]


class _Contended(Exception):
    """Some events of a batch were processed by someone else meanwhile."""


class StatusUpdates:
    """The `Dispatcher`'s status updates: in batches up the ladder, or one by one with what
    they set off (`on_status`)."""

    clock: Clock
    channels: Collection[str]
    conversations: Conversations

    async def process(self, row: StoredRow | InboundEvent, event: Event) -> None:
        raise NotImplementedError  # Dispatcher.process: one event, in its own boundary

    async def process_statuses(self, stored: Sequence[tuple[StoredRow, StatusUpdate]]) -> None:
        """Apply status updates as `process` would one by one, in their order, in one go.

        Should the batch fail, each is processed on its own, so one bad event cannot hold up
        the others and its error is recorded on it alone.
        """
        if not stored:
            return
        try:
            await self._apply_statuses(stored)
        except Exception:
            log.exception("applying %d status updates at once failed; one by one", len(stored))
            for row, event in stored:
                await self.process(row, event)

    async def _apply_statuses(self, stored: Sequence[tuple[StoredRow, StatusUpdate]]) -> None:
        now = self.clock()
        keys = {(event.channel, event.external_id) for _, event in stored}
        targets = await sql.outbound_by_external_id(keys)
        done: list[int] = []  # applied, dropped, or nothing to apply: marked processed
        steps: list[_Step] = []
        alone: list[tuple[StoredRow, StatusUpdate]] = []
        for row, event in stored:
            messages = targets.get((event.channel, event.external_id), ())
            if len(messages) > 1:
                alone.append((row, event))  # ambiguous: the one-by-one path says what it does
                continue
            if not messages:
                if now - event.at < UNKNOWN_STATUS_GRACE:
                    log.debug("deferring status %s: no message with that id yet", row.external_id)
                    continue  # stays unprocessed; process_pending takes it up again
                log.info(
                    "dropping status %s for unknown message %s",
                    event.status.value,
                    event.external_id,
                )
            elif (delivery_id := messages[0][0]) is not None:
                if event.status == StatusKind.FAILED:
                    if messages[0][1] != MessageKind.BROADCAST:
                        done.append(row.id)  # a failed reminder does not fail the announcement
                        continue
                    status, params = DeliveryStatus.FAILED, (event.at, event.reason, delivery_id)
                else:
                    status = _STATUS_TO_DELIVERY[event.status]
                    evidence = (event.evidence,) if status in sql.EVIDENCE_COLUMN else ()
                    params = (event.at, *evidence, delivery_id)
                steps.append(_Step(row.id, delivery_id, status, params))
            done.append(row.id)

        if done:
            try:
                await self._claim_and_climb(done, steps, now, exact=False)
            except _Contended:
                await self._claim_and_climb(done, steps, now, exact=True)
        for row, event in alone:
            await self.process(row, event)

    async def _claim_and_climb(
        self, ids: Sequence[int], steps: Sequence[_Step], now: dt.datetime, *, exact: bool
    ) -> None:
        """In one transaction: mark the events processed where nobody has yet, and apply the
        steps of those this call marked. Not `exact`: expect to mark all (one statement, no
        rows back) and raise _Contended if another worker got to some of them first."""
        async with in_transaction():
            claimed: set[int] = set()
            for start in range(0, len(ids), ROWS_PER_STATEMENT):
                chunk = ids[start : start + ROWS_PER_STATEMENT]
                if exact:
                    claimed.update(await sql.claim_inbound_ids(chunk, now))
                else:
                    if await sql.claim_inbound_count(chunk, now) != len(chunk):
                        raise _Contended
                    claimed.update(chunk)
            await self._climb([step for step in steps if step.event_id in claimed])

    @staticmethod
    async def _climb(steps: Sequence[_Step]) -> None:
        """The ladder steps in their order: rounds with one step per delivery, each round one
        executemany per target status (steps of different deliveries do not interact)."""
        rounds: list[dict[DeliveryStatus, list[tuple[Any, ...]]]] = []
        depth: dict[int, int] = {}
        for step in steps:
            n = depth.get(step.delivery_id, 0)
            depth[step.delivery_id] = n + 1
            if n == len(rounds):
                rounds.append({})
            rounds[n].setdefault(step.status, []).append(step.params)
        for by_status in rounds:
            for status, params in by_status.items():
                await sql.apply_ladder(status, _LADDER_FROM[status], params)

    async def on_status(self, event: StatusUpdate) -> None:
        message = await OutboundMessage.get_or_none(
            channel=event.channel, external_id=event.external_id
        ).only("id", "kind", "delivery_id", "address", "template", "used_template")
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
        if event.window_closed and await self._resend_as_template(message, event):
            return
        if event.status == StatusKind.FAILED and message.kind != MessageKind.BROADCAST:
            # A reminder or correction that failed leaves the announcement's delivery as it was.
            log.info("%s %s failed: %s", message.kind.value, message.id, event.reason)
            return
        if event.recipient_unreachable and await self._fall_back(message, event):
            return
        if event.status == StatusKind.FAILED:
            await Delivery.filter(
                id=message.delivery_id,
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENT],
            ).update(status=DeliveryStatus.FAILED, failed_at=event.at, failure_reason=event.reason)
            return
        await apply_status(
            message.delivery_id, _STATUS_TO_DELIVERY[event.status], event.at, event.evidence
        )

    async def _fall_back(self, message: OutboundMessage, event: StatusUpdate) -> bool:
        """The platform took the announcement but could not deliver it to this address: send it
        on the member's next reachable channel, as the sender does for a refused send."""
        message = await OutboundMessage.get(id=message.id)
        address = await next_address(message, self.channels)
        if address is None:
            return False
        async with in_transaction():
            # Only once, however often the platform repeats the failure; and not for an
            # announcement that got further (delivered, read) after all.
            moved = await OutboundMessage.filter(id=message.id, state=OutboxState.SENT).update(
                state=OutboxState.FAILED,
                failure_reason=f"{event.reason} (next: {address.channel})"[:255],
            )
            if not moved:
                return True
            pending_again = await Delivery.filter(
                id=message.delivery_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENT]
            ).update(status=DeliveryStatus.PENDING)
            if not pending_again:
                return True
            await queue_elsewhere(message, address, self.clock())
        log.info(
            "message %s: %s on %s, trying %s",
            message.id,
            event.reason,
            message.channel,
            address.channel,
        )
        self.conversations.wake_sender()
        return True

    async def _resend_as_template(self, message: OutboundMessage, event: StatusUpdate) -> bool:
        """The platform refused free text after all (window closed): send the template once."""
        if message.template is None or message.used_template:
            return False
        requeued = await OutboundMessage.filter(
            id=message.id, state=OutboxState.SENT, used_template__not=True
        ).update(
            state=OutboxState.QUEUED,
            external_id=None,
            next_attempt_at=self.clock(),
            failure_reason=f"{event.reason}; sending the template"[:255],
        )
        if not requeued:
            return False
        # The platform knows better than our last-write time: the next send takes the template.
        await ChannelAddress.filter(channel=event.channel, address=message.address).update(
            last_inbound_at=None
        )
        if message.kind == MessageKind.BROADCAST:  # a reminder goes again; the delivery stays
            await Delivery.filter(id=message.delivery_id, status=DeliveryStatus.SENT).update(
                status=DeliveryStatus.PENDING, external_id=None
            )
        log.info("message %s: window closed, resending as the template", message.id)
        return True
