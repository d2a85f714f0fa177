"""The staff inbox, member side: the router's last stage, where whatever nobody else took lands.

A member's question or report that no dialog, button, keyword or read evidence claimed is stored
as an incoming `InboxMessage` under the member's seat area (who may read it is decided by that
area, in the query), and answered politely now and then, not after every line: a receipt at most
once per RECEIPT_EVERY per member, so five lines in a row get one answer. A near miss of a
keyword still gets "did you mean", and one or two unknown words the short help hint; both are
stored too, since staff may want to see them. Photos, voice notes, documents and locations are
stored with their caption (a location as its coordinates).

The file of a photo, voice note or document is fetched from the platform first (the network,
outside any transaction; hub/feedback/files.py checks it against `[feedback] max_file_mb` and
reads its type from the bytes), then the message, its file's link (`attach_media`) and the answer
are written in one transaction. A file the hub does not keep is answered with the reason, in the
complaint dialog's words, instead of the receipt; the message is stored all the same, so staff see
that something came. A fetched file whose message never got written stays unlinked and goes with
FeedbackFiles.delete_unlinked. The staff side (threads, replies, tickets) is in inbox_threads.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from tortoise.transactions import in_transaction

from channels import Channel, InboundKind, InboundMessage
from hub.core.config import Config
from hub.core.texts import text as say
from hub.feedback.complaints.tickets import seat_area
from hub.feedback.files import FeedbackFiles, FileRefused
from hub.feedback.replies import queue_reply
from hub.messaging.router import Router, Turn
from models import FeedbackFile, InboxDirection, InboxMessage

# Say "we received it" at most this often to one member: a burst of lines gets one answer.
RECEIPT_EVERY = dt.timedelta(minutes=30)
FILES = frozenset({InboundKind.PHOTO, InboundKind.VOICE, InboundKind.DOCUMENT})
MEDIA = FILES | {InboundKind.LOCATION}
MAX_STORED_TEXT = 4096  # longer texts are cut (no messenger sends more in one message)


async def attach_media(message: InboxMessage, file: FeedbackFile) -> bool:
    """Link a fetched file to the inbox message it came with; False if something else (a
    ticket, another message) took it first."""
    linked = await FeedbackFile.filter(
        id=file.id, inbox_message_id__isnull=True, ticket_id__isnull=True
    ).update(inbox_message_id=message.id)
    return bool(linked)


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

    def __init__(
        self,
        config: Config,
        wake_sender: Callable[[], None],
        files: FeedbackFiles,
        channels: Mapping[str, Channel],
    ) -> None:
        self.config = config
        self.wake_sender = wake_sender
        self.files = files
        self.channels = channels  # the Hub's dict, filled after registration

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
        file, refusal = await self._fetch_file(turn)
        answer, is_receipt = (refusal, False) if refusal else await self._answer_for(turn)
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
            if file is not None:
                await attach_media(message, file)
            if answer:
                outbound = await queue_reply(turn, answer, due=turn.now)
                if is_receipt:  # the receipt is remembered on what it answered: see _receipt_due
                    await InboxMessage.filter(id=message.id).update(outbound_id=outbound.id)
        if answer:
            self.wake_sender()

    async def _fetch_file(self, turn: Turn) -> tuple[FeedbackFile | None, str]:
        """The file of a photo, voice note or document, stored unlinked: (the row, "") or
        (None, the polite reason it was not kept); (None, "") for a message without one."""
        if turn.event.kind not in FILES:
            return None, ""
        try:
            file = await self.files.take(turn.event, turn.member, self.channels, turn.now)
        except FileRefused as refused:
            # The complaint dialog's sentences: one wording for one refusal, wherever it comes.
            accepted = self.say("dialog_file_types")
            key = f"dialog_file_{refused.reason}"
            return None, self.say(key, max_mb=str(self.files.max_mb), accepted=accepted)
        return file, ""

    async def _answer_for(self, turn: Turn) -> tuple[str, bool]:
        """(what to answer, whether it is the receipt); "" for no answer now."""
        event = turn.event
        if event.kind in MEDIA:
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


def register(
    router: Router,
    config: Config,
    wake_sender: Callable[[], None],
    *,
    files: FeedbackFiles,
    channels: Mapping[str, Channel],
) -> Inbox:
    """Make the inbox the router's last stage; media files are fetched through `channels`."""
    inbox = Inbox(config, wake_sender, files, channels)
    router.set_inbox(inbox.take)
    return inbox
