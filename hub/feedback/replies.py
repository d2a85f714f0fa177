"""Answers to a member's message: queued through the outbox to the chat it came from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from hub.core.outbox import queue
from hub.messaging.router import Turn
from models import MessageKind, OutboundMessage


async def queue_reply(
    turn: Turn, text: str, *, due: dt.datetime, buttons: Sequence[Mapping[str, str]] = ()
) -> OutboundMessage:
    """Queue `text` (with `buttons`) as an answer to the turn's message, in the caller's
    transaction if any; the caller wakes the sender."""
    return await queue(
        MessageKind.REPLY,
        member_id=turn.member.id,
        channel=turn.event.channel,
        address=turn.event.address,
        text=text,
        buttons=buttons,
        due=due,
    )
