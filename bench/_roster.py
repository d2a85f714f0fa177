"""A large roster for the broadcast benchmarks, written with bulk inserts.

Kecamatan of 10 kelurahan of 50 RTs each, one RT head per RT, each reachable on one channel:
Telegram (a private chat) or WhatsApp (their number), in the given share, interleaved so every
stretch of the roster has the same mix. Ids are explicit; on PostgreSQL the sequences are moved
past them afterwards.
"""

from __future__ import annotations

import datetime as dt

RT_PER_KELURAHAN = 50
KELURAHAN_PER_KECAMATAN = 10
FIRST_CHAT = 700_000_000  # Telegram chat id of member i: FIRST_CHAT + i


def is_whatsapp(i: int, whatsapp_share: float) -> bool:
    """Whether member i (0-based) is reached on WhatsApp: an even spread of the share."""
    return int((i + 1) * whatsapp_share) != int(i * whatsapp_share)


def telegram_chat(i: int) -> int:
    return FIRST_CHAT + i


def whatsapp_number(i: int) -> str:
    return f"+62812{i:08d}"


def kecamatan_paths(members: int) -> list[str]:
    """The audience covering the whole roster."""
    per = RT_PER_KELURAHAN * KELURAHAN_PER_KECAMATAN
    return [f"Kecamatan {k + 1:03d}" for k in range((members + per - 1) // per)]


async def seed_roster(members: int, whatsapp_share: float, *, batch: int = 5000) -> tuple[int, int]:
    """Write the roster into the open database; returns (telegram members, whatsapp members)."""
    from tortoise import Tortoise

    from models import Area, AreaKind, ChannelAddress, Member, Seat, SeatRole

    now = dt.datetime.now(dt.UTC)
    per_kecamatan = RT_PER_KELURAHAN * KELURAHAN_PER_KECAMATAN
    areas: list[Area] = []
    next_id = 1
    rt_ids: list[int] = []
    for k, kecamatan in enumerate(kecamatan_paths(members)):
        kec_id = next_id
        next_id += 1
        areas.append(_area(kec_id, AreaKind.KECAMATAN, kecamatan, None, kecamatan))
        for kel in range(KELURAHAN_PER_KECAMATAN):
            if k * per_kecamatan + kel * RT_PER_KELURAHAN >= members:
                break
            kel_name = f"Kelurahan {kel + 1:02d}"
            kel_path = f"{kecamatan}/{kel_name}"
            kel_id = next_id
            next_id += 1
            areas.append(_area(kel_id, AreaKind.KELURAHAN, kel_name, kec_id, kel_path))
            for rt in range(RT_PER_KELURAHAN):
                if len(rt_ids) >= members:
                    break
                name = f"RT {rt + 1:03d}"
                areas.append(_area(next_id, AreaKind.RT, name, kel_id, f"{kel_path}/{name}"))
                rt_ids.append(next_id)
                next_id += 1
    await Area.bulk_create(areas, batch_size=batch)
    telegram = whatsapp = 0
    for start in range(0, members, batch):
        block = range(start, min(members, start + batch))
        member_rows, seats, addresses = [], [], []
        for i in block:
            wa = is_whatsapp(i, whatsapp_share)
            whatsapp += wa
            telegram += not wa
            member_rows.append(
                Member(
                    id=i + 1,
                    name=f"Ketua RT {i + 1}",
                    phone=whatsapp_number(i) if wa else f"+62813{i:08d}",
                    preferred_channel="whatsapp" if wa else "telegram",
                    invite_code=f"B{i:09d}",
                )
            )
            seats.append(
                Seat(
                    id=i + 1,
                    member_id=i + 1,
                    area_id=rt_ids[i],
                    role=SeatRole.KETUA_RT,
                    started_at=now,
                )
            )
            addresses.append(
                ChannelAddress(
                    id=i + 1,
                    member_id=i + 1,
                    channel="whatsapp" if wa else "telegram",
                    address=whatsapp_number(i) if wa else str(telegram_chat(i)),
                )
            )
        await Member.bulk_create(member_rows)
        await Seat.bulk_create(seats)
        await ChannelAddress.bulk_create(addresses)
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "postgres":
        for table in ("area", "member", "seat", "channel_address"):
            await connection.execute_script(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    return telegram, whatsapp


def _area(id_: int, kind: object, name: str, parent_id: int | None, path: str) -> object:
    from hub.access.areas import path_key
    from models import Area

    return Area(
        id=id_, kind=kind, name=name, parent_id=parent_id, path=path, path_key=path_key(path)
    )
