"""The staff inbox, member side: the router's last stage, where whatever nobody else took lands.

A member's question or report that no dialog, button, keyword or read evidence claimed is stored
as an incoming `InboxMessage` under the member's seat area (who may read it is decided by that
area, in the query), and answered politely now and then, not after every line: a receipt at most
once per RECEIPT_EVERY per member, so five lines in a row get one answer. A near miss of a
keyword still gets "did you mean", and one or two unknown words the short help hint; both are
stored too, since staff may want to see them. Photos, voice notes, documents and locations are
stored with their caption (a location as its coordinates); fetching the file itself is
`attach_media()`'s job. The staff side (threads, replies, tickets) is in inbox_threads.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tortoise.transactions import in_transaction

from channels import InboundKind, InboundMessage
from hub.core.config import Config
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.feedback.complaints.tickets import seat_area
from hub.messaging.router import Router, Turn
from models import InboxDirection, InboxMessage, MessageKind

# Say "we received it" at most this often to one member: a burst of lines gets one answer.
RECEIPT_EVERY = dt.timedelta(minutes=30)
MAX_INBOUND_FILE_BYTES = 20 * 1024 * 1024  # what Telegram lets a bot download; WhatsApp is lower
MEDIA = frozenset(
    {InboundKind.PHOTO, InboundKind.VOICE, InboundKind.DOCUMENT, InboundKind.LOCATION}
)
MAX_STORED_TEXT = 4096  # longer texts are cut (no messenger sends more in one message)


async def attach_media(message: InboxMessage, event: InboundMessage) -> None:
    """Hook point for the file a member sent with an inbox message (photo, voice, document).

    Does nothing yet: hub/feedback/files.py will fetch the file from the platform and store it
    as a FeedbackFile linked to `message`. The message itself (kind, caption) is already stored.
    """


def media_text(event: InboundMessage) -> str:
    """What staff read for a message: the text or caption; a location as its coordinates."""
    if event.kind == InboundKind.LOCATION and event.location is not None:
        place = event.location
        parts = [f"{place.latitude:.6f}, {place.longitude:.6f}", place.name, place.address]
        lines = [event.text.strip(), " · ".join(p for p in parts if p)]
        return "\n".join(line for line in lines if line)
    return event.text.strip()


class Inbox:
    """The inbox stage of the router (see the module's notes)."""

    def __init__(self, config: Config, wake_sender: Callable[[], None]) -> None:
        self.config = config
        self.wake_sender = wake_sender

    def say(self, key: str, **values: str) -> str:
        return say(self.config.hub.language, key, hub=self.config.hub.name, **values)

    async def take(self, turn: Turn) -> None:
        """Store what the member wrote for the staff, and answer it when an answer is due."""
        event = turn.event
        if event.kind != InboundKind.TEXT and event.kind not in MEDIA:
            return  # stickers, system messages: stored with the event, otherwise ignored
        text = media_text(event)
        if event.kind == InboundKind.TEXT and not text:
            return
        answer, is_receipt = await self._answer_for(turn)
        async with in_transaction():
            message = await InboxMessage.create(
                member_id=turn.member.id,
                area=await seat_area(turn.member),
                direction=InboxDirection.IN,
                channel=event.channel,
                address=event.address,
                text=text[:MAX_STORED_TEXT],
                kind=event.kind.value,
                external_id=event.external_id[:128] or None,
                created_at=turn.now,
            )
            if answer:
                outbound = await queue(
                    MessageKind.REPLY,
                    member_id=turn.member.id,
                    channel=event.channel,
                    address=event.address,
                    text=answer,
                    due=turn.now,
                )
                if is_receipt:  # the receipt is remembered on what it answered: see _receipt_due
                    await InboxMessage.filter(id=message.id).update(outbound_id=outbound.id)
        if event.kind in MEDIA:
            await attach_media(message, event)
        if answer:
            self.wake_sender()

    async def _answer_for(self, turn: Turn) -> tuple[str, bool]:
        """(what to answer, whether it is the receipt); "" for no answer now."""
        event = turn.event
        if event.kind in MEDIA:
            size = (event.media.size if event.media else None) or 0
            if size > MAX_INBOUND_FILE_BYTES:
                limit_mb = str(MAX_INBOUND_FILE_BYTES // (1024 * 1024))
                return self.say("file_too_large", limit_mb=limit_mb), False
            key = "media_received"
        elif turn.suggestion:
            return self.say("did_you_mean", suggestion=turn.suggestion), False
        elif len(event.text.split()) <= 2:
            return self.say("unknown_command", text=turn.argument[:40]), False
        else:
            key = "message_received"
        if not await _receipt_due(turn.member.id, turn.now):
            return "", False
        return self.say(key), True


async def _receipt_due(member_id: int, now: dt.datetime) -> bool:
    """Whether the member got no receipt within RECEIPT_EVERY (an incoming message that names
    an outbound row is one that was answered with the receipt)."""
    return not await InboxMessage.exists(
        member_id=member_id,
        direction=InboxDirection.IN,
        outbound_id__isnull=False,
        created_at__gt=now - RECEIPT_EVERY,
    )


def register(router: Router, config: Config, wake_sender: Callable[[], None]) -> Inbox:
    """Make the inbox the router's last stage."""
    inbox = Inbox(config, wake_sender)
    router.set_inbox(inbox.take)
    return inbox
