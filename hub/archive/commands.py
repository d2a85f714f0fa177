"""`CEK <kode>` to the bot: is the announcement with this code official?

An RT head who is asked "is this real?" about a message in a residents' group forwards the
question to the bot: the answer names the announcement the code belongs to and its date (or says
plainly that there is none), in the hub's language. "Cek" is also an everyday word: a sentence
that starts with it and holds no code is a message for the staff, and goes to the inbox.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from hub.archive.verify import check_code
from hub.broadcast.publication import check_url, format_code, parse_code
from hub.core.config import Config
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.messaging.router import Command, Router, Turn
from models import MessageKind

# What someone means as a code: one or two short words of letters and digits ("7QK-2M4",
# "7qk 2m4", a code mistyped); anything longer is a sentence.
_ATTEMPT = re.compile(r"[0-9A-Za-z]{1,8}|[0-9A-Za-z]{1,4}[\s\-‐‑‒–—][0-9A-Za-z]{1,4}")


def _asks_about_a_code(argument: str) -> bool:
    """Whether what follows CEK is nothing or meant as a code (not a sentence for the staff)."""
    return not argument.strip() or _ATTEMPT.fullmatch(argument.strip()) is not None


def local_date(config: Config, when: dt.datetime) -> str:
    """`4 Desember 2026` in the hub's time zone and language."""
    local = when.astimezone(config.tz)
    months = say(config.hub.language, "archive_months").split(",")
    return f"{local.day} {months[local.month - 1]} {local.year}"


class CheckCommand:
    """The handler; one per hub, built by `register()`."""

    def __init__(self, config: Config, router: Router, wake_sender: Callable[[], None]) -> None:
        self.config = config
        self.router = router
        self.wake_sender = wake_sender

    def say(self, key: str, **values: str) -> str:
        return say(self.config.hub.language, key, hub=self.config.hub.name, **values)

    async def handle(self, turn: Turn) -> None:
        """CEK <kode>: the answer; CEK alone or with a code mistyped: how to use it."""
        typed = turn.argument.strip()
        if not _asks_about_a_code(typed):
            if self.router.inbox is not None:  # "Cek dulu saluran di RT 3": for the staff
                await self.router.inbox(turn)
            return
        code = parse_code(typed)
        await self._reply(turn, await self._answer(code) if code else self.say("cek_usage"))

    async def _answer(self, code: str) -> str:
        """What the check of a code says, in one message."""
        entry = (await check_code(code)).entry
        if entry is None:
            return self.say("cek_unknown", code=format_code(code))
        lines = [
            self.say(
                "cek_genuine",
                code=entry.code,
                title=entry.title,
                date=local_date(self.config, entry.published_at),
            )
        ]
        if entry.corrected_at is not None:
            corrected = local_date(self.config, entry.corrected_at)
            lines.append(self.say("cek_corrected", date=corrected))
        url = check_url(self.config, code)
        if url is not None:
            lines.append(self.say("cek_link", url=url))
        return "\n".join(lines)

    async def _reply(self, turn: Turn, text: str) -> None:
        """Queue the answer to the chat the question came from."""
        await queue(
            MessageKind.REPLY,
            member_id=turn.member.id,
            channel=turn.event.channel,
            address=turn.event.address,
            text=text,
            due=turn.now,
        )
        self.wake_sender()


def register(router: Router, *, config: Config, wake_sender: Callable[[], None]) -> CheckCommand:
    """Add CEK to the router (in BANTUAN and the messenger's command list)."""
    handler = CheckCommand(config, router, wake_sender)
    router.add_command(
        Command(
            "cek",
            ("CEK", "CHECK"),
            handler.handle,
            forgiving=True,
            platform_command="cek",
            typo_argument=_asks_about_a_code,
        )
    )
    return handler
