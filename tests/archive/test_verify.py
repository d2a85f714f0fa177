"""The check of a code or a pasted message: genuine, altered and unknown texts and codes, an
earlier version a correction replaced, and nothing of what was not published."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient

from hub.app import HUB
from hub.archive.verify import Verdict, check_code, check_text, codes_in
from hub.broadcast.publication import parse_code
from models import Member
from tests.archive.conftest import correct, create, received
from tests.conftest import FakeClock

HUB_NAME = "Balai Warga"
CORRECTED_TEXT = "Kerja bakti diundur ke Minggu 17 Maret pukul 07.00 WITA."


async def check(text: str) -> tuple[Verdict, str | None]:
    """The verdict on a pasted text, and the code of the announcement it names."""
    result = await check_text(text, HUB_NAME)
    return result.verdict, result.entry.code if result.entry else None


async def test_the_message_as_received_its_text_and_its_code_are_genuine(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    shown = await create(timed, staff)
    code = shown["verification_code"]
    [message] = await received(timed.app[HUB], rt_heads[0])
    text_only = "Kerja bakti membersihkan saluran air, Minggu 10 Maret pukul 07.00 WITA."
    forwarded = message.replace("*", "").replace("📢 ", "").upper()
    for pasted in (message, text_only, forwarded, code, code.lower().replace("-", " ")):
        assert await check(pasted) == (Verdict.GENUINE, code), pasted
    assert await check(f"Kode cek: {code}") == (Verdict.GENUINE, code)
    assert (await check_code(parse_code(code) or "")).verdict == Verdict.GENUINE


async def test_an_altered_text_under_a_real_code_is_called_altered(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    shown = await create(timed, staff)
    code = shown["verification_code"]
    [message] = await received(timed.app[HUB], rt_heads[0])
    hoax = message.replace("Minggu 10 Maret", "Sabtu 9 Maret").replace(
        "WITA.", "WITA. Setiap warga wajib membayar Rp 100.000 ke nomor 0812-0000-0000."
    )
    assert await check(hoax) == (Verdict.ALTERED, code)
    # The code written anywhere, or as a link to the archive, names the announcement alike.
    body = "Kerja bakti dibatalkan, uang iuran dikembalikan."
    assert await check(f"{body}\n{code}") == (Verdict.ALTERED, code)
    assert await check(f"{body} https://balai.example.id/arsip/{code}") == (Verdict.ALTERED, code)


async def test_unknown_codes_and_texts_are_not_found(timed: TestClient, staff: str) -> None:
    await create(timed, staff)
    for pasted in (
        "7QK-2M4",
        "Kode cek: 7QK-2M4\nKerja bakti membersihkan saluran air.",
        "Pembagian sembako gratis di kantor kelurahan besok, bawa KTP.",
        "Kerja bakti",  # the title alone is no announcement
        "🙏🙏",
    ):
        assert await check(pasted) == (Verdict.NOT_FOUND, None), pasted


async def test_a_corrected_announcement_old_text_says_so_and_the_new_text_is_genuine(
    timed: TestClient, clock: FakeClock, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    shown = await create(timed, staff)
    code = shown["verification_code"]
    [original] = await received(hub, rt_heads[0])
    clock.advance(hours=3)
    await correct(timed, staff, shown["id"], CORRECTED_TEXT)

    assert await check(original) == (Verdict.CORRECTED, code)
    without_code = "\n".join(line for line in original.splitlines() if "Kode cek" not in line)
    assert await check(without_code) == (Verdict.CORRECTED, code)
    assert await check(CORRECTED_TEXT) == (Verdict.GENUINE, code)
    result = await check_text(code, HUB_NAME)
    assert result.verdict == Verdict.GENUINE and result.entry is not None
    assert result.entry.corrected_at == clock.now
    assert result.entry.revisions[0].text.startswith("Kerja bakti membersihkan")


async def test_unpublished_and_not_yet_sent_broadcasts_are_never_found(
    timed: TestClient, clock: FakeClock, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    await create(timed, staff, publish=False, text="Rapat pengurus RT Jumat malam.")
    later = (clock.now + dt.timedelta(days=2)).isoformat()
    scheduled = await create(timed, staff, text="Posyandu Selasa pagi.", send_at=later)
    [message] = await received(hub, rt_heads[0])
    assert "Rapat pengurus" in message
    assert await check(message) == (Verdict.NOT_FOUND, None)
    assert await check("Rapat pengurus RT Jumat malam.") == (Verdict.NOT_FOUND, None)
    assert await check("Posyandu Selasa pagi.") == (Verdict.NOT_FOUND, None)
    assert await check(scheduled["verification_code"]) == (Verdict.NOT_FOUND, None)


async def test_a_text_repeated_by_a_series_is_the_latest_announcement(
    timed: TestClient, staff: str
) -> None:
    first = await create(timed, staff)
    second = await create(timed, staff)
    text = "Kerja bakti membersihkan saluran air, Minggu 10 Maret pukul 07.00 WITA."
    assert await check(text) == (Verdict.GENUINE, second["verification_code"])
    assert first["verification_code"] != second["verification_code"]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Kode cek: 7QK-2M4", ["7QK2M4"]),
        ("kode cek 7qk2m4 ya", ["7QK2M4"]),
        ("lihat https://balai.example.id/arsip/7QK-2M4", ["7QK2M4"]),
        ("ini apa-apa saja, kode 7QK–2M4", ["APAAPA", "7QK2M4"]),  # only codes that exist count
        ("BERKAS lengkap, nomor 123456", []),  # six letters or digits alone are no code
        ("7QK-2MO", []),
    ],
)
def test_codes_are_read_from_a_text(text: str, codes: list[str]) -> None:
    assert codes_in(text, HUB_NAME) == codes
