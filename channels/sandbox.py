"""The sandbox channel: simulated phones in memory, so staff, the demo and tests need no real phone.

It is a real channel behind the same interface: the hub sends to it through the outbox, and a person
(the dashboard's phone page) or a test acts as the member through `act()`, which produces the same
events a real platform would. Phones live in this process's memory: a restart empties them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from channels.base import (
    Button,
    Channel,
    EventSink,
    InboundKind,
    InboundMessage,
    Outgoing,
    OutgoingFile,
    SendError,
    SendErrorReason,
    SendResult,
    StatusKind,
    StatusUpdate,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class PhoneMessage:
    """One message on a simulated phone, either from the hub or typed by the member."""

    id: str
    text: str
    from_hub: bool
    sent_at: dt.datetime
    buttons: tuple[Button, ...] = ()
    reply_to: str | None = None
    read: bool = False
    edited: bool = False
    phone_button: str = ""
    attachments: tuple[OutgoingFile, ...] = ()  # files shown with the text (its caption)


@dataclass
class Phone:
    messages: deque[PhoneMessage]
    blocked: bool = False
    pressed: set[str] = field(default_factory=set)


class SandboxError(ValueError):
    """The simulated member tried something the phone does not show (unknown button, message)."""


class SandboxChannel(Channel):
    name = "sandbox"

    can_edit = True

    def __init__(self, settings: Any, sink: EventSink, *, public_url: str = "") -> None:
        super().__init__(settings, sink, public_url=public_url)
        history = int(getattr(settings, "history_per_member", 200))
        self._phones: dict[str, Phone] = defaultdict(lambda: Phone(deque(maxlen=history)))
        self._ids = itertools.count(1)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    async def send(self, outgoing: Outgoing) -> SendResult:
        phone = self._phones[outgoing.address]
        if phone.blocked:
            raise SendError(SendErrorReason.BLOCKED, "the simulated member blocked the hub")
        if not outgoing.text.strip() and not outgoing.attachments:
            raise SendError(SendErrorReason.REJECTED, "empty message")
        # No native polls: a poll is its text with the options as buttons, tapped by act().
        buttons = outgoing.poll_buttons()
        if outgoing.edit_of is not None:
            return self._edit(phone, outgoing, buttons)
        if len(outgoing.attachments) > 1:
            raise SendError(SendErrorReason.REJECTED, "one file per message")
        message = PhoneMessage(
            id=self._next_id("sbx-out-"),
            text=outgoing.text,
            from_hub=True,
            sent_at=_now(),
            buttons=buttons,
            reply_to=outgoing.reply_to,
            phone_button=outgoing.phone_button,
            attachments=outgoing.attachments,
        )
        phone.messages.append(message)
        return SendResult(external_id=message.id, sent_at=message.sent_at)

    def _edit(self, phone: Phone, outgoing: Outgoing, buttons: tuple[Button, ...]) -> SendResult:
        for message in phone.messages:
            if message.id == outgoing.edit_of and message.from_hub:
                message.text = outgoing.text
                message.buttons = buttons
                message.edited = True
                return SendResult(external_id=message.id, sent_at=_now())
        raise SendError(SendErrorReason.REJECTED, "no such message to edit")

    # What the phone shows -------------------------------------------------------------------

    def messages(self, address: str, *, include_own: bool = False) -> list[PhoneMessage]:
        """Messages on this phone, oldest first: the hub's, and optionally the member's own."""
        phone = self._phones.get(address)
        if phone is None:
            return []
        return [m for m in phone.messages if m.from_hub or include_own]

    def addresses(self) -> list[str]:
        """Every phone the sandbox has seen."""
        return list(self._phones)

    def pressed(self, address: str, payload: str) -> bool:
        """Whether the member already tapped the button with this payload."""
        phone = self._phones.get(address)
        return phone is not None and payload in phone.pressed

    def set_blocked(self, address: str, blocked: bool) -> None:
        """Simulate a member who blocked the hub (sends then fail as the platforms' do)."""
        self._phones[address].blocked = blocked

    # Acting as the member -------------------------------------------------------------------

    async def act(
        self,
        address: str,
        *,
        text: str = "",
        button: str | None = None,
        reply_to: str | None = None,
        sender_name: str = "",
    ) -> InboundMessage:
        """The member types text, taps a button or replies; the hub receives it as a real event."""
        phone = self._phones[address]
        hub_messages = {m.id: m for m in phone.messages if m.from_hub}
        button_of: str | None = None
        if button is not None:
            button_of = next(
                (
                    m.id
                    for m in reversed(phone.messages)
                    if any(b.payload == button for b in m.buttons)
                ),
                None,
            )
            if button_of is None:
                raise SandboxError("no message on this phone has that button")
        if reply_to is not None and reply_to not in hub_messages:
            raise SandboxError("no message from the hub on this phone has that id")
        if button is None and not text.strip():
            raise SandboxError("type some text or tap a button")
        now = _now()
        own = PhoneMessage(
            id=self._next_id("sbx-in-"), text=text, from_hub=False, sent_at=now, reply_to=reply_to
        )
        phone.messages.append(own)
        if button is not None:
            phone.pressed.add(button)
        event = InboundMessage(
            channel=self.name,
            address=address,
            external_id=own.id,
            received_at=now,
            text=text,
            kind=InboundKind.BUTTON if button is not None else InboundKind.TEXT,
            button_payload=button,
            reply_to=reply_to or button_of,
            sender_name=sender_name,
        )
        await self.sink([event])
        return event

    async def open_chat(self, address: str) -> list[StatusUpdate]:
        """The member opens the chat: every unread message from the hub becomes read."""
        now = _now()
        updates = []
        for message in self.messages(address):
            if not message.read:
                message.read = True
                updates.append(
                    StatusUpdate(self.name, message.id, StatusKind.READ, now, evidence="receipt")
                )
        if updates:
            await self.sink(list(updates))
        return updates
