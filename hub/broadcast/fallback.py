"""Falling back: an announcement a member cannot get at one address goes to their next one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from hub.core.outbox import queue
from hub.roster.audience import choose_address
from models import ChannelAddress, Delivery, Member, MessageKind, OutboundMessage


async def next_address(message: OutboundMessage, enabled: Collection[str]) -> ChannelAddress | None:
    """The member's next reachable address for this announcement; None if none is left."""
    if message.kind != MessageKind.BROADCAST or message.delivery_id is None:
        return None
    member = await Member.get_or_none(id=message.member_id).prefetch_related("addresses")
    if member is None:
        return None
    # Addresses this delivery already failed on are not tried again (no going round in circles).
    tried = set(
        await OutboundMessage.filter(
            delivery_id=message.delivery_id, kind=MessageKind.BROADCAST
        ).values_list("channel", "address")
    )
    tried.add((message.channel, message.address))
    others = [a for a in member.addresses if (a.channel, a.address) not in tried]
    address, _ = choose_address(member.preferred_channel, others, enabled)
    return address


async def queue_elsewhere(
    message: OutboundMessage, address: ChannelAddress, now: dt.datetime
) -> OutboundMessage:
    """Queue the announcement again at `address`; call inside the caller's transaction."""
    # The text as it is now: a correction may have changed it since `message` was read.
    current = await OutboundMessage.get(id=message.id).only("id", "text", "template_params")
    await Delivery.filter(id=message.delivery_id).update(
        channel=address.channel, address=address.address, external_id=None
    )
    return await queue(
        message.kind,
        delivery_id=message.delivery_id,
        member_id=message.member_id,
        channel=address.channel,
        address=address.address,
        text=current.text,
        buttons=message.buttons,
        template=message.template,
        template_params=current.template_params,
        attachment_ids=message.attachment_ids,
        poll=message.poll,
        due=now,
    )
