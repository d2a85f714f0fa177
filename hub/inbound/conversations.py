"""Conversations with RT heads: keywords and numbered menus in Bahasa Indonesia, forgiving typos.

A member's message goes through the router (hub/messaging/router.py), where this module registers
the basic keywords, the acknowledgement button, contacts and read evidence (the inbox, last, is
hub/feedback/inbox.py); strangers and group chats are handled here before it. Dialog state lives
in the database (hub/core/dialogs.py). Replies go through the outbox like every other message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from channels import InboundKind, InboundMessage
from hub.broadcast.deliveries import (
    ACK_PREFIX,
    GROUP_ACK_PREFIX,
    AckOutcome,
    acknowledge,
    acknowledge_in_words,
    is_ack_payload,
    note_evidence,
)
from hub.broadcast.polite import confirms
from hub.core.config import Config
from hub.core.dialogs import end_dialog
from hub.core.outbox import queue
from hub.core.phone import InvalidPhone, normalize_phone
from hub.core.texts import text as say
from hub.core.timeutil import Clock, utcnow
from hub.messaging.router import Command, Router, Turn
from hub.roster.groups import LINK_WORDS, link_group
from hub.roster.join_requests import ClaimOutcome, record_claim
from hub.roster.members import seat_area_path
from models import (
    ChannelAddress,
    JoinRequest,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
)

log = logging.getLogger(__name__)

Answer = Callable[[InboundMessage, str], Awaitable[None]]
# A feature's button tapped in a group chat by a member: (event, member, now) → the toast's text.
GroupButton = Callable[[InboundMessage, Member, dt.datetime], Awaitable[str]]
_MEDIA = {InboundKind.PHOTO, InboundKind.VOICE, InboundKind.DOCUMENT, InboundKind.LOCATION}
WORDS_EVIDENCE = "words"  # acknowledged in the member's own words ("siap", 👍)
_READ_BY_REPLY = {InboundKind.TEXT, *_MEDIA}  # answering an announcement shows it was read


class Conversations:
    def __init__(
        self,
        config: Config,
        wake_sender: Callable[[], None],
        *,
        answer: Answer | None = None,
        can_edit: Callable[[str], bool] = lambda channel: False,
        can_toast: Callable[[str], bool] = lambda channel: False,
        clock: Clock = utcnow,
        router: Router | None = None,
    ) -> None:
        self.config = config
        self.wake_sender = wake_sender
        self.answer = answer
        self.can_edit = can_edit
        self.can_toast = can_toast
        self.clock = clock
        self.router = router if router is not None else Router()
        # Group chats are not the router's (no dialogs there): their buttons are kept here.
        self._group_buttons: dict[str, GroupButton] = {}
        self._register(self.router)

    def _register(self, router: Router) -> None:
        """The roster's and the announcements' words, buttons and fallbacks (see
        hub/messaging/router.py)."""
        for command in (
            Command("help", ("BANTUAN", "HELP"), self._help, forgiving=True, in_menu=True,
                    platform_command="bantuan"),
            Command("menu", ("MENU",), self._menu, forgiving=True, in_help=False),
            Command("stop", ("BERHENTI", "STOP"), self._stop, in_menu=True,
                    platform_command="berhenti"),
            Command("start", ("MULAI", "START"), self._start, forgiving=True, in_menu=True,
                    platform_command="mulai"),
            Command("join", ("DAFTAR", "JOIN"), self._join),
        ):  # fmt: skip
            router.add_command(command)
        cancel = Command("cancel", ("BATAL", "CANCEL"), self._cancel, in_help=False)
        router.add_command(cancel, cancels_dialogs=True)
        router.add_button(ACK_PREFIX, self._button)
        router.add_button(GROUP_ACK_PREFIX, self._button)
        router.add_kind(InboundKind.CONTACT, self._contact)
        router.add_kind(InboundKind.FOREIGN_CONTACT, self._foreign_contact)
        router.add_evidence(self._confirmed_in_words)  # before a reply counts as read only
        router.add_evidence(self._read_evidence)
        router.add_help_note("help_ack_note")

    @property
    def lang(self) -> str:
        return self.config.hub.language

    def say(self, key: str, **values: str) -> str:
        return say(self.lang, key, hub=self.config.hub.name, **values)

    async def reply(
        self,
        event: InboundMessage,
        member: Member | None,
        key: str,
        *,
        phone_button: bool = False,
        **values: str,
    ) -> None:
        """Queue an answer to the chat the event came from."""
        await self.send_text(event, member, self.say(key, **values), phone_button=phone_button)

    async def send_text(
        self, event: InboundMessage, member: Member | None, text: str, *, phone_button: bool = False
    ) -> None:
        """Queue `text` as an answer to the chat the event came from."""
        await queue(
            MessageKind.REPLY,
            member_id=member.id if member else None,
            channel=event.channel,
            address=event.address,
            text=text,
            phone_button=self.say("phone_button") if phone_button else None,
            due=self.clock(),
        )
        self.wake_sender()

    def add_group_button(self, prefix: str, handler: GroupButton) -> None:
        """Take the taps on buttons whose payload starts with `prefix` under the hub's posts in
        group chats (a feature's, e.g. a poll's options); the handler's text is the toast."""
        self._group_buttons[prefix] = handler

    async def toast(self, event: InboundMessage, key: str) -> None:
        """A brief confirmation of a button tap, where the platform shows one."""
        await self.toast_text(event, self.say(key))

    async def toast_text(self, event: InboundMessage, text: str) -> None:
        """`text` as a brief confirmation of a button tap, where the platform shows one."""
        if self.answer is None:
            return
        try:
            await self.answer(event, text)
        except Exception:  # a courtesy only: the tap has counted, the edit or reply must follow
            log.warning("could not show a toast on %s", event.channel, exc_info=True)

    async def on_message(self, event: InboundMessage) -> None:
        if event.in_group:
            await self._in_group(event)
            return
        now = self.clock()
        address = await ChannelAddress.get_or_none(
            channel=event.channel, address=event.sender_address
        ).select_related("member")
        if address is None and event.kind == InboundKind.CONTACT and event.phone:
            address = await self._bind_by_phone(event)
        elif address is None and event.phone and event.kind != InboundKind.FOREIGN_CONTACT:
            address = await self._bind_by_phone(event)  # the platform vouches for the number
        if address is None:
            await self._from_stranger(event)
            return
        # The message's own time, not ours: a webhook Meta retries after an outage must not open
        # a 24-hour window that closed long ago, nor an old one move a newer time back.
        wrote_at = min(event.received_at, now)
        await ChannelAddress.filter(
            Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=wrote_at), id=address.id
        ).update(last_inbound_at=wrote_at)
        await self.router.route(Turn(event, address.member, address, now))

    # Keywords -------------------------------------------------------------------------------

    async def _help(self, turn: Turn) -> None:
        await self.send_text(turn.event, turn.member, self.router.help_text(self.lang))

    async def _menu(self, turn: Turn) -> None:
        menu = self.router.menu_text(self.lang, turn.member.name)
        await self.send_text(turn.event, turn.member, menu)

    async def _stop(self, turn: Turn) -> None:
        await ChannelAddress.filter(id=turn.address.id).update(opted_out_at=turn.now)
        await self.reply(turn.event, turn.member, "opted_out")

    async def _start(self, turn: Turn) -> None:
        if turn.address.opted_out_at is None:
            await self._menu(turn)
            return
        await ChannelAddress.filter(id=turn.address.id).update(opted_out_at=None)
        await self.reply(turn.event, turn.member, "opted_in", name=turn.member.name)

    async def _join(self, turn: Turn) -> None:
        area = await seat_area_path(turn.member)
        await self.reply(turn.event, turn.member, "joined", name=turn.member.name, area=area)

    async def _cancel(self, turn: Turn) -> None:
        """BATAL: end whatever dialog the address is in."""
        event = turn.event
        if turn.dialog is not None and await end_dialog(event.channel, event.address):
            await self.reply(event, turn.member, "dialog_cancelled")
        else:
            await self.reply(event, turn.member, "nothing_to_cancel")

    # Buttons, contacts and read evidence ----------------------------------------------------

    async def _button(self, turn: Turn) -> None:
        event, member = turn.event, turn.member
        if not is_ack_payload(event.button_payload):
            log.info("unknown button payload from member %s", member.id)
            return
        outcome = await acknowledge(event.button_payload or "", member, self.clock(), "button")
        if outcome.result == "unknown":
            await self.toast(event, "ack_toast_unknown")
            if not self.can_toast(event.channel):
                await self.reply(event, member, "ack_unknown")
            return
        await self.toast(
            event, "ack_toast" if outcome.result == "acknowledged" else "ack_toast_already"
        )
        if self.can_edit(event.channel) and event.reply_to:
            if outcome.result == "acknowledged":
                await self._mark_acknowledged(event, member)
            return
        # Without editing, the member sees the confirmation as a reply.
        key = "ack_thanks" if outcome.result == "acknowledged" else "ack_already"
        await self.reply(event, member, key, name=member.name, title=outcome.title)

    async def _contact(self, turn: Turn) -> None:
        event, member = turn.event, turn.member
        if _same_phone(event.phone, member.phone):
            await self.reply(event, member, "phone_verified", name=member.name)
        else:
            await self.reply(event, member, "phone_mismatch", phone=event.phone or "-")

    async def _foreign_contact(self, turn: Turn) -> None:
        await self.reply(turn.event, turn.member, "share_own_number", phone_button=True)

    async def _confirmed_in_words(self, turn: Turn) -> bool:
        """ "Siap pak 👍": a polite word confirms the announcement it answers, else the latest
        unconfirmed one; never "not understood" (hub/broadcast/polite.py)."""
        event, member = turn.event, turn.member
        if event.kind != InboundKind.TEXT or turn.command is not None or not confirms(event.text):
            return False
        outcome = AckOutcome("unknown")
        if event.reply_to:
            answered = (event.channel, event.reply_to)
            outcome = await acknowledge_in_words(member, turn.now, WORDS_EVIDENCE, answered)
        if outcome.result == "unknown":
            outcome = await acknowledge_in_words(member, turn.now, WORDS_EVIDENCE)
        if outcome.result in ("unknown", "not_asked"):
            await self.reply(event, member, "polite_thanks", name=member.name)
            return True
        key = "ack_thanks" if outcome.result == "acknowledged" else "ack_already"
        await self.reply(event, member, key, name=member.name, title=outcome.title)
        return True

    async def _read_evidence(self, turn: Turn) -> bool:
        """A reply or reaction to an announcement shows it was read; a bare reply is thanked."""
        event = turn.event
        if event.kind in (InboundKind.REACTION, InboundKind.POLL_ANSWER):
            if event.reply_to:
                kind = event.kind.value
                await note_evidence(event.channel, event.reply_to, turn.member, turn.now, kind)
            return True
        if not event.reply_to or event.kind not in _READ_BY_REPLY:
            return False
        noted = await note_evidence(event.channel, event.reply_to, turn.member, turn.now, "reply")
        if noted and event.kind == InboundKind.TEXT and turn.command is None:
            await self.reply(event, turn.member, "reply_noted")
            return True
        return False

    async def _mark_acknowledged(self, event: InboundMessage, member: Member) -> None:
        """Change the tapped announcement in place: its button gives way to a confirmation."""
        original = await OutboundMessage.get_or_none(
            channel=event.channel, external_id=event.reply_to
        )
        if original is None:
            return
        # A correction may have changed the announcement in place since: keep its text.
        corrected = (
            await OutboundMessage.filter(
                channel=event.channel,
                edit_of=event.reply_to,
                kind=MessageKind.CORRECTION,
                state=OutboxState.SENT,
            )
            .order_by("-id")
            .first()
        )
        text = (corrected or original).text
        await queue(
            MessageKind.NOTICE,
            member_id=member.id,
            channel=event.channel,
            address=event.address,
            text=f"{text}\n\n{self.say('acknowledged_mark')}",
            edit_of=event.reply_to,
            due=self.clock(),
        )
        self.wake_sender()

    async def _in_group(self, event: InboundMessage) -> None:
        """In a group the hub speaks only when spoken to: link codes, and taps on its posts."""
        now = self.clock()
        if event.kind == InboundKind.TEXT:
            first, _, rest = event.text.strip().lstrip("/").partition(" ")
            if first.split("@", 1)[0].upper() in LINK_WORDS and rest.strip():
                area = await link_group(event.channel, event.address, event.chat_title, rest, now)
                if area is None:
                    await self.reply(event, None, "group_bad_code", code=rest.strip()[:20])
                else:
                    await self.reply(event, None, "group_linked", area=area.path)
                return
        sender = await ChannelAddress.get_or_none(
            channel=event.channel, address=event.sender_address
        ).select_related("member")
        if event.kind == InboundKind.BUTTON:
            payload = event.button_payload or ""
            taken = next((h for p, h in self._group_buttons.items() if payload.startswith(p)), None)
            if sender is not None and taken is not None:
                await self.toast_text(event, await taken(event, sender.member, now))
                return
            if sender is None or not is_ack_payload(event.button_payload):
                await self.toast(event, "ack_toast_unknown")
                return
            outcome = await acknowledge(
                event.button_payload or "", sender.member, now, "group_button"
            )
            key = {"acknowledged": "ack_toast", "already": "ack_toast_already"}.get(
                outcome.result, "ack_toast_unknown"
            )
            await self.toast(event, key)
        elif sender is not None and event.reply_to:
            evidence = "reply" if event.kind == InboundKind.TEXT else event.kind.value
            await note_evidence(event.channel, event.reply_to, sender.member, now, evidence)

    async def _bind_by_phone(self, event: InboundMessage) -> ChannelAddress | None:
        """A number the platform vouches for that matches the roster joins by itself."""
        phone = _normalized(event.phone)
        member = await Member.get_or_none(phone=phone) if phone else None
        if member is None:
            return None
        address = await ChannelAddress.create(
            member=member, channel=event.channel, address=event.sender_address
        )
        address.member = member
        if member.preferred_channel is None:
            await Member.filter(id=member.id).update(preferred_channel=event.channel)
        await JoinRequest.filter(channel=event.channel, address=event.sender_address).update(
            resolved_at=self.clock()
        )
        log.info("member %s joined on %s by phone match", member.id, event.channel)
        return address

    async def _from_stranger(self, event: InboundMessage) -> None:
        command, argument, _ = self.router.parse(event.text)
        if command == "join" or (command == "start" and argument):
            code = "".join(argument.split()).upper()  # "ab12 cd34" as read out is the same code
            member = await Member.get_or_none(invite_code=code) if code else None
            if member is None:
                await self.reply(event, None, "bad_code", code=code[:20])
                return
            if not await self._bind_by_code(event, member):
                await self._claim(event, member)
                return
            log.info("member %s joined on %s by invite code", member.id, event.channel)
            await self.reply(
                event, member, "joined", name=member.name, area=await seat_area_path(member)
            )
            return
        await self._request_to_join(event)
        if event.kind == InboundKind.CONTACT and event.phone:
            await self.reply(event, None, "phone_unknown", phone=event.phone)
        elif event.kind == InboundKind.FOREIGN_CONTACT:
            await self.reply(event, None, "share_own_number", phone_button=True)
        else:
            await self.reply(event, None, "stranger", phone_button=True)

    async def _bind_by_code(self, event: InboundMessage, member: Member) -> bool:
        """Bind the sender to the code's member, unless the member has an address here already."""
        now = self.clock()
        async with in_transaction():
            # Lock the member's row first (PostgreSQL's row lock, SQLite's write lock): two
            # accounts sending one code at the same moment must not both be bound.
            await Member.filter(id=member.id).update(updated_at=now)
            if await ChannelAddress.exists(member_id=member.id, channel=event.channel):
                return False
            # They just wrote: platforms with a free-text window (WhatsApp) may answer freely.
            await ChannelAddress.create(
                member=member,
                channel=event.channel,
                address=event.sender_address,
                last_inbound_at=min(event.received_at, now),
            )
            if member.preferred_channel is None:
                await Member.filter(id=member.id).update(preferred_channel=event.channel)
            await JoinRequest.filter(channel=event.channel, address=event.sender_address).update(
                resolved_at=now
            )
        return True

    async def _claim(self, event: InboundMessage, member: Member) -> None:
        """A code used again where its member has an address: staff decide, the RT head is told."""
        now = self.clock()
        outcome = await record_claim(
            event.channel,
            event.sender_address,
            member,
            name=event.sender_name,
            phone=event.phone,
            first_text=event.text,
            at=min(event.received_at, now),
        )
        if outcome == ClaimOutcome.REFUSED:
            await self.reply(event, None, "claim_refused")
            return
        await self.reply(event, None, "claim_pending")
        if outcome == ClaimOutcome.NEW:
            log.warning(
                "member %s: another %s account sent their invite code; staff must confirm it",
                member.id,
                event.channel,
            )
            await self._tell_claimed(event, member, now)

    async def _tell_claimed(self, event: InboundMessage, member: Member, now: dt.datetime) -> None:
        """Warn the RT head on the addresses they write from (never-used ones are skipped)."""
        addresses = await ChannelAddress.filter(
            member_id=member.id,
            opted_out_at__isnull=True,
            blocked_at__isnull=True,
            last_inbound_at__isnull=False,
        )
        channel = _label(self.lang, event.channel)
        for address in addresses:
            await queue(
                MessageKind.NOTICE,
                member_id=member.id,
                channel=address.channel,
                address=address.address,
                text=self.say("claim_alert", name=member.name, channel=channel),
                due=now,
            )
        if addresses:
            self.wake_sender()

    async def _request_to_join(self, event: InboundMessage) -> None:
        """Someone unknown wrote: staff see a pending request (one per address)."""
        request, created = await JoinRequest.get_or_create(
            channel=event.channel,
            address=event.sender_address,
            defaults={
                "name": event.sender_name[:200],
                "phone": event.phone,
                "first_text": event.text[:500],
            },
        )
        if not created and event.phone and not request.phone:
            await JoinRequest.filter(id=request.id).update(phone=event.phone)


def _normalized(phone: str | None) -> str | None:
    """E.164 as the roster stores it, or None for what is not a phone number."""
    if not phone:
        return None
    try:
        return normalize_phone(phone)
    except InvalidPhone:
        return None


def _label(language: str, channel: str) -> str:
    """The channel's name for people ("Telegram"); an unknown one as it is."""
    try:
        return say(language, f"channel_{channel}")
    except KeyError:
        return channel


def _same_phone(shared: str | None, on_roster: str | None) -> bool:
    return _normalized(shared) is not None and _normalized(shared) == on_roster
