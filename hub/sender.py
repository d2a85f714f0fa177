"""The sender: claims due outbox messages, sends them through their channel, records the outcome.

Claims are safe on SQLite and PostgreSQL alike: a conditional UPDATE moves rows from `queued` to
`sending` under a fresh claim token, so two senders never hold the same row. A sender that dies
leaves its rows `sending`; once their lease runs out they are queued again. That is the only way a
message can go out twice: when the crash hit while its request was in flight (at most
`concurrency` messages per sender process).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import uuid
from collections.abc import Mapping

from tortoise.transactions import in_transaction

from channels import Button, Channel, Outgoing, SendError, SendErrorReason
from channels.pacing import RateLimiter
from hub.audience import choose_address
from hub.broadcasts import finish_if_done
from hub.metrics import Metrics
from hub.timeutil import Clock, utcnow
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
)

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
# Permanent failures that concern this address only: the member may be reachable elsewhere.
_TRY_ANOTHER_CHANNEL = {SendErrorReason.BLOCKED, SendErrorReason.UNKNOWN_RECIPIENT}
BASE_BACKOFF = 5.0  # seconds before the first retry
MAX_BACKOFF = 3600.0


def _window_start(
    message: OutboundMessage, windows: Mapping[tuple[str, str], dt.datetime | None]
) -> dt.datetime | None:
    """When the recipient last wrote, as far as this message knows."""
    last = windows.get((message.channel, message.address))
    if last is None and message.kind == MessageKind.REPLY:
        # A reply answers what the person just sent, from an address the hub has no row for (a
        # stranger told how to join): they wrote shortly before the reply was queued.
        return message.created_at
    return last


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, never sooner than the platform's retry_after."""
    # The exponent is capped: messages waiting for staff retry without limit, and 2 ** 1100
    # does not fit a float.
    delay = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** min(max(0, attempts - 1), 20))
    delay = random.uniform(delay / 2, delay)
    return max(delay, retry_after or 0.0)


class Sender:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int = 8,
        batch_size: int = 100,
        concurrency: int = 16,
        clock: Clock = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.channels = channels
        self.metrics = metrics or Metrics()
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.clock = clock
        self.limiters: dict[str, RateLimiter] = {}
        self._wake = asyncio.Event()

    def limiter(self, channel: str) -> RateLimiter:
        """The pacing of a channel account, made on first use."""
        if channel not in self.limiters:
            rate = max(1, round(self.channels[channel].messages_per_second))
            self.limiters[channel] = RateLimiter(rate)
        return self.limiters[channel]

    def wake(self) -> None:
        """New messages are queued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, poll_seconds: float = 1.0) -> None:
        """Send until cancelled."""
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sender round failed; retrying")
                sent = 0
            if sent == 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Requeue expired claims, claim one batch and send it; returns how many were handled."""
        await self.requeue_expired()
        claimed = await self.claim()
        if not claimed:
            return 0
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(message: OutboundMessage, last_inbound_at: dt.datetime | None) -> None:
            async with semaphore:
                await self.deliver(message, last_inbound_at)

        windows = await self._last_inbound(claimed)
        async with asyncio.TaskGroup() as group:
            for message in claimed:
                group.create_task(one(message, _window_start(message, windows)))
        return len(claimed)

    async def requeue_expired(self) -> int:
        """Rows whose sender died mid-claim go back to the queue."""
        now = self.clock()
        count = await OutboundMessage.filter(
            state=OutboxState.SENDING, claimed_until__lt=now
        ).update(state=OutboxState.QUEUED, claim_token=None, claimed_until=None)
        if count:
            log.warning("requeued %d messages whose sender stopped mid-send", count)
        return count

    async def claim(self) -> list[OutboundMessage]:
        now = self.clock()
        ids = (
            await OutboundMessage.filter(
                state=OutboxState.QUEUED,
                next_attempt_at__lte=now,
                channel__in=list(self.channels),
            )
            .order_by("id")
            .limit(self.batch_size)
            .values_list("id", flat=True)
        )
        if not ids:
            return []
        token = uuid.uuid4().hex
        await OutboundMessage.filter(id__in=list(ids), state=OutboxState.QUEUED).update(
            state=OutboxState.SENDING, claim_token=token, claimed_until=now + LEASE
        )
        return list(await OutboundMessage.filter(claim_token=token).order_by("id"))

    async def _last_inbound(
        self, messages: list[OutboundMessage]
    ) -> dict[tuple[str, str], dt.datetime | None]:
        """When each recipient last wrote to us (for platforms with a free-text window)."""
        addresses = {m.address for m in messages}
        rows = await ChannelAddress.filter(address__in=list(addresses)).values_list(
            "channel", "address", "last_inbound_at"
        )
        return {(channel, address): at for channel, address, at in rows}

    async def deliver(
        self, message: OutboundMessage, last_inbound_at: dt.datetime | None = None
    ) -> None:
        """Send one claimed message and record what happened."""
        channel = self.channels[message.channel]
        outgoing = Outgoing(
            key=str(message.id),
            address=message.address,
            text=message.text,
            buttons=tuple(Button(b["label"], b["payload"]) for b in message.buttons),
            edit_of=message.edit_of,
            phone_button=message.phone_button or "",
            last_inbound_at=last_inbound_at,
            template=message.template,
            template_params=tuple(message.template_params or ()),
        )
        await self.limiter(message.channel).acquire()
        still_ours = OutboundMessage.filter(
            id=message.id, state=OutboxState.SENDING, claim_token=message.claim_token
        )
        if not await still_ours.exists():
            return  # cancelled (or its lease ran out) while it waited for its turn
        attempts = message.attempts + 1
        try:
            result = await channel.send(outgoing)
        except SendError as exc:
            await self._failed(message, attempts, exc)
            return
        except Exception as exc:  # a bug in a channel must not lose the message
            log.exception("channel %s crashed sending message %s", message.channel, message.id)
            await self._failed(
                message, attempts, SendError(SendErrorReason.CONNECTION, type(exc).__name__)
            )
            return
        self.metrics.sent.labels(message.channel).inc()
        await OutboundMessage.filter(id=message.id).update(
            state=OutboxState.SENT,
            attempts=attempts,
            # An edit keeps the platform id of the message it changed (in edit_of); storing it
            # twice would make receipts and replies to that message ambiguous.
            external_id=None if message.edit_of else result.external_id,
            sent_at=result.sent_at,
            used_template=result.used_template,
            claim_token=None,
            claimed_until=None,
        )
        if message.delivery_id is None:
            return
        if message.kind == MessageKind.BROADCAST:
            # Cancelled while the request was in flight: it left all the same, so say so.
            await Delivery.filter(
                id=message.delivery_id,
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.CANCELLED],
            ).update(
                status=DeliveryStatus.SENT,
                sent_at=result.sent_at,
                external_id=result.external_id,
                attempts=attempts,
            )
            await self._maybe_finish(message)
        elif message.kind == MessageKind.REMINDER:
            delivery = await Delivery.get(id=message.delivery_id)
            await Delivery.filter(id=delivery.id).update(reminders=delivery.reminders + 1)

    async def _failed(self, message: OutboundMessage, attempts: int, exc: SendError) -> None:
        now = self.clock()
        self.metrics.send_errors.labels(message.channel, exc.reason.value).inc()
        if exc.retry_after and not exc.recipient_only:
            self.limiter(message.channel).pause(exc.retry_after)
        if exc.reason == SendErrorReason.BLOCKED:
            await ChannelAddress.filter(
                channel=message.channel, address=message.address, blocked_at__isnull=True
            ).update(blocked_at=now)
        # A wrong token or setting waits for staff however long that takes (they see it on
        # /readyz): giving up would fail every message queued meanwhile.
        gives_up = attempts >= self.max_attempts and exc.reason != SendErrorReason.BAD_CONFIG
        if exc.retryable and not gives_up:
            delay = backoff_seconds(attempts, exc.retry_after)
            log.info(
                "message %s: %s, retry %d in %.0f s", message.id, exc.reason.value, attempts, delay
            )
            # Only a message still claimed goes back: a cancelled one stays cancelled.
            await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(
                state=OutboxState.QUEUED,
                attempts=attempts,
                next_attempt_at=now + dt.timedelta(seconds=delay),
                failure_reason=str(exc)[:255],
                claim_token=None,
                claimed_until=None,
            )
            if message.delivery_id is not None and message.kind == MessageKind.BROADCAST:
                # Staff see the retries on the recipient list while the delivery is pending.
                await Delivery.filter(id=message.delivery_id, status=DeliveryStatus.PENDING).update(
                    attempts=attempts
                )
            return
        reason = f"gave up after {attempts} attempts: {exc}" if exc.retryable else str(exc)
        reason = reason[:255]
        if exc.reason in _TRY_ANOTHER_CHANNEL and await self._fall_back(message, attempts, reason):
            return
        log.warning("message %s failed for good: %s", message.id, reason)
        await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(
            state=OutboxState.FAILED,
            attempts=attempts,
            failure_reason=reason,
            claim_token=None,
            claimed_until=None,
        )
        if message.delivery_id is not None and message.kind == MessageKind.BROADCAST:
            await Delivery.filter(id=message.delivery_id, status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.FAILED,
                failed_at=now,
                failure_reason=reason,
                attempts=attempts,
            )
            await self._maybe_finish(message)

    async def _fall_back(self, message: OutboundMessage, attempts: int, reason: str) -> bool:
        """Send an announcement the member cannot get here on their next reachable channel."""
        if message.kind != MessageKind.BROADCAST or message.delivery_id is None:
            return False
        member = await Member.get_or_none(id=message.member_id).prefetch_related("addresses")
        if member is None:
            return False
        # Addresses this delivery already failed on are not tried again (no going round in circles).
        tried = set(
            await OutboundMessage.filter(
                delivery_id=message.delivery_id, kind=MessageKind.BROADCAST
            ).values_list("channel", "address")
        )
        tried.add((message.channel, message.address))
        others = [a for a in member.addresses if (a.channel, a.address) not in tried]
        address, _ = choose_address(member.preferred_channel, others, self.channels)
        if address is None:
            return False
        async with in_transaction():
            moved = await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(
                state=OutboxState.FAILED,
                attempts=attempts,
                failure_reason=f"{reason} (next: {address.channel})"[:255],
                claim_token=None,
                claimed_until=None,
            )
            if not moved:
                return True  # cancelled meanwhile: nothing more to send
            await Delivery.filter(id=message.delivery_id).update(
                channel=address.channel, address=address.address
            )
            await OutboundMessage.create(
                kind=message.kind,
                delivery_id=message.delivery_id,
                member_id=message.member_id,
                channel=address.channel,
                address=address.address,
                text=message.text,
                buttons=message.buttons,
                template=message.template,
                template_params=message.template_params,
                next_attempt_at=self.clock(),
            )
        log.info(
            "message %s: %s on %s, trying %s", message.id, reason, message.channel, address.channel
        )
        self.wake()
        return True

    async def _maybe_finish(self, message: OutboundMessage) -> None:
        delivery = await Delivery.get(id=message.delivery_id).only("id", "broadcast_id")
        await finish_if_done(delivery.broadcast_id, self.clock())
