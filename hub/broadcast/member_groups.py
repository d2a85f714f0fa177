"""Saved groups of members that staff address together ("Ketua RW", "Panitia 17 Agustus")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.areas import common_area, is_within
from hub.access.auth import Scope
from hub.broadcast.service import EDITABLE
from hub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.roster.audience import audience_member_ids
from models import Area, Broadcast, MemberGroup, MemberGroupEntry, Seat, User

NAME_MAX = 100


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed("name must not be empty", field="name", code="empty_name")
    if len(cleaned) > NAME_MAX:
        raise ValidationFailed(
            f"name is longer than {NAME_MAX} characters", field="name", code="name_too_long"
        )
    return cleaned


async def _check_members(member_ids: Sequence[int], scope: Scope) -> list[int]:
    ids = await audience_member_ids([], member_ids)  # raises naming unknown ids
    await scope.require_members(ids)
    return ids


async def group_view(group: MemberGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "area": await _area_path(group.area_key),
        "members": sorted(await _members(group)),
    }


async def _area_path(key: str | None) -> str | None:
    if key is None:
        return None
    area = await Area.get_or_none(path_key=key)
    return area.path if area else None


def groups_in(scope: Scope) -> QuerySet[MemberGroup]:
    """The saved groups a user may see and use: those of their areas, by name."""
    group_filter = scope.area_filter("area_key")
    groups = MemberGroup.all() if group_filter is None else MemberGroup.filter(group_filter)
    return groups.order_by("name", "id")


async def get_group(group_id: int, scope: Scope) -> MemberGroup:
    group = await groups_in(scope).get_or_none(id=group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    return group


async def _seat_keys(member_ids: Sequence[int], scope: Scope) -> list[str]:
    """The area keys of the members' current seats, those in the user's areas."""
    if not member_ids:
        return []
    seats = Seat.filter(member_id__in=list(member_ids), ended_at__isnull=True)
    area_filter = scope.area_filter()
    if area_filter is not None:
        seats = seats.filter(area_filter)
    return list(await seats.values_list("area__path_key", flat=True))


async def _group_area(member_ids: Sequence[int], scope: Scope) -> str | None:
    """The area a new group belongs to: the deepest one holding all its members' seats (in the
    user's areas), else the user's own area; None (installation-wide) for unscoped users only."""
    keys = await _seat_keys(member_ids, scope)
    common = common_area(keys)
    if scope.keys is None or (common is not None and scope.covers(common)):
        return common
    covering = [key for key in scope.keys if all(is_within(k, [key]) for k in keys)]
    if not covering:
        raise ValidationFailed(
            "a group's members must all sit in one of your areas", code="group_spans_areas"
        )
    return min(covering, key=len)


async def _widened_area(group: MemberGroup, member_ids: Sequence[int], scope: Scope) -> str | None:
    """The area of an edited group: its own, widened to hold the new members' seats, within the
    editor's areas. An installation-wide group stays so."""
    if group.area_key is None:
        return None
    keys = await _seat_keys(member_ids, scope)
    area_key = common_area([group.area_key, *keys])
    if scope.keys is not None and (area_key is None or not scope.covers(area_key)):
        raise Forbidden("the group's members must all sit in one of your areas")
    return area_key


async def save_group(
    name: str,
    member_ids: Sequence[int],
    *,
    scope: Scope,
    user: User | None,
    group: MemberGroup | None = None,
) -> MemberGroup:
    """Create a group in the user's area, or replace an existing one's name and members."""
    scope.require_write()
    cleaned = _clean_name(name)
    ids = await _check_members(member_ids, scope)
    if group is None:
        area_key = await _group_area(ids, scope)
    else:
        area_key = await _widened_area(group, ids, scope)
    # Unique among the groups the user sees (theirs to tell apart), never telling of others'.
    clash = (
        await groups_in(scope)
        .filter(name__iexact=cleaned)
        .exclude(id=group.id if group else 0)
        .exists()
    )
    if clash:
        raise Conflict(f"a group named {cleaned!r} exists already", code="group_exists")
    try:
        async with in_transaction():
            if group is None:
                group = await MemberGroup.create(name=cleaned, area_key=area_key)
            else:
                group.name = cleaned
                group.area_key = area_key
                await group.save(update_fields=["name", "area_key"])
                await MemberGroupEntry.filter(group_id=group.id).delete()
            await MemberGroupEntry.bulk_create(
                [MemberGroupEntry(group_id=group.id, member_id=m) for m in ids]
            )
            await audit.record(user, "group.save", f"member_group:{group.id}", name=cleaned)
    except IntegrityError:  # created by someone else at the same moment
        raise Conflict(f"a group named {cleaned!r} exists already", code="group_exists") from None
    return group


async def _members(group: MemberGroup) -> list[int]:
    return list(
        await MemberGroupEntry.filter(group_id=group.id).values_list("member_id", flat=True)
    )


async def broadcasts_using(group: MemberGroup) -> list[int]:
    """Scheduled or paused broadcasts (and series) that will go to this group."""
    waiting = await Broadcast.filter(status__in=list(EDITABLE)).values_list("id", "audience")
    return sorted(
        broadcast_id
        for broadcast_id, audience in waiting
        if group.id in (audience or {}).get("group_ids", [])
    )


async def delete_group(group: MemberGroup, *, scope: Scope, user: User | None) -> None:
    """Delete a group; refused while a scheduled broadcast will still go to it."""
    scope.require_write()
    using = await broadcasts_using(group)
    if using:
        raise Conflict(
            f"group {group.name!r} is the audience of scheduled broadcast(s) "
            f"{', '.join(map(str, using))}: edit or cancel them first",
            code="group_in_use",
        )
    await group.delete()
    await audit.record(user, "group.delete", f"member_group:{group.id}", name=group.name)
