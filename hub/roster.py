"""The roster: CSV or XLSX files of RT heads into areas, members, seats and addresses.

A member's identity is their phone number, so importing the same file twice changes nothing. A seat
that changes hands is ended, not overwritten, so the history stays. The whole file is checked
first; the valid rows are then applied in batches of short transactions, so the running hub can
write between them, and an import stopped half-way is finished by importing the same file again.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openpyxl
from tortoise import connections
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


# Called after each batch with (valid rows handled so far, valid rows in the file).
BatchDone = Callable[[int, int], Awaitable[None]]

# Rows per transaction. One batch takes a fraction of a second, so the running hub waits at most
# that long for the database; a whole file in one transaction locked it out for minutes.
BATCH_ROWS = 250
# After each batch on SQLite the import leaves the database alone this long: a writer of another
# process (`hub run`) waiting for the lock looks again at most every 100 ms (SQLite's busy
# handler) and, without the pause, would find the next batch holding it every time it looks.
SQLITE_PAUSE_SECONDS = 0.1


async def import_roster(
    path: Path, *, actor: User | None = None, on_batch: BatchDone | None = None
) -> ImportReport:
    """Read a CSV or XLSX roster and import it; raises RosterFileError for unreadable files."""
    rows = read_roster_file(path)
    return await import_rows(rows, actor=actor, source=path.name, on_batch=on_batch)


async def import_rows(
    rows: Sequence[tuple[int, dict[str, str]]],
    *,
    actor: User | None = None,
    source: str = "",
    batch_rows: int | None = None,
    on_batch: BatchDone | None = None,
) -> ImportReport:
    """Check every row, then apply the valid ones in batches; bad rows are reported and skipped.

    A batch has BATCH_ROWS rows unless `batch_rows` says otherwise. Each batch is one short
    transaction, so a row is applied whole or not at all and other writers get the database
    between batches. An import stopped half-way (a crash, Ctrl+C) keeps the batches before;
    importing the same file again finishes it, as rows already applied come out unchanged.
    """
    entries, rejected = _check_rows(rows)  # the whole file, before anything is written
    report = ImportReport(rejected=rejected)
    run = _ImportRun(utcnow())
    pause = (
        SQLITE_PAUSE_SECONDS if connections.get("default").capabilities.dialect == "sqlite" else 0
    )
    size = batch_rows or BATCH_ROWS
    for start in range(0, len(entries), size):
        if start:
            await asyncio.sleep(pause)
        batch = entries[start : start + size]
        async with in_transaction():
            await run.apply(batch, report)
        if on_batch is not None:
            await on_batch(start + len(batch), len(entries))
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
        self.areas: dict[str, Area] = {}  # by path_key

    async def apply(self, entries: Sequence[RosterEntry], report: ImportReport) -> None:
        """Put a batch of rows into the database: a few queries per batch, not per row."""
        phones = [entry.phone for entry in entries]
        members = {m.phone: m for m in await Member.filter(phone__in=phones)}
        whatsapp_owners: dict[str, int] = dict(
            await ChannelAddress.filter(channel="whatsapp", address__in=phones).values_list(
                "address", "member_id"
            )
        )
        accepted: list[RosterEntry] = []
        for entry in entries:
            member = members.get(entry.phone)
            owner = whatsapp_owners.get(entry.phone)
            if owner is not None and (member is None or owner != member.id):
                reason = f"whatsapp address {entry.phone} belongs to another member (id {owner})"
                report.rejected.append((entry.line, reason))
            else:
                accepted.append(entry)
        if not accepted:
            return

        updated = [
            member
            for entry in accepted
            if (member := members.get(entry.phone)) is not None and _update_member(member, entry)
        ]
        if updated:
            await Member.bulk_update(updated, fields=["name", "preferred_channel", "updated_at"])
        new = [entry for entry in accepted if entry.phone not in members]
        new_phones = {entry.phone for entry in new}
        if new:
            codes = await _unused_invite_codes(len(new))
            await Member.bulk_create(
                [
                    Member(
                        name=entry.name,
                        phone=entry.phone,
                        preferred_channel=entry.preferred_channel,
                        invite_code=code,
                    )
                    for entry, code in zip(new, codes, strict=True)
                ]
            )
            created = Member.filter(phone__in=list(new_phones))
            members.update({m.phone: m for m in await created})

        seated = [
            (members[entry.phone], area, entry.role)
            for entry, area in zip(accepted, await self.seat_areas(accepted), strict=True)
        ]
        changed = {m.id for m in updated}
        changed |= await self.take_seats(seated, new_members={members[p].id for p in new_phones})
        changed |= await _add_addresses(
            [members[entry.phone] for entry in accepted], whatsapp_owners
        )
        for entry in accepted:
            if entry.phone in new_phones:
                report.created += 1
            elif members[entry.phone].id in changed:
                report.updated += 1
            else:
                report.unchanged += 1

    async def seat_areas(self, entries: Sequence[RosterEntry]) -> list[Area]:
        """Each entry's seat area, creating the missing levels above it one level at a time."""
        keys = [_level_keys(entry) for entry in entries]
        for level in range(max(len(entry.areas) for entry in entries)):
            wanted: dict[str, tuple[AreaKind, str, str | None]] = {}  # key: kind, name, parent key
            for entry, levels in zip(entries, keys, strict=True):
                if level < len(levels):
                    kind, name = entry.areas[level]
                    parent = levels[level - 1] if level else None
                    wanted.setdefault(levels[level], (kind, name, parent))
            missing = [key for key in wanted if key not in self.areas]
            if missing:
                self.areas.update({a.path_key: a for a in await Area.filter(path_key__in=missing)})
            fresh = [key for key in missing if key not in self.areas]
            if fresh:
                await Area.bulk_create([self._new_area(key, *wanted[key]) for key in fresh])
                self.areas.update({a.path_key: a for a in await Area.filter(path_key__in=fresh)})
        return [self.areas[levels[-1]] for levels in keys]

    def _new_area(self, key: str, kind: AreaKind, name: str, parent_key: str | None) -> Area:
        parent = self.areas[parent_key] if parent_key is not None else None
        # The path continues the parent's as the database has it, whatever case the file uses.
        path = f"{parent.path}/{name}" if parent is not None else name
        return Area(kind=kind, name=name, parent_id=parent and parent.id, path=path, path_key=key)

    async def take_seats(
        self, seated: Sequence[tuple[Member, Area, SeatRole]], *, new_members: set[int]
    ) -> set[int]:
        """Seat each member; end whatever seat this replaces. Returns whose seats changed.

        Row by row, as if each were imported alone, on the open seats the batch touches.
        """
        known = [member.id for member, _, _ in seated if member.id not in new_members]
        held = [area.id for _, area, role in seated if role in SINGLE_HOLDER_ROLES]
        seats: dict[int, Seat] = {}
        if known:
            mine = Seat.filter(member_id__in=known, ended_at__isnull=True)
            seats.update({seat.id: seat for seat in await mine})
        if held:
            theirs = Seat.filter(
                area_id__in=held, role__in=SINGLE_HOLDER_ROLES, ended_at__isnull=True
            )
            seats.update({seat.id: seat for seat in await theirs})
        by_member: dict[int, list[Seat]] = collections.defaultdict(list)
        by_seat: dict[tuple[int, SeatRole], list[Seat]] = collections.defaultdict(list)
        for seat in seats.values():
            by_member[seat.member_id].append(seat)
            by_seat[(seat.area_id, seat.role)].append(seat)

        started: list[Seat] = []
        ended: list[Seat] = []
        changed: set[int] = set()

        def end(seat: Seat, member: Member) -> None:
            seat.ended_at = self.now
            ended.append(seat)
            changed.add(member.id)

        for member, area, role in seated:
            current = [s for s in by_member[member.id] if s.role == role and s.ended_at is None]
            if role in SINGLE_HOLDER_ROLES:
                # The seat changes hands: the previous holder's term ends and stays in the history.
                for seat in by_seat[(area.id, role)]:
                    if seat.ended_at is None and seat.member_id != member.id:
                        end(seat, member)
            if not any(seat.area_id == area.id for seat in current):
                seat = Seat(member_id=member.id, area_id=area.id, role=role, started_at=self.now)
                started.append(seat)
                by_member[member.id].append(seat)
                by_seat[(area.id, role)].append(seat)
                changed.add(member.id)
            for seat in current:
                if seat.area_id != area.id:  # the member moved
                    end(seat, member)

        ended_ids = [seat.id for seat in ended if seat.id is not None]
        if ended_ids:
            await Seat.filter(id__in=ended_ids).update(ended_at=self.now)
        if started:
            await Seat.bulk_create(started)
        return changed


def _level_keys(entry: RosterEntry) -> list[str]:
    """The path_key of each area from the kecamatan down to the seat's."""
    keys: list[str] = []
    for _, name in entry.areas:
        keys.append(f"{keys[-1]}/{path_key(name)}" if keys else path_key(name))
    return keys


def _update_member(member: Member, entry: RosterEntry) -> bool:
    """Take the row's name and channel into `member` (not saved); True if anything changed."""
    changed = False
    if member.name != entry.name:
        member.name = entry.name
        changed = True
    # An empty preferred_channel keeps the member's choice (they may have joined since).
    if entry.preferred_channel and member.preferred_channel != entry.preferred_channel:
        member.preferred_channel = entry.preferred_channel
        changed = True
    return changed


async def _add_addresses(members: Sequence[Member], whatsapp_owners: dict[str, int]) -> set[int]:
    """Each member's WhatsApp number, and a sandbox address if they prefer it, unless there.

    Returns the ids of the members who got one.
    """
    added = [
        ChannelAddress(member_id=m.id, channel="whatsapp", address=m.phone)
        for m in members
        if m.phone not in whatsapp_owners
    ]
    sandbox = {f"sandbox-{m.id}": m for m in members if m.preferred_channel == "sandbox"}
    if sandbox:
        there = ChannelAddress.filter(channel="sandbox", address__in=list(sandbox))
        taken = set(await there.values_list("address", flat=True))
        added += [
            ChannelAddress(member_id=m.id, channel="sandbox", address=address)
            for address, m in sandbox.items()
            if address not in taken
        ]
    if added:
        await ChannelAddress.bulk_create(added)
    return {address.member_id for address in added}


async def _unused_invite_codes(count: int, attempts: int = 20) -> list[str]:
    """`count` distinct invite codes no member has."""
    # Codes are random; a clash with an existing one is rare but would break the unique index.
    codes: set[str] = set()
    for _ in range(attempts):
        fresh: set[str] = set()
        while len(codes) + len(fresh) < count:
            code = new_invite_code()
            if code not in codes:
                fresh.add(code)
        taken = await Member.filter(invite_code__in=list(fresh)).values_list(
            "invite_code", flat=True
        )
        codes |= fresh - set(taken)
        if len(codes) == count:
            return sorted(codes)
    raise RuntimeError(f"no {count} unused invite codes after {attempts} attempts")


# Invites -------------------------------------------------------------------------------------


async def regenerate_invite(member: Member, *, actor: User | None = None) -> str:
    """Give the member a new invite code; the old one joins nobody any more."""
    [code] = await _unused_invite_codes(1)
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
