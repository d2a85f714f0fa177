"""The roster: CSV or XLSX files of RT heads into areas, members, seats and addresses.

A member's identity is their phone number, so importing the same file twice changes nothing. A seat
that changes hands is ended, not overwritten, so the history stays. The whole file is checked first
(hub/roster/roster_file.py); the valid rows are then applied in batches of short transactions, so
the running hub can write between them, and an import stopped half-way is finished by importing the
same file again.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.areas import path_key
from hub.core.timeutil import utcnow
from hub.roster.invites import unused_invite_codes
from hub.roster.roster_file import SINGLE_HOLDER_ROLES, RosterEntry, check_rows, read_roster_file
from models import Area, AreaKind, ChannelAddress, Member, Seat, SeatRole, User, sql


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


_MAX_AUDIT_TARGET = 120  # the audit log's target column

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
    entries, rejected = check_rows(rows)  # the whole file, before anything is written
    report = ImportReport(rejected=rejected)
    run = _ImportRun(utcnow())
    pause = SQLITE_PAUSE_SECONDS if sql.is_sqlite() else 0
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
            codes = await unused_invite_codes(len(new))
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
