"""The Monday summary to each kelurahan's lurah and staff, over the hand-counted month
(tests/insight/conftest.py), with the clock set by the test: when it is due, what it says, the
chart, and that it goes once whatever runs it twice."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from hub.app import HUB
from hub.core.config import Config
from hub.insight.weekly import week_due
from jobs.participation import send_participation_reports
from models import (
    Attachment,
    MessageKind,
    OutboundMessage,
    SeatRole,
    WeeklyReport,
)
from tests.conftest import FakeClock, make_config
from tests.factories import make_member
from tests.insight.conftest import ELSEWHERE, KELURAHAN, WITA

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(
        broadcast={"media_dir": str(tmp_path / "media")},
        hub={"public_url": "https://balai.example.id"},
    )


def wita(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2030, month, day, hour, minute, tzinfo=WITA)


@pytest.mark.parametrize(
    ("now", "week"),
    [
        (wita(3, 25, 8, 0), dt.date(2030, 3, 18)),  # Monday 08:00: last week
        (wita(3, 25, 7, 59), dt.date(2030, 3, 11)),  # before 08:00: the week before is due
        (wita(3, 31, 23, 0), dt.date(2030, 3, 18)),  # Sunday night: still last week's
        (wita(3, 26, 0, 30), dt.date(2030, 3, 18)),
    ],
)
def test_the_week_that_is_due(now: dt.datetime, week: dt.date) -> None:
    assert week_due(now.astimezone(dt.UTC), WITA) == week


async def test_monday_morning_the_lurah_and_staff_get_last_week_once(
    timed: TestClient, clock: FakeClock, month: dict[str, object]
) -> None:
    hub = timed.app[HUB]
    lurah = await make_member(KELURAHAN, name="Pak Lurah", role=SeatRole.LURAH)
    staff = await make_member(KELURAHAN, name="Bu Sekretaris", role=SeatRole.STAFF)
    await make_member(ELSEWHERE, name="Lurah Lain", role=SeatRole.LURAH)
    clock.now = wita(3, 25, 8, 5).astimezone(dt.UTC)

    summary = await send_participation_reports(hub)
    # Karang Asam Ulu's lurah gets theirs too; Loa Bakung's two recipients get one each.
    assert summary == {"reports": 2, "messages": 3, "already_sent": 0}
    rows = await OutboundMessage.filter(member_id__in=[lurah.id, staff.id]).order_by("member_id")
    assert [r.member_id for r in rows] == [lurah.id, staff.id]
    text = rows[0].text
    assert "Partisipasi ketua RT Loa Bakung" in text
    assert "Minggu 18 Mar 2030 – 24 Mar 2030" in text
    # B4 (20 March): Ani acknowledged; Budi, Citra and Gita did not (Eka opted out).
    assert "Dikonfirmasi: 1 dari 4 (25%) (minggu sebelumnya —)" in text
    # 30 days to 24 March: Ani active; Budi 0 of 3 and Gita 2 of 4 passive; Citra unreachable.
    assert "1 aktif, 2 pasif, 1 tak terjangkau, 2 belum cukup data (dari 6 ketua RT)" in text
    assert "Perlu dihubungi: Budi, Citra, Gita." in text
    assert (
        "https://balai.example.id/partisipasi?area=Sungai%20Kunjang/Loa%20Bakung"
        "&from=2030-02-23&to=2030-03-24" in text
    )
    assert rows[0].kind == MessageKind.NOTICE and rows[0].template == "report"
    assert rows[0].template_params == [
        "Loa Bakung",
        "1 dari 4 (25%) dikonfirmasi; 2 pasif, 1 tak terjangkau",
        "https://balai.example.id/partisipasi?area=Sungai%20Kunjang/Loa%20Bakung"
        "&from=2030-02-23&to=2030-03-24",
    ]
    [chart_id] = rows[0].attachment_ids
    assert rows[1].attachment_ids == [chart_id]
    chart = await Attachment.get(id=chart_id)
    assert chart.content_type == "image/png"
    assert hub.media.path_of(chart).read_bytes().startswith(PNG)

    # Later runs the same week, and the same morning in another process: nothing more.
    clock.now = wita(3, 27, 10, 0).astimezone(dt.UTC)
    assert (await send_participation_reports(hub))["messages"] == 0
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE).count() == 3
    assert await WeeklyReport.all().count() == 2


async def test_two_runs_at_once_send_one_report(
    timed: TestClient, clock: FakeClock, month: dict[str, object]
) -> None:
    hub = timed.app[HUB]
    await make_member(KELURAHAN, name="Pak Lurah", role=SeatRole.LURAH)
    clock.now = wita(3, 25, 9, 0).astimezone(dt.UTC)
    first, second = await asyncio.gather(
        send_participation_reports(hub), send_participation_reports(hub)
    )
    assert first["messages"] + second["messages"] == 1
    assert await WeeklyReport.all().count() == 1
    # The losing run's chart is gone again: one file for one report.
    assert await Attachment.all().count() == 1
    assert len(list(hub.media.folder.glob("*.png"))) == 1


async def test_a_kelurahan_without_lurah_or_staff_gets_nothing(
    timed: TestClient, clock: FakeClock, month: dict[str, object]
) -> None:
    clock.now = wita(3, 25, 9, 0).astimezone(dt.UTC)
    summary = await send_participation_reports(timed.app[HUB])
    assert summary == {"reports": 0, "messages": 0, "already_sent": 0}
    assert await WeeklyReport.all().count() == 0
