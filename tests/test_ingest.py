"""The webhooks' group commit and the batched application of status updates
(`hub.inbound.ingest`, `hub.inbound.statuses`).

Signed WhatsApp status webhooks go through the real route and wrapper; the writer and the
applier are held or broken by wrapping the Dispatcher's methods. Every test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from tortoise.exceptions import OperationalError

from channels import (
    ChannelEvent,
    ChannelEventKind,
    InboundKind,
    InboundMessage,
    Location,
    Media,
    MediaKind,
    PollAnswer,
    StatusKind,
    StatusUpdate,
    event_from_json,
    event_to_json,
)
from hub.app import HUB, Hub
from hub.inbound.dispatch import Dispatcher
from hub.inbound.ingest import Ingest
from hub.web.webhooks import INGEST
from models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    sql,
)
from tests.fake_graph import (
    signed_webhook,
    status_notification,
    text_notification,
)
from tests.fake_graph import status as status_entry

T0 = int(dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC).timestamp()) - 3600  # an hour before now
LADDER_FIELDS = (
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "acknowledged_at",
    "failed_at",
    "failure_reason",
    "read_evidence",
    "ack_evidence",
)


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


# Rows and webhooks -------------------------------------------------------------------------

_members = iter(range(1, 1_000_000))


async def sent_deliveries(count: int, prefix: str = "wamid.T") -> list[Delivery]:
    """`count` sent deliveries of one broadcast; delivery i's message is f"{prefix}{i}"."""
    broadcast = await Broadcast.create(
        title="Rapat", text="Rapat RT", status=BroadcastStatus.SENT, audience={"members": []}
    )
    sent_at = dt.datetime.fromtimestamp(T0, dt.UTC)
    deliveries = []
    for i in range(count):
        n = next(_members)
        member = await Member.create(
            name=f"Ketua {n}", phone=f"+6281300{n:06d}", invite_code=f"I{n}"
        )
        delivery = await Delivery.create(
            broadcast=broadcast,
            member=member,
            channel="whatsapp",
            address=member.phone,
            status=DeliveryStatus.SENT,
            external_id=f"{prefix}{i}",
            sent_at=sent_at,
        )
        await OutboundMessage.create(
            kind=MessageKind.BROADCAST,
            delivery=delivery,
            member=member,
            channel="whatsapp",
            address=member.phone,
            text="Rapat RT",
            state=OutboxState.SENT,
            next_attempt_at=sent_at,
            external_id=f"{prefix}{i}",
            sent_at=sent_at,
        )
        deliveries.append(delivery)
    return deliveries


def webhook(wamid: str, kind: str, at: int = T0 + 10, **more: Any) -> tuple[bytes, dict[str, str]]:
    """A signed notification of one status."""
    return signed_webhook(status_notification([status_entry(wamid, kind, timestamp=at, **more)]))


async def post(client: TestClient, request: tuple[bytes, dict[str, str]]) -> ClientResponse:
    body, headers = request
    return await client.post("/webhooks/whatsapp", data=body, headers=headers)


async def ladder(delivery: Delivery) -> tuple[Any, ...]:
    await delivery.refresh_from_db()
    return tuple(getattr(delivery, name) for name in LADDER_FIELDS)


class HeldWriter:
    """Wraps Dispatcher.store_batches: the first call waits for `release`; records each call."""

    def __init__(self, dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = asyncio.Event()
        self.calls: list[int] = []  # requests per call
        self.entered = asyncio.Event()
        original = dispatcher.store_batches

        async def store_batches(batches: Sequence[Sequence[Any]]) -> Any:
            self.calls.append(len(batches))
            self.entered.set()
            await self.release.wait()
            return await original(batches)

        monkeypatch.setattr(dispatcher, "store_batches", store_batches)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in 5 s")


# Group commit ------------------------------------------------------------------------------


async def test_requests_are_answered_after_the_commit_that_holds_them(
    wa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(wa)
    d1, d2, d3 = await sent_deliveries(3)
    writer = HeldWriter(hub.dispatcher, monkeypatch)

    first = asyncio.create_task(post(wa, webhook("wamid.T0", "delivered")))
    await writer.entered.wait()
    # While the first commit is under way the next requests queue up behind it.
    later = [
        asyncio.create_task(post(wa, webhook("wamid.T1", "read"))),
        asyncio.create_task(post(wa, webhook("wamid.T2", "read"))),
    ]
    await until(lambda: len(wa.app[INGEST]._waiting) == 2)
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in [first, *later])  # nobody answered before storing
    assert await InboundEvent.all().count() == 0

    writer.release.set()
    answers = [await task for task in [first, *later]]
    assert [a.status for a in answers] == [200, 200, 200]
    assert [(await a.json())["events"] for a in answers] == [1, 1, 1]
    assert writer.calls == [1, 2]  # the two that waited were stored by one statement
    await hub.tasks.wait()
    assert [(await ladder(d))[0] for d in (d1, d2, d3)] == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.READ,
    ]
    assert not await InboundEvent.filter(processed_at__isnull=True).exists()


async def test_replays_are_dropped_within_a_batch_and_across_batches(
    wa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(wa)
    _, d1, d2 = await sent_deliveries(3)
    writer = HeldWriter(hub.dispatcher, monkeypatch)
    read = webhook("wamid.T1", "read", T0 + 30)

    first = asyncio.create_task(post(wa, webhook("wamid.T0", "delivered")))
    await writer.entered.wait()
    queued = [
        asyncio.create_task(post(wa, read)),
        asyncio.create_task(post(wa, read)),  # Meta delivering the same notification twice
        asyncio.create_task(post(wa, webhook("wamid.T2", "delivered"))),
    ]
    await until(lambda: len(wa.app[INGEST]._waiting) == 3)
    writer.release.set()
    answers = [await task for task in [first, *queued]]
    assert [a.status for a in answers] == [200] * 4
    assert [(await a.json())["events"] for a in answers] == [1, 1, 0, 1]
    assert writer.calls == [1, 3]

    # Again later, in a batch of its own; and one notification carrying the same status twice.
    again = await post(wa, read)
    assert (again.status, (await again.json())["events"]) == (200, 0)
    entry = status_entry("wamid.T2", "read", timestamp=T0 + 40)
    twice = await post(wa, signed_webhook(status_notification([entry, entry])))
    assert (twice.status, (await twice.json())["events"]) == (200, 1)
    await hub.tasks.wait()

    keys = await InboundEvent.all().order_by("id").values_list("external_id", flat=True)
    assert keys == [
        "status:wamid.T0:delivered",
        "status:wamid.T1:read",
        "status:wamid.T2:delivered",
        "status:wamid.T2:read",
    ]
    assert (await ladder(d1))[:4] == (
        DeliveryStatus.READ,
        dt.datetime.fromtimestamp(T0, dt.UTC),
        None,
        dt.datetime.fromtimestamp(T0 + 30, dt.UTC),
    )
    assert (await ladder(d2))[0] == DeliveryStatus.READ
    assert not await InboundEvent.filter(processed_at__isnull=True).exists()


async def test_a_failed_insert_answers_503_and_keeps_what_was_acknowledged(
    wa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(wa)
    d0, d1 = await sent_deliveries(2)
    assert (await post(wa, webhook("wamid.T0", "read"))).status == 200
    await hub.tasks.wait()

    async def broken(batches: Sequence[Sequence[Any]]) -> Any:
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(hub.dispatcher, "store_batches", broken)
    monkeypatch.setattr(hub.dispatcher, "store", broken)
    failed = await post(wa, webhook("wamid.T1", "delivered"))
    assert failed.status == 503  # Meta delivers it again later
    await hub.tasks.wait()
    assert await InboundEvent.all().values_list("external_id", flat=True) == [
        "status:wamid.T0:read"
    ]
    assert (await ladder(d0))[0] == DeliveryStatus.READ  # acknowledged before: still there
    assert (await ladder(d1))[0] == DeliveryStatus.SENT

    monkeypatch.undo()
    retried = await post(wa, webhook("wamid.T1", "delivered"))
    assert (retried.status, (await retried.json())["events"]) == (200, 1)
    await hub.tasks.wait()
    assert (await ladder(d1))[0] == DeliveryStatus.DELIVERED


async def test_one_bad_request_does_not_fail_the_others_in_its_batch(
    wa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(wa)
    d0, d1, d2 = await sent_deliveries(3)
    original_insert = sql.insert_inbound_ignoring_duplicates

    async def insert(rows: Sequence[tuple[Any, ...]]) -> Any:
        if any("wamid.T1" in row[1] for row in rows):
            raise OperationalError("value too long for type character varying(128)")
        return await original_insert(rows)

    monkeypatch.setattr(sql, "insert_inbound_ignoring_duplicates", insert)
    writer = HeldWriter(hub.dispatcher, monkeypatch)
    first = asyncio.create_task(post(wa, webhook("wamid.T0", "delivered")))
    await writer.entered.wait()
    queued = [asyncio.create_task(post(wa, webhook(f"wamid.T{i}", "read"))) for i in (0, 1, 2)]
    await until(lambda: len(wa.app[INGEST]._waiting) == 3)
    writer.release.set()
    answers = [await task for task in [first, *queued]]
    assert [a.status for a in answers] == [200, 200, 503, 200]
    await hub.tasks.wait()
    assert [(await ladder(d))[0] for d in (d0, d1, d2)] == [
        DeliveryStatus.READ,
        DeliveryStatus.SENT,
        DeliveryStatus.READ,
    ]
    assert await InboundEvent.filter(external_id__contains="wamid.T1").count() == 0


async def test_a_message_and_a_status_in_one_notification(wa: TestClient) -> None:
    hub = hub_of(wa)
    (delivery,) = await sent_deliveries(1)
    payload = text_notification("6281300999999", "halo", wamid="wamid.IN1")
    value = payload["entry"][0]["changes"][0]["value"]
    value["statuses"] = [status_entry("wamid.T0", "read", timestamp=T0 + 5)]
    resp = await post(wa, signed_webhook(payload))
    assert (resp.status, (await resp.json())["events"]) == (200, 2)
    await hub.tasks.wait()
    assert (await ladder(delivery))[0] == DeliveryStatus.READ
    rows = await InboundEvent.all().order_by("id").values_list("external_id", "processed_at")
    assert [key for key, _ in rows] == ["msg:wamid.IN1", "status:wamid.T0:read"]
    assert all(processed is not None for _, processed in rows)


async def test_ids_and_addresses_wider_than_their_columns_are_never_stored(wa: TestClient) -> None:
    hub = hub_of(wa)
    # The widest id the hub sends with (OutboundMessage.external_id holds 128 characters).
    (delivery,) = await sent_deliveries(1, prefix="wamid." + "W" * 121)
    widest = "wamid." + "W" * 121 + "0"
    assert len(widest) == 128
    at = dt.datetime.fromtimestamp(T0 + 20, dt.UTC)
    phone = "+6281300999999"
    refused = [
        InboundMessage("whatsapp", phone, "wamid." + "A" * 5000, at, text="halo"),
        InboundMessage("whatsapp", phone, "wamid.R1", at, reply_to="wamid." + "B" * 123),
        InboundMessage("whatsapp", "+" + "6" * 100, "wamid.R2", at, text="halo"),
        InboundMessage("telegram", "-100", "-100:7", at, sender="5" * 101, in_group=True),
        InboundMessage("whatsapp", phone, "wamid.R3", at, phone="+" + "6" * 20),
        StatusUpdate("whatsapp", widest + "X", StatusKind.READ, at),
        ChannelEvent("telegram", "5" * 101, ChannelEventKind.BLOCKED, at),
        ChannelEvent(
            "telegram", "-4012", ChannelEventKind.GROUP_MIGRATED, at, {"new_address": "-1" * 51}
        ),
    ]
    # As wide as their columns: kept, under keys that fit inbound_event.external_id.
    kept = [
        StatusUpdate("whatsapp", widest, StatusKind.ACKNOWLEDGED, at, evidence="button"),
        InboundMessage("whatsapp", phone, "wamid." + "C" * 122, at, text="halo"),
        ChannelEvent("telegram", "5" * 100, ChannelEventKind.REMOVED_FROM_GROUP, at),
    ]
    stored = await hub.dispatcher.store([*refused, *kept])
    assert [event for _, event in stored] == kept
    keys = await InboundEvent.all().values_list("external_id", flat=True)
    assert len(keys) == 3 and all(len(key) <= 128 for key in keys)
    assert await hub.dispatcher.store(kept) == []  # replays are still known as replays
    await hub.dispatcher.process_many(stored[:1])
    assert (await ladder(delivery))[0] == DeliveryStatus.ACKNOWLEDGED


# Applying statuses in batches --------------------------------------------------------------


def shuffled_statuses(seed: int, count: int, now: int) -> list[tuple[str, str, int, int | None]]:
    """(message suffix, status, timestamp, error code) in a random order with repeats: receipts
    out of order, failures before and after, replays, ids nobody sent (old and recent)."""
    rng = random.Random(seed)
    wamids = [str(i) for i in range(6)] + ["R", "N", "old", "new"]
    out = []
    for _ in range(count):
        suffix = rng.choice(wamids)
        kind = rng.choice(["sent", "delivered", "read", "read", "failed"])
        at = (now - 3600 if suffix == "old" else now - 60) + rng.randrange(50)
        error = rng.choice([131026, 131049]) if kind == "failed" else None
        out.append((suffix, kind, at, error))
        if rng.random() < 0.2:
            out.append(out[rng.randrange(len(out))])  # a replay of something seen before
    return out


async def world(prefix: str) -> list[Delivery]:
    """Six sent deliveries (the first still pending), a reminder for the second under its own
    message id, and a reply that belongs to no delivery."""
    deliveries = await sent_deliveries(6, prefix)
    await Delivery.filter(id=deliveries[0].id).update(status=DeliveryStatus.PENDING, sent_at=None)
    for kind, suffix, delivery in (
        (MessageKind.REMINDER, "R", deliveries[1]),
        (MessageKind.REPLY, "N", None),
    ):
        await OutboundMessage.create(
            kind=kind,
            delivery=delivery,
            channel="whatsapp",
            address="+6281300000000",
            text="…",
            state=OutboxState.SENT,
            next_attempt_at=dt.datetime.now(dt.UTC),
            external_id=f"{prefix}{suffix}",
        )
    return deliveries


def as_events(prefix: str, statuses: list[tuple[str, str, int, int | None]]) -> list[StatusUpdate]:
    events = []
    for suffix, kind, at, error in statuses:
        reason = f"{error} Message undeliverable" if error else ""
        events.append(
            StatusUpdate(
                "whatsapp",
                f"{prefix}{suffix}",
                StatusKind(kind),
                dt.datetime.fromtimestamp(at, dt.UTC),
                reason=reason,
            )
        )
    return events


async def outcome(prefix: str, deliveries: list[Delivery]) -> tuple[Any, ...]:
    rows = await InboundEvent.filter(external_id__contains=prefix).order_by("id")
    events = [
        (row.external_id.replace(prefix, "*"), row.processed_at is None, row.error) for row in rows
    ]
    return tuple([await ladder(d) for d in deliveries]), tuple(events)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_batched_statuses_end_where_one_by_one_ends(client: TestClient, seed: int) -> None:
    dispatcher = hub_of(client).dispatcher
    statuses = shuffled_statuses(seed, 40, int(dt.datetime.now(dt.UTC).timestamp()))
    one, many = await world("wamid.A"), await world("wamid.B")

    for event in as_events("wamid.A", statuses):  # as each webhook arrived, on its own
        for row, stored in await dispatcher.store([event]):
            await dispatcher.process(row, stored)

    stored = (await dispatcher.store_batches([as_events("wamid.B", statuses)]))[0]
    rng = random.Random(seed)
    while stored:
        size = rng.randint(1, 12)
        await dispatcher.process_statuses(stored[:size])  # type: ignore[arg-type]
        stored = stored[size:]

    expected, got = await outcome("wamid.A", one), await outcome("wamid.B", many)
    assert got == expected
    assert {state[0] for state in got[0]} - {DeliveryStatus.SENT}  # something did happen


async def test_a_status_is_applied_once_even_when_processed_twice(client: TestClient) -> None:
    dispatcher = hub_of(client).dispatcher
    (delivery,) = await sent_deliveries(1)
    at = dt.datetime.fromtimestamp(T0 + 10, dt.UTC)
    failed = StatusUpdate("whatsapp", "wamid.T0", StatusKind.FAILED, at, reason="131026 x")
    late = StatusUpdate("whatsapp", "wamid.T0", StatusKind.DELIVERED, at + dt.timedelta(seconds=5))
    stored = await dispatcher.store([failed, late])
    await dispatcher.process_statuses(stored)  # type: ignore[arg-type]
    assert (await ladder(delivery))[0] == DeliveryStatus.DELIVERED  # a late receipt heals

    # The failure handed over again (process_pending racing the applier): no effect, as
    # applying it a second time would fail the delivery again.
    await dispatcher.process_statuses(stored[:1])  # type: ignore[arg-type]
    await asyncio.gather(
        dispatcher.process_statuses(stored[:1]),  # type: ignore[arg-type]
        dispatcher.process_statuses(stored[:1]),  # type: ignore[arg-type]
    )
    for row, event in stored[:1]:
        await dispatcher.process(row, event)  # the one-by-one path claims it the same way
    assert (await ladder(delivery))[0] == DeliveryStatus.DELIVERED

    # Mixed with a new one: the new one applies, the old one still does not.
    read = StatusUpdate("whatsapp", "wamid.T0", StatusKind.READ, at + dt.timedelta(seconds=9))
    stored_read = await dispatcher.store([read])
    await dispatcher.process_statuses([*stored[:1], *stored_read])  # type: ignore[list-item]
    assert (await ladder(delivery))[0] == DeliveryStatus.READ


async def test_a_late_sent_does_not_heal_a_failure(client: TestClient) -> None:
    """Platforms report "sent" before "failed"; arriving after it, it is no sign of life."""
    dispatcher = hub_of(client).dispatcher
    (batched, one_by_one) = await sent_deliveries(2)
    at = dt.datetime.fromtimestamp(T0 + 10, dt.UTC)
    for wamid, batch in (("wamid.T0", True), ("wamid.T1", False)):
        stored = await dispatcher.store(
            [
                StatusUpdate("whatsapp", wamid, StatusKind.FAILED, at, reason="131026 x"),
                StatusUpdate("whatsapp", wamid, StatusKind.SENT, at + dt.timedelta(seconds=1)),
            ]
        )
        if batch:
            await dispatcher.process_statuses(stored)  # type: ignore[arg-type]
        else:
            for row, event in stored:
                await dispatcher.process(row, event)
    assert (await ladder(batched))[0] == DeliveryStatus.FAILED
    assert (await ladder(one_by_one))[0] == DeliveryStatus.FAILED


# Restarts and backlogs ---------------------------------------------------------------------


async def test_events_answered_but_not_applied_are_taken_up_by_process_pending(
    wa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(wa)
    deliveries = await sent_deliveries(3)

    async def crashed(stored: Sequence[Any]) -> None:
        """The hub stopped between the answer and the applying."""

    monkeypatch.setattr(hub.dispatcher, "process_statuses", crashed)
    for i in range(3):
        assert (await post(wa, webhook(f"wamid.T{i}", "read"))).status == 200
    await hub.tasks.wait()
    assert await InboundEvent.filter(processed_at__isnull=True).count() == 3
    message = InboundMessage("whatsapp", "+6281300999999", "wamid.M", dt.datetime.now(dt.UTC))
    await hub.dispatcher.store([message])
    monkeypatch.undo()

    # At the next start (and from the maintenance job), in pages of `limit`, oldest first.
    assert await hub.dispatcher.process_pending(limit=2, statuses_only=True) == 3
    assert [(await ladder(d))[0] for d in deliveries] == [DeliveryStatus.READ] * 3
    assert await InboundEvent.filter(processed_at__isnull=True).values_list(
        "external_id", flat=True
    ) == ["msg:wamid.M"]
    assert await hub.dispatcher.process_pending() == 1
    assert await hub.dispatcher.process_pending() == 0


async def test_stopping_keeps_unapplied_statuses_for_the_next_start(
    wa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(wa)
    ingest = wa.app[INGEST]
    (delivery,) = await sent_deliveries(1)
    original = hub.dispatcher.process_statuses
    stuck = asyncio.Event()

    async def slow(stored: Sequence[Any]) -> None:
        await stuck.wait()  # the database hangs, or there is just too much to do
        await original(stored)

    monkeypatch.setattr(hub.dispatcher, "process_statuses", slow)
    assert (await post(wa, webhook("wamid.T0", "read"))).status == 200
    await ingest.close(grace_seconds=0.1)
    assert (await ladder(delivery))[0] == DeliveryStatus.SENT
    monkeypatch.undo()
    assert await hub.dispatcher.process_pending() == 1
    assert (await ladder(delivery))[0] == DeliveryStatus.READ


async def test_statuses_beyond_the_queue_bound_are_read_back_in_order(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = hub_of(client)
    ingest = Ingest(hub.dispatcher, hub.tasks, max_queued_statuses=2)
    d0, d1 = await sent_deliveries(2)
    held = asyncio.Event()
    original = hub.dispatcher.process_statuses

    async def held_first(stored: Sequence[Any]) -> None:
        await held.wait()
        await original(stored)

    monkeypatch.setattr(hub.dispatcher, "process_statuses", held_first)
    at = dt.datetime.fromtimestamp(T0 + 10, dt.UTC)

    def update(n: int, kind: StatusKind, seconds: int) -> StatusUpdate:
        return StatusUpdate(
            "whatsapp", f"wamid.T{n}", kind, at + dt.timedelta(seconds=seconds), reason="x"
        )

    # In this order: T0 climbs to acknowledged; T1 fails, then late receipts heal it.
    order = [
        update(0, StatusKind.DELIVERED, 1),
        update(0, StatusKind.READ, 2),
        update(1, StatusKind.SENT, 1),
        update(0, StatusKind.ACKNOWLEDGED, 3),
        update(1, StatusKind.FAILED, 2),
        update(1, StatusKind.DELIVERED, 3),
        update(1, StatusKind.READ, 4),
    ]
    for event in order:
        assert len(await ingest.store([event])) == 1
    assert ingest._backlog  # the queue was full: some were left in the database
    held.set()
    await hub.tasks.wait()
    assert not await InboundEvent.filter(processed_at__isnull=True).exists()
    assert (await ladder(d0))[:5] == (
        DeliveryStatus.ACKNOWLEDGED,
        dt.datetime.fromtimestamp(T0, dt.UTC),
        at + dt.timedelta(seconds=1),
        at + dt.timedelta(seconds=2),
        at + dt.timedelta(seconds=3),
    )
    assert (await ladder(d1))[:6] == (
        DeliveryStatus.READ,
        dt.datetime.fromtimestamp(T0, dt.UTC),  # "sent" again changed nothing
        at + dt.timedelta(seconds=3),
        at + dt.timedelta(seconds=4),
        None,
        at + dt.timedelta(seconds=2),  # failed, then healed by the late receipts
    )


def test_stored_payloads_read_back_as_the_same_events() -> None:
    at = dt.datetime(2030, 3, 4, 2, 0, 1, 500, tzinfo=dt.UTC)
    events = [
        StatusUpdate("whatsapp", "wamid.X", StatusKind.FAILED, at, reason="131026 gagal"),
        InboundMessage(
            "whatsapp",
            "+6281300999999",
            "wamid.M",
            at,
            text="halo",
            kind=InboundKind.PHOTO,
            media=Media(MediaKind.PHOTO, "77", "image/jpeg", 1234, caption="halo"),
        ),
        InboundMessage(
            "telegram",
            "-100123",
            "-100123:5",
            at,
            kind=InboundKind.LOCATION,
            sender="501",
            in_group=True,
            chat_title="RT 03",
            location=Location(-0.502106, 117.153709, "Balai RT 03"),
        ),
        InboundMessage(
            "telegram",
            "501",
            "poll:5933:501:0,2:900026",
            at,
            kind=InboundKind.POLL_ANSWER,
            reply_to="poll:5933",
            poll_answer=PollAnswer("5933", (0, 2), ("opt-1", "opt-3")),
        ),
        InboundMessage(
            "whatsapp",
            "+6281300999999",
            "wamid.S",
            at,
            kind=InboundKind.OTHER,
            alias="bsuid:ID.1",
            platform_type="sticker",
        ),
        ChannelEvent(
            "telegram", "-100123", ChannelEventKind.GROUP_MIGRATED, at, {"new_address": "-100"}
        ),
    ]
    for event in events:
        stored = json.loads(json.dumps(event_to_json(event)))
        assert stored == json.loads(json.dumps(legacy_event_to_json(event)))
        assert event_from_json(stored) == event


# Payloads stored by the version before typed fields: what each channel kept in `extra`.
LEGACY_EXTRA: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "telegram photo",
        {"kind": "photo", "text": "Selokan", "extra": {"file_id": "AgAC", "file_size": 98213}},
        {"media": Media(MediaKind.PHOTO, "AgAC", size=98213, caption="Selokan")},
    ),
    (
        "telegram document in a group",
        {
            "kind": "document",
            "in_group": True,
            "extra": {
                "file_id": "BQAC",
                "file_size": 254876,
                "mime_type": "application/pdf",
                "file_name": "warga.pdf",
                "chat_title": "RT 03",
            },
        },
        {
            "media": Media(MediaKind.DOCUMENT, "BQAC", "application/pdf", 254876, "warga.pdf"),
            "chat_title": "RT 03",
        },
    ),
    (
        "telegram voice",
        {"kind": "voice", "extra": {"file_id": "AwAC", "duration": 7, "mime_type": "audio/ogg"}},
        {"media": Media(MediaKind.VOICE, "AwAC", "audio/ogg", duration=7)},
    ),
    (
        "whatsapp document",
        {
            "kind": "document",
            "extra": {"media_id": "2345", "mime_type": "application/pdf", "filename": "a.pdf"},
        },
        {"media": Media(MediaKind.DOCUMENT, "2345", "application/pdf", file_name="a.pdf")},
    ),
    (
        "whatsapp location",
        {
            "kind": "location",
            "extra": {"latitude": -0.5, "longitude": 117.1, "name": "Balai", "address": "Jl. 1"},
        },
        {"location": Location(-0.5, 117.1, "Balai", "Jl. 1")},
    ),
    (
        "telegram poll answer",
        {
            "kind": "poll_answer",
            "reply_to": "poll:5933",
            "extra": {"option_ids": [1], "option_persistent_ids": ["opt-2"]},
        },
        {"poll_answer": PollAnswer("5933", (1,), ("opt-2",))},
    ),
    ("telegram button", {"kind": "button", "extra": {"callback_query_id": "43829"}}, {}),
    (
        "whatsapp sticker beside a business-scoped id",
        {"kind": "other", "extra": {"type": "sticker", "user_id": "ID.14"}},
        {"platform_type": "sticker", "alias": "bsuid:ID.14"},
    ),
    ("unknown keys", {"kind": "text", "extra": {"nested": {"a": [1, 2]}}, "later": 1}, {}),
]


@pytest.mark.parametrize(
    ("fields", "typed"), [c[1:] for c in LEGACY_EXTRA], ids=[c[0] for c in LEGACY_EXTRA]
)
def test_payloads_stored_with_extra_read_back_as_typed_fields(
    fields: dict[str, Any], typed: dict[str, Any]
) -> None:
    at = dt.datetime(2030, 3, 4, 2, 0, 1, tzinfo=dt.UTC)
    stored = {
        "type": "InboundMessage",
        "event": {
            "channel": "telegram",
            "address": "501",
            "external_id": "501:9",
            "received_at": at.isoformat(),
            "text": "",
            "button_payload": None,
            "reply_to": None,
            "sender": None,
            "in_group": False,
            "sender_name": "",
            "phone": None,
            **fields,
        },
    }
    event = event_from_json(json.loads(json.dumps(stored)))
    assert isinstance(event, InboundMessage)
    kind = InboundKind(fields["kind"])
    expected = InboundMessage(
        "telegram",
        "501",
        "501:9",
        at,
        kind=kind,
        text=fields.get("text", ""),
        reply_to=fields.get("reply_to"),
        in_group=fields.get("in_group", False),
        **typed,
    )
    assert event == expected
    assert event_from_json(event_to_json(event)) == event  # and stored again, the typed way


def legacy_event_to_json(event: Any) -> dict[str, Any]:
    """How payloads were written before (dataclasses.asdict): rows stored then still read."""
    data = dataclasses.asdict(event)
    for key, value in data.items():
        if isinstance(value, dt.datetime):
            data[key] = value.isoformat()
    return {"type": type(event).__name__, "event": data}
