"""The shared webhook wrapper, driven by a fake channel that verifies a header and parses JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

import pytest
from aiohttp.test_utils import TestClient

from channels import (
    Channel,
    Event,
    Outgoing,
    SendResult,
    StatusKind,
    StatusUpdate,
    WebhookRejected,
)
from hub.app import Hub
from models import Delivery, DeliveryStatus, InboundEvent, OutboundMessage
from tests.factories import bearer, make_member, make_token


class FakePushChannel(Channel):
    """Accepts `{"statuses": [{"id", "status"}]}` signed with header X-Secret: s3cret."""

    name = "fakepush"

    async def send(self, outgoing: Outgoing) -> SendResult:
        return SendResult(f"fake-{outgoing.key}", dt.datetime.now(dt.UTC))

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        if headers.get("X-Secret") != "s3cret":
            raise WebhookRejected(403, "wrong secret")

    def parse_webhook(self, body: bytes) -> list[Event]:
        try:
            data = json.loads(body)
            return [
                StatusUpdate(self.name, s["id"], StatusKind(s["status"]), dt.datetime.now(dt.UTC))
                for s in data.get("statuses", [])
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise WebhookRejected(400, "unparseable payload") from None


@pytest.fixture
def fake_channel(hub: Hub) -> FakePushChannel:
    channel = FakePushChannel(
        settings=type("S", (), {"messages_per_second": 100})(), sink=hub.receive
    )
    hub.channels["fakepush"] = channel  # the sender sends through the same mapping
    return channel


async def _sent_delivery(client: TestClient, hub: Hub) -> Delivery:
    token = await make_token()
    member = await make_member(channels=("fakepush",))
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Rapat", "text": "Rapat RT", "audience": {"members": [member.id]}},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    await hub.sender.run_once()
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.status == DeliveryStatus.SENT
    return delivery


async def test_signed_status_is_stored_then_applied_once(
    client: TestClient, hub: Hub, fake_channel: FakePushChannel
) -> None:
    delivery = await _sent_delivery(client, hub)
    body = {"statuses": [{"id": delivery.external_id, "status": "read"}]}
    resp = await client.post("/webhooks/fakepush", json=body, headers={"X-Secret": "s3cret"})
    assert resp.status == 200
    await hub.tasks.wait()
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.READ
    assert delivery.read_at is not None

    # The same webhook again (providers retry): stored once, nothing changes.
    read_at = delivery.read_at
    again = await client.post("/webhooks/fakepush", json=body, headers={"X-Secret": "s3cret"})
    assert again.status == 200
    assert (await again.json())["events"] == 0
    await hub.tasks.wait()
    await delivery.refresh_from_db()
    assert delivery.read_at == read_at
    assert await InboundEvent.filter(channel="fakepush").count() == 1

    # A late "delivered" never moves the delivery down.
    late = {"statuses": [{"id": delivery.external_id, "status": "delivered"}]}
    await client.post("/webhooks/fakepush", json=late, headers={"X-Secret": "s3cret"})
    await hub.tasks.wait()
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.READ


@pytest.mark.parametrize(
    ("label", "headers", "body", "expected"),
    [
        ("missing secret", {}, b'{"statuses": []}', 403),
        ("wrong secret", {"X-Secret": "nope"}, b'{"statuses": []}', 403),
        ("malformed json", {"X-Secret": "s3cret"}, b"{not json", 400),
        ("nested too deeply", {"X-Secret": "s3cret"}, b'{"statuses": ' + b"[" * 100_000, 400),
        ("wrong shape", {"X-Secret": "s3cret"}, b'{"statuses": [{"x": 1}]}', 400),
        ("nothing we use", {"X-Secret": "s3cret"}, b'{"other": true}', 200),
    ],
)
async def test_rejected_webhooks_store_nothing(
    client: TestClient,
    fake_channel: FakePushChannel,
    label: str,
    headers: dict[str, str],
    body: bytes,
    expected: int,
) -> None:
    resp = await client.post("/webhooks/fakepush", data=body, headers=headers)
    assert resp.status == expected, label
    assert await InboundEvent.all().count() == 0


async def test_unknown_channel_and_oversized_body(
    client: TestClient, fake_channel: FakePushChannel
) -> None:
    assert (await client.post("/webhooks/nosuch", data=b"{}")).status == 404
    huge = b"x" * (1024 * 1024 + 1)
    resp = await client.post("/webhooks/fakepush", data=huge, headers={"X-Secret": "s3cret"})
    assert resp.status == 413
    assert await InboundEvent.all().count() == 0


async def test_a_receipt_before_its_send_record_waits_for_it(
    client: TestClient, hub: Hub, fake_channel: FakePushChannel
) -> None:
    now = dt.datetime.now(dt.UTC)
    early = StatusUpdate("fakepush", "fake-late", StatusKind.DELIVERED, now)
    stale = StatusUpdate(
        "fakepush", "fake-never", StatusKind.DELIVERED, now - dt.timedelta(hours=1)
    )
    await hub.dispatcher.receive([early, stale])
    pending = await InboundEvent.filter(processed_at__isnull=True).values_list(
        "external_id", flat=True
    )
    assert pending == ["status:fake-late:delivered"]  # the stale one was dropped, not kept

    # The send record appears (the sender wrote its result); the retried event now applies.
    delivery = await _sent_delivery(client, hub)
    await OutboundMessage.filter(delivery_id=delivery.id).update(external_id="fake-late")
    assert await hub.dispatcher.process_pending() == 1
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert not await InboundEvent.filter(processed_at__isnull=True).exists()
