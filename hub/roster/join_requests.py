"""Join requests that name a member: an account claiming an RT head with an invite code.

An invite code binds an address by itself only on a channel where its member has no address yet.
Anyone else who sends it there afterwards (the code read off an invite sheet, passed on, leaked) is
not bound: their join request *claims* the member, staff approve it (the address is bound) or refuse
it, and the RT head is told on the addresses they use.

The request names the member (`JoinRequest.claimed_member`), so only staff whose areas hold that
member see and resolve it; the address is in the "claim" dialog (hub/core/dialogs.py) meanwhile:
step "pending", then "refused" so the same claim sent again is not reopened, with when it was made.
Strangers' messages never reach the router, so the dialog only keeps this state for staff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from hub.access import audit
from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.dialogs import Dialog, dialog_of, end_dialog, move_dialog, save_dialog
from hub.core.errors import Conflict, NotFound
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.roster.members import get_member, members_in, seat_area_path
from models import (
    ChannelAddress,
    JoinRequest,
    Member,
    MessageKind,
    User,
)

CLAIM = "claim"  # the dialog of an address whose claim on a member staff decide
PENDING = "pending"  # waiting for staff to approve it
REFUSED = "refused"  # staff refused it; the same claim again is not reopened


class ClaimOutcome(StrEnum):
    NEW = "new"  # a new claim: staff see it, the RT head is told
    PENDING = "pending"  # the same claim again, still waiting for staff
    REFUSED = "refused"  # the same claim again, refused before


@dataclass(frozen=True)
class Claim:
    member_id: int
    claimed_at: dt.datetime


def _claim_of(dialog: Dialog | None) -> Claim | None:
    if dialog is None or dialog.flow != CLAIM or dialog.step != PENDING:
        return None
    return Claim(
        int(dialog.data["member_id"]), dt.datetime.fromisoformat(dialog.data["claimed_at"])
    )


async def record_claim(
    channel: str,
    address: str,
    member: Member,
    *,
    name: str,
    phone: str | None,
    first_text: str,
    at: dt.datetime,
) -> ClaimOutcome:
    """Note that (channel, address) sent `member`'s invite code: a join request naming them."""
    async with in_transaction():
        dialog = await dialog_of(channel, address)
        if dialog is not None and dialog.flow == CLAIM and dialog.data["member_id"] == member.id:
            return ClaimOutcome.PENDING if dialog.step == PENDING else ClaimOutcome.REFUSED
        data = {"member_id": member.id, "claimed_at": at.isoformat()}
        await save_dialog(channel, address, Dialog(CLAIM, PENDING, data))
        request, created = await JoinRequest.get_or_create(
            channel=channel,
            address=address,
            defaults={
                "name": name[:200],
                "phone": phone,
                "first_text": first_text[:500],
                "claimed_member_id": member.id,
            },
        )
        if not created:  # a stranger's request (or a refused claim on someone else) reopens
            await JoinRequest.filter(id=request.id).update(
                resolved_at=None, phone=request.phone or phone, claimed_member_id=member.id
            )
    return ClaimOutcome.NEW


def _visible(scope: Scope) -> QuerySet[JoinRequest]:
    """Join requests a user may see: strangers', and claims on members in their areas (a claim
    names an RT head: their name is not for other kelurahan)."""
    if scope.keys is None:
        return JoinRequest.all()
    in_scope = Subquery(members_in(None, scope).values("id"))
    return JoinRequest.filter(Q(claimed_member_id__isnull=True) | Q(claimed_member_id__in=in_scope))


def join_requests_in(scope: Scope) -> QuerySet[JoinRequest]:
    """The unresolved join requests a user may see, with the member each claims."""
    return _visible(scope).filter(resolved_at=None).prefetch_related("claimed_member")


async def _pending(request_id: int, scope: Scope) -> tuple[JoinRequest, Claim | None]:
    request = await _visible(scope).get_or_none(id=request_id)
    if request is None:
        raise NotFound(f"no join request with id {request_id}")
    if request.resolved_at is not None:
        raise Conflict(f"join request {request_id} was resolved already", code="resolved")
    return request, _claim_of(await dialog_of(request.channel, request.address))


async def _claimed_member(claim: Claim, scope: Scope) -> Member:
    if not await Member.exists(id=claim.member_id):
        raise Conflict("the member this request names is no longer on the roster", code="gone")
    return await get_member(claim.member_id, scope)


async def _resolve(request: JoinRequest, now: dt.datetime) -> None:
    # Only a pending request is resolved: two staff (or a double click) act on it once.
    if not await JoinRequest.filter(id=request.id, resolved_at=None).update(resolved_at=now):
        raise Conflict(f"join request {request.id} was resolved already", code="resolved")


async def approve_join_request(
    config: Config, request_id: int, *, scope: Scope, user: User | None, now: dt.datetime
) -> Member:
    """Bind the address of a claim to the member it names, and welcome it there."""
    scope.require_write()
    request, claim = await _pending(request_id, scope)
    if claim is None:
        raise Conflict(
            f"join request {request_id} names no member: add them to the roster or send a code",
            code="not_a_claim",
        )
    member = await _claimed_member(claim, scope)
    async with in_transaction():
        await _resolve(request, now)
        if await ChannelAddress.exists(channel=request.channel, address=request.address):
            raise Conflict("this account is linked already", code="linked")
        await ChannelAddress.create(
            member=member,
            channel=request.channel,
            address=request.address,
            last_inbound_at=claim.claimed_at,  # when they wrote: WhatsApp's window counts from it
        )
        if member.preferred_channel is None:
            await Member.filter(id=member.id).update(preferred_channel=request.channel)
        await end_dialog(request.channel, request.address, CLAIM)
        await queue(
            MessageKind.NOTICE,
            member_id=member.id,
            channel=request.channel,
            address=request.address,
            text=say(
                config.hub.language,
                "joined",
                hub=config.hub.name,
                name=member.name,
                area=await seat_area_path(member),
            ),
            due=now,
        )
        await audit.record(
            user,
            "join_request.approve",
            f"join_request:{request.id}",
            member=member.id,
            channel=request.channel,
        )
    return member


async def refuse_join_request(
    request_id: int, *, scope: Scope, user: User | None, now: dt.datetime
) -> None:
    """Close a join request unbound; a refused claim stays refused when sent again."""
    scope.require_write()
    request, claim = await _pending(request_id, scope)
    async with in_transaction():
        await _resolve(request, now)
        await move_dialog(request.channel, request.address, CLAIM, PENDING, REFUSED)
        await audit.record(
            user,
            "join_request.refuse",
            f"join_request:{request.id}",
            member=claim.member_id if claim else None,
            channel=request.channel,
        )
