"""Who receives a broadcast, and on which channel each of them is reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass

from hub.areas import area_by_path, within
from hub.errors import ValidationFailed
from models import Area, ChannelAddress, Member, Seat, SeatRole

# Seats whose holders receive broadcasts sent to an area.
RECIPIENT_ROLES = (SeatRole.KETUA_RT, SeatRole.KETUA_RW)
BATCH = 500


@dataclass(frozen=True)
class Recipient:
    member_id: int
    channel: str | None  # None: no reachable address on an enabled channel
    address: str | None
    reason: str = ""  # why channel is None


async def resolve_areas(paths: Sequence[str]) -> list[Area]:
    """The areas named by their paths; raises UnknownArea naming the first unknown one."""
    return [await area_by_path(path) for path in paths]


async def audience_member_ids(areas: Sequence[Area], member_ids: Sequence[int]) -> list[int]:
    """Current seat holders in the areas plus the named members, each once, in id order."""
    ids = set(member_ids)
    if member_ids:
        found = set(await Member.filter(id__in=list(ids)).values_list("id", flat=True))
        missing = sorted(ids - found)
        if missing:
            raise ValidationFailed(
                f"unknown member id(s): {', '.join(map(str, missing))}", code="unknown_member"
            )
    for area in areas:
        seat_holders = await Seat.filter(
            within(area, "area__"), ended_at__isnull=True, role__in=list(RECIPIENT_ROLES)
        ).values_list("member_id", flat=True)
        ids.update(seat_holders)
    return sorted(ids)


def choose_address(
    preferred: str | None, addresses: Sequence[ChannelAddress], enabled: Collection[str]
) -> tuple[ChannelAddress | None, str]:
    """The preferred reachable address, else another reachable one; else None and the reason."""
    usable = [a for a in addresses if a.channel in enabled]
    if not usable:
        return None, "no_channel"
    reachable = [a for a in usable if a.reachable]
    if not reachable:
        if all(a.opted_out_at is not None for a in usable):
            return None, "opted_out"
        return None, "blocked"
    reachable.sort(key=lambda a: (a.channel != preferred, a.id))
    return reachable[0], ""


async def recipients(
    member_ids: Sequence[int], enabled_channels: Collection[str]
) -> AsyncIterator[list[Recipient]]:
    """Yield recipients in batches, so a large audience never sits in memory whole."""
    for start in range(0, len(member_ids), BATCH):
        batch_ids = list(member_ids[start : start + BATCH])
        members = await Member.filter(id__in=batch_ids).prefetch_related("addresses")
        batch = []
        for member in sorted(members, key=lambda m: m.id):
            address, reason = choose_address(
                member.preferred_channel, list(member.addresses), enabled_channels
            )
            batch.append(
                Recipient(
                    member.id,
                    address.channel if address else None,
                    address.address if address else None,
                    reason,
                )
            )
        yield batch
