"""Sending a broadcast out, and seeing it through to sent.

One delivery and one outbox message per recipient, written in batches before any send; the post
in the linked group chats of its areas; and marking it sent once none of its deliveries is
pending. Apart from the service because it is the hub's hot path (bench/broadcast_send.py) and
because the sender's hooks call `finish_if_done` too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from hub.broadcast.content import render_broadcast, summarize
from hub.broadcast.deliveries import ack_payload, group_ack_payload, report_payload
from hub.broadcast.publication import record_publication
from hub.core.config import Config
from hub.core.outbox import outbound, queue_all, queue_rows
from hub.core.texts import text as say
from hub.roster.audience import recipients, seats_sent_for
from hub.roster.groups import groups_for
from models import Area, Broadcast, BroadcastStatus, Delivery, DeliveryStatus, MessageKind, sql


async def fan_out(
    config: Config,
    broadcast: Broadcast,
    areas: list[Area],
    member_ids: list[int],
    enabled_channels: Collection[str],
    now: dt.datetime,
    extras: Mapping[str, Any] | None = None,
) -> None:
    """Write one delivery and one outbox message per recipient, in batches, before any send.

    `extras` are outbox columns every announcement message carries besides the text, set by a
    feature built on broadcasts (a poll's `poll`); plain data, the same for every recipient.
    """
    message_text = render_broadcast(config, broadcast)
    template_params = [broadcast.title, summarize(broadcast.text)]
    lang = config.hub.language
    await Broadcast.filter(id=broadcast.id).update(started_at=now)
    if broadcast.published and broadcast.verification_code:
        await record_publication(config, broadcast, now)
    # Rows are written with one executemany per batch and table (models.sql.insert_rows,
    # hub.outbox.queue_rows): Tortoise's bulk_create builds a model object per row first, most
    # of the fan-out's CPU.
    outbox_common = {
        "text": message_text,
        "template": "broadcast",
        "template_params": template_params,
        # The sender sends them with or after the text (see hub/files/media.py).
        "attachment_ids": broadcast.attachment_ids or None,
        **(extras or {}),
    }
    ack_label = say(lang, "ack_button")
    report = _report_button(lang, broadcast)
    async for batch in recipients(member_ids, enabled_channels):
        seats = await seats_sent_for([r.member_id for r in batch], areas)
        rows = []
        for r in batch:
            sent_for = seats.get(r.member_id)
            status = DeliveryStatus.PENDING
            if r.channel is None:  # opting out is the member's choice, not a failure to reach
                skipped = r.reason == "opted_out"
                status = DeliveryStatus.SKIPPED if skipped else DeliveryStatus.FAILED
            rows.append(
                {
                    "member_id": r.member_id,
                    "seat_id": sent_for.seat_id if sent_for else None,
                    "area_id": sent_for.area_id if sent_for else None,
                    "channel": r.channel or "",
                    "address": r.address or "",
                    "status": status,
                    "failed_at": now if status == DeliveryStatus.FAILED else None,
                    "failure_reason": r.reason or None,
                }
            )
        await sql.insert_rows(Delivery, {"broadcast_id": broadcast.id}, rows, now)
        created = await sql.pending_deliveries(broadcast.id, [r.member_id for r in batch])
        messages = [
            {
                "delivery_id": delivery_id,
                "member_id": member_id,
                "channel": channel,
                "address": address,
                "buttons": [
                    *(
                        [{"label": ack_label, "payload": ack_payload(delivery_id)}]
                        if broadcast.ack_required
                        else []
                    ),
                    *report,
                ],
            }
            for delivery_id, member_id, channel, address in created
        ]
        await queue_rows(MessageKind.BROADCAST, outbox_common, messages, due=now, now=now)
    poll = (extras or {}).get("poll")
    await _post_in_groups(config, broadcast, areas, enabled_channels, message_text, poll, now)
    # With nobody reachable no message is queued, so the sender would never finish it.
    await finish_if_done(broadcast.id, now)


def _report_button(lang: str, broadcast: Broadcast) -> list[dict[str, Any]]:
    """ "Laporkan masalah", if staff chose it: under each member's copy only (a complaint tapped
    in a group would be filed by whoever tapped). An approved template has one quick reply, the
    acknowledgement's: outside WhatsApp's window this button is left out."""
    if not broadcast.report_button:
        return []
    label = say(lang, "report_button")
    return [{"label": label, "payload": report_payload(broadcast.id), "in_template": False}]


async def _post_in_groups(
    config: Config,
    broadcast: Broadcast,
    areas: list[Area],
    enabled_channels: Collection[str],
    message_text: str,
    poll: Mapping[str, Any] | None,
    now: dt.datetime,
) -> None:
    """Also post the announcement in the linked groups of the audience's areas.

    Its button acknowledges the delivery of whichever member taps it; the group post itself is
    not a delivery and does not count in the broadcast's numbers. A poll goes with it as with
    the members' messages; a vote in the group counts on the voter's own delivery.
    """
    buttons = []
    if broadcast.ack_required:
        label = say(config.hub.language, "ack_button")
        buttons = [{"label": label, "payload": group_ack_payload(broadcast.id)}]
    posts = [
        outbound(
            MessageKind.GROUP_POST,
            broadcast_id=broadcast.id,
            channel=group.channel,
            address=group.address,
            text=message_text,
            buttons=buttons,
            attachment_ids=broadcast.attachment_ids or None,
            poll=poll,
            due=now,
        )
        for group in await groups_for(areas, enabled_channels)
    ]
    await queue_all(posts)


async def finish_if_done(broadcast_id: int, now: dt.datetime) -> None:
    """Mark a sending broadcast sent once none of its deliveries is pending."""
    pending = await Delivery.filter(
        broadcast_id=broadcast_id, status=DeliveryStatus.PENDING
    ).exists()
    if not pending:
        await Broadcast.filter(id=broadcast_id, status=BroadcastStatus.SENDING).update(
            status=BroadcastStatus.SENT, finished_at=now
        )
