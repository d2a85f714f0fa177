"""What the complaint and the service-request dialogs share: saying things, moving a step,
keeping a file or a place someone sent, dates in words, and ending dialogs nobody finished.

Each step is saved with its answer in one transaction (the dialog row and the outbox row), so a
restart between them loses neither; the dialog lapses `dialog_timeout_minutes` after the last
step, and `end_lapsed_dialogs()` (run by the scheduler) ends it and tells the member once.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from channels import Channel, InboundKind, Location
from hub.core.config import Config
from hub.core.dialogs import Dialog, end_dialog, save_dialog
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.core.timeutil import Clock
from hub.feedback.complaints.tickets import (
    TicketRules,
    TooManyTickets,
    check_rate,
    filed_within,
    parse_number,
    seat_area,
)
from hub.feedback.files import FeedbackFiles, FileRefused
from hub.messaging.router import Router, Turn
from models import Area, ChannelAddress, Conversation, FeedbackFile, MessageKind

Buttons = Sequence[Mapping[str, str]]
FILE_KINDS = (InboundKind.PHOTO, InboundKind.VOICE, InboundKind.DOCUMENT)
MIN_DESCRIPTION = 5  # characters: "rusak" is a description, "ok" is not
EARTH_RADIUS_KM = 6371.0
# Commands whose keyword with something after it is still that command inside a dialog
# ("SYARAT domisili", "DAFTAR AB12CD34"); STATUS counts when a ticket number follows.
TAKES_ARGUMENT = frozenset({"syarat", "join"})
_WORD = re.compile(r"[^\w]+")
SWEEP_PAGE = 500
# The dialogs the sweep ends politely, with the sentence that tells the member.
TIMEOUT_TEXTS = {"aduan": "aduan_timeout", "layanan": "layanan_timeout"}


def normalized(text: str) -> str:
    """Lower case, words only, single spaces: how typed answers are compared."""
    return _WORD.sub(" ", text.lower()).strip()


def said_one_of(text: str, words: Iterable[str]) -> bool:
    """Whether `text` is one of `words` (upper case), typos forgiven ("SELSAI" is SELESAI)."""
    typed = normalized(text).upper()
    choices = list(words)
    if typed in choices:
        return True
    return len(typed) >= 4 and bool(difflib.get_close_matches(typed, choices, n=1, cutoff=0.8))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points, in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def place(location: Location) -> dict[str, Any]:
    """A shared location as Ticket.location keeps it."""
    return {
        "latitude": location.latitude,
        "longitude": location.longitude,
        "name": location.name,
        "address": location.address,
    }


@dataclass
class DialogKit:
    """The dialogs' shared tools; built once by `register()`."""

    config: Config
    rules: TicketRules
    files: FeedbackFiles
    channels: Mapping[str, Channel]
    wake_sender: Callable[[], None]
    clock: Clock
    router: Router

    @property
    def lang(self) -> str:
        return self.config.hub.language

    @property
    def timeout(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.config.feedback.dialog_timeout_minutes)

    def say(self, key: str, **values: Any) -> str:
        return say(self.lang, key, hub=self.config.hub.name, **values)

    # Answers and steps ----------------------------------------------------------------------

    async def answer_now(self, turn: Turn, text: str, buttons: Buttons = ()) -> None:
        """Queue an answer in the caller's transaction (the caller wakes the sender)."""
        event = turn.event
        await queue(
            MessageKind.REPLY,
            member_id=turn.member.id,
            channel=event.channel,
            address=event.address,
            text=text,
            buttons=buttons,
            due=self.clock(),
        )

    async def reply(self, turn: Turn, text: str, buttons: Buttons = ()) -> None:
        """Answer without moving any dialog (a dialog in progress keeps its deadline)."""
        await self.answer_now(turn, text, buttons)
        self.wake_sender()

    async def step_now(
        self, turn: Turn, flow: str, step: str, data: dict[str, Any], text: str, buttons: Buttons
    ) -> None:
        """Move (or start) the dialog to `step` with `data` and queue the answer, in the
        caller's transaction; the deadline starts again."""
        dialog = Dialog(flow, step, data, self.clock() + self.timeout)
        await save_dialog(turn.event.channel, turn.event.address, dialog)
        await self.answer_now(turn, text, buttons)

    async def step(
        self, turn: Turn, flow: str, step: str, data: dict[str, Any], text: str, buttons: Buttons
    ) -> None:
        """`step_now` in a transaction of its own, then wake the sender."""
        async with in_transaction():
            await self.step_now(turn, flow, step, data, text, buttons)
        self.wake_sender()

    async def end(self, turn: Turn, flow: str, text: str, buttons: Buttons = ()) -> bool:
        """End the dialog and answer, together; False (and no answer) if it had ended."""
        async with in_transaction():
            ended = await end_dialog(turn.event.channel, turn.event.address, flow)
            if ended:
                await self.answer_now(turn, text, buttons)
        if ended:
            self.wake_sender()
        return ended

    async def latest_data(self, turn: Turn, flow: str, fallback: dict[str, Any]) -> dict[str, Any]:
        """The dialog's data as stored now, the row locked until the caller's transaction ends
        (PostgreSQL): two photos of one album arriving together both stay in the list."""
        row = (
            await Conversation.filter(
                channel=turn.event.channel, address=turn.event.address, flow=flow
            )
            .select_for_update()
            .first()
        )
        return dict(row.data or {}) if row is not None else fallback

    # Limits ---------------------------------------------------------------------------------

    async def rate_limited(self, turn: Turn) -> bool:
        """Tell the member and answer True when they filed an hour's worth of tickets."""
        try:
            await check_rate(turn.member, self.rules, turn.now)
        except TooManyTickets:
            count = await filed_within(turn.member, turn.now - dt.timedelta(hours=1))
            await self.reply(turn, self.say("dialog_rate_limited", count=count))
            return True
        return False

    def passes_on(self, turn: Turn) -> bool:
        """Whether a text typed in a dialog is a keyword meant as one (BANTUAN, STATUS <nomor>,
        SYARAT <layanan>) rather than an answer: the keyword written out, not a menu number or
        a near miss, and alone unless its command takes what follows ("Mulai kemarin lampu
        mati" is a description, not MULAI)."""
        if turn.event.kind != InboundKind.TEXT or turn.command is None:
            return False
        first = turn.event.text.strip().lstrip("/").split(None, 1)[0].split("@", 1)[0]
        if _WORD.sub("", first).upper() not in self.router.commands[turn.command].words:
            return False
        if not turn.argument:
            return True
        return turn.command in TAKES_ARGUMENT or parse_number(turn.argument) is not None

    def description_problem(self, text: str) -> str | None:
        """The sentence asking again for a description too short or too long, or None."""
        length = len(text.strip())
        if length < MIN_DESCRIPTION:
            return self.say("dialog_description_short", min=MIN_DESCRIPTION)
        limit = self.config.feedback.max_description_chars
        if length > limit:
            return self.say("dialog_description_long", max=limit, length=length)
        return None

    # Files and places -----------------------------------------------------------------------

    async def take_file(self, turn: Turn, count: int) -> tuple[FeedbackFile | None, str]:
        """Keep the file of a media message: (the row, "") or (None, why not, to say)."""
        limit = self.config.feedback.max_files
        if count >= limit:
            return None, self.say("dialog_file_limit", max=limit)
        try:
            file = await self.files.take(turn.event, turn.member, self.channels, turn.now)
        except FileRefused as refused:
            accepted = self.say("dialog_file_types")
            return None, self.say(
                f"dialog_file_{refused.reason}", max_mb=self.files.max_mb, accepted=accepted
            )
        return file, ""

    async def far_from_home(self, turn: Turn, latitude: float, longitude: float) -> float | None:
        """Kilometres from the member's area (the nearest one up their seat's tree with
        coordinates) when more than `max_distance_km`; None when near or unknown."""
        area = await seat_area(turn.member)
        if area is None:
            return None
        parts = area.path_key.split("/")
        keys = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        known = await Area.filter(
            path_key__in=keys, latitude__isnull=False, longitude__isnull=False
        )
        if not known:
            return None
        nearest = max(known, key=lambda a: len(a.path_key))
        assert nearest.latitude is not None and nearest.longitude is not None
        km = haversine_km(latitude, longitude, nearest.latitude, nearest.longitude)
        return round(km, 1) if km > self.config.feedback.max_distance_km else None

    async def files_summary(self, ids: Sequence[int]) -> str:
        """ "2 foto, 1 pesan suara", or the sentence for none."""
        if not ids:
            return self.say("dialog_files_none")
        kinds = await FeedbackFile.filter(id__in=list(ids)).values_list("kind", flat=True)
        counts: dict[str, int] = {}
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        return ", ".join(f"{n} {self.say(f'dialog_kind_{kind}')}" for kind, n in counts.items())

    def place_text(self, location: Mapping[str, Any] | None) -> str:
        if not location:
            return self.say("dialog_location_none")
        named = ", ".join(p for p in (location.get("name"), location.get("address")) if p)
        return named or f"{location['latitude']:.5f}, {location['longitude']:.5f}"

    # Dates ----------------------------------------------------------------------------------

    def long_date(self, moment: dt.datetime) -> str:
        """ "Jumat, 4 Desember 2026 pukul 16.00 WITA" in the hub's time zone and language."""
        local = moment.astimezone(self.config.tz)
        days = self.say("dialog_date_days").split(",")
        months = self.say("dialog_date_months").split(",")
        return self.say(
            "dialog_date_long",
            day=days[local.weekday()].strip(),
            date=local.day,
            month=months[local.month - 1].strip(),
            year=local.year,
            time=local.strftime("%H.%M"),
            zone=local.tzname() or "",
        )


async def end_lapsed_dialogs(
    now: dt.datetime, config: Config, wake_sender: Callable[[], None]
) -> dict[str, int]:
    """End the complaint and service dialogs nobody answered within their time, and tell each
    member once; each in one transaction with its message. A dialog refreshed meanwhile (the
    member answered just now) is left alone by the conditional UPDATE."""
    lapsed = await Conversation.filter(flow__in=list(TIMEOUT_TEXTS), expires_at__lte=now).limit(
        SWEEP_PAGE
    )
    minutes = config.feedback.dialog_timeout_minutes
    ended = 0
    for row in lapsed:
        flow = row.flow or ""
        owner = await ChannelAddress.get_or_none(channel=row.channel, address=row.address)
        text = say(config.hub.language, TIMEOUT_TEXTS[flow], minutes=minutes)
        async with in_transaction():
            done = await Conversation.filter(id=row.id, flow=flow, expires_at__lte=now).update(
                flow=None, step=None, data={}, expires_at=None
            )
            if done:
                await queue(
                    MessageKind.REPLY,
                    member_id=owner.member_id if owner else None,
                    channel=row.channel,
                    address=row.address,
                    text=text,
                    due=now,
                )
                ended += 1
    if ended:
        wake_sender()
    return {"dialogs_ended": ended}
