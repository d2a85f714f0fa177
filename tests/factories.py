"""Factories for test rows: areas, members with addresses, staff users with tokens."""

from __future__ import annotations

import datetime as dt
import itertools

from hub.access.areas import path_key
from hub.access.auth import create_token, create_user
from hub.roster.members import new_invite_code
from models import Area, AreaKind, ChannelAddress, Member, Seat, SeatRole, User, UserRole

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


async def make_area(path: str) -> Area:
    """The area at `path`, creating the missing levels (kecamatan/kelurahan/[RW]/RT)."""
    parent = None
    parts = path.split("/")
    for depth, name in enumerate(parts):
        sub = "/".join(parts[: depth + 1])
        kind = (
            [AreaKind.KECAMATAN, AreaKind.KELURAHAN][depth]
            if depth < 2
            else (AreaKind.RW if name.upper().startswith("RW") else AreaKind.RT)
        )
        area = await Area.get_or_none(path_key=path_key(sub))
        if area is None:
            area = await Area.create(
                kind=kind, name=name, parent=parent, path=sub, path_key=path_key(sub)
            )
        parent = area
    assert parent is not None
    return parent


async def make_member(
    area_path: str = "Sungai Kunjang/Loa Bakung/RT 001",
    *,
    name: str | None = None,
    channels: tuple[str, ...] = ("sandbox",),
    role: SeatRole = SeatRole.KETUA_RT,
    phone: str | None = None,
) -> Member:
    n = next(_counter)
    area = await make_area(area_path)
    member = await Member.create(
        name=name or f"Ketua {n}",
        phone=phone or f"+62812000{n:05d}",
        preferred_channel=channels[0] if channels else None,
        invite_code=new_invite_code(),
    )
    now = dt.datetime.now(dt.UTC)
    await Seat.create(member=member, area=area, role=role, started_at=now)
    for channel in channels:
        await ChannelAddress.create(
            member=member, channel=channel, address=f"{channel}-{member.id}"
        )
    return member


async def make_user(
    role: UserRole = UserRole.ADMIN, areas: tuple[str, ...] = (), username: str | None = None
) -> User:
    area_rows = [await make_area(path) for path in areas]
    return await create_user(username or f"user{next(_counter)}", PASSWORD, role, area_rows)


async def make_token(role: UserRole = UserRole.ADMIN, areas: tuple[str, ...] = ()) -> str:
    return await create_token(await make_user(role, areas))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
