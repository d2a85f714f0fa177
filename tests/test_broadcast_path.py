"""The first broadcast path end to end: API → deliveries → sandbox → tap → acknowledged."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub.app import Hub
from tests.factories import bearer, make_member, make_token


async def test_broadcast_is_acknowledged_through_the_sandbox(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    first = await make_member("Sungai Kunjang/Loa Bakung/RT 001")
    second = await make_member("Sungai Kunjang/Loa Bakung/RT 002")
    await make_member("Sungai Kunjang/Karang Asam/RT 001")  # outside the audience

    resp = await client.post(
        "/api/v1/broadcasts",
        json={
            "title": "Kerja bakti",
            "text": "Kerja bakti hari Minggu pukul 07.00.",
            "audience": {"areas": ["sungai kunjang/ LOA  bakung"]},
            "send_at": None,
            "recurrence": None,
            "ack_required": True,
        },
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["recipients"] == 2
    assert created["status"] == "sending"

    status = await (
        await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    ).json()
    assert status["counts"]["pending"] == 2

    assert await hub.sender.run_once() == 2

    phone = await client.get(f"/api/v1/sandbox/members/{first.id}/messages", headers=bearer(token))
    messages = (await phone.json())["messages"]
    assert len(messages) == 1
    assert "Kerja bakti" in messages[0]["text"]
    button = messages[0]["buttons"][0]
    assert button["label"] == "✅ Sudah dibaca"

    tap = await client.post(
        f"/api/v1/sandbox/members/{first.id}/messages",
        json={"button": button["payload"]},
        headers=bearer(token),
    )
    assert tap.status == 202, await tap.text()

    status = await (
        await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    ).json()
    assert status["status"] == "sent"
    assert status["counts"] == {
        "pending": 0,
        "sent": 2,
        "delivered": 1,
        "read": 1,
        "acknowledged": 1,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    recipients = (
        await (
            await client.get(
                f"/api/v1/broadcasts/{created['id']}/recipients", headers=bearer(token)
            )
        ).json()
    )["recipients"]
    by_member = {r["member_id"]: r for r in recipients}
    assert by_member[first.id]["status"] == "acknowledged"
    assert by_member[first.id]["acknowledged_at"] is not None
    assert by_member[second.id]["status"] == "sent"

    # The announcement is changed in place (through the outbox too): the button gives way to a
    # confirmation, so it cannot be tapped twice.
    await hub.sender.run_once()
    phone = await client.get(f"/api/v1/sandbox/members/{first.id}/messages", headers=bearer(token))
    [edited] = (await phone.json())["messages"]
    assert edited["id"] == messages[0]["id"]
    assert edited["text"].endswith("✅ Sudah dikonfirmasi")
    assert edited["buttons"] == []
    again = await client.post(
        f"/api/v1/sandbox/members/{first.id}/messages",
        json={"button": button["payload"]},
        headers=bearer(token),
    )
    assert again.status == 422
