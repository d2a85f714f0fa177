"""The sender: claims due outbox messages, sends them through their channel, records the outcome.

Claims are safe on SQLite and PostgreSQL alike: a conditional UPDATE moves rows from `queued` to
`sending` under a fresh claim token, so two senders never hold the same row. A sender that dies
leaves its rows `sending`; once their lease runs out they are queued again. That is the only way a
message can go out twice: when the crash hit while its request was in flight or its outcome was
not yet written (at most `concurrency` messages per sender process: a message keeps its place
among the `concurrency` until its outcome is committed).

A claimed batch goes out as one round (`_Round`): one look at the database every
CANCEL_CHECK_SECONDS tells which of its messages are still ours (not cancelled meanwhile), and the
outcomes of successful sends are written together, a few at a time in one transaction (group
commit), instead of several statements and a commit per message.

What a message's kind adds (a reminder dropped once acknowledged, the announcement's delivery moved
up the ladder in the same group commit, a broadcast finished, a fallback to the member's next
channel) comes from the kind's hooks (hub/core/outbox.py), given to the sender by
hub/runtime.py: this module knows no kind and imports no domain module.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.transactions import in_transaction

from channels import Button, Channel, Outgoing, OutgoingPoll, SendError, SendErrorReason
from channels.pacing import RateLimiter
from hub.core.metrics import Metrics
from hub.core.outbox import OutboxHooks, RowUpdate, apply_updates
from hub.core.timeutil import Clock, utcnow
from hub.files.media import (
    FILE_WAIT_OVER,
    NO_FILES,
    FilePlan,
    MediaStore,
    plan_files,
    record_refused_file,
    record_sent,
    release_waiting,
    wait_for_window,
)
from models import ChannelAddress, OutboundMessage, OutboxState, sql

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
# Permanent failures that concern this address only: the member may be reachable elsewhere.
_TRY_ANOTHER_CHANNEL = {SendErrorReason.BLOCKED, SendErrorReason.UNKNOWN_RECIPIENT}
RELEASE_EVERY = dt.timedelta(seconds=15)  # how often files waiting for a window are looked at
BASE_BACKOFF = 5.0  # seconds before the first retry
MAX_BACKOFF = 3600.0
# A claimed message is sent only if it was still ours (not cancelled) at most this long before.
CANCEL_CHECK_SECONDS = 0.5
# How often an idle sender looks for broadcasts a stopped sender left unfinished.
SWEEP_SECONDS = 60.0
# Successful sends wait at most this long for company before their outcome is written.
# Outcomes waiting to be written are written together, once the sends that went together have
# answered and the oldest of them has waited GATHER_SECONDS (a few pacing ticks), or sooner when
# `flush_after` are waiting or a send wants a place; never later than GROUP_COMMIT_SECONDS.
GATHER_SECONDS = 0.25
GROUP_COMMIT_SECONDS = 1.0


def _window_start(
    message: OutboundMessage,
    windows: Mapping[tuple[str, str], dt.datetime | None],
    hooks: OutboxHooks,
) -> dt.datetime | None:
    """When the recipient last wrote, as far as this message knows."""
    last = windows.get((message.channel, message.address))
    if last is None and hooks[message.kind].answers_inbound:
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


class _Round:
    """One claimed batch on its way out: the shared cancellation check and the group commit.

    A send takes one of the sender's `concurrency` places when its channel's pacing lets it go
    (`take_place()`), and a successful one hands its outcome to `record_sent()` and waits there
    until it is committed: at most that many messages are ever sent but not yet written. The
    outcomes waiting are written together when `flush_after` of them are waiting, when a send
    waits for a place, or once the oldest has waited GATHER_SECONDS and no send is in flight (the
    pacing lets sends go together, so their answers come together): one write for a few bursts.
    """

    def __init__(self, claimed: list[OutboundMessage], *, places: int, flush_after: int) -> None:
        self._places = asyncio.Semaphore(places)
        self._placed: set[int] = set()  # messages holding a place
        self._in_flight: set[int] = set()  # ...whose outcome is not yet handed over
        self.flush_after = max(1, min(places, flush_after))
        self._wanted = 0  # sends waiting for a place
        self._token = claimed[0].claim_token
        self._ours = {m.id for m in claimed}  # the claim itself was the first look
        self._checked_at = time.monotonic()
        self._check_lock = asyncio.Lock()
        self._closing = False
        self._pending: list[tuple[OutboundMessage, dict[str, Any], Sequence[RowUpdate]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._first_at = 0.0
        self._news = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop(), name="sender-group-commit")
        self.sent: list[OutboundMessage] = []  # messages whose outcome this round committed

    async def still_ours(self, message: OutboundMessage) -> bool:
        """Whether the message is still claimed by us, as of at most CANCEL_CHECK_SECONDS ago."""
        if time.monotonic() - self._checked_at >= CANCEL_CHECK_SECONDS:
            async with self._check_lock:  # one look serves every message waiting for it
                if time.monotonic() - self._checked_at >= CANCEL_CHECK_SECONDS:
                    looked_at = time.monotonic()
                    ids = await OutboundMessage.filter(
                        claim_token=self._token, state=OutboxState.SENDING
                    ).values_list("id", flat=True)
                    self._ours, self._checked_at = set(ids), looked_at
        return message.id in self._ours

    async def record_sent(
        self,
        message: OutboundMessage,
        outbox: dict[str, Any],
        updates: Sequence[RowUpdate],
    ) -> None:
        """Write the outcome of a send (outbox row columns, its kind's updates) with others'."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._first_at = time.monotonic()
        self._pending.append((message, outbox, updates))
        self._waiters.append(waiter)
        self._in_flight.discard(message.id)
        self._news.set()
        await asyncio.shield(waiter)  # a cancelled sender still lets the write finish

    async def take_place(self, message: OutboundMessage) -> None:
        """Wait for a place among the sends in flight or unwritten, and hold it."""
        if self._places.locked():  # every place taken: the outcomes waiting must be written
            self._wanted += 1
            self._news.set()
            try:
                await self._places.acquire()
            finally:
                self._wanted -= 1
        else:
            await self._places.acquire()
        self._placed.add(message.id)
        self._in_flight.add(message.id)

    def give_place(self, message: OutboundMessage) -> None:
        """The message's outcome is written, or it did not go: its place is free (if it had one)."""
        self._in_flight.discard(message.id)
        if message.id in self._placed:
            self._placed.discard(message.id)
            self._places.release()
        self._news.set()

    def _due(self) -> bool:
        if self._closing or self._wanted or len(self._pending) >= self.flush_after:
            return True
        return not self._in_flight and time.monotonic() - self._first_at >= GATHER_SECONDS

    async def _write_loop(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._news.wait()
                self._news.clear()
                continue
            while not self._due():
                waited = time.monotonic() - self._first_at
                if waited >= GROUP_COMMIT_SECONDS:
                    break
                # Until the gathering time is up only news can make the write due; after it, the
                # end of the sends in flight (news too), or the longest wait.
                limit = GATHER_SECONDS if waited < GATHER_SECONDS else GROUP_COMMIT_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._news.wait(), limit - waited)
                self._news.clear()
            await self._flush()

    async def _flush(self) -> None:
        pending, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        try:
            await _write_sent(pending)
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.sent.extend(m for m, _, _ in pending)

    async def close(self) -> None:
        """Write what is still waiting (the sender may be stopping) and end the writer."""
        self._closing = True
        self._news.set()
        await self._writer


def _poll_of(stored: Mapping[str, Any] | None) -> OutgoingPoll | None:
    """The poll an outbound row carries (plain JSON) as the channels take it; None without one."""
    if not stored:
        return None
    return OutgoingPoll(
        question=str(stored["question"]),
        options=tuple(str(o) for o in stored["options"]),
        payloads=tuple(str(p) for p in stored["payloads"]),
    )


async def _write_sent(
    pending: list[tuple[OutboundMessage, dict[str, Any], Sequence[RowUpdate]]],
) -> None:
    """The outcomes of successful sends, in one transaction and one round trip to the database."""
    updates = sql.RowUpdates()
    for message, outbox, kind_updates in pending:
        updates.add(OutboundMessage, message.id, outbox)
        for update in kind_updates:
            updates.add(update.model, update.row_id, update.columns, status_in=update.status_in)
    await sql.commit_updates(updates)


class Sender:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        *,
        hooks: OutboxHooks,
        max_attempts: int = 8,
        batch_size: int = 250,
        concurrency: int = 16,
        clock: Clock = utcnow,
        metrics: Metrics | None = None,
        media: MediaStore | None = None,
        lease: dt.timedelta = LEASE,
    ) -> None:
        self.channels = channels
        self.hooks = hooks  # what each message kind adds to sending (hub/core/outbox.py)
        self.lease = lease  # how long a claim holds; a dead sender's rows wait this long
        self._next_sweep = 0.0  # when an idle sender next looks for broadcasts left unfinished
        self.media = media  # where attachments are; None: rows' files are not sent
        self._next_release = dt.datetime.min.replace(tzinfo=dt.UTC)
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
        if self.clock() >= self._next_release:
            self._next_release = self.clock() + RELEASE_EVERY
            await release_waiting(self.channels, self.clock())
        claimed = await self.claim()
        if not claimed:
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_SECONDS
                await self.hooks.on_idle(self.clock())
            return 0
        # A quarter of the places stay free while the rest wait for a group commit, so the
        # next sends never stall for it.
        round_ = _Round(
            claimed, places=self.concurrency, flush_after=self.concurrency - self.concurrency // 4
        )

        try:
            windows = await self._last_inbound(claimed)
            async with asyncio.TaskGroup() as group:
                for message in claimed:
                    last_inbound_at = _window_start(message, windows, self.hooks)
                    group.create_task(self.deliver(message, last_inbound_at, round_))
        finally:
            await round_.close()
        await self._after_sent(round_.sent)
        return len(claimed)

    async def _after_sent(self, messages: list[OutboundMessage]) -> None:
        """Each kind's work after its sent messages are committed, once per round (not per send)."""
        by_kind: dict[str, list[OutboundMessage]] = {}
        for message in messages:
            by_kind.setdefault(message.kind, []).append(message)
        for kind, sent in by_kind.items():
            await self.hooks[kind].on_sent(sent, self.clock())

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
        """Claim the next `batch_size` due messages of this sender's channels for `lease`."""
        now = self.clock()
        return await sql.claim_outbound(
            self.channels, now=now, until=now + self.lease, limit=self.batch_size
        )

    async def _last_inbound(
        self, messages: list[OutboundMessage]
    ) -> dict[tuple[str, str], dt.datetime | None]:
        """When each recipient last wrote to us (for platforms with a free-text window)."""
        by_channel: dict[str, set[str]] = {}
        for m in messages:
            by_channel.setdefault(m.channel, set()).add(m.address)
        found: dict[tuple[str, str], dt.datetime | None] = {}
        # One query per channel: (channel, address) is the unique index; the address alone
        # would read the whole table for every batch.
        for channel_name, addresses in by_channel.items():
            rows = await ChannelAddress.filter(
                channel=channel_name, address__in=sorted(addresses)
            ).values_list("address", "last_inbound_at")
            found.update({(channel_name, address): at for address, at in rows})
        return found

    async def deliver(
        self,
        message: OutboundMessage,
        last_inbound_at: dt.datetime | None = None,
        round_: _Round | None = None,
    ) -> None:
        """Send one claimed message and record what happened (with its round's, if in one)."""
        channel = self.channels[message.channel]
        files = await plan_files(self.media, channel, message, last_inbound_at, self.clock())
        if files.must_wait:  # before pacing: a file that cannot go costs no send
            if not await wait_for_window(message, self.clock()):
                expired = SendError(SendErrorReason.WINDOW_CLOSED, FILE_WAIT_OVER)
                await self._failed(message, message.attempts, expired)
            return
        outgoing = Outgoing(
            key=str(message.id),
            address=message.address,
            text=message.text,
            buttons=tuple(
                Button(b["label"], b["payload"], b.get("in_template", True))
                for b in message.buttons
            ),
            edit_of=message.edit_of,
            phone_button=message.phone_button or "",
            last_inbound_at=last_inbound_at,
            template=message.template,
            template_params=tuple(message.template_params or ()),
            attachments=files.attachments,
            poll=_poll_of(message.poll),
        )
        if not await self.hooks[message.kind].before_send(message, self.clock()):
            return  # its kind settled the row: cancelled, or queued again for later
        limiter = self.limiter(message.channel)
        if round_ is None:
            await limiter.acquire()
            await self._send(message, outgoing, files, None)
            return

        async def ready() -> bool:
            # Waiting for the pacing holds no place: the places are for sends in flight or
            # unwritten. The look at the database comes before the send is counted, so that the
            # pacing counts the moment it really leaves.
            await round_.take_place(message)
            return await round_.still_ours(message)

        try:
            if await limiter.acquire(ready=ready):
                await self._send(message, outgoing, files, round_)
        finally:
            round_.give_place(message)

    async def _send(
        self,
        message: OutboundMessage,
        outgoing: Outgoing,
        files: FilePlan,
        round_: _Round | None,
    ) -> None:
        """Send a message the pacing let go (and a round found still ours); record the outcome."""
        channel = self.channels[message.channel]
        if round_ is None:  # a round looked before the pacing counted the send
            ours = await OutboundMessage.filter(
                id=message.id, state=OutboxState.SENDING, claim_token=message.claim_token
            ).exists()
            if not ours:
                return  # cancelled (or its lease ran out) while it waited for its turn
        attempts = message.attempts + 1
        try:
            result = await channel.send(outgoing)
        except SendError as exc:
            if exc.held:
                await self._hold(message, exc)
            else:
                await self._failed(message, attempts, exc)
            return
        except Exception as exc:  # a bug in a channel must not lose the message
            log.exception("channel %s crashed sending message %s", message.channel, message.id)
            await self._failed(
                message, attempts, SendError(SendErrorReason.CONNECTION, type(exc).__name__)
            )
            return
        self.metrics.sent.labels(message.channel).inc()
        sent = dict(
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
        if result.poll_id is not None:  # a native poll: its answers name only this id
            sent["poll_ref"] = result.poll_id
        hooks = self.hooks[message.kind]
        updates = hooks.sent_updates(message, result, attempts)
        if files is NO_FILES and round_ is not None:
            await round_.record_sent(message, sent, updates)  # the round calls on_sent
            return
        if files is NO_FILES:
            await OutboundMessage.filter(id=message.id).update(**sent)
        else:  # with its next file queued in the same transaction
            await record_sent(message, files, result, sent, self.clock())
        await apply_updates(updates)
        await hooks.on_sent([message], self.clock())

    async def _hold(self, message: OutboundMessage, exc: SendError) -> None:
        """Queue again for the recipient's turn a message the channel's own pacing held back.

        The platform was never asked, so this is no attempt: waiting for our own pacing must
        not use up `max_attempts` (a busy group chat would lose its posts for good).
        """
        delay = exc.retry_after or BASE_BACKOFF
        log.debug("message %s: held by the pacing of its chat for %.1f s", message.id, delay)
        # Only a message still claimed goes back: a cancelled one stays cancelled.
        await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(
            state=OutboxState.QUEUED,
            next_attempt_at=self.clock() + dt.timedelta(seconds=delay),
            claim_token=None,
            claimed_until=None,
        )

    async def _failed(self, message: OutboundMessage, attempts: int, exc: SendError) -> None:
        now = self.clock()
        self.metrics.send_errors.labels(message.channel, exc.reason.value).inc()
        if exc.retry_after and not exc.recipient_only:
            self.limiter(message.channel).pause(exc.retry_after)
        if exc.reason == SendErrorReason.BLOCKED:
            await ChannelAddress.filter(
                channel=message.channel, address=message.address, blocked_at__isnull=True
            ).update(blocked_at=now)
        if exc.reason == SendErrorReason.WINDOW_CLOSED and message.attachment_ids:
            if not message.text and await wait_for_window(message, now, platform_said=True):
                return
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
            await self.hooks[message.kind].on_retry(message, attempts)
            return
        reason = f"gave up after {attempts} attempts: {exc}" if exc.retryable else str(exc)
        reason = reason[:255]
        if exc.reason in _TRY_ANOTHER_CHANNEL and await self._fall_back(message, attempts, reason):
            return
        log.warning("message %s failed for good: %s", message.id, reason)
        failed = dict(
            state=OutboxState.FAILED,
            attempts=attempts,
            failure_reason=reason,
            claim_token=None,
            claimed_until=None,
        )
        if exc.reason == SendErrorReason.REJECTED and await record_refused_file(
            message, failed, now
        ):
            self.wake()
            return
        await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(**failed)
        await self.hooks[message.kind].on_failed(message, reason, attempts, now)

    async def _fall_back(self, message: OutboundMessage, attempts: int, reason: str) -> bool:
        """Queue a message its address cannot take at the next address its kind names, if any."""
        hooks = self.hooks[message.kind]
        address = await hooks.fallback_address(message, self.channels)
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
            await hooks.queue_elsewhere(message, address, self.clock())
        log.info(
            "message %s: %s on %s, trying %s", message.id, reason, message.channel, address.channel
        )
        self.wake()
        return True
