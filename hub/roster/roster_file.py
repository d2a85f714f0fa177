"""Roster files: CSV or XLSX of RT heads, read and checked row by row before anything is written.

Every problem is reported with its line (the header is line 1), so staff can fix the file; a file
that cannot be read as a roster at all raises RosterFileError.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import openpyxl

from hub.access.areas import clean_name, path_key
from hub.core.exports import unquote_cell
from hub.core.phone import InvalidPhone, normalize_phone
from models import AreaKind, SeatRole

REQUIRED_COLUMNS = ("kecamatan", "kelurahan", "rw", "rt", "name", "phone")
OPTIONAL_COLUMNS = ("telegram_username", "preferred_channel", "role")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
CHANNELS = ("telegram", "whatsapp", "sandbox")

# Seats one person holds at a time; a kelurahan has as many staff seats as it needs.
SINGLE_HOLDER_ROLES = (SeatRole.KETUA_RT, SeatRole.KETUA_RW, SeatRole.LURAH)

# Lengths of the columns the values end up in: longer values would fail the whole transaction.
_MAX_NAME = 200
_MAX_AREA_NAME = 120

_ZIP_MAGIC = b"PK\x03\x04"  # XLSX is a zip archive
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the legacy .xls format
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode Text" export
_DELIMITERS = (",", ";", "\t")  # Excel in the Indonesian locale writes ";"
_NUMBERED = re.compile(r"(?:(?P<prefix>[a-z]{2})\s*[.:\-]?\s*)?(?P<number>[0-9]{1,4})", re.I)
_TELEGRAM_USERNAME = re.compile(r"@?[A-Za-z0-9_]{5,32}")
_WORD_GAPS = re.compile(r"[\s\-]+")


class RosterFileError(Exception):
    """The file cannot be read as a roster at all; nothing is imported."""


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


def check_rows(
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
        problems.append(f"unknown role {raw!r} (expected ketua_rt, ketua_rw, staff or lurah)")
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
    # Staff and the lurah sit at the kelurahan; an RW head at the RW; an RT head at the RT, under
    # its RW if any.
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
