"""Publishing a broadcast: the verification code (its form, its uniqueness, who gets one), the
code line at the foot of what RT heads receive, and the fingerprints a pasted copy is found by."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from aiohttp.test_utils import TestClient

from hub.app import HUB
from hub.broadcast import publication
from hub.broadcast.content import message_length, render_announcement
from hub.broadcast.publication import (
    CODE_ALPHABET,
    check_url,
    digest,
    format_code,
    new_code,
    normalized,
    parse_code,
    unused_code,
)
from jobs.broadcasts import start_due_broadcasts
from models import Broadcast, Member, PublishedText
from tests.archive.conftest import body, correct, create, received, show
from tests.conftest import PUBLIC_URL, FakeClock, make_config
from tests.factories import bearer

WITA = zoneinfo.ZoneInfo("Asia/Makassar")
SHOWN = re.compile(r"[2-9A-HJKMNP-TV-Z]{3}-[2-9A-HJKMNP-TV-Z]{3}")


def wita(day: int, hour: int) -> dt.datetime:
    """A moment in March 2030, WITA (4 March 2030 is a Monday)."""
    return dt.datetime(2030, 3, day, hour, tzinfo=WITA)


# The code -------------------------------------------------------------------------------------


def test_a_code_is_six_unambiguous_characters_shown_with_a_dash() -> None:
    assert set(CODE_ALPHABET).isdisjoint("ILOU01")
    assert len(CODE_ALPHABET) == 30
    codes = {new_code() for _ in range(500)}
    assert len(codes) > 490  # random: 30^6 of them
    for code in codes:
        assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
        assert SHOWN.fullmatch(format_code(code))
        assert parse_code(format_code(code)) == code


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7QK-2M4", "7QK2M4"),
        ("7qk-2m4", "7QK2M4"),
        (" 7QK 2M4 ", "7QK2M4"),
        ("7QK2M4", "7QK2M4"),
        ("7QK–2M4", "7QK2M4"),  # a phone's en dash
        ("7Q K-2 M4", "7QK2M4"),
        ("", None),
        ("7QK-2M", None),
        ("7QK-2M44", None),
        ("7QK-2MO", None),  # O, I, L, U, 0 and 1 are never in a code
        ("7QK-2M1", None),
        ("7QK_2M4", None),
        ("7QK-2M٤", None),  # an Arabic-Indic four
    ],
)
def test_a_typed_code_is_read_whatever_its_case_dashes_and_spaces(
    typed: str, expected: str | None
) -> None:
    assert parse_code(typed) == expected


async def test_a_code_in_use_is_drawn_again(
    timed: TestClient, staff: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await create(timed, staff)
    taken = parse_code(first["verification_code"])
    draws = iter([taken, taken, "ABCDEF"])
    monkeypatch.setattr(publication, "new_code", lambda: next(draws))
    assert await unused_code() == "ABCDEF"


async def test_every_published_broadcast_has_its_own_code(timed: TestClient, staff: str) -> None:
    shown = [await create(timed, staff, title=f"Pengumuman {n}") for n in range(12)]
    codes = [s["verification_code"] for s in shown]
    assert all(SHOWN.fullmatch(c) for c in codes)
    assert len(set(codes)) == len(codes)
    assert all(s["published"] and s["published_at"] for s in shown)


# The code line under the announcement ------------------------------------------------------------


async def test_the_code_line_is_at_the_foot_of_a_published_announcement_only(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    published = await create(timed, staff)
    plain = await create(timed, staff, title="Rapat RT", publish=False)
    assert plain["published"] is False
    assert plain["verification_code"] is None and plain["published_at"] is None

    for member in rt_heads:
        announcement, other = await received(hub, member)
        code = published["verification_code"]
        assert announcement.endswith(
            f"Kode cek: {code} · cek keaslian di {PUBLIC_URL}/arsip/{code}"
        )
        assert "Kode cek" not in other and "Rapat RT" in other


def test_without_a_public_address_the_code_line_carries_no_link() -> None:
    local = make_config()  # http://127.0.0.1:8080: nobody's phone can open it
    assert check_url(local, "7QK2M4") is None
    assert render_announcement(local, "Judul", "Isi.", True, "7QK2M4").endswith("Kode cek: 7QK-2M4")
    remote = make_config(hub={"public_url": "https://balai.example.id/"})
    assert check_url(remote, "7QK2M4") == "https://balai.example.id/arsip/7QK-2M4"


async def test_the_length_check_counts_the_code_line(timed: TestClient, staff: str) -> None:
    config = timed.app[HUB].config
    title = "Kerja bakti"
    plain = message_length(render_announcement(config, title, "", True))
    text = "x" * (4096 - plain)  # fits exactly without the code line
    for publish, status in ((False, 201), (True, 422)):
        resp = await timed.post(
            "/api/v1/broadcasts",
            json=body(title=title, text=text, publish=publish),
            headers=bearer(staff),
        )
        assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == "text_too_long"
    assert await Broadcast.filter(published=True).count() == 0


async def test_a_correction_keeps_the_code_and_its_line(
    timed: TestClient, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    shown = await create(timed, staff)
    await received(hub, rt_heads[0])
    await correct(timed, staff, shown["id"], "Kerja bakti diundur ke Minggu 17 Maret.")
    after = await show(timed, staff, shown["id"])
    assert after["verification_code"] == shown["verification_code"]
    corrected = (await received(hub, rt_heads[0]))[-1]
    assert "diundur" in corrected and f"Kode cek: {shown['verification_code']}" in corrected


# Who gets a code, and when it becomes public ----------------------------------------------------


async def test_a_scheduled_broadcast_has_its_code_from_the_start_and_is_public_once_sent(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    clock.now = wita(4, 10).astimezone(dt.UTC)
    shown = await create(timed, staff, send_at=wita(5, 8).isoformat())
    assert SHOWN.fullmatch(shown["verification_code"]) and shown["published_at"] is None
    assert await PublishedText.all().count() == 0

    clock.now = wita(5, 8).astimezone(dt.UTC)
    assert (await start_due_broadcasts(timed.app[HUB]))["started"] == 1
    sent = await show(timed, staff, shown["id"])
    assert sent["verification_code"] == shown["verification_code"]
    assert dt.datetime.fromisoformat(sent["published_at"]) == wita(5, 8)
    assert await PublishedText.filter(broadcast_id=shown["id"]).count() == 1


async def test_publishing_can_be_switched_on_and_off_until_it_is_sent(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    clock.now = wita(4, 10).astimezone(dt.UTC)
    shown = await create(timed, staff, send_at=wita(5, 8).isoformat(), publish=False)
    url = f"/api/v1/broadcasts/{shown['id']}"
    codes = []
    for publish in (True, False, True):
        resp = await timed.patch(url, json={"publish": publish}, headers=bearer(staff))
        assert resp.status == 200, await resp.text()
        changed = await resp.json()
        assert changed["published"] is publish
        assert (changed["verification_code"] is not None) is publish
        codes.append(changed["verification_code"])
    # Another change keeps the code it has.
    resp = await timed.patch(url, json={"title": "Kerja bakti besar"}, headers=bearer(staff))
    assert (await resp.json())["verification_code"] == codes[-1]


async def test_each_run_of_a_published_series_has_its_own_code(
    timed: TestClient, clock: FakeClock, staff: str, rt_heads: list[Member]
) -> None:
    hub = timed.app[HUB]
    clock.now = wita(4, 10).astimezone(dt.UTC)
    series = await create(timed, staff, recurrence={"cron": "0 8 * * 1"})
    assert series["published"] is True and series["verification_code"] is None
    for day in (11, 18):
        clock.now = wita(day, 8).astimezone(dt.UTC)
        assert (await start_due_broadcasts(hub))["started"] == 1
    runs = await Broadcast.filter(series_id=series["id"]).order_by("id")
    codes = [run.verification_code for run in runs]
    assert len(codes) == 2 and None not in codes and codes[0] != codes[1]
    assert [run.published_at for run in runs] == [wita(11, 8), wita(18, 8)]
    messages = await received(hub, rt_heads[0])
    for code, message in zip(codes, messages, strict=True):
        assert code is not None and f"Kode cek: {format_code(code)}" in message
    # A series turned into a one-off gets a code of its own; back to a series, it has none.
    url = f"/api/v1/broadcasts/{series['id']}"
    resp = await timed.patch(url, json={"recurrence": None}, headers=bearer(staff))
    assert SHOWN.fullmatch((await resp.json())["verification_code"])
    resp = await timed.patch(url, json={"recurrence": {"cron": "0 8 * * 1"}}, headers=bearer(staff))
    assert (await resp.json())["verification_code"] is None


# Fingerprints ------------------------------------------------------------------------------------

TEXT = "Kerja bakti *membersihkan* saluran air 🧹\nMinggu 10 Maret pukul 07.00 WITA."


@pytest.mark.parametrize(
    "copy",
    [
        TEXT,
        "kerja bakti membersihkan saluran air minggu 10 maret pukul 07.00 wita.",
        "KERJA BAKTI MEMBERSIHKAN SALURAN AIR\n\n\nMINGGU 10 MARET PUKUL 07.00 WITA.",
        "Kerja bakti _membersihkan_ saluran air 🧹🏽\u200d Minggu 10 Maret pukul 07.00 WITA.",
        "— Balai Warga\nKerja bakti membersihkan saluran air\nMinggu 10 Maret pukul 07.00 WITA.\n"
        'Mohon tekan tombol "Sudah dibaca" setelah membaca.\n'
        "Kode cek: 7QK-2M4\n✅ Sudah dikonfirmasi",
    ],
)
def test_copies_that_differ_only_in_form_have_one_fingerprint(copy: str) -> None:
    assert digest(normalized(copy, "Balai Warga")) == digest(normalized(TEXT, "Balai Warga"))


@pytest.mark.parametrize(
    "altered",
    [
        TEXT.replace("10 Maret", "17 Maret"),
        TEXT.replace("07.00", "07:00"),
        TEXT + " Wajib membawa iuran Rp 50.000.",
        TEXT.replace("Kerja bakti ", ""),
    ],
)
def test_an_altered_text_has_another_fingerprint(altered: str) -> None:
    assert digest(normalized(altered, "Balai Warga")) != digest(normalized(TEXT, "Balai Warga"))
