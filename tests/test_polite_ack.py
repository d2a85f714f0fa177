"""Acknowledgement in the RT heads' own words: "siap pak", 👍, "terima kasih" confirm; more not."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.sandbox import SandboxChannel
from hub.app import Hub
from hub.broadcast.polite import confirms
from hub.core.texts import text as say
from models import Delivery, DeliveryStatus
from tests.factories import bearer, make_member, make_token

AREA = "Sungai Kunjang/Loa Bakung"


@pytest.mark.parametrize(
    "text",
    ["siap", "Siap pak 👍", "ok", "OKE BU", "👍", "👍🏽", "🙏🙏", "terima kasih pak",
     "Terima kasih banyak, Bu Lurah 🙏", "sudah dibaca", "siaaaap!", "Baik, pak.", "nggih"],
)  # fmt: skip
def test_a_polite_word_confirms(text: str) -> None:
    assert confirms(text)


@pytest.mark.parametrize(
    "text",
    ["belum", "siap?", "ok tapi saluran di RT 3 masih tersumbat", "sudah sampai mana berkasnya",
     "pak", "", "   ", "😡", "siap 123", "BANTUAN", "tidak", "ok ok ok ok ok ok ok"],
)  # fmt: skip
def test_anything_more_is_not_a_confirmation(text: str) -> None:
    assert not confirms(text)


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


async def send(hub: Hub, address: str, text: str, **kwargs: Any) -> list[str]:
    before = len(phone(hub).messages(address))
    await phone(hub).act(address, text=text, **kwargs)
    await hub.sender.run_once()
    return [m.text for m in phone(hub).messages(address)[before:]]


async def announce(client: TestClient, hub: Hub, token: str, title: str, ack: bool = True) -> int:
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": title, "text": "Isi.", "audience": {"areas": [AREA]}, "ack_required": ack},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    await hub.sender.run_once()
    return int((await resp.json())["id"])


async def test_siap_confirms_the_latest_unconfirmed_announcement(
    client: TestClient, hub: Hub
) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001", name="Pak Darto")
    address = f"sandbox-{member.id}"
    first = await announce(client, hub, token, "Kerja bakti")
    second = await announce(client, hub, token, "Rapat RT")
    await announce(client, hub, token, "Info saja", ack=False)  # asks for no confirmation

    answer = await send(hub, address, "Siap pak 👍")
    assert answer == [say("id", "ack_thanks", name="Pak Darto", title="Rapat RT")]
    latest = await Delivery.get(broadcast_id=second, member_id=member.id)
    assert (latest.status, latest.ack_evidence) == (DeliveryStatus.ACKNOWLEDGED, "words")
    assert (await Delivery.get(broadcast_id=first)).status != DeliveryStatus.ACKNOWLEDGED

    # The next one confirms the one before; then nothing is left, and thanks is all it gets.
    assert await send(hub, address, "ok") == [
        say("id", "ack_thanks", name="Pak Darto", title="Kerja bakti")
    ]
    assert await send(hub, address, "terima kasih") == [
        say("id", "polite_thanks", name="Pak Darto")
    ]


async def test_a_polite_reply_confirms_the_announcement_it_answers(
    client: TestClient, hub: Hub
) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001", name="Bu Sari")
    address = f"sandbox-{member.id}"
    first = await announce(client, hub, token, "Kerja bakti")
    message = phone(hub).messages(address)[-1]
    await announce(client, hub, token, "Rapat RT")

    answer = await send(hub, address, "🙏", reply_to=message.id)
    assert answer == [say("id", "ack_thanks", name="Bu Sari", title="Kerja bakti")]
    assert (await Delivery.get(broadcast_id=first)).status == DeliveryStatus.ACKNOWLEDGED


async def test_more_than_a_nod_goes_to_the_staff(client: TestClient, hub: Hub) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001")
    address = f"sandbox-{member.id}"
    broadcast = await announce(client, hub, token, "Kerja bakti")

    answer = await send(hub, address, "ok tapi saluran di RT 3 masih tersumbat")
    assert answer == [say("id", "message_received")]
    assert await send(hub, address, "belum") == [say("id", "unknown_command", text="belum")]
    assert (await Delivery.get(broadcast_id=broadcast)).status != DeliveryStatus.ACKNOWLEDGED


async def test_a_nod_to_an_announcement_that_asks_nothing_confirms_no_other(
    client: TestClient, hub: Hub
) -> None:
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001", name="Bu Sari")
    address = f"sandbox-{member.id}"
    asks = await announce(client, hub, token, "Kerja bakti")
    info = await announce(client, hub, token, "Info saja", ack=False)
    message = phone(hub).messages(address)[-1]

    assert await send(hub, address, "ok", reply_to=message.id) == [
        say("id", "polite_thanks", name="Bu Sari")
    ]
    assert (await Delivery.get(broadcast_id=info)).status == DeliveryStatus.READ
    assert (await Delivery.get(broadcast_id=asks)).status != DeliveryStatus.ACKNOWLEDGED
