"""The rapor page (five dimensions with their formulas, the SLA record, review notes) and the
monthly report as a printable page and a PDF, over the hand-counted month
(tests/insight/conftest.py)."""

from __future__ import annotations

import datetime as dt
import html
import re

from aiohttp.test_utils import TestClient

from models import Member, ScorecardNote, UserRole
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.insight.conftest import KELURAHAN
from tests.test_dashboard import PASSWORD, login_attempt

RAPOR = f"/partisipasi/rapor?area={KELURAHAN}&bulan=2030-03"


async def log_in(client: TestClient, role: UserRole, *areas: str) -> str:
    user = await make_user(role, areas)
    status, _ = await login_attempt(client, user.username, PASSWORD)
    assert status == 303
    page = await (await client.get("/partisipasi")).text()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found
    return html.unescape(found.group(1))


async def text_of(client: TestClient, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    return html.unescape(await resp.text())


async def test_the_rapor_shows_each_part_with_counts_and_formula(
    client: TestClient, month: dict[str, Member]
) -> None:
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    page = await text_of(client, RAPOR)
    assert "<h1>Rapor Maret 2030</h1>" in page
    for dimension in ("Manfaat", "Efisiensi", "Partisipasi", "Transparansi",
                      "Manajemen perubahan"):  # fmt: skip
        assert f">{dimension}</h2>" in page
    # Tingkat konfirmasi: the kelurahan's 8 of 20 in March, with its formula beside it.
    row = page[page.index("<strong>Tingkat konfirmasi</strong>") :][:600]
    assert "40%" in row and "8 dari 20 (40%)" in row
    assert "pengumuman dikonfirmasi ÷ pengumuman yang meminta konfirmasi" in row
    # Ani's three tickets of March are in the SLA record; February's is not.
    sla = page[page.index('id="sla"') :]
    assert re.search(r'data-label="Tiket" class="num">3</td>', sla)
    assert "Belum ada catatan tinjauan bulan ini." in page
    assert 'action="/partisipasi/rapor/catatan"' not in page  # officials write no notes


async def test_staff_write_the_months_review_note(
    timed: TestClient, clock: FakeClock, month: dict[str, Member]
) -> None:
    client = timed
    clock.now = dt.datetime(2030, 4, 5, 2, 0, tzinfo=dt.UTC)  # a review looks back
    csrf = await log_in(client, UserRole.STAFF, KELURAHAN)
    assert 'action="/partisipasi/rapor/catatan"' in await text_of(client, RAPOR)
    resp = await client.post(
        "/partisipasi/rapor/catatan",
        data={"csrf_token": csrf, "area": KELURAHAN, "bulan": "2030-03",
              "text": "Budi dan Gita ditelepon; Citra ganti nomor."},
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303
    assert resp.headers["Location"].endswith("notice=catatan-tersimpan#catatan")
    page = await text_of(client, RAPOR + "&notice=catatan-tersimpan")
    assert "Catatan tersimpan." in page
    assert "Budi dan Gita ditelepon; Citra ganti nomor." in page
    note = await ScorecardNote.get()
    assert note.text == "Budi dan Gita ditelepon; Citra ganti nomor."

    refused = await client.post(
        "/partisipasi/rapor/catatan",
        data={"csrf_token": csrf, "area": KELURAHAN, "bulan": "2030-03", "text": "   "},
        allow_redirects=False,
    )
    assert refused.headers["Location"].endswith("notice=catatan-ditolak#catatan")
    assert (await ScorecardNote.get()).text == note.text


async def test_the_monthly_report_prints_and_downloads_as_pdf(
    client: TestClient, month: dict[str, Member]
) -> None:
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    page = await text_of(client, f"/partisipasi/laporan?area={KELURAHAN}&bulan=2030-03")
    assert "Laporan partisipasi dan layanan: Maret 2030" in page
    assert "Ketua RT yang perlu dihubungi" in page and "Citra" in page
    assert "Rapor lima dimensi" in page and "Tiket menurut kategori" in page
    resp = await client.get(f"/partisipasi/laporan?area={KELURAHAN}&bulan=2030-03&format=pdf")
    assert resp.status == 200
    assert resp.content_type == "application/pdf"
    assert 'filename="laporan-loa-bakung-2030-03.pdf"' in resp.headers["Content-Disposition"]
    body = await resp.read()
    assert body.startswith(b"%PDF-") and b"%%EOF" in body[-64:]
    assert b"/Subtype /Image" in body  # the weekly chart


async def test_a_month_that_cannot_be_read_says_so(
    client: TestClient, month: dict[str, Member]
) -> None:
    await log_in(client, UserRole.OFFICIAL, KELURAHAN)
    page = await text_of(client, f"/partisipasi/rapor?area={KELURAHAN}&bulan=Maret")
    assert "Bulan tidak dapat dibaca" in page
