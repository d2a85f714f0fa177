"""Scheduling with a controllable clock: one-off and cron broadcasts, quiet hours, a restart with
due and overdue broadcasts, pause, resume, edit and cancel, and the scheduler lease."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import HUB
from hub.broadcast.schedule import overdue_beyond_grace, parse_recurrence, quiet_hours_end
from hub.core.errors import ValidationFailed
from hub.core.leases import LeaseHolder
from jobs.broadcasts import start_due_broadcasts
from models import Broadcast, BroadcastStatus, Delivery, Lease
from tests.conftest import FakeClock
from tests.factories import bearer, make_member, make_token

WITA = zoneinfo.ZoneInfo("Asia/Makassar")
LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"


def wita(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2030, WITA (4 March 2030 is a Monday)."""
    return dt.datetime(2030, 3, day, hour, minute, tzinfo=WITA)


def at(clock: FakeClock, moment: dt.datetime) -> None:
    clock.now = moment.astimezone(dt.UTC)


def body(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Kerja bakti",
        "text": "Kerja bakti membersihkan saluran air.",
        "audience": {"areas": [LOA_BAKUNG]},
        **changes,
    }


async def create(client: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/broadcasts", json=body(**changes), headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def show(client: TestClient, token: str, broadcast_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def error(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    return (await resp.json())["error"]["code"]


@pytest.fixture
async def staff(timed: TestClient) -> str:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002")
    return await make_token()


# Cron, quiet hours and grace, as plain functions ---------------------------------------------


@pytest.mark.parametrize(
    ("cron", "first", "second"),
    [
        ("0 8 * * 1", wita(11, 8), wita(18, 8)),  # 1 is Monday, as in every cron
        ("0 8 * * 0", wita(10, 8), wita(17, 8)),  # 0 is Sunday
        ("0 8 * * 7", wita(10, 8), wita(17, 8)),  # and so is 7
        ("30 7 * * 1-5", wita(5, 7, 30), wita(6, 7, 30)),
        ("0 8 * * 5-7", wita(8, 8), wita(9, 8)),
        (
            "0 9 1 * *",
            dt.datetime(2030, 4, 1, 9, tzinfo=WITA),
            dt.datetime(2030, 5, 1, 9, tzinfo=WITA),
        ),
    ],
)
def test_cron_reads_weekdays_as_cron_does(
    cron: str, first: dt.datetime, second: dt.datetime
) -> None:
    now = wita(4, 10).astimezone(dt.UTC)
    recurrence = parse_recurrence(cron, WITA, now)
    got = recurrence.next_run(now)
    assert got == first
    assert recurrence.next_run(got) == second


@pytest.mark.parametrize(
    ("cron", "code"),
    [
        ("0 8 * *", "invalid_cron"),
        ("0 25 * * *", "invalid_cron"),
        ("0 8 31 2 *", "invalid_cron"),  # never fires
        ("0 8 * * */2", "invalid_cron"),
        ("*/5 * * * *", "recurrence_too_frequent"),
    ],
)
def test_impossible_crons_are_refused(cron: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_recurrence(cron, WITA, wita(4, 10).astimezone(dt.UTC))
    assert refused.value.code == code


def test_quiet_hours_end_and_grace() -> None:
    spec = "21:00-06:00"
    assert quiet_hours_end(wita(4, 23), WITA, spec) == wita(5, 6)
    assert quiet_hours_end(wita(5, 4), WITA, spec) == wita(5, 6)
    assert quiet_hours_end(wita(5, 10), WITA, spec) == wita(5, 10)
    # Due at 04:00, held until 06:00: at 07:30 it is 90 minutes late, not 210.
    assert not overdue_beyond_grace(wita(5, 4), wita(5, 7, 30), WITA, spec, 120)
    assert overdue_beyond_grace(wita(5, 4), wita(5, 8, 1), WITA, spec, 120)
    assert not overdue_beyond_grace(wita(1, 4), wita(5, 8), WITA, spec, 0)  # 0: never missed


# One-off broadcasts ----------------------------------------------------------------------------


async def test_send_now_goes_out_even_in_quiet_hours(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 22, 30))
    created = await create(timed, staff)
    assert created["status"] == "sending"
    assert await Delivery.filter(broadcast_id=created["id"]).count() == 2


async def test_send_at_without_offset_is_read_in_the_hubs_timezone(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    created = await create(timed, staff, send_at="2030-03-05T08:00:00")
    shown = await show(timed, staff, created["id"])
    assert dt.datetime.fromisoformat(shown["send_at"]) == wita(5, 8)


async def test_a_restart_sends_due_broadcasts_once_and_marks_long_overdue_ones_missed(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 10))
    long_overdue = await create(timed, staff, send_at=wita(4, 11).isoformat())
    due = await create(timed, staff, send_at=wita(4, 13).isoformat())
    future = await create(timed, staff, send_at=wita(4, 18).isoformat())

    # The hub was down from 10:30 until 14:00: a new process starts the scheduler.
    at(clock, wita(4, 14))
    summary = await start_due_broadcasts(timed.app[HUB])
    assert summary == {"due": 2, "started": 1, "missed": 1}
    assert (await show(timed, staff, long_overdue["id"]))["status"] == "missed"
    assert (await show(timed, staff, due["id"]))["status"] in ("sending", "sent")
    assert (await show(timed, staff, future["id"]))["status"] == "scheduled"
    assert await Delivery.filter(broadcast_id=long_overdue["id"]).count() == 0
    assert await Delivery.filter(broadcast_id=due["id"]).count() == 2

    # Running again (or in a second process) starts nothing twice.
    assert await start_due_broadcasts(timed.app[HUB]) == {"due": 0, "started": 0, "missed": 0}
    at(clock, wita(4, 18))
    assert (await start_due_broadcasts(timed.app[HUB]))["started"] == 1
    assert await Delivery.all().count() == 4


async def test_concurrent_schedulers_start_a_broadcast_once(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    created = await create(timed, staff, send_at=(clock.now + dt.timedelta(hours=1)).isoformat())
    clock.advance(hours=1)
    hub = timed.app[HUB]
    summaries = await asyncio.gather(start_due_broadcasts(hub), start_due_broadcasts(hub))
    assert sum(s["started"] for s in summaries) == 1
    assert await Delivery.filter(broadcast_id=created["id"]).count() == 2


async def test_a_broadcast_held_by_quiet_hours_is_not_counted_late(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 20))
    created = await create(timed, staff, send_at=wita(5, 4).isoformat())
    at(clock, wita(5, 4, 30))
    assert (await start_due_broadcasts(timed.app[HUB]))["held_for_quiet_hours"] == 1
    at(clock, wita(5, 7, 30))  # 90 minutes after the quiet hours ended: within the grace
    assert (await start_due_broadcasts(timed.app[HUB]))["started"] == 1
    assert (await show(timed, staff, created["id"]))["status"] != "missed"


# Recurring broadcasts --------------------------------------------------------------------------


async def test_a_weekly_broadcast_runs_every_monday_once(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    hub = timed.app[HUB]
    at(clock, wita(4, 10))  # Monday 10:00, after this week's 08:00
    series = await create(timed, staff, recurrence={"cron": "0 8 * * 1"})
    assert series["status"] == "scheduled"
    shown = await show(timed, staff, series["id"])
    assert shown["recurrence"] == {"cron": "0 8 * * 1"}
    assert dt.datetime.fromisoformat(shown["send_at"]) == wita(11, 8)

    at(clock, wita(11, 7, 59))
    assert (await start_due_broadcasts(hub))["started"] == 0
    at(clock, wita(11, 8))
    assert (await start_due_broadcasts(hub))["started"] == 1
    assert (await start_due_broadcasts(hub))["started"] == 0
    runs = await Broadcast.filter(series_id=series["id"])
    assert len(runs) == 1
    assert runs[0].status in (BroadcastStatus.SENDING, BroadcastStatus.SENT)
    assert runs[0].send_at == wita(11, 8)
    assert await Delivery.filter(broadcast_id=runs[0].id).count() == 2
    shown = await show(timed, staff, series["id"])
    assert shown["status"] == "scheduled"
    assert dt.datetime.fromisoformat(shown["send_at"]) == wita(18, 8)
    assert await Delivery.filter(broadcast_id=series["id"]).count() == 0  # the series sends none

    at(clock, wita(18, 8, 0))
    assert (await start_due_broadcasts(hub))["started"] == 1
    assert await Broadcast.filter(series_id=series["id"]).count() == 2


async def test_a_series_records_a_run_missed_while_the_hub_was_down_and_keeps_its_rhythm(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 10))
    series = await create(timed, staff, recurrence={"cron": "0 8 * * 1"})
    at(clock, wita(11, 15))  # the hub was down all Monday morning
    assert await start_due_broadcasts(timed.app[HUB]) == {"due": 1, "started": 0, "missed": 1}
    run = await Broadcast.get(series_id=series["id"])
    assert run.status == BroadcastStatus.MISSED
    assert await Delivery.filter(broadcast_id=run.id).count() == 0
    shown = await show(timed, staff, series["id"])
    assert dt.datetime.fromisoformat(shown["send_at"]) == wita(18, 8)


async def test_a_series_starts_no_earlier_than_send_at(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 10))
    series = await create(
        timed, staff, send_at=wita(20, 0).isoformat(), recurrence={"cron": "0 8 * * 1"}
    )
    shown = await show(timed, staff, series["id"])
    assert dt.datetime.fromisoformat(shown["send_at"]) == wita(25, 8)


async def test_a_cancelled_series_runs_no_more(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 10))
    series = await create(timed, staff, recurrence={"cron": "0 8 * * *"})
    resp = await timed.post(f"/api/v1/broadcasts/{series['id']}/cancel", headers=bearer(staff))
    assert resp.status == 200, await resp.text()
    at(clock, wita(5, 8))
    assert (await start_due_broadcasts(timed.app[HUB]))["started"] == 0
    assert await Broadcast.all().count() == 1


# Pause, resume, edit ---------------------------------------------------------------------------


async def test_a_paused_broadcast_waits_and_a_resumed_one_goes_out(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    hub = timed.app[HUB]
    created = await create(timed, staff, send_at=(clock.now + dt.timedelta(hours=1)).isoformat())
    resp = await timed.post(f"/api/v1/broadcasts/{created['id']}/pause", headers=bearer(staff))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "paused"

    clock.advance(hours=2)
    assert (await start_due_broadcasts(hub))["started"] == 0
    resp = await timed.post(f"/api/v1/broadcasts/{created['id']}/pause", headers=bearer(staff))
    assert await error(resp, 409) == "already_paused"

    resp = await timed.post(f"/api/v1/broadcasts/{created['id']}/resume", headers=bearer(staff))
    assert resp.status == 200, await resp.text()
    resumed = await resp.json()
    assert resumed["status"] == "scheduled"
    # Its time passed while it was paused: staff resumed it, so it goes now, not "missed".
    assert dt.datetime.fromisoformat(resumed["send_at"]) == clock.now
    assert (await start_due_broadcasts(hub))["started"] == 1
    resp = await timed.post(f"/api/v1/broadcasts/{created['id']}/resume", headers=bearer(staff))
    assert await error(resp, 409) == "not_paused"


async def test_a_scheduled_broadcast_can_be_edited_until_it_goes(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    hub = timed.app[HUB]
    created = await create(timed, staff, send_at=(clock.now + dt.timedelta(hours=1)).isoformat())
    url = f"/api/v1/broadcasts/{created['id']}"
    later = clock.now + dt.timedelta(hours=3)
    resp = await timed.patch(
        url,
        json={"text": "Kerja bakti diundur ke sore.", "send_at": later.isoformat()},
        headers=bearer(staff),
    )
    assert resp.status == 200, await resp.text()
    edited = await resp.json()
    assert dt.datetime.fromisoformat(edited["send_at"]) == later
    assert (await Broadcast.get(id=created["id"])).text == "Kerja bakti diundur ke sore."

    clock.advance(hours=3)
    assert (await start_due_broadcasts(hub))["started"] == 1
    resp = await timed.patch(url, json={"text": "Terlambat."}, headers=bearer(staff))
    assert await error(resp, 409) == "not_editable"
    resp = await timed.post(f"{url}/pause", headers=bearer(staff))
    assert await error(resp, 409) == "not_pausable"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"send_at": "2020-01-01T08:00:00+08:00"}, 422, "past_schedule"),
        ({"recurrence": {"cron": "0 8 31 2 *"}}, 422, "invalid_cron"),
        ({"audience": {"areas": ["Sungai Kunjang/Nowhere"]}}, 422, "unknown_area"),
        ({"audience": {}}, 422, "empty_audience"),
        ({"title": "   "}, 422, "empty_title"),
        ({"send_at": None}, 422, "missing_schedule"),
        ({}, 422, "invalid"),
        ({"priority": "high"}, 422, "invalid"),
    ],
)
async def test_bad_edits_are_refused_and_change_nothing(
    timed: TestClient,
    clock: FakeClock,
    staff: str,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    created = await create(timed, staff, send_at=(clock.now + dt.timedelta(hours=1)).isoformat())
    before = await show(timed, staff, created["id"])
    resp = await timed.patch(
        f"/api/v1/broadcasts/{created['id']}", json=change, headers=bearer(staff)
    )
    assert await error(resp, status) == code
    assert await show(timed, staff, created["id"]) == before


async def test_a_series_can_be_turned_into_a_one_off_and_back(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 10))
    series = await create(timed, staff, recurrence={"cron": "0 8 * * 1"})
    url = f"/api/v1/broadcasts/{series['id']}"
    resp = await timed.patch(
        url, json={"recurrence": None, "send_at": wita(6, 9).isoformat()}, headers=bearer(staff)
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["recurrence"] is None
    resp = await timed.patch(url, json={"recurrence": {"cron": "0 7 * * 3"}}, headers=bearer(staff))
    assert resp.status == 200, await resp.text()
    shown = await resp.json()
    assert shown["recurrence"] == {"cron": "0 7 * * 3"}
    assert dt.datetime.fromisoformat(shown["send_at"]) == wita(
        13, 7
    )  # Wednesdays from 6 March 09:00


async def test_the_text_must_fit_the_channels_with_its_title_and_footer(
    timed: TestClient, staff: str
) -> None:
    resp = await timed.post("/api/v1/broadcasts", json=body(text="x" * 4090), headers=bearer(staff))
    assert await error(resp, 422) == "text_too_long"
    assert "shorten the text by" in (await resp.json())["error"]["message"]
    assert await Broadcast.all().count() == 0


async def test_officials_cannot_pause_edit_or_resume(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    from models import UserRole

    created = await create(timed, staff, send_at=(clock.now + dt.timedelta(hours=1)).isoformat())
    official = await make_token(UserRole.OFFICIAL)
    url = f"/api/v1/broadcasts/{created['id']}"
    assert (await timed.post(f"{url}/pause", headers=bearer(official))).status == 403
    assert (await timed.patch(url, json={"text": "x"}, headers=bearer(official))).status == 403


# The scheduler lease ---------------------------------------------------------------------------


async def test_one_process_at_a_time_holds_the_scheduler_lease(db: str) -> None:
    clock = FakeClock(dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC))
    ttl = dt.timedelta(seconds=60)
    first = LeaseHolder("scheduler", ttl=ttl, clock=clock)
    second = LeaseHolder("scheduler", ttl=ttl, clock=clock)
    assert await first.renew()
    assert not await second.renew()
    clock.advance(seconds=30)
    assert await first.renew()  # renewing pushes the expiry on
    clock.advance(seconds=59)
    assert not await second.renew()
    clock.advance(seconds=2)  # the first stopped renewing (it died): the second takes over
    assert await second.renew()
    assert not await first.renew()
    await second.release()
    assert await Lease.all().count() == 0
    assert await first.renew()


async def test_a_series_run_carries_the_report_button_chosen_on_the_series_and_an_edit_changes_it(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    at(clock, wita(4, 10))
    series = await create(timed, staff, recurrence={"cron": "0 8 * * 1"}, report_button=True)
    assert (await show(timed, staff, series["id"]))["report_button"] is True
    at(clock, wita(11, 8))
    assert (await start_due_broadcasts(timed.app[HUB]))["started"] == 1
    [run] = await Broadcast.filter(series_id=series["id"])
    assert run.report_button is True

    at(clock, wita(11, 9))
    resp = await timed.patch(
        f"/api/v1/broadcasts/{series['id']}", json={"report_button": False}, headers=bearer(staff)
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["report_button"] is False
    at(clock, wita(18, 8))
    assert (await start_due_broadcasts(timed.app[HUB]))["started"] == 1
    latest = await Broadcast.filter(series_id=series["id"]).order_by("-id").first()
    assert latest is not None and latest.report_button is False
