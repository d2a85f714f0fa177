"""Group chats of RT heads linked to an area: link codes, linking, migrations, group posts."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tortoise.queryset import QuerySet

from hub.access import audit
from hub.access.areas import is_within
from hub.access.auth import Scope
from hub.roster.members import new_invite_code
from models import Area, GroupChat, GroupLinkCode, User

log = logging.getLogger(__name__)

LINK_CODE_DAYS = 7
LINK_WORDS = ("HUBUNGKAN", "LINK")


@dataclass(frozen=True)
class LinkCode:
    code: str
    area: str
    expires_at: dt.datetime

    @property
    def instruction(self) -> str:
        # A Telegram bot in privacy mode (the default) sees only /commands in a group.
        return f"/hubungkan {self.code}"


async def create_link_code(area: Area, user: User | None, now: dt.datetime) -> LinkCode:
    """A one-time code; sent in a group by anyone in it, it links that group to `area`."""
    while True:
        code = new_invite_code()
        if not await GroupLinkCode.exists(code=code):
            break
    expires_at = now + dt.timedelta(days=LINK_CODE_DAYS)
    await GroupLinkCode.create(code=code, area=area, created_by=user, expires_at=expires_at)
    await audit.record(user, "group.link_code", area.path)
    return LinkCode(code, area.path, expires_at)


async def link_group(
    channel: str, address: str, title: str, code: str, now: dt.datetime
) -> Area | None:
    """Link the group at `address` to the area of a valid, unused code; None if the code is bad."""
    link = await GroupLinkCode.get_or_none(
        code=code.strip().upper(), used_at=None, expires_at__gt=now
    ).select_related("area")
    if link is None:
        return None
    # Claimed by a conditional update: the same code sent in two groups at once links one.
    if not await GroupLinkCode.filter(id=link.id, used_at=None).update(used_at=now):
        return None
    group = await GroupChat.get_or_none(channel=channel, address=address)
    if group is None:
        await GroupChat.create(
            channel=channel, address=address, title=title[:255], area=link.area, linked_at=now
        )
    else:
        await GroupChat.filter(id=group.id).update(area=link.area, linked_at=now, removed_at=None)
    log.info("%s group linked to %s", channel, link.area.path)
    return link.area


async def group_moved(channel: str, old_address: str, new_address: str) -> None:
    """The platform gave the group a new address (a Telegram group became a supergroup)."""
    await GroupChat.filter(channel=channel, address=old_address).update(address=new_address)


async def group_removed(channel: str, address: str, at: dt.datetime) -> None:
    await GroupChat.filter(channel=channel, address=address).update(removed_at=at)


async def groups_for(areas: Sequence[Area], channels: Collection[str]) -> list[GroupChat]:
    """Linked groups whose area lies at or below one of `areas`, on enabled channels."""
    keys = [a.path_key for a in areas]
    groups = await GroupChat.filter(removed_at=None, channel__in=list(channels)).select_related(
        "area"
    )
    return [g for g in groups if is_within(g.area.path_key, keys)]


def linked_groups(scope: Scope) -> QuerySet[GroupChat]:
    """The group chats linked to areas the user may see, with their area, oldest link first."""
    groups = GroupChat.filter(removed_at=None)
    area_filter = scope.area_filter()
    if area_filter is not None:
        groups = groups.filter(area_filter)
    return groups.select_related("area").order_by("id")
