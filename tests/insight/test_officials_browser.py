"""An official in a real browser (Debian's Chromium, headless, driven by Playwright): logs in,
drills down from the kecamatan to one RT head, opens the scorecard, switches the period,
downloads an export; every page at 1366 px and 390 px wide, with a screenshot of each saved
under test-output/browser/.

The charts must be drawn by the vendored Chart.js under the dashboard's CSP (no console errors),
and no page may scroll sideways on a phone.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from models import Member, UserRole
from tests.factories import PASSWORD, make_user
from tests.insight.conftest import KELURAHAN

playwright_api = pytest.importorskip("playwright.async_api")

OUTPUT = Path(os.environ.get("HUB_TEST_OUTPUT", "test-output")) / "browser"
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
MARCH = "from=2030-03-01&to=2030-03-31"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Debian's chromium is not installed (make install-browser puts it there)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            await launched.close()


class Visit:
    """One browser context at one width, collecting console errors and taking screenshots."""

    def __init__(self, page: object, base: str, width: str, db: str) -> None:
        self.page, self.base, self.width, self.db = page, base, width, db
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: self.errors.append(str(e)))  # type: ignore[attr-defined]

    async def shot(self, name: str) -> None:
        """Screenshot the whole page; check the charts drew and nothing overflows sideways."""
        page = self.page
        await page.wait_for_load_state("load")  # type: ignore[attr-defined]
        canvases = await page.locator("canvas[data-chart]").count()  # type: ignore[attr-defined]
        if canvases:
            await page.wait_for_function(  # type: ignore[attr-defined]
                "document.querySelectorAll('canvas[data-drawn]').length === "
                "document.querySelectorAll('canvas[data-chart]').length"
            )
        overflow = await page.evaluate(  # type: ignore[attr-defined]
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} scrolls sideways by {overflow} px at {self.width}"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await page.screenshot(  # type: ignore[attr-defined]
            path=str(OUTPUT / f"{name}-{self.width}-{self.db}.png"), full_page=True
        )
        assert self.errors == [], self.errors


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_an_official_drills_down_switches_period_and_downloads(
    client: TestClient, browser: object, month: dict[str, Member], db: str, width: str
) -> None:
    official = await make_user(UserRole.OFFICIAL, ("Sungai Kunjang",))
    base = str(client.make_url("/")).rstrip("/")
    w, h = WIDTHS[width]
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": w, "height": h}, accept_downloads=True
    )
    page = await context.new_page()
    visit = Visit(page, base, width, db)
    try:
        await page.goto(f"{base}/login")
        await visit.shot("01-login")
        await page.fill("input[name=username]", official.username)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(r"/partisipasi$"))

        # March 2030 is what the fixture holds: a custom period, then a click down the tree.
        await page.goto(f"{base}/partisipasi?{MARCH}")
        assert await page.locator("h1").inner_text() == "Partisipasi"
        await visit.shot("02-overview")
        await page.click("td a:text-is('Sungai Kunjang')")  # the top lists the kecamatan
        await page.wait_for_url(re.compile(r"area=Sungai"))
        await visit.shot("03-kecamatan")
        await page.click("td a:text-is('Loa Bakung')")
        await page.wait_for_url(re.compile(r"Loa%20Bakung|Loa\+Bakung|Loa Bakung"))
        assert "Kelurahan" in await page.locator("h1").inner_text()
        assert await page.locator("table.heat-map").count() == 1
        await visit.shot("04-kelurahan")
        await page.click("td a:text-is('RT 002')")
        await page.wait_for_url(re.compile(r"RT%20002|RT\+002|RT 002"))
        await visit.shot("05-rt")
        await page.click("td a:text-is('Budi')")
        await page.wait_for_url(re.compile(r"/partisipasi/anggota/\d+"))
        assert await page.locator("h1").inner_text() == "Budi"
        assert await page.locator("a[href^='tel:']").count() >= 1
        await visit.shot("06-rt-head")

        # The scorecard of the kelurahan for March, from the overview's button.
        await page.goto(f"{base}/partisipasi?area={KELURAHAN}&{MARCH}")
        await page.click("a:text-is('Rapor bulanan')")
        await page.wait_for_url(re.compile(r"/partisipasi/rapor"))
        await page.fill("input[name=bulan]", "2030-03")
        await page.click("form.period-form button[type=submit]")
        await page.wait_for_url(re.compile(r"bulan=2030-03"))
        assert await page.locator("h1").inner_text() == "Rapor Maret 2030"
        assert await page.locator("section.scorecard-dimension").count() == 5
        await visit.shot("07-scorecard")

        # Switch the period with the form: last month of the fixture's own "today" is not
        # March, so the custom dates are typed.
        await page.goto(f"{base}/partisipasi?area={KELURAHAN}&{MARCH}")
        await page.select_option("select[name=periode]", "12-bulan")
        await page.click("form.period-form button[type=submit]")
        await page.wait_for_url(re.compile(r"periode=12-bulan"))
        assert (
            "12 bulan terakhir"
            in await page.locator("select[name=periode] option:checked").inner_text()
        )
        await visit.shot("08-period-12-months")

        await page.goto(f"{base}/partisipasi/peringkat?{MARCH}")
        await visit.shot("09-ranking")
        async with page.expect_download() as downloading:
            await page.click("p.downloads a:text-is('CSV')")
        download = await downloading.value
        saved = OUTPUT / f"ranking-{width}-{db}.csv"
        await download.save_as(str(saved))
        content = saved.read_text(encoding="utf-8-sig")
        assert content.startswith("Peringkat,Wilayah")
        assert "Loa Bakung" in content
    finally:
        await context.close()
