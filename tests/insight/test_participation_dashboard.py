"""The officials' participation pages over the hand-counted month (tests/insight/conftest.py):
the overview with its levels, silent RT heads and their call links, drilling down, the ranking,
one person, downloads, periods, and the user's areas."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

import pytest
from aiohttp.test_utils import TestClient

from hub.app import HUB
from models import Member, UserRole
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.insight.conftest import ELSEWHERE, KELURAHAN
from tests.test_dashboard import PASSWORD, hidden, login_attempt

MARCH = "from=2030-03-01&to=2030-03-31"


async def log_in(client: TestClient, role: UserRole, *areas: str) -> None:
    user = await make_user(role, areas)
    status, _ = await login_attempt(client, user.username, PASSWORD)
    assert status == 303


async def page(client: TestClient, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    return html.unescape(await resp.text())


def chart(page_text: str, label: str) -> dict:  # type: ignore[type-arg]
    """The Chart.js data of the canvas with that aria-label."""
    found = re.search(
        r'<canvas data-chart="(\{[^<>]*?\})" role="img" aria-label="' + re.escape(label), page_text
    )
    assert found, label
    return dict(json.loads(found.group(1)))


async def test_an_official_sees_levels_the_silent_and_the_trend(
    client: TestClient, month: dict[str, Member]
) -> None:
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    text = await page(client, f"/partisipasi?{MARCH}")
    assert "Fajar" not in text  # another kelurahan
    assert "1 Mar 2030 – 31 Mar 2030" in text
    stats = re.findall(r'<div class="stat-n">(\d+)</div><div class="stat-l">([^<]+)', text)
    assert stats == [
        ("6", "ketua RT"),
        ("1", "aktif"),
        ("2", "pasif"),
        ("1", "tak terjangkau"),
        ("2", "belum cukup data"),
    ]
    assert "8 dari 20 (40%)" in text  # the kelurahan's acknowledgements, count beside rate

    silent = text[text.index('id="diam"') : text.index('id="tren"')]
    # Unreachable first, then the lowest rate: Citra, Budi (0 of 4), Gita (2 of 5).
    assert [n for n in re.findall(r"<strong>([^<]+)</strong>", silent)] == [
        "Citra",
        "Budi",
        "Gita",
    ]
    citra = month["Citra"]
    assert f'href="tel:{citra.phone}"' in silent
    assert f'href="https://wa.me/{(citra.phone or "").lstrip("+")}"' in silent

    trend = chart(text, "Rasio konfirmasi dan baca per minggu")
    assert trend["labels"] == ["25 Feb", "4 Mar", "11 Mar", "18 Mar", "25 Mar"]
    assert trend["series"][0]["data"][0] == 75.0  # B1: Ani, Dedi, Gita of those + Citra
    assert trend["series"][0]["data"][2] is None  # nothing asked that week


async def test_drilling_down_to_one_rt_and_one_person(
    client: TestClient, month: dict[str, Member]
) -> None:
    await log_in(client, UserRole.OFFICIAL, "Sungai Kunjang")
    top = await page(client, f"/partisipasi?{MARCH}")
    assert "Kelurahan di bawahnya" not in top  # the top is the user's kecamatan itself
    assert "Sungai Kunjang" in top
    kecamatan = await page(client, f"/partisipasi?area=Sungai Kunjang&{MARCH}")
    assert f'href="/partisipasi?area={KELURAHAN.replace(" ", "%20")}&from=2030-03-01' in kecamatan
    levels = chart(kecamatan, "Ketua RT per tingkat di tiap wilayah")
    assert levels["labels"] == ["Karang Asam Ulu", "Loa Bakung"]
    assert [s["data"] for s in levels["series"]] == [[1, 1], [0, 2], [0, 1], [0, 2]]

    kelurahan = await page(client, f"/partisipasi?area={KELURAHAN}&{MARCH}")
    assert "RT di bawahnya" in kelurahan
    heat = kelurahan[kelurahan.index('class="heat-map"') :]
    assert "Ani" in heat and 'class="heat-4">1/1' in heat  # Ani's weeks: all acknowledged

    rt = await page(client, f"/partisipasi?area={KELURAHAN}/RT 002&{MARCH}")
    assert 'Dedi</a> <span class="muted small">(mantan)</span>' in rt
    assert "Budi" in rt and "Ani" not in rt

    dedi = month["Dedi"]
    person = await page(client, f"/partisipasi/anggota/{dedi.id}?{MARCH}")
    assert "<h1>Dedi</h1>" in person
    assert "belum cukup data" in person
    assert f"{KELURAHAN}/RT 002" in person and "(mantan)" in person


async def test_the_ranking_by_lower_bound_with_counts(
    client: TestClient, month: dict[str, Member]
) -> None:
    await log_in(client, UserRole.OFFICIAL, "Sungai Kunjang")
    text = await page(client, f"/partisipasi/peringkat?{MARCH}")
    rows = re.findall(
        r'data-label="Peringkat" class="num">([^<]+)</td>\s*<td[^>]*><a[^>]*>([^<]+)', text
    )
    assert rows == [("1", "Karang Asam Ulu"), ("2", "Loa Bakung")]
    assert "3 dari 3 (100%)" in text and "8 dari 20 (40%)" in text
    top = chart(text, "10 wilayah teratas")
    assert top["labels"] == ["Karang Asam Ulu", "Loa Bakung"]
    rw = await page(client, f"/partisipasi/peringkat?jenis=rt&{MARCH}")
    assert "Peringkat RT" in rw


async def test_downloads_from_the_page(client: TestClient, month: dict[str, Member]) -> None:
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    resp = await client.get(f"/partisipasi?area={KELURAHAN}&{MARCH}&table=ketua-rt&format=csv")
    assert resp.status == 200
    assert (
        "partisipasi-ketua-rt-loa-bakung-2030-03-01-2030-03-31.csv"
        in resp.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert sorted(r[0] for r in rows[1:]) == ["Ani", "Budi", "Citra", "Dedi", "Eka", "Gita"]
    resp = await client.get(f"/partisipasi?{MARCH}&table=mingguan&format=xlsx")
    assert resp.status == 200 and resp.content_type.endswith("spreadsheetml.sheet")
    resp = await client.get(f"/partisipasi?{MARCH}&table=nothing&format=csv")
    assert resp.status == 404
    resp = await client.get(f"/partisipasi/peringkat?{MARCH}&format=csv")
    assert resp.status == 200


async def test_another_area_and_bad_periods(client: TestClient, month: dict[str, Member]) -> None:
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    assert "Fajar" not in await page(client, f"/partisipasi?area={ELSEWHERE}", 403)
    await page(client, f"/partisipasi/anggota/{month['Fajar'].id}", 404)
    text = await page(client, "/partisipasi?from=2030-03-10&to=2030-03-01")
    assert "Tanggal awal jatuh setelah tanggal akhir" in text
    text = await page(client, "/partisipasi?from=kemarin")
    assert "Tanggal tidak dapat dibaca" in text


async def test_presets_and_the_official_lands_here(
    timed: TestClient, clock: FakeClock, db: str
) -> None:
    clock.now = dt.datetime(2030, 4, 15, 2, 0, tzinfo=dt.UTC)  # 15 April, WITA
    user = await make_user(UserRole.OFFICIAL, (KELURAHAN,))
    form = await (await timed.get("/login")).text()
    resp = await timed.post(
        "/login",
        data={"csrf_token": hidden(form, "csrf_token"), "username": user.username,
              "password": PASSWORD},
        allow_redirects=False,
    )  # fmt: skip
    assert (resp.status, resp.headers["Location"]) == (303, "/partisipasi")
    text = await page(timed, "/partisipasi?periode=bulan-lalu")
    assert "1 Mar 2030 – 31 Mar 2030" in text
    assert "1 Apr 2030 – 15 Apr 2030" in await page(timed, "/partisipasi?periode=bulan-ini")
    # The default: the last [participation] period_days (30) days to today.
    assert timed.app[HUB].config.participation.period_days == 30
    assert "17 Mar 2030 – 15 Apr 2030" in await page(timed, "/partisipasi")


async def test_a_large_view_lists_a_page_of_rows_and_says_so(
    client: TestClient, month: dict[str, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hub.web.dashboard.participation.TABLE_LIMIT", 4)
    monkeypatch.setattr("hub.web.dashboard.participation.SILENT_LIMIT", 2)
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    text = await page(client, f"/partisipasi?{MARCH}")
    assert "Ketua RT (6)" in text and "Tampil 4 dari 6 baris." in text
    assert "Ketua RT yang diam (3)" in text and "Tampil 2 dari 3" in text
    members = text[text.index('id="ketua"') :]
    assert len(re.findall(r'data-label="Nama" class="title-cell"', members)) == 4
