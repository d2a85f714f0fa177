"""Corrections of a broadcast that has gone out: edited in place where the platform can edit,
else sent again, marked as a correction, to those who got the original.

Nothing is lost or doubled: messages not yet sent simply carry the corrected text. A message in
flight at the moment of the correction may still carry the old text, so its recipient gets a marked
correction once it has left (the sender holds that correction while the original is pending and
drops it if the original fails).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from channels import ChannelClasses, UnknownChannel, channel_traits
from hub.access import audit
from hub.broadcast.content import check_content, render_broadcast, summarize
from hub.broadcast.deliveries import ack_payload, group_ack_payload
from hub.broadcast.publication import record_correction
from hub.core.config import Config
from hub.core.errors import Conflict
from hub.core.outbox import outbound, queue_all
from hub.core.texts import text as say
from models import (
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    MessageKind,
    OutboundMessage,
    OutboxState,
    User,
)

BATCH = 500
# Deliveries whose announcement has left: they get the correction.
_LEFT = [
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.ACKNOWLEDGED,
]
# When a message in flight at the moment of the correction is checked again.
IN_FLIGHT_RECHECK = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class CorrectionResult:
    edited: int  # messages changed in place
    resent: int  # marked corrections sent as new messages
    updated_before_sending: int  # queued messages that will go out corrected

    def as_dict(self) -> dict[str, int]:
        return {
            "edited": self.edited,
            "resent": self.resent,
            "updated_before_sending": self.updated_before_sending,
        }


def _can_edit(channel: str, enabled_channels: ChannelClasses) -> bool:
    """Whether messages on this channel are changed in place: asked of the running channel, else
    of its class (switched off now, its correction waits for it). A channel this version no
    longer knows (a row from an older one) edits nothing: its correction is queued as a new
    message, which waits as any message on a channel not running, and the others still go."""
    if channel in enabled_channels:
        return enabled_channels[channel].can_edit
    try:
        return channel_traits(channel).can_edit
    except UnknownChannel:
        return False


async def correct_broadcast(
    config: Config,
    broadcast: Broadcast,
    *,
    title: str | None,
    text: str,
    user: User | None,
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> CorrectionResult:
    """Replace a sent broadcast's text and bring every recipient's copy up to date."""
    async with in_transaction():
        # Claim the row before reading it: this UPDATE holds PostgreSQL's row lock and SQLite's
        # write lock until commit (select_for_update is a no-op on SQLite), so corrections of one
        # broadcast run one after another, each on the version the previous one left; none
        # appends to a stale list of revisions or records a stale text as the one it replaced.
        await Broadcast.filter(id=broadcast.id).update(corrected_at=now)
        await broadcast.refresh_from_db()
        return await _correct(
            config,
            broadcast,
            title=title,
            text=text,
            user=user,
            enabled_channels=enabled_channels,
            now=now,
        )


async def _correct(
    config: Config,
    broadcast: Broadcast,
    *,
    title: str | None,
    text: str,
    user: User | None,
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> CorrectionResult:
    """The correction itself, inside the caller's transaction, on the freshly read broadcast."""
    new_title, new_text = _checked_correction(config, broadcast, title, text, enabled_channels)
    await _store_revision(broadcast, new_title, new_text, user, now)
    await record_correction(config, broadcast, now)  # a published one keeps its code
    message = render_broadcast(config, broadcast)
    lang = config.hub.language
    correction = say(lang, "correction_header") + "\n\n" + message
    template_params = [say(lang, "correction_title", title=new_title), summarize(new_text)]
    updated = await _update_queued(broadcast.id, message, new_title, new_text)
    edited, resent = await _correct_sent(
        config, broadcast, message, correction, template_params, enabled_channels, now
    )
    resent += await _correct_in_flight(config, broadcast, correction, template_params, now)
    edited_posts, resent_posts = await _correct_group_posts(
        config, broadcast, message, correction, enabled_channels, now
    )
    await audit.record(user, "broadcast.correct", f"broadcast:{broadcast.id}", title=new_title)
    return CorrectionResult(edited + edited_posts, resent + resent_posts, updated)


def _checked_correction(
    config: Config,
    broadcast: Broadcast,
    title: str | None,
    text: str,
    enabled_channels: ChannelClasses,
) -> tuple[str, str]:
    """The corrected title and text; raises Conflict if the broadcast has not gone out or the
    correction changes nothing, ValidationFailed as at creation."""
    if broadcast.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED):
        raise Conflict(
            f"broadcast {broadcast.id} has not been sent yet: edit it instead",
            code="not_sent_yet",
        )
    if broadcast.status == BroadcastStatus.MISSED:
        raise Conflict(f"broadcast {broadcast.id} was never sent", code="not_sent")
    new_title, new_text = check_content(
        config,
        broadcast.title if title is None else title,
        text,
        broadcast.ack_required,
        enabled_channels,
        broadcast.verification_code is not None,
    )
    if (new_title, new_text) == (broadcast.title, broadcast.text):
        raise Conflict("the correction changes nothing", code="nothing_to_correct")
    return new_title, new_text


async def _store_revision(
    broadcast: Broadcast, new_title: str, new_text: str, user: User | None, now: dt.datetime
) -> None:
    """Keep the replaced title and text among the revisions and store the corrected ones."""
    revisions = list(broadcast.revisions or [])
    revisions.append(
        {
            "title": broadcast.title,
            "text": broadcast.text,
            "replaced_at": now.isoformat(),
            "by": user.username if user else None,
        }
    )
    broadcast.title, broadcast.text = new_title, new_text
    await Broadcast.filter(id=broadcast.id).update(
        title=new_title, text=new_text, corrected_at=now, revisions=revisions
    )


async def _update_queued(broadcast_id: int, message: str, new_title: str, new_text: str) -> int:
    """Messages not yet sent simply carry the corrected text; how many there were."""
    deliveries = Delivery.filter(broadcast_id=broadcast_id).values("id")
    updated = await OutboundMessage.filter(
        kind=MessageKind.BROADCAST,
        state=OutboxState.QUEUED,
        delivery_id__in=Subquery(deliveries),
    ).update(text=message, template_params=[new_title, summarize(new_text)])
    updated += await OutboundMessage.filter(
        kind=MessageKind.GROUP_POST, state=OutboxState.QUEUED, broadcast_id=broadcast_id
    ).update(text=message)
    return updated


async def _correct_sent(
    config: Config,
    broadcast: Broadcast,
    message: str,
    correction: str,
    template_params: list[str],
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> tuple[int, int]:
    """Announcements that have left: edited in place where the channel can, else a marked
    correction sent anew; how many of each."""
    lang = config.hub.language
    edited = resent = 0
    async for batch in _sent_deliveries(broadcast.id):
        rows = []
        for d in batch:
            acknowledged = d.status == DeliveryStatus.ACKNOWLEDGED
            buttons = _ack_buttons(config, broadcast, d.id, acknowledged)
            if _can_edit(d.channel, enabled_channels) and d.external_id:
                text_now = message
                if acknowledged:
                    text_now += "\n\n" + say(lang, "acknowledged_mark")
                rows.append(_row(d, text_now, buttons, now, edit_of=d.external_id))
                edited += 1
            else:
                rows.append(_row(d, correction, buttons, now, template=template_params))
                resent += 1
        await queue_all(rows)
    return edited, resent


async def _correct_in_flight(
    config: Config,
    broadcast: Broadcast,
    correction: str,
    template_params: list[str],
    now: dt.datetime,
) -> int:
    """A marked correction for each announcement being sent right now; how many."""
    deliveries = Delivery.filter(broadcast_id=broadcast.id).values("id")
    # Announcements in flight right now left with the old text: correct them once they have.
    in_flight = await OutboundMessage.filter(
        kind=MessageKind.BROADCAST,
        state=OutboxState.SENDING,
        delivery_id__in=Subquery(deliveries),
    ).values("delivery_id", "member_id", "channel", "address")
    rows = [
        outbound(
            MessageKind.CORRECTION,
            delivery_id=m["delivery_id"],
            member_id=m["member_id"],
            channel=m["channel"],
            address=m["address"],
            text=correction,
            buttons=_ack_buttons(config, broadcast, m["delivery_id"], False),
            template="broadcast",
            template_params=template_params,
            due=now + IN_FLIGHT_RECHECK,
        )
        for m in in_flight
    ]
    await queue_all(rows)
    return len(rows)


async def _sent_deliveries(broadcast_id: int) -> AsyncIterator[list[Delivery]]:
    """Deliveries whose announcement has left, in batches by id."""
    last = 0
    while True:
        batch = list(
            await Delivery.filter(broadcast_id=broadcast_id, status__in=_LEFT, id__gt=last)
            .order_by("id")
            .limit(BATCH)
        )
        if not batch:
            return
        yield batch
        last = batch[-1].id


def _ack_buttons(
    config: Config, broadcast: Broadcast, delivery_id: int, acknowledged: bool
) -> list[dict[str, str]]:
    if not broadcast.ack_required or acknowledged:
        return []
    return [{"label": say(config.hub.language, "ack_button"), "payload": ack_payload(delivery_id)}]


def _row(
    delivery: Delivery,
    text: str,
    buttons: list[dict[str, str]],
    now: dt.datetime,
    *,
    edit_of: str | None = None,
    template: list[str] | None = None,
) -> OutboundMessage:
    return outbound(
        MessageKind.CORRECTION,
        delivery_id=delivery.id,
        member_id=delivery.member_id,
        channel=delivery.channel,
        address=delivery.address,
        text=text,
        buttons=buttons,
        edit_of=edit_of,
        template="broadcast" if template else None,
        template_params=template,
        due=now,
    )


async def _correct_group_posts(
    config: Config,
    broadcast: Broadcast,
    message: str,
    correction: str,
    enabled_channels: ChannelClasses,
    now: dt.datetime,
) -> tuple[int, int]:
    """Linked group chats: edit the post in place, or post the marked correction."""
    buttons: list[dict[str, Any]] = []
    if broadcast.ack_required:
        label = say(config.hub.language, "ack_button")
        buttons = [{"label": label, "payload": group_ack_payload(broadcast.id)}]
    posts = await OutboundMessage.filter(
        kind=MessageKind.GROUP_POST, broadcast_id=broadcast.id, state=OutboxState.SENT
    )
    rows = []
    edited = 0
    for post in posts:
        editable = _can_edit(post.channel, enabled_channels) and post.external_id
        edited += bool(editable)
        rows.append(
            outbound(
                MessageKind.GROUP_POST,
                broadcast_id=broadcast.id,
                channel=post.channel,
                address=post.address,
                text=message if editable else correction,
                buttons=buttons,
                edit_of=post.external_id if editable else None,
                due=now,
            )
        )
    await queue_all(rows)
    return edited, len(rows) - edited
