"""Saved groups of members that staff address together ("Ketua RW", "Panitia 17 Agustus")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from hub import audit
from hub.audience import audience_member_ids
from hub.auth import Scope
from hub.errors import Conflict, NotFound, ValidationFailed
from models import MemberGroup, MemberGroupEntry, User

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
    members = await MemberGroupEntry.filter(group_id=group.id).values_list("member_id", flat=True)
    return {"id": group.id, "name": group.name, "members": sorted(members)}


async def list_groups() -> list[MemberGroup]:
    return list(await MemberGroup.all().order_by("name"))


async def get_group(group_id: int) -> MemberGroup:
    group = await MemberGroup.get_or_none(id=group_id)
    if group is None:
        raise NotFound(f"no group with id {group_id}")
    return group


async def save_group(
    name: str,
    member_ids: Sequence[int],
    *,
    scope: Scope,
    user: User | None,
    group: MemberGroup | None = None,
) -> MemberGroup:
    """Create a group, or replace an existing one's name and members."""
    scope.require_write()
    cleaned = _clean_name(name)
    ids = await _check_members(member_ids, scope)
    if group is not None:  # a scoped user may change only a group wholly in their areas
        await scope.require_members(await _members(group))
    clash = (
        await MemberGroup.filter(name__iexact=cleaned).exclude(id=group.id if group else 0).exists()
    )
    if clash:
        raise Conflict(f"a group named {cleaned!r} exists already", code="group_exists")
    try:
        async with in_transaction():
            if group is None:
                group = await MemberGroup.create(name=cleaned)
            else:
                group.name = cleaned
                await group.save(update_fields=["name"])
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


async def delete_group(group: MemberGroup, *, scope: Scope, user: User | None) -> None:
    """Delete a group; broadcasts scheduled for it go to the rest of their audience."""
    scope.require_write()
    await scope.require_members(await _members(group))
    await group.delete()
    await audit.record(user, "group.delete", f"member_group:{group.id}", name=group.name)
