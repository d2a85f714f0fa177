"""Conversations with RT heads: keywords and numbered menus in Bahasa Indonesia, forgiving typos.

State lives in the `Conversation` table, never in memory, so a multi-step exchange survives a
restart. Replies go through the outbox like every other message.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable

from channels import InboundMessage
from hub.config import Config
from hub.deliveries import ACK_PREFIX, acknowledge, note_reply
from hub.texts import text as say
from hub.timeutil import Clock, utcnow
from models import (
    ChannelAddress,
    Conversation,
    Member,
    MessageKind,
    OutboundMessage,
    Seat,
)

log = logging.getLogger(__name__)

# Keyword → command; Indonesian first, English and Telegram-style aliases after.
KEYWORDS = {
    "BANTUAN": "help",
    "HELP": "help",
    "MENU": "menu",
    "BERHENTI": "stop",
    "STOP": "stop",
    "MULAI": "start",
    "START": "start",
    "DAFTAR": "join",
    "JOIN": "join",
}
MENU_CHOICES = {"1": "help", "2": "stop", "3": "start"}
_WORD = re.compile(r"[^\w]+")


def parse_command(text: str) -> tuple[str | None, str, str | None]:
    """(command, argument, suggestion) for what someone typed; typos get a suggestion only."""
    cleaned = text.strip().lstrip("/")
    if not cleaned:
        return None, "", None
    first, _, rest = cleaned.partition(" ")
    word = _WORD.sub("", first.split("@", 1)[0]).upper()  # "/start@bot" → START
    if word in KEYWORDS:
        return KEYWORDS[word], rest.strip(), None
    if word in MENU_CHOICES and not rest:
        return MENU_CHOICES[word], "", None
    close = difflib.get_close_matches(word, list(KEYWORDS), n=1, cutoff=0.75)
    if close and len(word) >= 4:
        # A near miss on a harmless command is taken as meant; others are asked back.
        if KEYWORDS[close[0]] in ("help", "menu", "start"):
            return KEYWORDS[close[0]], rest.strip(), None
        return None, rest.strip(), close[0]
    return None, cleaned, None


class Conversations:
    def __init__(self, config: Config, wake_sender: Callable[[], None], *, clock: Clock = utcnow):
        self.config = config
        self.wake_sender = wake_sender
        self.clock = clock

    @property
    def lang(self) -> str:
        return self.config.hub.language

    async def reply(
        self, event: InboundMessage, member: Member | None, key: str, **values: str
    ) -> None:
        """Queue an answer to the address that wrote."""
        await OutboundMessage.create(
            kind=MessageKind.REPLY,
            member=member,
            channel=event.channel,
            address=event.address,
            text=say(self.lang, key, hub=self.config.hub.name, **values),
            next_attempt_at=self.clock(),
        )
        self.wake_sender()

    async def on_message(self, event: InboundMessage) -> None:
        now = self.clock()
        address = await ChannelAddress.get_or_none(
            channel=event.channel, address=event.address
        ).select_related("member")
        if address is None and event.phone:
            address = await self._bind_by_phone(event)
        if address is None:
            await self._from_stranger(event)
            return
        await ChannelAddress.filter(id=address.id).update(last_inbound_at=now)
        member = address.member

        if event.button_payload and event.button_payload.startswith(ACK_PREFIX):
            outcome = await acknowledge(event, member, now)
            key = {"acknowledged": "ack_thanks", "already": "ack_already"}.get(
                outcome.result, "ack_unknown"
            )
            await self.reply(event, member, key, name=member.name, title=outcome.title)
            return
        command, argument, suggestion = parse_command(event.text)
        # A reply is evidence of reading; a keyword sent as a reply (BERHENTI) is still obeyed.
        if event.reply_to and await note_reply(event, member, now) and command is None:
            await self.reply(event, member, "reply_noted")
            return

        conversation, _ = await Conversation.get_or_create(
            channel=event.channel, address=event.address
        )
        if command == "stop":
            await ChannelAddress.filter(id=address.id).update(opted_out_at=now)
            await self.reply(event, member, "opted_out")
        elif command == "start":
            await ChannelAddress.filter(id=address.id).update(opted_out_at=None)
            await self.reply(event, member, "opted_in", name=member.name)
        elif command == "help":
            await self.reply(event, member, "help")
        elif command == "menu":
            await self.reply(event, member, "menu", name=member.name)
        elif command == "join":
            await self.reply(event, member, "joined", name=member.name, area=await _area_of(member))
        elif suggestion:
            await self.reply(event, member, "did_you_mean", suggestion=suggestion)
        else:
            await self.reply(event, member, "unknown_command", text=argument[:40])
        conversation.state = "menu" if command in ("menu", None) else "idle"
        conversation.data = {"last_command": command}
        await conversation.save()

    async def _bind_by_phone(self, event: InboundMessage) -> ChannelAddress | None:
        """A number the platform vouches for that matches the roster joins by itself."""
        member = await Member.get_or_none(phone=event.phone)
        if member is None:
            return None
        address = await ChannelAddress.create(
            member=member, channel=event.channel, address=event.address
        )
        address.member = member
        log.info("member %s joined on %s by phone match", member.id, event.channel)
        return address

    async def _from_stranger(self, event: InboundMessage) -> None:
        command, argument, _ = parse_command(event.text)
        if command == "join" or (command == "start" and argument):
            code = argument.strip().upper()
            member = await Member.get_or_none(invite_code=code) if code else None
            if member is None:
                await self.reply(event, None, "bad_code", code=code[:20])
                return
            await ChannelAddress.create(member=member, channel=event.channel, address=event.address)
            if member.preferred_channel is None:
                await Member.filter(id=member.id).update(preferred_channel=event.channel)
            log.info("member %s joined on %s by invite code", member.id, event.channel)
            await self.reply(event, member, "joined", name=member.name, area=await _area_of(member))
            return
        await self.reply(event, None, "stranger")


async def _area_of(member: Member) -> str:
    seat = (
        await Seat.filter(member_id=member.id, ended_at__isnull=True).select_related("area").first()
    )
    return seat.area.path if seat else "-"
