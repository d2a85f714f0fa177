"""Scheduled jobs: quiet hours hold scheduled broadcasts; expired sessions are forgotten."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from aiohttp.test_utils import TestClient

from hub.access.auth import open_session
from hub.app import HUB
from hub.core.timeutil import in_quiet_hours
from jobs.broadcasts import start_due_broadcasts
from jobs.maintenance import delete_expired_sessions
from models import Broadcast, BroadcastStatus, Delivery, WebSession
from tests.conftest import FakeClock
from tests.factories import bearer, make_member, make_token, make_user

WITA = zoneinfo.ZoneInfo("Asia/Makassar")


@pytest.mark.parametrize(
    ("local_time", "spec", "quiet"),
    [
        ("22:30", "21:00-06:00", True),
        ("21:00", "21:00-06:00", True),
        ("05:59", "21:00-06:00", True),
        ("06:00", "21:00-06:00", False),
        ("12:00", "21:00-06:00", False),
        ("13:00", "12:00-14:00", True),
        ("14:00", "12:00-14:00", False),
        ("23:00", "", False),
    ],
)
def test_quiet_hours(local_time: str, spec: str, quiet: bool) -> None:
    hour, minute = map(int, local_time.split(":"))
    now = dt.datetime(2030, 3, 4, hour, minute, tzinfo=WITA).astimezone(dt.UTC)
    assert in_quiet_hours(now, WITA, spec) is quiet


async def test_scheduled_broadcast_waits_out_the_quiet_hours(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    token = await make_token()
    await make_member("Sungai Kunjang/Loa Bakung/RT 001")
    clock.now = dt.datetime(2030, 3, 4, 20, 0, tzinfo=WITA).astimezone(dt.UTC)
    send_at = dt.datetime(2030, 3, 4, 22, 0, tzinfo=WITA)
    resp = await timed.post(
        "/api/v1/broadcasts",
        json={
            "title": "Ronda",
            "text": "Jadwal ronda malam.",
            "audience": {"areas": ["Sungai Kunjang/Loa Bakung"]},
            "send_at": send_at.isoformat(),
        },
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()

    clock.now = dt.datetime(2030, 3, 4, 22, 5, tzinfo=WITA).astimezone(dt.UTC)
    summary = await start_due_broadcasts(hub)
    assert summary["held_for_quiet_hours"] == 1
    assert await Delivery.all().count() == 0

    clock.now = dt.datetime(2030, 3, 5, 6, 0, tzinfo=WITA).astimezone(dt.UTC)
    assert (await start_due_broadcasts(hub))["started"] == 1
    broadcast = await Broadcast.get()
    assert broadcast.status == BroadcastStatus.SENDING
    assert await Delivery.all().count() == 1


async def test_expired_sessions_are_deleted(timed: TestClient, clock: FakeClock) -> None:
    hub = timed.app[HUB]
    user = await make_user()
    await open_session(user, hours=1, now=clock.now - dt.timedelta(hours=2))
    _, fresh = await open_session(user, hours=1, now=clock.now)
    assert await delete_expired_sessions(hub) == {"deleted": 1}
    assert [s.id for s in await WebSession.all()] == [fresh.id]
