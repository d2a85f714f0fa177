"""The outbox sender against a scripted channel: retries, throttling, failures, leases, claims."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tortoise.queryset import ValuesListQuery

from channels import Channel, Outgoing, SendError, SendErrorReason, SendResult
from hub.access.auth import Scope
from hub.broadcast.queries import delivery_counts
from hub.broadcast.service import BroadcastRequest, cancel_broadcast, create_broadcast
from hub.messaging.sender import LEASE, Sender
from hub.roster.members import address_status
from hub.runtime import outbox_hooks
from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    MessageKind,
    OutboundMessage,
    OutboxState,
)
from models.sql import sqlite_literal
from tests.conftest import make_config
from tests.factories import make_member

START = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)
AREA = "Sungai Kunjang/Loa Bakung"


class FakeClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass(frozen=True)
class FakeSettings:
    messages_per_second: int = 10_000


class FakeChannel(Channel):
    """A channel whose answers the test scripts: each send takes the next outcome."""

    name = "fake"

    def __init__(self, *outcomes: BaseException | None) -> None:
        super().__init__(FakeSettings(), self._no_events)
        self.outcomes = list(outcomes)
        self.sent: list[Outgoing] = []
        self._ids = itertools.count(1)

    async def _no_events(self, events: list[Any]) -> None:
        raise AssertionError("the fake channel reports no events")

    async def send(self, outgoing: Outgoing) -> SendResult:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(outgoing)
        return SendResult(f"fake-{next(self._ids)}", dt.datetime.now(dt.UTC))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def sender_for(channel: FakeChannel, clock: FakeClock, **options: Any) -> Sender:
    return Sender(channels={"fake": channel}, hooks=outbox_hooks(), clock=clock, **options)


async def queue_broadcast(clock: FakeClock, recipients: int = 1) -> Broadcast:
    """A send-now broadcast to `recipients` members reachable only on the fake channel."""
    for n in range(recipients):
        await make_member(f"{AREA}/RT {n + 1:03d}", channels=("fake",))
    return await create_broadcast(
        make_config(),
        BroadcastRequest(title="Kerja bakti", text="Minggu pukul 07.00.", areas=[AREA]),
        user=None,
        scope=Scope(None, None),
        enabled_channels={"fake": FakeChannel},
        now=clock(),
    )


def error_count(sender: Sender, reason: str) -> float:
    value = sender.metrics.registry.get_sample_value(
        "hub_send_errors_total", {"channel": "fake", "reason": reason}
    )
    return value or 0.0


@pytest.fixture(autouse=True)
def _database(db: str) -> Iterator[None]:
    """Every test here runs on SQLite and on PostgreSQL."""
    yield


# Success -------------------------------------------------------------------------------------


async def test_a_message_is_sent_and_its_delivery_follows(clock: FakeClock) -> None:
    broadcast = await queue_broadcast(clock)
    channel = FakeChannel()
    sender = sender_for(channel, clock)
    assert await sender.run_once() == 1

    message = await OutboundMessage.get()
    assert (message.state, message.attempts, message.external_id) == (OutboxState.SENT, 1, "fake-1")
    assert message.claim_token is None and message.claimed_until is None
    assert channel.sent[0].key == str(message.id)
    assert channel.sent[0].buttons[0].payload.startswith("ack:")
    delivery = await Delivery.get()
    assert (delivery.status, delivery.external_id, delivery.attempts) == (
        DeliveryStatus.SENT,
        "fake-1",
        1,
    )
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SENT
    assert await sender.run_once() == 0


# Retries -------------------------------------------------------------------------------------


async def test_a_retryable_error_requeues_with_backoff(clock: FakeClock) -> None:
    await queue_broadcast(clock)
    channel = FakeChannel(SendError(SendErrorReason.CONNECTION, "timed out"))
    sender = sender_for(channel, clock)
    assert await sender.run_once() == 1

    message = await OutboundMessage.get()
    assert message.state == OutboxState.QUEUED
    assert message.attempts == 1
    assert message.next_attempt_at > clock.now
    assert message.failure_reason == "connection: timed out"
    assert message.claim_token is None
    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert error_count(sender, "connection") == 1

    assert await sender.run_once() == 0  # not due yet
    clock.now = message.next_attempt_at
    assert await sender.run_once() == 1
    message = await OutboundMessage.get()
    assert (message.state, message.attempts) == (OutboxState.SENT, 2)
    assert (await Delivery.get()).status == DeliveryStatus.SENT
    assert len(channel.sent) == 1


async def test_throttling_honours_retry_after(clock: FakeClock) -> None:
    await queue_broadcast(clock)
    channel = FakeChannel(SendError(SendErrorReason.THROTTLED, "429", retry_after=90))
    sender = sender_for(channel, clock)
    assert await sender.run_once() == 1
    message = await OutboundMessage.get()
    assert message.state == OutboxState.QUEUED
    assert message.next_attempt_at >= clock.now + dt.timedelta(seconds=90)
    assert error_count(sender, "throttled") == 1
    clock.advance(seconds=89)
    assert await sender.claim() == []


async def test_retries_give_up_after_max_attempts(clock: FakeClock) -> None:
    broadcast = await queue_broadcast(clock)
    channel = FakeChannel(*[SendError(SendErrorReason.CONNECTION, "down")] * 3)
    sender = sender_for(channel, clock, max_attempts=3)
    for attempt in range(1, 4):
        assert await sender.run_once() == 1, attempt
        clock.advance(hours=2)
    message = await OutboundMessage.get()
    assert (message.state, message.attempts) == (OutboxState.FAILED, 3)
    assert message.failure_reason == "gave up after 3 attempts: connection: down"
    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason == message.failure_reason
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SENT
    assert await sender.run_once() == 0


async def test_a_send_held_by_the_channels_own_pacing_is_no_attempt(clock: FakeClock) -> None:
    """However often a chat's pacing holds a message back, it waits its turn and never fails."""
    broadcast = await queue_broadcast(clock)
    held = SendError(SendErrorReason.THROTTLED, "chat at its limit", retry_after=60, held=True)
    channel = FakeChannel(*[held] * 5)
    sender = sender_for(channel, clock, max_attempts=2)
    for _ in range(5):
        assert await sender.run_once() == 1
        message = await OutboundMessage.get()
        assert (message.state, message.attempts) == (OutboxState.QUEUED, 0)
        assert message.next_attempt_at == clock.now + dt.timedelta(seconds=60)
        assert await sender.claim() == []  # not before the chat's turn
        assert sender.limiter("fake").delay() == 0  # the rest of the account is not held
        clock.advance(seconds=60)
    assert error_count(sender, "throttled") == 0
    delivery = await Delivery.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert await sender.run_once() == 1
    message = await OutboundMessage.get()
    assert (message.state, message.attempts) == (OutboxState.SENT, 1)
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SENT


# Failures for good ---------------------------------------------------------------------------


async def test_a_permanent_error_fails_the_message_and_the_delivery(clock: FakeClock) -> None:
    broadcast = await queue_broadcast(clock, recipients=2)
    channel = FakeChannel(SendError(SendErrorReason.REJECTED, "message is too long"))
    sender = sender_for(channel, clock)
    assert await sender.run_once() == 2

    failed = await OutboundMessage.get(state=OutboxState.FAILED)
    assert failed.attempts == 1
    assert failed.failure_reason == "rejected: message is too long"
    delivery = await Delivery.get(id=failed.delivery_id)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason == "rejected: message is too long"
    assert delivery.failed_at == clock.now
    assert await OutboundMessage.filter(state=OutboxState.SENT).count() == 1
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SENT


async def test_blocked_marks_the_address(clock: FakeClock) -> None:
    await queue_broadcast(clock)
    channel = FakeChannel(SendError(SendErrorReason.BLOCKED, "bot was blocked by the user"))
    sender = sender_for(channel, clock)
    assert await sender.run_once() == 1

    address = await ChannelAddress.get()
    assert address.blocked_at == clock.now
    assert address_status([address]) == "blocked"
    assert (await OutboundMessage.get()).state == OutboxState.FAILED
    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.failure_reason is not None and "blocked" in delivery.failure_reason


async def test_a_crashing_channel_does_not_lose_the_message(clock: FakeClock) -> None:
    await queue_broadcast(clock)
    channel = FakeChannel(RuntimeError("bug in the channel"))
    sender = sender_for(channel, clock)
    assert await sender.run_once() == 1

    message = await OutboundMessage.get()
    assert message.state == OutboxState.QUEUED
    assert message.attempts == 1
    assert message.failure_reason == "connection: RuntimeError"
    assert (await Delivery.get()).status == DeliveryStatus.PENDING

    clock.now = message.next_attempt_at
    assert await sender.run_once() == 1
    assert (await OutboundMessage.get()).state == OutboxState.SENT


# What is and is not claimed ------------------------------------------------------------------


async def test_expired_claims_are_requeued(clock: FakeClock) -> None:
    await queue_broadcast(clock, recipients=2)
    first, second = await OutboundMessage.all().order_by("id")
    await OutboundMessage.filter(id=first.id).update(
        state=OutboxState.SENDING, claim_token="dead-sender", claimed_until=clock.now - LEASE
    )
    await OutboundMessage.filter(id=second.id).update(
        state=OutboxState.SENDING,
        claim_token="live-sender",
        claimed_until=clock.now + dt.timedelta(seconds=30),
    )
    sender = sender_for(FakeChannel(), clock)
    assert await sender.requeue_expired() == 1
    first = await OutboundMessage.get(id=first.id)
    assert (first.state, first.claim_token, first.claimed_until) == (OutboxState.QUEUED, None, None)
    assert (await OutboundMessage.get(id=second.id)).state == OutboxState.SENDING

    assert await sender.run_once() == 1  # only the requeued one
    assert (await OutboundMessage.get(id=first.id)).state == OutboxState.SENT
    assert (await OutboundMessage.get(id=second.id)).state == OutboxState.SENDING


async def test_only_due_queued_messages_of_its_channels_are_claimed(clock: FakeClock) -> None:
    member = await make_member(f"{AREA}/RT 001", channels=("fake", "sandbox"))
    common = {"kind": MessageKind.REPLY, "member": member, "text": "halo"}
    due = await OutboundMessage.create(
        channel="fake", address="a", next_attempt_at=clock.now, **common
    )
    await OutboundMessage.create(
        channel="fake", address="b", next_attempt_at=clock.now + dt.timedelta(minutes=1), **common
    )
    await OutboundMessage.create(
        channel="sandbox", address="c", next_attempt_at=clock.now, **common
    )
    await OutboundMessage.create(
        channel="fake",
        address="d",
        next_attempt_at=clock.now,
        state=OutboxState.CANCELLED,
        **common,
    )
    channel = FakeChannel()
    sender = sender_for(channel, clock)
    claimed = await sender.claim()
    assert [m.id for m in claimed] == [due.id]
    assert claimed[0].state == OutboxState.SENDING
    assert claimed[0].claimed_until == clock.now + LEASE
    await sender.deliver(claimed[0])
    assert (await OutboundMessage.get(id=due.id)).state == OutboxState.SENT
    assert [o.address for o in channel.sent] == ["a"]


@pytest.mark.parametrize("rounds", [3])
async def test_concurrent_claims_never_share_a_row(clock: FakeClock, rounds: int) -> None:
    member = await make_member(f"{AREA}/RT 001", channels=("fake",))
    for _ in range(rounds):
        await OutboundMessage.bulk_create(
            [
                OutboundMessage(
                    kind=MessageKind.REPLY,
                    member=member,
                    channel="fake",
                    address=f"a{n}",
                    text="halo",
                    next_attempt_at=clock.now,
                )
                for n in range(60)
            ]
        )
        senders = [sender_for(FakeChannel(), clock, batch_size=40) for _ in range(3)]
        results = await asyncio.gather(*(s.claim() for s in senders))
        ids = [m.id for claimed in results for m in claimed]
        assert len(ids) == len(set(ids)), "a row was claimed twice"
        tokens = {m.claim_token for claimed in results for m in claimed}
        assert len(tokens) == sum(1 for claimed in results if claimed)
        assert await OutboundMessage.filter(state=OutboxState.SENDING).count() == len(ids)
        for claimed in results:
            assert len({m.claim_token for m in claimed}) <= 1
        await OutboundMessage.all().delete()


async def test_a_claim_that_loses_the_race_takes_nothing(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sender A selects the due rows, sender B claims them all, then A's update finds none."""
    await queue_broadcast(clock, recipients=3)
    first, second = sender_for(FakeChannel(), clock), sender_for(FakeChannel(), clock)
    second_done = asyncio.Event()
    real_execute = ValuesListQuery._execute
    tasks: dict[str, asyncio.Task[Any]] = {}
    selected: list[int] = []

    async def paused_execute(self: ValuesListQuery[Any]) -> Any:
        rows = await real_execute(self)
        if asyncio.current_task() is tasks.get("first"):
            selected.extend(rows)
            await second_done.wait()  # the first sender stalls between select and update
        return rows

    monkeypatch.setattr(ValuesListQuery, "_execute", paused_execute)

    async def second_claim() -> list[OutboundMessage]:
        try:
            return await second.claim()
        finally:
            second_done.set()

    tasks["first"] = asyncio.create_task(first.claim())
    await asyncio.sleep(0)
    won = await second_claim()
    lost = await tasks["first"]
    assert len(selected) == 3, "the first sender must have seen the rows before losing them"
    assert len(won) == 3
    assert lost == []
    assert await OutboundMessage.filter(claim_token=won[0].claim_token).count() == 3


# Cancelling while the sender holds messages --------------------------------------------------


async def test_cancel_stops_claimed_messages_that_have_not_left(clock: FakeClock) -> None:
    broadcast = await queue_broadcast(clock, recipients=3)
    channel = FakeChannel()
    sender = sender_for(channel, clock)
    claimed = await sender.claim()  # a whole batch, waiting for the pacing bucket
    assert len(claimed) == 3
    await sender.deliver(claimed[0])

    await cancel_broadcast(broadcast, user=None, now=clock())
    for message in claimed[1:]:
        await sender.deliver(message)

    assert len(channel.sent) == 1
    states = await OutboundMessage.all().order_by("id").values_list("state", flat=True)
    assert states == [OutboxState.SENT, OutboxState.CANCELLED, OutboxState.CANCELLED]
    counts = await delivery_counts(broadcast.id)
    assert (counts["sent"], counts["cancelled"], counts["pending"]) == (1, 2, 0)
    assert await sender.run_once() == 0


async def test_a_message_in_flight_when_cancelled_is_recorded_as_sent(clock: FakeClock) -> None:
    broadcast = await queue_broadcast(clock)
    release = asyncio.Event()
    started = asyncio.Event()

    class SlowChannel(FakeChannel):
        async def send(self, outgoing: Outgoing) -> SendResult:
            started.set()
            await release.wait()
            return await super().send(outgoing)

    sender = sender_for(SlowChannel(), clock)
    sending = asyncio.create_task(sender.run_once())
    await started.wait()
    await cancel_broadcast(broadcast, user=None, now=clock())
    release.set()
    assert await sending == 1

    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.SENT  # it reached the phone; the record says so
    assert (await OutboundMessage.get()).state == OutboxState.SENT
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.CANCELLED


async def test_a_cancelled_message_that_fails_is_not_retried(clock: FakeClock) -> None:
    broadcast = await queue_broadcast(clock)
    release = asyncio.Event()
    started = asyncio.Event()

    class FailingChannel(FakeChannel):
        async def send(self, outgoing: Outgoing) -> SendResult:
            started.set()
            await release.wait()
            raise SendError(SendErrorReason.CONNECTION, "reset")

    sender = sender_for(FailingChannel(), clock)
    sending = asyncio.create_task(sender.run_once())
    await started.wait()
    await cancel_broadcast(broadcast, user=None, now=clock())
    release.set()
    await sending
    assert (await OutboundMessage.get()).state == OutboxState.CANCELLED
    assert (await Delivery.get()).status == DeliveryStatus.CANCELLED
    clock.advance(hours=1)
    assert await sender.run_once() == 0


async def test_a_sender_whose_lease_ran_out_does_not_send_twice(clock: FakeClock) -> None:
    await queue_broadcast(clock)
    slow, fast = FakeChannel(), FakeChannel()
    stalled = sender_for(slow, clock)
    claimed = await stalled.claim()
    clock.advance(seconds=LEASE.total_seconds() + 1)  # the stalled sender missed its lease
    other = sender_for(fast, clock)
    assert await other.run_once() == 1
    await stalled.deliver(claimed[0])
    assert len(fast.sent) == 1
    assert slow.sent == []


async def test_outcomes_are_written_as_the_platform_gave_them(clock: FakeClock) -> None:
    """The group commit writes values into SQL on SQLite: quotes and semicolons stay text."""
    awkward = ["it's; DROP TABLE delivery; --", "wamid.'') OR 1=1 --", "ü\u200bNULL\\n'"]

    class AwkwardChannel(FakeChannel):
        async def send(self, outgoing: Outgoing) -> SendResult:
            self.sent.append(outgoing)
            return SendResult(awkward[len(self.sent) - 1], clock.now)

    broadcast = await queue_broadcast(clock, recipients=len(awkward))
    sender = sender_for(AwkwardChannel(), clock)
    assert await sender.run_once() == len(awkward)
    stored = await OutboundMessage.all().order_by("id").values_list("external_id", "sent_at")
    assert stored == [(external_id, clock.now) for external_id in awkward]
    deliveries = await Delivery.filter(broadcast_id=broadcast.id).order_by("id")
    assert [(d.status, d.external_id) for d in deliveries] == [
        (DeliveryStatus.SENT, external_id) for external_id in awkward
    ]
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SENT


def test_sqlite_literals() -> None:
    assert sqlite_literal(None) == "NULL"
    assert sqlite_literal(True) == "1"
    assert sqlite_literal(7) == "7"
    assert sqlite_literal(0.5) == "0.5"
    assert sqlite_literal("O'Neil") == "'O''Neil'"
    at = dt.datetime(2030, 3, 4, 2, 0, 1, 500, tzinfo=dt.UTC)
    assert sqlite_literal(at) == "'2030-03-04 02:00:01.000500+00:00'"
    for refused in ("a\x00b", float("nan"), b"bytes", [1]):
        with pytest.raises(TypeError):
            sqlite_literal(refused)
