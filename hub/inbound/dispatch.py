"""The dispatcher: every inbound event is stored first, then applied, each in its own boundary.

Stored events (`InboundEvent`) make processing restartable and replays harmless: an event whose
(channel, external id) was seen before is dropped. Status updates climb a delivery's ladder and
never move it down; inbound messages go to the conversation handler.

Storing is one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` per batch of events: what
comes back is what was new, everything else was a replay. Status updates are applied in batches:
one lookup of their messages, a claim of the events (`processed_at` set where it is still null)
and the ladder's conditional UPDATEs, all in one transaction, so an event's effect and its being
marked processed commit together and happen once. Messages and channel events are applied one by
one, as their handlers send replies.

`Ingest` is the webhooks' group commit: the events of many concurrent requests are stored by one
statement, and each request is answered only after the commit that holds its events.

Durability on SQLite: Tortoise opens it in WAL mode and leaves SQLite's synchronous=FULL, so a
commit, and with it an answered webhook, survives a crash of the process and a power cut. A
database URL ending in `?synchronous=NORMAL` trades the power cut for speed: the commit is in the
WAL when the answer goes, which a crash of the process cannot undo, but the last commits before
a power cut can be lost (bench/README.md has the figures of both).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Collection, Coroutine, Sequence
from typing import Any, NamedTuple

from tortoise.models import Model
from tortoise.transactions import in_transaction

from channels import (
    ChannelEvent,
    ChannelEventKind,
    Event,
    InboundMessage,
    StatusKind,
    StatusUpdate,
    event_from_json,
    event_to_json,
)
from hub.broadcast.deliveries import apply_status, healed_by
from hub.broadcast.fallback import next_address, queue_elsewhere
from hub.core.tasks import BackgroundTasks
from hub.core.timeutil import Clock, utcnow
from hub.inbound.conversations import Conversations
from hub.roster.groups import group_moved, group_removed
from models import (
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    Member,
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


def _width(model: type[Model], name: str) -> int:
    return int(model._meta.fields_map[name].max_length)  # type: ignore[attr-defined]


# The columns that keep what a platform sends: a platform id (ours, or one a message answers), a
# chat or sender address, a phone number, and the stored event's key.
ID_WIDTH = _width(OutboundMessage, "external_id")
ADDRESS_WIDTH = _width(ChannelAddress, "address")
PHONE_WIDTH = _width(Member, "phone")
KEY_WIDTH = _width(InboundEvent, "external_id")


def event_key(event: Event) -> str:
    """The id that makes an event unique within its channel (a digest where it is too long)."""
    if isinstance(event, StatusUpdate):
        key = f"status:{event.external_id}:{event.status.value}"
    elif isinstance(event, InboundMessage):
        key = f"msg:{event.external_id}"
    else:
        key = f"event:{event.address}:{event.kind.value}:{event.at.isoformat()}"
    if len(key) <= KEY_WIDTH:
        return key
    # Ids up to ID_WIDTH with the key's prefix: still unique, and its start still says its kind.
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_WIDTH - len(digest) - 1]}#{digest}"


def too_long(event: Event) -> str | None:
    """The event's first id, address or phone wider than the column keeping it; None if all fit.

    Genuine ones are far shorter (a WhatsApp wamid is about 60 characters, Telegram's ids are
    numbers). A longer id cannot name a message the hub sent, and where it would be stored
    PostgreSQL refuses it and SQLite keeps it whole, so such an event is dropped, never stored.
    """
    values: list[tuple[str, str | None, int]]
    if isinstance(event, StatusUpdate):
        values = [("external_id", event.external_id, ID_WIDTH)]
    elif isinstance(event, InboundMessage):
        values = [
            ("external_id", event.external_id, ID_WIDTH),
            ("reply_to", event.reply_to, ID_WIDTH),
            ("address", event.address, ADDRESS_WIDTH),
            ("sender", event.sender, ADDRESS_WIDTH),
            ("phone", event.phone, PHONE_WIDTH),
        ]
    else:
        new_address = event.payload.get("new_address")
        values = [
            ("address", event.address, ADDRESS_WIDTH),
            ("new_address", None if new_address is None else str(new_address), ADDRESS_WIDTH),
        ]
    return next((name for name, value, width in values if value and len(value) > width), None)


# What no database column takes: NUL (PostgreSQL refuses it in text and jsonb) and lone UTF-16
# surrogates (not Unicode; JSON's "\\ud800" escape makes one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """A JSON value with NUL dropped and lone surrogates replaced by U+FFFD (the same object
    when there is nothing to clean)."""
    if isinstance(value, str):
        if not _UNSTORABLE.search(value):
            return value
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        pairs = [(_storable(k), _storable(v)) for k, v in value.items()]
        originals = value.items()
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, originals, strict=True))
        return value if same else dict(pairs)
    if isinstance(value, list):
        items = [_storable(v) for v in value]
        return value if all(a is b for a, b in zip(value, items, strict=True)) else items
    return value


def storable(event: Event) -> tuple[Event, dict[str, Any]]:
    """The event as it can be stored, and its stored payload: what a platform (or a forger with
    its signature) sends may hold characters no column takes; they are cleaned here."""
    data = event_to_json(event)
    clean = _storable(data)
    return (event, data) if clean is data else (event_from_json(clean), clean)


def batchable(event: Event) -> bool:
    """Status updates go through the batched path, unless they ask for more than a ladder step."""
    return (
        isinstance(event, StatusUpdate)
        and not event.window_closed
        and not event.recipient_unreachable
    )


# How long a status for a message id we do not know is kept for its send record to appear.
UNKNOWN_STATUS_GRACE = dt.timedelta(minutes=10)


class Deferred(Exception):
    """This event cannot be applied yet; leave it stored and try again later."""


class StoredRow(NamedTuple):
    """An event's row as stored: what processing needs of it."""

    id: int
    external_id: str


Stored = tuple[StoredRow, Event]


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


class Dispatcher:
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


class Ingest:
    """Group commit for webhooks, then processing in the background.

    `store()` queues a request's events and waits; one writer task stores everything queued in
    one statement and answers each waiting request after that commit, while the next requests
    queue up behind it (no timer: at low load a batch is one request). New status updates then
    go to one applier task that applies them in batches; messages and channel events are
    processed one by one, a task per request, as their handlers talk back.

    Events are handed to processing after their commit, whatever became of the request that
    brought them; what is not applied before a stop is stored unprocessed and taken up by
    `Dispatcher.process_pending` at the next start.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        tasks: BackgroundTasks,
        *,
        max_batch: int = ROWS_PER_STATEMENT,
        gather_seconds: float = 0.1,
        max_queued_statuses: int = 50_000,
    ) -> None:
        self.dispatcher = dispatcher
        self.tasks = tasks
        self.max_batch = max_batch
        self.gather_seconds = gather_seconds
        self.max_queued_statuses = max_queued_statuses
        self._waiting: list[tuple[Sequence[Event], asyncio.Future[list[Stored]]]] = []
        self._statuses: list[tuple[StoredRow, StatusUpdate]] = []
        self._backlog = False  # statuses were left in the database: the queue was full
        self._writer: asyncio.Task[None] | None = None
        self._applier: asyncio.Task[None] | None = None
        self._batch_full = asyncio.Event()  # or the writer is idle: time to apply

    async def store(self, events: Sequence[Event]) -> list[Stored]:
        """Store a request's events durably (replays dropped); returns once they are committed."""
        future: asyncio.Future[list[Stored]] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        if self._writer is None:
            self._writer = self._start(self._write(), "ingest-store")
        # A request that goes away cancels only its wait: its events are stored and processed.
        return await future

    def _start(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self.tasks.start(coro, name=name)

    async def _write(self) -> None:
        batch: list[tuple[Sequence[Event], asyncio.Future[list[Stored]]]] = []
        try:
            while self._waiting:
                batch = self._take()
                try:
                    results = await self.dispatcher.store_batches([events for events, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        log.exception("storing a webhook's events failed")
                        _settle(batch[0][1], exc=exc)
                        continue
                    # One bad request must not fail its neighbours: each on its own.
                    log.warning("storing %d webhooks at once failed; one by one", len(batch))
                    for events, future in batch:
                        try:
                            stored = await self.dispatcher.store(events)
                        except Exception as one:
                            log.exception("storing a webhook's events failed")
                            _settle(future, exc=one)
                        else:
                            self._hand_off(stored)
                            _settle(future, stored)
                    continue
                for (_, future), stored in zip(batch, results, strict=True):
                    self._hand_off(stored)
                    _settle(future, stored)
        except BaseException as exc:  # cancelled: nobody may wait forever
            for _, future in [*batch, *self._waiting]:
                _settle(future, exc=RuntimeError(f"storing stopped: {exc!r}"))
            self._waiting.clear()
            raise
        finally:
            self._writer = None
            self._batch_full.set()

    def _take(self) -> list[tuple[Sequence[Event], asyncio.Future[list[Stored]]]]:
        """Queued requests up to max_batch events (at least one request)."""
        count, events = 0, 0
        for queued, _ in self._waiting:
            if count and events + len(queued) > self.max_batch:
                break
            count += 1
            events += len(queued)
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        return batch

    def _hand_off(self, stored: list[Stored]) -> None:
        others: list[Stored] = []
        for row, event in stored:
            if not batchable(event):
                others.append((row, event))
            elif self._backlog or len(self._statuses) >= self.max_queued_statuses:
                # Applying has fallen far behind: memory stays bounded, the applier reads
                # these back from the database, in order, once the queue is through.
                self._backlog = True
            else:
                self._statuses.append((row, event))
        if len(self._statuses) >= self.max_batch:
            self._batch_full.set()
        if self._statuses and self._applier is None:
            self._applier = self._start(self._apply(), "ingest-statuses")
        if others:
            self._start(self._process_each(others), f"{others[0][1].channel}-webhook")

    async def _apply(self) -> None:
        try:
            while self._statuses or self._backlog:
                if not self._statuses:
                    # New statuses queue again from here; any of them the database pass also
                    # reads is claimed by whichever applies it first, and applied once.
                    self._backlog = False
                    await self.dispatcher.process_pending(statuses_only=True)
                    continue
                await self._gather()
                batch = self._statuses[: self.max_batch]
                del self._statuses[: self.max_batch]
                await self.dispatcher.process_statuses(batch)
        finally:
            self._applier = None

    async def _gather(self) -> None:
        """While requests keep coming, let statuses pile up to a full batch (for a while): a
        transaction per batch, not per commit of the writer. Idle, apply at once."""
        if self._writer is None or len(self._statuses) >= self.max_batch:
            return
        self._batch_full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.gather_seconds):
                await self._batch_full.wait()

    async def _process_each(self, stored: list[Stored]) -> None:
        for row, event in stored:
            await self.dispatcher.process(row, event)

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Finish storing what requests wait for; give the applier `grace_seconds` to catch up
        (what it does not apply stays stored, unprocessed, for the next start)."""
        if self._writer is not None:
            done, _ = await asyncio.wait({self._writer}, timeout=grace_seconds)
            if not done:  # the database hangs: the waiting requests are answered 503
                self._writer.cancel()
                await asyncio.wait({self._writer})
        if self._applier is not None:
            done, _ = await asyncio.wait({self._applier}, timeout=grace_seconds)
            if not done:
                log.warning(
                    "stopping with %d status updates not applied yet; applied at the next start",
                    len(self._statuses),
                )
                self._statuses.clear()
                self._backlog = False
                self._applier.cancel()
                await asyncio.wait({self._applier})


def _settle(
    future: asyncio.Future[list[Stored]],
    result: list[Stored] | None = None,
    *,
    exc: BaseException | None = None,
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result or [])
