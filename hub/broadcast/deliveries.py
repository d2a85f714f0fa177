"""A delivery's climb up the ladder: sent → delivered → read → acknowledged, never down."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from models import Delivery, DeliveryStatus, Member, OutboundMessage
from models.broadcasts import DELIVERY_RANK

ACK_PREFIX = "ack:"  # + delivery id: a member's own copy of an announcement
GROUP_ACK_PREFIX = "ackb:"  # + broadcast id: the copy posted in a group, tapped by any member
# + broadcast id: "Laporkan masalah" under a member's copy; the complaint dialog (hub.feedback)
# takes the tap and keeps the broadcast on the ticket.
REPORT_PREFIX = "aduan:"

_TIMESTAMP_FIELD = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.ACKNOWLEDGED: "acknowledged_at",
}


def healed_by(status: DeliveryStatus) -> list[DeliveryStatus]:
    """The statuses a delivery may leave for `status` besides the lower steps of the ladder."""
    return [] if status == DeliveryStatus.SENT else [DeliveryStatus.FAILED]


def ack_payload(delivery_id: int) -> str:
    """The button payload that acknowledges one delivery."""
    return f"{ACK_PREFIX}{delivery_id}"


def group_ack_payload(broadcast_id: int) -> str:
    """The button payload under a group post: acknowledges the tapping member's delivery."""
    return f"{GROUP_ACK_PREFIX}{broadcast_id}"


def report_payload(broadcast_id: int) -> str:
    """The button payload that starts a complaint about a broadcast."""
    return f"{REPORT_PREFIX}{broadcast_id}"


def payload_id(payload: str | None, prefix: str) -> int | None:
    """The id after `prefix` in a button payload, None when it is not one."""
    head, number = (payload or "")[: len(prefix)], (payload or "")[len(prefix) :]
    return int(number) if head == prefix and _is_id(number) else None


def _is_id(text: str) -> bool:
    """ASCII digits within an integer column ("²" is a digit to str.isdigit, not to int)."""
    return text.isascii() and text.isdigit() and int(text) < 2**31


def is_ack_payload(payload: str | None) -> bool:
    """Whether a button payload is one of our acknowledgement buttons (`ack:12`, `ackb:3`)."""
    prefix, colon, number = (payload or "").partition(":")
    return bool(colon) and prefix + colon in (ACK_PREFIX, GROUP_ACK_PREFIX) and _is_id(number)


async def apply_status(
    delivery_id: int, status: DeliveryStatus, at: dt.datetime, evidence: str
) -> bool:
    """Move a delivery up to `status` unless it is already there or beyond; True if it moved."""
    lower = [s for s, rank in DELIVERY_RANK.items() if rank < DELIVERY_RANK[status]]
    values: dict[str, Any] = {"status": status, _TIMESTAMP_FIELD[status]: at}
    if status == DeliveryStatus.READ:
        values["read_evidence"] = evidence
    elif status == DeliveryStatus.ACKNOWLEDGED:
        values["ack_evidence"] = evidence
    # A failed delivery that later shows signs of life (delivered, read, acknowledged) is healed;
    # a late "sent" is no such sign (platforms report it before the failure).
    moved = await Delivery.filter(id=delivery_id, status__in=[*lower, *healed_by(status)]).update(
        **values, failure_reason=None
    )
    return bool(moved)


@dataclass(frozen=True)
class AckOutcome:
    result: str  # "acknowledged", "already", "unknown", or "not_asked" (needs no confirmation)
    title: str = ""
    message_external_id: str | None = None  # the announcement as the member received it


async def _delivery_for_payload(payload: str, member: Member) -> Delivery | None:
    """The member's own delivery named by an acknowledgement button's payload."""
    prefix, _, number = payload.partition(":")
    if not _is_id(number):
        return None
    query = Delivery.filter(member_id=member.id)
    if prefix + ":" == ACK_PREFIX:
        query = query.filter(id=int(number))
    elif prefix + ":" == GROUP_ACK_PREFIX:
        query = query.filter(broadcast_id=int(number))
    else:
        return None
    return await query.select_related("broadcast").first()


async def acknowledge(payload: str, member: Member, at: dt.datetime, evidence: str) -> AckOutcome:
    """The member tapped "Sudah dibaca": acknowledge their own delivery (again: no change)."""
    delivery = await _delivery_for_payload(payload, member)
    if delivery is None:
        return AckOutcome("unknown")
    moved = await apply_status(delivery.id, DeliveryStatus.ACKNOWLEDGED, at, evidence)
    return AckOutcome(
        "acknowledged" if moved else "already", delivery.broadcast.title, delivery.external_id
    )


async def note_evidence(
    channel: str, message_external_id: str, member: Member, at: dt.datetime, evidence: str
) -> bool:
    """A reply, reaction or poll answer on one of our messages shows the member read it.

    The message is either the member's own copy of an announcement, or a post in a group that
    the member is in: then it is their delivery of that broadcast that was read.
    """
    delivery_id = await _delivery_answered(channel, message_external_id, member)
    if delivery_id is None:
        return False
    await apply_status(delivery_id, DeliveryStatus.READ, at, evidence)
    return True


async def _delivery_answered(channel: str, message_external_id: str, member: Member) -> int | None:
    """The member's delivery of the announcement in this message (their copy, or a group's)."""
    message = await OutboundMessage.get_or_none(
        channel=channel, external_id=message_external_id
    ).only("id", "delivery_id", "broadcast_id", "member_id")
    if message is None:
        return None
    if message.delivery_id is not None and message.member_id == member.id:
        return message.delivery_id
    if message.broadcast_id is None:
        return None
    return await (
        Delivery.filter(broadcast_id=message.broadcast_id, member_id=member.id)
        .first()
        .values_list("id", flat=True)
    )


# How long after an announcement went out a bare "siap" from its recipient still confirms it.
POLITE_ACK_WINDOW = dt.timedelta(days=7)
_UNCONFIRMED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)


async def acknowledge_in_words(
    member: Member,
    at: dt.datetime,
    evidence: str,
    answered: tuple[str, str] | None = None,
) -> AckOutcome:
    """A polite word ("siap", 👍) confirms the announcement it answers (`answered`: channel and
    the platform's id of the hub's message), else the member's latest one still unconfirmed."""
    if answered is not None:
        delivery_id = await _delivery_answered(*answered, member)
        if delivery_id is None:
            return AckOutcome("unknown")
        delivery = await Delivery.get(id=delivery_id).select_related("broadcast")
        if not delivery.broadcast.ack_required:
            # An announcement that asks for no confirmation: the nod shows it was read.
            await apply_status(delivery_id, DeliveryStatus.READ, at, "reply")
            return AckOutcome("not_asked")
    else:
        latest = await (
            Delivery.filter(
                member_id=member.id,
                broadcast__ack_required=True,
                status__in=_UNCONFIRMED,
                sent_at__gte=at - POLITE_ACK_WINDOW,
            )
            .order_by("-sent_at", "-id")
            .select_related("broadcast")
            .first()
        )
        if latest is None:
            return AckOutcome("unknown")
        delivery = latest
    moved = await apply_status(delivery.id, DeliveryStatus.ACKNOWLEDGED, at, evidence)
    return AckOutcome(
        "acknowledged" if moved else "already", delivery.broadcast.title, delivery.external_id
    )
