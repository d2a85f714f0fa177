"""Who receives a broadcast, and on which channel each of them is reached."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tortoise.expressions import Q

from channels import ChannelClasses
from hub.access.areas import area_by_path, is_within, within
from hub.access.auth import Scope
from hub.core.errors import ValidationFailed
from models import Area, ChannelAddress, Member, MemberGroup, MemberGroupEntry, Seat, SeatRole

# Seats whose holders receive broadcasts sent to an area.
RECIPIENT_ROLES = (SeatRole.KETUA_RT, SeatRole.KETUA_RW)
BATCH = 500
_ADDRESS_COLUMNS = (
    "id",
    "member_id",
    "channel",
    "address",
    "opted_out_at",
    "blocked_at",
    "last_inbound_at",
)


@dataclass(frozen=True)
class Recipient:
    member_id: int
    channel: str | None  # None: no reachable address on an enabled channel
    address: str | None
    reason: str = ""  # why channel is None
    last_inbound_at: dt.datetime | None = None  # when they last wrote on that address


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


async def resolve_groups(names: Sequence[str], scope: Scope) -> dict[str, int]:
    """Saved groups in scope by name (case and extra spaces ignored) → {name as saved: id}."""
    if not names:
        return {}
    wanted = {" ".join(n.split()).casefold(): n for n in names}
    groups = MemberGroup.all()
    group_filter = scope.area_filter("area_key")
    if group_filter is not None:
        groups = groups.filter(group_filter)
    found: dict[str, list[MemberGroup]] = {}
    for group in await groups.order_by("id"):
        found.setdefault(group.name.casefold(), []).append(group)
    missing = [original for key, original in wanted.items() if key not in found]
    if missing:
        raise ValidationFailed(
            f"unknown group(s): {', '.join(missing)}", field="audience.groups", code="unknown_group"
        )
    ambiguous = [original for key, original in wanted.items() if len(found[key]) > 1]
    if ambiguous:  # one name in two of the user's areas
        raise ValidationFailed(
            f"more than one group is named {ambiguous[0]!r}: name it by its id in group_ids",
            field="audience.groups",
            code="ambiguous_group",
        )
    return {found[key][0].name: found[key][0].id for key in wanted}


async def groups_by_id(group_ids: Sequence[int], scope: Scope) -> dict[str, int]:
    """Saved groups in scope by id → {name: id}; raises naming the first unknown id."""
    if not group_ids:
        return {}
    groups = MemberGroup.filter(id__in=list(group_ids))
    group_filter = scope.area_filter("area_key")
    if group_filter is not None:
        groups = groups.filter(group_filter)
    found = {g.id: g.name for g in await groups}
    missing = [i for i in group_ids if i not in found]
    if missing:
        raise ValidationFailed(
            f"unknown group id(s): {', '.join(map(str, missing))}",
            field="audience.group_ids",
            code="unknown_group",
        )
    return {found[i]: i for i in group_ids}


async def reach_of(areas: Sequence[Area], member_ids: Collection[int], scope: Scope) -> list[str]:
    """The area keys an audience reaches: the areas named, and the seat of each member named or
    in a group (the seats in the sender's scope when they hold several); "" for a member with no
    seat, whom only unscoped users may see."""
    keys = {area.path_key for area in areas}
    seats: dict[int, list[str]] = {}
    for member_id, key in await Seat.filter(
        member_id__in=list(member_ids), ended_at__isnull=True
    ).values_list("member_id", "area__path_key"):
        seats.setdefault(member_id, []).append(key)
    for member_id in member_ids:
        own = seats.get(member_id, [])
        covered = [key for key in own if scope.covers(key)]
        keys.update(covered or own or [""])
    return sorted(keys)


async def reached_members(member_ids: Collection[int], reach: Collection[str]) -> list[int]:
    """Of these members, those holding a seat within the reached areas."""
    areas = [key for key in reach if key]
    if not member_ids or not areas:
        return []
    inside = Q()
    for key in areas:
        inside |= Q(area__path_key=key) | Q(area__path_key__startswith=key + "/")
    return list(
        await Seat.filter(inside, member_id__in=list(member_ids), ended_at__isnull=True)
        .distinct()
        .values_list("member_id", flat=True)
    )


async def members_of_groups(group_ids: Collection[int]) -> list[int]:
    """The members of saved groups."""
    if not group_ids:
        return []
    return list(
        await MemberGroupEntry.filter(group_id__in=list(group_ids)).values_list(
            "member_id", flat=True
        )
    )


class _Address(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def opted_out_at(self) -> dt.datetime | None: ...
    @property
    def reachable(self) -> bool: ...


AddressT = TypeVar("AddressT", bound=_Address)


@dataclass(frozen=True)
class _AddressRow:
    """The columns of a ChannelAddress the fan-out needs, without a model object per row."""

    id: int
    member_id: int
    channel: str
    address: str
    opted_out_at: dt.datetime | None
    blocked_at: dt.datetime | None
    last_inbound_at: dt.datetime | None

    @property
    def reachable(self) -> bool:
        return self.opted_out_at is None and self.blocked_at is None


def choose_address(
    preferred: str | None, addresses: Sequence[AddressT], enabled: Collection[str]
) -> tuple[AddressT | None, str]:
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
        # Plain rows, not model objects: this runs for every recipient of every broadcast.
        preferred = dict(
            await Member.filter(id__in=batch_ids).values_list("id", "preferred_channel")
        )
        addresses: dict[int, list[_AddressRow]] = {}
        for row in await ChannelAddress.filter(member_id__in=batch_ids).values_list(
            *_ADDRESS_COLUMNS
        ):
            address_row = _AddressRow(*row)
            addresses.setdefault(address_row.member_id, []).append(address_row)
        batch = []
        for member_id in sorted(preferred):
            address, reason = choose_address(
                preferred[member_id], addresses.get(member_id, []), enabled_channels
            )
            batch.append(
                Recipient(
                    member_id,
                    address.channel if address else None,
                    address.address if address else None,
                    reason,
                    address.last_inbound_at if address else None,
                )
            )
        yield batch


@dataclass(frozen=True)
class SentFor:
    """The seat a broadcast reaches a member for, and its area."""

    seat_id: int
    area_id: int


_ROLE_RANK = {SeatRole.KETUA_RT: 0, SeatRole.KETUA_RW: 1}


async def seats_sent_for(member_ids: Sequence[int], areas: Sequence[Area]) -> dict[int, SentFor]:
    """Per member, the current seat a broadcast to `areas` reaches them for.

    A seat inside the named areas first (an RT head who is also an RW head elsewhere is reached
    for the RT named), then RT heads before RW heads before staff, then the oldest seat. Members
    without a current seat are left out.
    """
    keys = [area.path_key for area in areas]
    rows = await Seat.filter(member_id__in=list(member_ids), ended_at__isnull=True).values_list(
        "id", "member_id", "area_id", "role", "area__path_key"
    )
    ranked = sorted(
        rows,
        key=lambda r: (not is_within(r[4], keys), _ROLE_RANK.get(SeatRole(r[3]), 2), r[0]),
    )
    chosen: dict[int, SentFor] = {}
    for seat_id, member_id, area_id, _, _ in ranked:
        chosen.setdefault(member_id, SentFor(seat_id, area_id))
    return chosen


@dataclass(frozen=True)
class AudiencePreview:
    """What a broadcast to an audience would do, before it is sent."""

    recipients: int
    by_channel: dict[str, int]  # reachable recipients per channel
    templates: int  # of those, how many are outside their channel's free-text window
    skipped: int  # opted out: not sent, by their choice
    unreachable: dict[str, int]  # reason (no_channel, blocked) → count

    def as_dict(self) -> dict[str, object]:
        return {
            "recipients": self.recipients,
            "by_channel": self.by_channel,
            "templates": self.templates,
            "skipped": self.skipped,
            "unreachable": self.unreachable,
        }


async def preview(
    member_ids: Sequence[int],
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> AudiencePreview:
    """Count where an audience's announcement would go, as the fan-out would choose, and how
    many of them would get the template by the window rule the channels send by."""
    by_channel: dict[str, int] = {}
    unreachable: dict[str, int] = {}
    templates = skipped = 0
    async for batch in recipients(member_ids, enabled_channels):
        for r in batch:
            if r.channel is None:
                if r.reason == "opted_out":
                    skipped += 1
                else:
                    unreachable[r.reason] = unreachable.get(r.reason, 0) + 1
                continue
            by_channel[r.channel] = by_channel.get(r.channel, 0) + 1
            if not enabled_channels[r.channel].window_open(r.last_inbound_at, now):
                templates += 1
    return AudiencePreview(len(member_ids), by_channel, templates, skipped, unreachable)
