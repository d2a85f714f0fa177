"""The public pages without a login: the archive (newest first, a page at a time, files by their
public links, nothing private), one announcement by its code, and the check page's answers, its
refusals and its rate limit on the hub's clock."""

from __future__ import annotations

import re

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from hub.access.auth import open_session
from hub.app import HUB
from hub.archive.entries import PAGE_SIZE
from hub.broadcast.publication import format_code
from hub.web.dashboard.base import SESSION_COOKIE
from models import Broadcast, Member, User
from tests.archive.conftest import CHECKS_PER_MINUTE, LOA_BAKUNG, correct, create, received
from tests.conftest import FakeClock
from tests.factories import bearer, make_member, make_user
from tests.test_dashboard import compose

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
NOT_FOUND = "Tidak ditemukan: pesan ini tidak cocok dengan pengumuman resmi mana pun"


async def upload(client: TestClient, token: str) -> int:
    form = FormData()
    form.add_field("file", PDF, filename="perwali-12.pdf", content_type="application/pdf")
    resp = await client.post("/api/v1/attachments", data=form, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def page(client: TestClient, path: str, status: int = 200) -> str:
    resp = await client.get(path, allow_redirects=False)
    text = await resp.text()
    assert resp.status == status, text[:500]
    return text


async def submit(client: TestClient, typed: str, status: int = 200) -> str:
    """The check page's answer, as read (without its tags)."""
    resp = await client.post("/cek", data={"isi": typed}, allow_redirects=False)
    text = await resp.text()
    assert resp.status == status, text[:500]
    return re.sub(r"<[^>]+>", "", text)


def private_parts(rt_heads: list[Member], staff_user: User) -> list[str]:
    """What the public must never see of a broadcast."""
    parts = [staff_user.username, "Penerima", "Dikonfirmasi", "Gagal", "Loa Bakung"]
    for member in rt_heads:
        parts += [member.name, member.phone or "", (member.phone or "")[3:]]
    return parts


async def test_the_archive_shows_published_announcements_and_nothing_private(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    attachment = await upload(timed, staff)
    shown = await create(timed, staff, attachments=[attachment])
    await create(timed, staff, title="Rapat pengurus", text="Rahasia dapur.", publish=False)
    await received(timed.app[HUB], rt_heads[0])
    staff_user = await User.get(username__startswith="user")

    archive = await page(timed, "/arsip")
    entry = await page(timed, f"/arsip/{shown['verification_code']}")
    for html in (archive, entry):
        assert "Kerja bakti" in html and shown["verification_code"] in html
        assert "Minggu 10 Maret pukul 07.00 WITA" in html
        assert re.search(r'href="/media/[0-9a-f]{32}/perwali-12.pdf"', html)
        assert "Rapat pengurus" not in html and "Rahasia" not in html
        assert not [p for p in private_parts(rt_heads, staff_user) if p in html]
        assert "<script" not in html
        assert 'name="viewport" content="width=device-width' in html  # phones
    link = re.search(r'href="(/media/[^"]+)"', entry)
    assert link is not None
    download = await timed.get(link[1])
    assert download.status == 200 and await download.read() == PDF


async def test_an_announcement_by_its_code_however_it_is_typed(
    timed: TestClient, staff: str
) -> None:
    code = (await create(timed, staff))["verification_code"]
    for typed in (code, code.lower(), code.replace("-", "")):
        assert "Pengumuman resmi" in await page(timed, f"/arsip/{typed}")
    for typed in ("7QK-2M4", "not-a-code", "x" * 200, "%F0%9F%99%8F"):
        assert "Tidak ditemukan" in await page(timed, f"/arsip/{typed}", 404)


async def test_the_archive_is_newest_first_a_page_at_a_time(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    for n in range(PAGE_SIZE + 3):
        await create(timed, staff, title=f"Pengumuman nomor {n:02d}")
        clock.advance(minutes=1)
    first = await page(timed, "/arsip")
    titles = re.findall(r"Pengumuman nomor (\d+)", first)
    assert titles == [f"{n:02d}" for n in range(PAGE_SIZE + 2, 2, -1)]
    after = re.search(r'href="(/arsip\?cursor=[^"]+)"', first)
    assert after is not None
    second = await page(timed, after[1].replace("&amp;", "&"))
    assert re.findall(r"Pengumuman nomor (\d+)", second) == ["02", "01", "00"]
    assert "Lebih lama" not in second and 'href="/arsip"' in second
    assert "tidak ada" in await page(timed, "/arsip?cursor=bm9wZQ", 400)


async def test_the_check_page_answers_plainly(
    timed: TestClient, clock: FakeClock, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    shown = await create(timed, staff)
    code = shown["verification_code"]
    [message] = await received(hub, rt_heads[0])

    async def answer(typed: str) -> str:
        clock.advance(seconds=60 // CHECKS_PER_MINUTE)  # one check more is allowed
        return await submit(timed, typed)

    form = await page(timed, "/cek")
    assert '<form method="post" action="/cek"' in form and "<script" not in form
    assert "Asli:" in await answer(message)
    clock.advance(seconds=60 // CHECKS_PER_MINUTE)
    assert "Asli:" in await page(timed, f"/cek?kode={code.lower()}")
    altered = await answer(message.replace("10 Maret", "11 Maret"))
    assert f"Tidak cocok: kode cek {code} milik pengumuman resmi" in altered
    assert f"Baca pengumuman resminya ({code})" in altered
    assert NOT_FOUND in await answer("Sembako gratis besok di kantor kelurahan.")

    await correct(timed, staff, shown["id"], "Kerja bakti diundur ke Minggu 17 Maret.")
    old = await answer(message)
    assert "versi lama, sudah dikoreksi" in old and "diundur" not in old
    assert "Kerja bakti diundur ke Minggu 17 Maret." in await page(timed, f"/arsip/{code}")


@pytest.mark.parametrize(
    ("typed", "status", "says"),
    [
        ("", 422, "Tempel isi pesan"),
        ("   \n ", 422, "Tempel isi pesan"),
        ("x" * 10_001, 422, "terlalu panjang"),
        ("\x00\x00", 422, "Tempel isi pesan"),
    ],
)
async def test_the_check_page_refuses_what_it_cannot_check(
    timed: TestClient, typed: str, status: int, says: str
) -> None:
    assert says in await submit(timed, typed, status)


async def test_a_bad_code_in_a_link_is_refused(timed: TestClient) -> None:
    assert "6 huruf dan angka" in await page(timed, "/cek?kode=7QK-2MO", 422)
    assert "6 huruf dan angka" in await page(timed, "/cek?kode=" + "7" * 40, 422)


async def test_checks_from_one_address_are_rate_limited_on_the_hubs_clock(
    timed: TestClient, clock: FakeClock
) -> None:
    for n in range(CHECKS_PER_MINUTE):
        await submit(timed, f"Pesan nomor {n}")
    resp = await timed.post("/cek", data={"isi": "Satu lagi"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == str(60 // CHECKS_PER_MINUTE)
    html = await resp.text()
    assert "Coba lagi dalam 20 detik" in html and "Satu lagi" in html  # the form keeps it
    assert (await timed.get("/cek?kode=7QK-2M4")).status == 429  # links count alike
    assert (await timed.get("/cek")).status == 200  # the empty form is no check
    assert (await timed.get("/arsip")).status == 200  # reading the archive is not limited
    clock.advance(seconds=60 // CHECKS_PER_MINUTE)
    assert NOT_FOUND in await submit(timed, "Satu lagi")


async def test_the_limit_counts_each_client_behind_a_trusted_proxy(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    hub.config = hub.config.replace("web", trusted_proxies=("127.0.0.1",))
    first = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(CHECKS_PER_MINUTE):
        assert (await timed.get("/cek?kode=7QK-2M4", headers=first)).status == 200
    assert (await timed.get("/cek?kode=7QK-2M4", headers=first)).status == 429
    other = {"X-Forwarded-For": "203.0.113.8"}
    assert (await timed.get("/cek?kode=7QK-2M4", headers=other)).status == 200


async def test_staff_publish_from_the_compose_page_and_see_the_code(
    timed: TestClient, clock: FakeClock
) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    # Signed in directly: over the test's plain http the https hub's login cookie is not sent.
    token, _ = await open_session(await make_user(), 1, clock.now)
    timed.session.cookie_jar.update_cookies({SESSION_COOKIE: token}, timed.make_url("/"))
    form = await (await timed.get("/broadcasts/new")).text()
    assert 'name="publish"' in form and "Terbitkan di arsip publik (dengan kode cek)" in form
    status, _, location = await compose(
        timed, title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], publish="1"
    )
    assert status == 303, location
    broadcast = await Broadcast.get()
    assert broadcast.published and broadcast.verification_code
    code = format_code(broadcast.verification_code)
    shown = await (await timed.get(f"/broadcasts/{broadcast.id}")).text()
    assert f"kode cek <strong>{code}</strong>" in shown and f'href="/arsip/{code}"' in shown
