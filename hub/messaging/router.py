"""The dialog router: where a member's message goes, in a fixed order, by registration only.

1. The dialog the address is in (`BATAL` ends any dialog first).
2. A button tap, by its payload's prefix (`ack:`, later `poll:`, `aduan:`, `tiket:`).
3. A handler for the message's kind (a shared contact, ...).
4. A keyword (typo tolerant); each package registers its words, and the `BANTUAN` list, the
   numbered menu and Telegram's command list are built from them.
5. Read evidence: a reply to, or a reaction on, one of the hub's messages.
6. The inbox, last: whatever nobody else took.

The router knows no domain: packages register handlers (as PTB's `Application.add_handler`), and
`hub/runtime.py` composes them. Handlers receive a `Turn` (the event, the member, the time, the
parsed keyword, the dialog) and answer through their own package's replies.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels import InboundKind, InboundMessage
from hub.core.dialogs import Dialog, dialog_of, end_dialog
from hub.core.texts import text as say
from models import ChannelAddress, Member

log = logging.getLogger(__name__)

_WORD = re.compile(r"[^\w]+")
# A typed word this close to a keyword is taken as it (or, for a keyword with consequences,
# asked back): "BANTAUN" is BANTUAN.
TYPO_CUTOFF = 0.75
TYPO_MIN_LENGTH = 4
# A near miss is a keyword only in a short message: "Satu lagi tambahan dari saya" is a sentence
# for the staff, not STATUS mistyped; "SYRAT ahli waris" is SYARAT.
TYPO_MAX_WORDS = 4


@dataclass
class Turn:
    """One message from a member on its way through the router (PTB's CallbackContext)."""

    event: InboundMessage
    member: Member
    address: ChannelAddress
    now: dt.datetime
    dialog: Dialog | None = None  # the dialog the address is in, if any (not lapsed)
    command: str | None = None  # the keyword's command, once one matched
    argument: str = ""  # what followed the keyword, or the text when none matched
    suggestion: str | None = None  # a keyword the text nearly was, to ask back


Handler = Callable[[Turn], Awaitable[None]]
# Returns whether the message was taken (nothing after it runs).
Observer = Callable[[Turn], Awaitable[bool]]
# A handler for a kind of message: it takes the message unless it returns False (a poll answer
# on a poll the hub did not send goes on to the read evidence).
KindHandler = Callable[[Turn], Awaitable[bool | None]]


@dataclass(frozen=True)
class Command:
    """A keyword command. Texts come from hub.core.texts by the keys derived from `name`.

    `word_<name>` is how the keyword is written in the help and menu ("DAFTAR <kode>"),
    `help_<name>` its line in `BANTUAN`, `menu_<name>` its line in the numbered menu, and
    `command_<name>` its description in the messenger's command list.
    """

    name: str
    words: tuple[str, ...]  # what members may type, Indonesian first: ("BANTUAN", "HELP")
    handler: Handler
    forgiving: bool = False  # a near miss is taken as meant (harmless commands only)
    in_help: bool = True
    in_menu: bool = False  # a numbered choice in the menu, in registration order
    platform_command: str | None = None  # its name in the messenger's command list ("bantuan")
    # Whether a near miss followed by this argument is the command mistyped: "STATSU SKJ-2026-1"
    # is STATUS, "Satu lagi ya" is not. None: any argument.
    typo_argument: Callable[[str], bool] | None = None


@dataclass
class Router:
    """Handlers by stage; `route()` runs the first that takes a message."""

    commands: dict[str, Command] = field(default_factory=dict)
    dialogs: dict[str, Observer] = field(default_factory=dict)
    buttons: list[tuple[str, Handler]] = field(default_factory=list)
    kinds: dict[InboundKind, KindHandler] = field(default_factory=dict)
    evidence: list[Observer] = field(default_factory=list)
    help_notes: list[str] = field(default_factory=list)  # text keys closing the BANTUAN list
    inbox: Handler | None = None
    cancel: str | None = None  # the command that ends any dialog (BATAL)
    _words: dict[str, str] = field(default_factory=dict)  # WORD -> command name

    # Registration ---------------------------------------------------------------------------

    def add_command(self, command: Command, *, cancels_dialogs: bool = False) -> None:
        if command.name in self.commands:
            raise ValueError(f"command {command.name!r} is registered twice")
        for word in command.words:
            if word in self._words:
                raise ValueError(f"keyword {word!r} belongs to {self._words[word]!r} already")
            self._words[word] = command.name
        self.commands[command.name] = command
        if cancels_dialogs:
            self.cancel = command.name

    def add_dialog(self, flow: str, handler: Observer) -> None:
        """`handler` answers whether it took the message; if not, routing goes on (an
        acknowledgement tapped in the middle of a complaint still counts)."""
        if flow in self.dialogs:
            raise ValueError(f"dialog {flow!r} is registered twice")
        self.dialogs[flow] = handler

    def add_button(self, prefix: str, handler: Handler) -> None:
        clash = [p for p, _ in self.buttons if p.startswith(prefix) or prefix.startswith(p)]
        if clash:
            raise ValueError(f"button prefix {prefix!r} overlaps {clash[0]!r}")
        self.buttons.append((prefix, handler))

    def add_kind(self, kind: InboundKind, handler: KindHandler) -> None:
        if kind in self.kinds:
            raise ValueError(f"a handler for {kind.value} messages is registered already")
        self.kinds[kind] = handler

    def add_evidence(self, observer: Observer) -> None:
        self.evidence.append(observer)

    def add_help_note(self, key: str) -> None:
        self.help_notes.append(key)

    def set_inbox(self, handler: Handler) -> None:
        self.inbox = handler

    # Keywords -------------------------------------------------------------------------------

    def parse(self, text: str) -> tuple[str | None, str, str | None]:
        """(command, argument, suggestion) for what someone typed; typos get a suggestion only."""
        cleaned = text.strip().lstrip("/")
        if not cleaned:
            return None, "", None
        first, *more = cleaned.split(None, 1)  # any whitespace: "DAFTAR\nAB12CD34" from a phone
        rest = more[0].strip() if more else ""
        word = _WORD.sub("", first.split("@", 1)[0]).upper()  # "/start@bot" → START
        if word in self._words:
            return self._words[word], rest, None
        choices = {str(n): c.name for n, c in enumerate(self.menu_commands(), 1)}
        if word in choices and not rest:
            return choices[word], "", None
        close = difflib.get_close_matches(word, list(self._words), n=1, cutoff=TYPO_CUTOFF)
        if close and len(word) >= TYPO_MIN_LENGTH and len(cleaned.split()) <= TYPO_MAX_WORDS:
            name = self._words[close[0]]
            takes = self.commands[name].typo_argument
            if takes is not None and not takes(rest):
                return None, cleaned, None
            if self.commands[name].forgiving:
                return name, rest, None
            return None, rest, close[0]
        return None, cleaned, None

    def menu_commands(self) -> list[Command]:
        return [c for c in self.commands.values() if c.in_menu]

    def help_text(self, language: str) -> str:
        """The BANTUAN answer: every listed keyword, then the registered notes."""
        lines = [say(language, "help_head")]
        lines += [
            f"• {say(language, f'word_{c.name}')} – {say(language, f'help_{c.name}')}"
            for c in self.commands.values()
            if c.in_help
        ]
        lines += [say(language, key) for key in self.help_notes]
        return "\n".join(lines)

    def menu_text(self, language: str, name: str) -> str:
        """The numbered menu; a number typed alone chooses its line."""
        lines = [say(language, "menu_head", name=name)]
        lines += [
            f"{n}. {say(language, f'word_{c.name}')} – {say(language, f'menu_{c.name}')}"
            for n, c in enumerate(self.menu_commands(), 1)
        ]
        return "\n".join(lines)

    def platform_commands(self, language: str) -> list[tuple[str, str]]:
        """The (command, description) pairs for messengers with a command menu (Telegram)."""
        return [
            (c.platform_command, say(language, f"command_{c.name}"))
            for c in self.commands.values()
            if c.platform_command
        ]

    # Routing --------------------------------------------------------------------------------

    async def route(self, turn: Turn) -> None:
        """Hand the message to the first stage that takes it (see the module's notes)."""
        event = turn.event
        if event.kind == InboundKind.TEXT:
            turn.command, turn.argument, turn.suggestion = self.parse(event.text)
        if await self._in_dialog(turn):
            return
        if event.kind == InboundKind.BUTTON:
            await self._button(turn)
            return
        if event.kind in self.kinds and await self.kinds[event.kind](turn) is not False:
            return
        if turn.command is not None:
            for observe in self.evidence:  # a keyword sent as a reply still shows it was read
                await observe(turn)
            await self.commands[turn.command].handler(turn)
            return
        for observe in self.evidence:
            if await observe(turn):
                return
        if self.inbox is not None:
            await self.inbox(turn)

    async def _in_dialog(self, turn: Turn) -> bool:
        """Give the message to the address's dialog, if it is in one; BATAL ends it instead."""
        event = turn.event
        dialog = await dialog_of(event.channel, event.address)
        if dialog is None:
            return False
        handler = self.dialogs.get(dialog.flow)
        if handler is None or dialog.lapsed(turn.now):
            if handler is None:
                log.warning("address in unknown dialog %r: ended", dialog.flow)
            await end_dialog(event.channel, event.address, dialog.flow)
            return False
        turn.dialog = dialog
        if self.cancel is not None and turn.command == self.cancel and not turn.argument:
            await self.commands[self.cancel].handler(turn)
            return True
        return await handler(turn)

    async def _button(self, turn: Turn) -> None:
        payload = turn.event.button_payload or ""
        for prefix, handler in self.buttons:
            if payload.startswith(prefix):
                await handler(turn)
                return
        log.info("unknown button payload from member %s", turn.member.id)
