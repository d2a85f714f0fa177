"""Members as staff and the API see them, and their invite links."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from hub.access.areas import within
from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.errors import NotFound
from hub.core.phone import InvalidPhone, normalize_phone
from models import Area, AreaKind, ChannelAddress, Member, Seat

# Invite codes avoid letters and digits that are easily confused when read aloud or typed.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_invite_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def invite_links(config: Config, code: str) -> dict[str, str | None]:
    """The Telegram deep link and WhatsApp click-to-chat link for an invite code."""
    telegram = (
        f"https://t.me/{config.telegram.bot_username}?start={code}"
        if config.telegram.bot_username
        else None
    )
    digits = _international_digits(config.whatsapp.business_phone)
    whatsapp = f"https://wa.me/{digits}?text={quote(f'DAFTAR {code}')}" if digits else None
    return {"code": code, "telegram_link": telegram, "whatsapp_link": whatsapp}


def _international_digits(phone: str) -> str:
    """The number as wa.me takes it: international, digits only ("0811 ..." is "62811...")."""
    try:
        return normalize_phone(phone).removeprefix("+")
    except InvalidPhone:
        return "".join(ch for ch in phone if ch.isdigit())  # as written; "" when unset


def address_status(addresses: list[ChannelAddress]) -> str:
    """reachable, opted_out, blocked, or not_joined (no address on any channel yet)."""
    if not addresses:
        return "not_joined"
    if any(a.reachable for a in addresses):
        return "reachable"
    if all(a.opted_out_at is not None for a in addresses):
        return "opted_out"
    return "blocked"


def _current_seat(member: Member) -> Seat | None:
    seats = [s for s in member.seats if s.ended_at is None]
    return min(seats, key=lambda s: s.id) if seats else None


def current_area_path(member: Member) -> str | None:
    """The path of the member's current seat; needs `seats__area` prefetched."""
    seat = _current_seat(member)
    return seat.area.path if seat else None


async def seat_area_path(member: Member) -> str:
    """The path of the member's current seat, looked up; "-" for a member without one."""
    seat = (
        await Seat.filter(member_id=member.id, ended_at__isnull=True).select_related("area").first()
    )
    return seat.area.path if seat else "-"


def _rt_name(area: Area | None) -> str | None:
    return area.name if area is not None and area.kind == AreaKind.RT else None


def member_view(member: Member) -> dict[str, Any]:
    """The API shape of a member; needs `seats__area` and `addresses` prefetched."""
    seat = _current_seat(member)
    addresses = list(member.addresses)
    return {
        "id": member.id,
        "name": member.name,
        "area": seat.area.path if seat else None,
        "rt": _rt_name(seat.area if seat else None),
        "role": seat.role.value if seat else None,
        "phone": member.phone,
        "channels": sorted({a.channel for a in addresses}),
        "preferred_channel": member.preferred_channel,
        "status": address_status(addresses),
    }


def members_in(area: Area | None, scope: Scope) -> QuerySet[Member]:
    """Members holding a current seat in the area (or anywhere in scope), filtered in the
    database; raises Forbidden for an area outside the scope."""
    seats = Seat.filter(ended_at__isnull=True)
    if area is not None:
        scope.require_area(area)
        seats = seats.filter(within(area, "area__"))
    area_filter = scope.area_filter()
    if area_filter is not None:
        seats = seats.filter(area_filter)
    return Member.filter(id__in=Subquery(seats.values("member_id")))


async def get_member(member_id: int, scope: Scope) -> Member:
    """A member the user may see (unscoped users: any, seated or not); raises NotFound."""
    members = Member.all() if scope.keys is None else members_in(None, scope)
    member = await members.get_or_none(id=member_id).prefetch_related("seats__area", "addresses")
    if member is None:
        raise NotFound(f"no member with id {member_id}")
    return member
