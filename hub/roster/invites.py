"""Invite codes: each member's personal code and links, regenerated and listed for staff."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.areas import within
from hub.core.config import Config
from hub.core.exports import csv_writer
from hub.roster.members import invite_links, new_invite_code
from models import Area, Member, Seat, User

INVITE_COLUMNS = ("member_id", "name", "area", "code", "telegram_link", "whatsapp_link")


# Invites -------------------------------------------------------------------------------------


async def regenerate_invite(member: Member, *, actor: User | None = None) -> str:
    """Give the member a new invite code; the old one joins nobody any more."""
    [code] = await unused_invite_codes(1)
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


async def unused_invite_codes(count: int, attempts: int = 20) -> list[str]:
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
