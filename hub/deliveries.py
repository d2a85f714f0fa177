"""A delivery's climb up the ladder: sent → delivered → read → acknowledged, never down."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from channels import InboundMessage
from models import Delivery, DeliveryStatus, Member, OutboundMessage
from models.broadcasts import DELIVERY_RANK

ACK_PREFIX = "ack:"

_TIMESTAMP_FIELD = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.ACKNOWLEDGED: "acknowledged_at",
}


def ack_payload(delivery_id: int) -> str:
    """The button payload that acknowledges one delivery."""
    return f"{ACK_PREFIX}{delivery_id}"


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
    # A failed delivery that later shows signs of life (a late receipt) is healed.
    moved = await Delivery.filter(
        id=delivery_id, status__in=[*lower, DeliveryStatus.FAILED]
    ).update(**values, failure_reason=None)
    return bool(moved)


@dataclass(frozen=True)
class AckOutcome:
    result: str  # "acknowledged", "already" or "unknown"
    title: str = ""


async def acknowledge(event: InboundMessage, member: Member, at: dt.datetime) -> AckOutcome:
    """The member tapped "Sudah dibaca": acknowledge their own delivery (again: no change)."""
    payload = event.button_payload or ""
    try:
        delivery_id = int(payload.removeprefix(ACK_PREFIX))
    except ValueError:
        return AckOutcome("unknown")
    delivery = await Delivery.get_or_none(id=delivery_id, member_id=member.id).select_related(
        "broadcast"
    )
    if delivery is None:
        return AckOutcome("unknown")
    moved = await apply_status(delivery.id, DeliveryStatus.ACKNOWLEDGED, at, "button")
    return AckOutcome("acknowledged" if moved else "already", delivery.broadcast.title)


async def note_reply(event: InboundMessage, member: Member, at: dt.datetime) -> bool:
    """A reply to one of the member's broadcasts is evidence that they read it."""
    message = await OutboundMessage.get_or_none(
        channel=event.channel, external_id=event.reply_to, member_id=member.id
    ).only("id", "delivery_id")
    if message is None or message.delivery_id is None:
        return False
    await apply_status(message.delivery_id, DeliveryStatus.READ, at, "reply")
    return True
