"""The archive's tests share a hub with a public address (the code line then carries the link),
a staff token and RT heads to send to, and a few helpers to publish and read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.sandbox import SandboxChannel
from hub.app import Hub
from hub.core.config import Config
from models import Member
from tests.conftest import PUBLIC_URL, make_config
from tests.factories import bearer, make_member, make_token

LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"
CHECKS_PER_MINUTE = 3


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(
        hub={"public_url": PUBLIC_URL},
        archive={"checks_per_minute": CHECKS_PER_MINUTE},
        broadcast={"media_dir": str(tmp_path / "media")},
    )


@pytest.fixture
async def rt_heads(timed: TestClient) -> list[Member]:
    return [
        await make_member(f"{LOA_BAKUNG}/RT 001", name="Pak Darto", phone="+6281200000101"),
        await make_member(f"{LOA_BAKUNG}/RT 002", name="Bu Sumi", phone="+6281200000102"),
    ]


@pytest.fixture
async def staff(rt_heads: list[Member]) -> str:
    return await make_token()


def body(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Kerja bakti",
        "text": "Kerja bakti membersihkan saluran air, Minggu 10 Maret pukul 07.00 WITA.",
        "audience": {"areas": [LOA_BAKUNG]},
        "publish": True,
        **changes,
    }


async def create(client: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    """A broadcast (published unless `publish=False`), as GET /broadcasts/{id} shows it."""
    resp = await client.post("/api/v1/broadcasts", json=body(**changes), headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return await show(client, token, (await resp.json())["id"])


async def show(client: TestClient, token: str, broadcast_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def correct(client: TestClient, token: str, broadcast_id: int, text: str) -> None:
    url = f"/api/v1/broadcasts/{broadcast_id}/correction"
    resp = await client.post(url, json={"text": text}, headers=bearer(token))
    assert resp.status == 200, await resp.text()


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


async def received(hub: Hub, member: Member) -> list[str]:
    """What the member's phone shows once the sender has sent everything due."""
    while await hub.sender.run_once():
        pass
    return [m.text for m in phone(hub).messages(f"sandbox-{member.id}")]
