"""The roster: CSV or XLSX files of RT heads into areas, members, seats and addresses.

A member's identity is their phone number, so importing the same file twice changes nothing. A seat
that changes hands is ended, not overwritten, so the history stays. One file is one transaction.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import openpyxl
from tortoise.transactions import in_transaction

from hub import audit
from hub.areas import clean_name, path_key, within
from hub.config import Config
from hub.exports import csv_writer, unquote_cell
from hub.members import invite_links, new_invite_code
from hub.phone import InvalidPhone, normalize_phone
from hub.timeutil import utcnow
from models import Area, AreaKind, ChannelAddress, Member, Seat, SeatRole, User

REQUIRED_COLUMNS = ("kecamatan", "kelurahan", "rw", "rt", "name", "phone")
OPTIONAL_COLUMNS = ("telegram_username", "preferred_channel", "role")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
CHANNELS = ("telegram", "whatsapp", "sandbox")
INVITE_COLUMNS = ("member_id", "name", "area", "code", "telegram_link", "whatsapp_link")

# Seats one person holds at a time; a kelurahan has as many staff seats as it needs.
SINGLE_HOLDER_ROLES = (SeatRole.KETUA_RT, SeatRole.KETUA_RW)

# Lengths of the columns the values end up in: longer values would fail the whole transaction.
_MAX_NAME = 200
_MAX_AREA_NAME = 120
_MAX_AUDIT_TARGET = 120

_ZIP_MAGIC = b"PK\x03\x04"  # XLSX is a zip archive
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the legacy .xls format
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode Text" export
_DELIMITERS = (",", ";", "\t")  # Excel in the Indonesian locale writes ";"
_NUMBERED = re.compile(r"(?:(?P<prefix>[a-z]{2})\s*[.:\-]?\s*)?(?P<number>[0-9]{1,4})", re.I)
_TELEGRAM_USERNAME = re.compile(r"@?[A-Za-z0-9_]{5,32}")
_WORD_GAPS = re.compile(r"[\s\-]+")


class RosterFileError(Exception):
    """The file cannot be read as a roster at all; nothing is imported."""


@dataclass
class ImportReport:
    """What one import did, per row of the file."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def summary(self) -> str:
        """`created 40, updated 2, unchanged 10, rejected 3`."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {len(self.rejected)}"
        )


def numbered_area_name(prefix: str, raw: str) -> str:
    """`12`, `012`, `RT 12` and `rt.012` all give `RT 012` (prefix "RT"); raises ValueError."""
    match = _NUMBERED.fullmatch(clean_name(raw))
    if (
        match is None
        or (match["prefix"] is not None and match["prefix"].upper() != prefix)
        or int(match["number"]) == 0
    ):
        raise ValueError(f"invalid {prefix} {raw!r}")
    return f"{prefix} {int(match['number']):03d}"


# Reading files -------------------------------------------------------------------------------


def read_roster_file(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a CSV or XLSX roster as (line, {column: text}); raises RosterFileError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise RosterFileError(f"{path.name} is empty")
    if data.startswith(_ZIP_MAGIC):
        table = _xlsx_table(data)
    elif data.startswith(_OLE_MAGIC):
        raise RosterFileError("old Excel .xls files are not supported: save it as .xlsx or CSV")
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        raise RosterFileError(f"{path.name} is not a valid XLSX file")
    else:
        table = _csv_table(_decode(data))
    return _records(table)


def _decode(data: bytes) -> str:
    if data.startswith(_UTF16_BOMS):
        encoding = "utf-16"
    elif b"\x00" in data:
        raise RosterFileError("binary file: expected a CSV or XLSX roster")
    else:
        encoding = "utf-8-sig"  # tolerates the BOM Excel puts in front of "CSV UTF-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise RosterFileError('not UTF-8 text: save the sheet as "CSV UTF-8" or as XLSX') from None


def _column_key(header: str) -> str:
    """`  Preferred Channel ` → `preferred_channel`."""
    return _WORD_GAPS.sub("_", header.replace("\ufeff", "").strip().lower())


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most known column names."""

    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return len({_column_key(c) for c in cells} & set(COLUMNS)), len(cells)

    return max(_DELIMITERS, key=score)


def _csv_table(text: str) -> list[tuple[int, list[str]]]:
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(header_line))
    try:
        # Records, not physical lines, so a line number matches the row a spreadsheet shows.
        return list(enumerate(reader, start=1))
    except csv.Error as exc:
        raise RosterFileError(f"not a readable CSV file (line {reader.line_num}: {exc})") from None


def _xlsx_table(data: bytes) -> list[tuple[int, list[str]]]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    # openpyxl fails on a damaged or foreign zip in many ways (zip, XML, KeyError, ValueError).
    except Exception as exc:
        raise RosterFileError(f"not a readable XLSX file ({type(exc).__name__})") from None
    try:
        if not workbook.worksheets:
            raise RosterFileError("the workbook has no sheet")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store wrong dimensions; read every row
        rows = sheet.iter_rows(values_only=True)
        return [(line, [_cell_text(v) for v in row]) for line, row in enumerate(rows, start=1)]
    except RosterFileError:
        raise
    except Exception as exc:
        raise RosterFileError(f"not a readable XLSX file ({type(exc).__name__})") from None
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a person typed: 81234567890.0 → `81234567890`."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _records(table: Iterable[tuple[int, list[str]]]) -> list[tuple[int, dict[str, str]]]:
    rows = iter(table)
    header = next((cells for _, cells in rows if any(c.strip() for c in cells)), None)
    if header is None:
        raise RosterFileError("no header row: the file has no content")
    positions = _column_positions(header)
    records = []
    for line, cells in rows:
        record = {column: "" for column in COLUMNS}
        for column, index in positions.items():
            if index < len(cells):
                # A file the hub exported has "'+62812..." for "+62812...": read it back as such.
                record[column] = unquote_cell(cells[index].strip())
        if any(record.values()):
            records.append((line, record))
    return records


def _column_positions(header: Sequence[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    duplicates = []
    for index, name in enumerate(header):
        key = _column_key(name)
        if key not in COLUMNS:
            continue  # extra columns (notes, numbering) are the office's own business
        if key in positions:
            duplicates.append(key)
        positions.setdefault(key, index)
    missing = [column for column in REQUIRED_COLUMNS if column not in positions]
    if missing:
        raise RosterFileError(f"missing column(s): {', '.join(missing)}")
    if duplicates:
        raise RosterFileError(f"duplicate column(s): {', '.join(duplicates)}")
    return positions


# Checking rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    """One valid row: who holds which seat, and the channel they prefer."""

    line: int
    name: str
    phone: str  # E.164
    role: SeatRole
    areas: tuple[tuple[AreaKind, str], ...]  # kecamatan down to the seat's area
    preferred_channel: str | None  # None: keep what the member has

    @property
    def seat_key(self) -> tuple[str, SeatRole]:
        return path_key("/".join(name for _, name in self.areas)), self.role


def _check_rows(
    rows: Iterable[tuple[int, dict[str, str]]],
) -> tuple[list[RosterEntry], list[tuple[int, str]]]:
    """Valid entries and (line, reason) for the rest, including repeats within the file."""
    entries: list[RosterEntry] = []
    rejected: list[tuple[int, str]] = []
    phone_lines: dict[str, int] = {}
    seat_lines: dict[tuple[str, SeatRole], int] = {}
    for line, record in rows:
        entry, problems = _check_row(line, record)
        phone = entry.phone if entry else _phone_or_none(record.get("phone", ""))
        if phone is not None:
            if phone in phone_lines:
                problems.append(f"duplicate phone, first seen on line {phone_lines[phone]}")
            else:
                phone_lines[phone] = line
        if entry is not None and not problems and entry.role in SINGLE_HOLDER_ROLES:
            if entry.seat_key in seat_lines:
                seat = "/".join(name for _, name in entry.areas)
                problems.append(
                    f"{seat} already has its {entry.role} on line {seat_lines[entry.seat_key]}"
                )
            else:
                seat_lines[entry.seat_key] = line
        if problems:
            rejected.append((line, "; ".join(problems)))
        elif entry is not None:
            entries.append(entry)
    return entries, rejected


def _phone_or_none(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


def _check_row(line: int, record: dict[str, str]) -> tuple[RosterEntry | None, list[str]]:
    """The entry for a row, or None and every problem found in it."""
    value = {column: clean_name(record.get(column) or "") for column in COLUMNS}
    problems: list[str] = []

    name = value["name"]
    if not name:
        problems.append("name is empty")
    elif len(name) > _MAX_NAME:
        problems.append(f"name is longer than {_MAX_NAME} characters")

    phone = None
    if not value["phone"]:
        problems.append("phone is empty")
    else:
        try:
            phone = normalize_phone(value["phone"])
        except InvalidPhone as exc:
            problems.append(f"invalid phone: {exc}")

    role = _check_role(value["role"], problems)
    areas = _check_areas(value, role, problems)

    channel = value["preferred_channel"].lower() or None
    if channel is not None and channel not in CHANNELS:
        problems.append(
            f"unknown preferred_channel {channel!r} (expected telegram, whatsapp or sandbox)"
        )
    username = value["telegram_username"]
    if username and not _TELEGRAM_USERNAME.fullmatch(username):
        problems.append(
            f"invalid telegram_username {username!r} (5-32 letters, digits or underscores)"
        )

    if problems or phone is None or role is None or areas is None:
        return None, problems
    return RosterEntry(line, name, phone, role, areas, channel), problems


def _check_role(raw: str, problems: list[str]) -> SeatRole | None:
    key = _WORD_GAPS.sub("_", raw.lower().replace(".", " ").strip()) or SeatRole.KETUA_RT
    try:
        return SeatRole(key)
    except ValueError:
        problems.append(f"unknown role {raw!r} (expected ketua_rt, ketua_rw or staff)")
        return None


def _check_areas(
    value: dict[str, str], role: SeatRole | None, problems: list[str]
) -> tuple[tuple[AreaKind, str], ...] | None:
    """The area names from kecamatan down to the seat the role sits in."""
    found = len(problems)
    areas: list[tuple[AreaKind, str]] = []
    for kind in (AreaKind.KECAMATAN, AreaKind.KELURAHAN):
        name = value[kind.value]
        if not name:
            problems.append(f"{kind} is empty")
        elif "/" in name:
            problems.append(f"{kind} must not contain '/': {name!r}")
        elif len(name) > _MAX_AREA_NAME:
            problems.append(f"{kind} is longer than {_MAX_AREA_NAME} characters")
        areas.append((kind, name))
    # Staff sit at the kelurahan; an RW head at the RW; an RT head at the RT, under its RW if any.
    if role == SeatRole.KETUA_RW:
        _add_numbered(areas, AreaKind.RW, value["rw"], problems, required_for=role)
    elif role == SeatRole.KETUA_RT:
        if value["rw"]:
            _add_numbered(areas, AreaKind.RW, value["rw"], problems)
        _add_numbered(areas, AreaKind.RT, value["rt"], problems, required_for=role)
    return tuple(areas) if len(problems) == found and role is not None else None


def _add_numbered(
    areas: list[tuple[AreaKind, str]],
    kind: AreaKind,
    raw: str,
    problems: list[str],
    *,
    required_for: SeatRole | None = None,
) -> None:
    if not raw:
        if required_for is not None:
            problems.append(f"{kind} is empty (required for {required_for})")
        return
    try:
        areas.append((kind, numbered_area_name(kind.value.upper(), raw)))
    except ValueError as exc:
        problems.append(str(exc))


# Importing -----------------------------------------------------------------------------------


Outcome = Literal["created", "updated", "unchanged"]


class _RowConflict(Exception):
    """The row contradicts the database; it is reported and skipped, the rest goes on."""


async def import_roster(path: Path, *, actor: User | None = None) -> ImportReport:
    """Read a CSV or XLSX roster and import it; raises RosterFileError for unreadable files."""
    rows = read_roster_file(path)
    return await import_rows(rows, actor=actor, source=path.name)


async def import_rows(
    rows: Sequence[tuple[int, dict[str, str]]], *, actor: User | None = None, source: str = ""
) -> ImportReport:
    """Import roster rows in one transaction; bad rows are reported one by one and skipped."""
    entries, rejected = _check_rows(rows)
    report = ImportReport(rejected=rejected)
    async with in_transaction():
        run = _ImportRun(utcnow())
        for entry in entries:
            try:
                outcome = await run.apply(entry)
            except _RowConflict as exc:
                report.rejected.append((entry.line, str(exc)))
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
        report.rejected.sort()
        await audit.record(
            actor,
            "roster.import",
            source[:_MAX_AUDIT_TARGET],
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=len(report.rejected),
        )
    return report


class _ImportRun:
    """One import: a single clock reading for every seat it ends or starts, and an area cache."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.areas: dict[str, Area] = {}

    async def apply(self, entry: RosterEntry) -> Outcome:
        """Put the row into the database: `created`, `updated` or `unchanged`."""
        member = await Member.get_or_none(phone=entry.phone)
        await _refuse_foreign_address(member, "whatsapp", entry.phone)
        if member is None:
            member = await Member.create(
                name=entry.name,
                phone=entry.phone,
                preferred_channel=entry.preferred_channel,
                invite_code=await _unused_invite_code(),
            )
            created = True
            changed = False
        else:
            created = False
            changed = await _update_member(member, entry)
        area = await self.area(entry)
        changed |= await self.take_seat(member, area, entry.role)
        changed |= await _ensure_address(member, "whatsapp", entry.phone)
        if member.preferred_channel == "sandbox":
            changed |= await _ensure_address(member, "sandbox", f"sandbox-{member.id}")
        if created:
            return "created"
        return "updated" if changed else "unchanged"

    async def area(self, entry: RosterEntry) -> Area:
        """The seat's area, creating the missing levels above it."""
        parent: Area | None = None
        for kind, name in entry.areas:
            path = f"{parent.path}/{name}" if parent else name
            key = path_key(path)
            area = self.areas.get(key) or await Area.get_or_none(path_key=key)
            if area is None:
                area = await Area.create(
                    kind=kind, name=name, parent=parent, path=path, path_key=key
                )
            self.areas[key] = area
            parent = area
        assert parent is not None  # every entry names a kecamatan and a kelurahan
        return parent

    async def take_seat(self, member: Member, area: Area, role: SeatRole) -> bool:
        """Seat the member; end whatever seat this replaces. True if anything changed."""
        held = await Seat.filter(member_id=member.id, role=role, ended_at__isnull=True)
        changed = False
        if role in SINGLE_HOLDER_ROLES:
            # The seat changes hands: the previous holder's term ends and stays in the history.
            ended = await (
                Seat.filter(area_id=area.id, role=role, ended_at__isnull=True)
                .exclude(member_id=member.id)
                .update(ended_at=self.now)
            )
            changed = ended > 0
        if not any(seat.area_id == area.id for seat in held):
            await Seat.create(member=member, area=area, role=role, started_at=self.now)
            changed = True
        moved_from = [seat.id for seat in held if seat.area_id != area.id]
        if moved_from:
            await Seat.filter(id__in=moved_from).update(ended_at=self.now)
            changed = True
        return changed


async def _update_member(member: Member, entry: RosterEntry) -> bool:
    changed = False
    if member.name != entry.name:
        member.name = entry.name
        changed = True
    # An empty preferred_channel keeps the member's choice (they may have joined since).
    if entry.preferred_channel and member.preferred_channel != entry.preferred_channel:
        member.preferred_channel = entry.preferred_channel
        changed = True
    if changed:
        await member.save()
    return changed


async def _refuse_foreign_address(member: Member | None, channel: str, address: str) -> None:
    owner = await ChannelAddress.filter(channel=channel, address=address).first()
    if owner is not None and (member is None or owner.member_id != member.id):
        raise _RowConflict(
            f"{channel} address {address} belongs to another member (id {owner.member_id})"
        )


async def _ensure_address(member: Member, channel: str, address: str) -> bool:
    """Add the (channel, address) to the member unless it is there; True if added."""
    if await ChannelAddress.exists(channel=channel, address=address):
        return False
    await ChannelAddress.create(member=member, channel=channel, address=address)
    return True


async def _unused_invite_code(attempts: int = 20) -> str:
    # Codes are random; a clash with an existing one is rare but would break the unique index.
    for _ in range(attempts):
        code = new_invite_code()
        if not await Member.exists(invite_code=code):
            return code
    raise RuntimeError(f"no unused invite code after {attempts} attempts")


# Invites -------------------------------------------------------------------------------------


async def regenerate_invite(member: Member, *, actor: User | None = None) -> str:
    """Give the member a new invite code; the old one joins nobody any more."""
    code = await _unused_invite_code()
    await Member.filter(id=member.id).update(invite_code=code)
    member.invite_code = code
    await audit.record(actor, "member.invite_regenerate", f"member:{member.id}")
    return code


async def regenerate_invites(area: Area | None, *, actor: User | None = None) -> int:
    """New invite codes for the members holding a seat in `area` (everywhere if None)."""
    seats = Seat.filter(ended_at__isnull=True)
    if area is not None:
        seats = seats.filter(within(area, "area__"))
    ids = set(await seats.values_list("member_id", flat=True))
    async with in_transaction():
        for member in await Member.filter(id__in=ids):
            await regenerate_invite(member, actor=actor)
    return len(ids)


async def invite_rows(config: Config, area: Area | None) -> list[dict[str, Any]]:
    """One row per member with a current seat in `area` (everywhere if None), by area and name."""
    seats = Seat.filter(ended_at__isnull=True)
    if area is not None:
        seats = seats.filter(within(area, "area__"))
    ordered = seats.select_related("area", "member").order_by(
        "area__path_key", "member__name", "member_id"
    )
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for seat in await ordered:
        if seat.member_id in seen:
            continue  # a member with two seats is invited once, under the first
        seen.add(seat.member_id)
        links = invite_links(config, seat.member.invite_code)
        rows.append(
            {
                "member_id": seat.member_id,
                "name": seat.member.name,
                "area": seat.area.path,
                "code": links["code"],
                "telegram_link": links["telegram_link"],
                "whatsapp_link": links["whatsapp_link"],
            }
        )
    return rows


def write_invites(rows: Iterable[dict[str, Any]], fmt: str, stream: IO[str]) -> None:
    """Write invite rows as CSV (header first, None as empty, formula-safe cells) or as JSON."""
    if fmt == "json":
        json.dump(list(rows), stream, ensure_ascii=False, indent=2)
        stream.write("\n")
    elif fmt == "csv":
        writer = csv_writer(stream, lineterminator="\n")
        writer.writerow(INVITE_COLUMNS)
        writer.writerows(_invite_cells(row) for row in rows)
    else:
        raise ValueError(f"unknown invite format {fmt!r} (expected csv or json)")


def _invite_cells(row: dict[str, Any]) -> Iterator[object]:
    return ("" if row[column] is None else row[column] for column in INVITE_COLUMNS)
