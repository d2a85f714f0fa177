"""What the complaint and the service-request dialogs share: saying things, moving a step,
keeping a file or a place someone sent, dates in words, and ending dialogs nobody finished;
`StepDialog`, the frame of both (a step's question, a file kept, the ticket filed).

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
from typing import Any, ClassVar

from tortoise.transactions import in_transaction

from channels import Channel, InboundKind, Location
from hub.access.areas import ancestor_keys
from hub.core.config import Config
from hub.core.dialogs import Dialog, end_dialog, save_dialog
from hub.core.errors import ValidationFailed
from hub.core.outbox import queue
from hub.core.texts import text as say
from hub.core.timeutil import Clock
from hub.feedback.complaints.tickets import (
    TicketRules,
    TooManyTickets,
    check_rate,
    file_ticket,
    filed_within,
    parse_number,
    seat_area,
)
from hub.feedback.files import FeedbackFiles, FileRefused
from hub.feedback.replies import queue_reply
from hub.messaging.router import Router, Turn
from models import (
    Area,
    ChannelAddress,
    Conversation,
    FeedbackFile,
    MessageKind,
    Ticket,
    TicketKind,
)

Buttons = Sequence[Mapping[str, str]]
FILE_KINDS = (InboundKind.PHOTO, InboundKind.VOICE, InboundKind.DOCUMENT)
MIN_DESCRIPTION = 5  # characters: "rusak" is a description, "ok" is not
SEND_WORDS = ("KIRIM", "YA", "OK", "OKE", "SEND", "YES")
EDIT_WORDS = ("UBAH", "GANTI", "EDIT", "CHANGE")
MAX_BUTTONS = 10  # choices a button list shows on every channel (WhatsApp's list)
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
        await queue_reply(turn, text, buttons=buttons, due=self.clock())

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
        known = await Area.filter(
            path_key__in=ancestor_keys(area.path_key),
            latitude__isnull=False,
            longitude__isnull=False,
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


class StepDialog:
    """A dialog asked one step at a time (ADUAN, LAYANAN): each step saved with its question in
    one transaction, a file kept as it arrives, the ticket filed as the dialog ends."""

    flow: ClassVar[str]
    prefix: ClassVar[str]  # of its buttons' payloads

    def __init__(self, kit: DialogKit) -> None:
        self.kit = kit

    # What each dialog says for itself.

    async def question(self, step: str, data: dict[str, Any]) -> tuple[str, Buttons]:
        """The text and buttons that ask for `step`."""
        raise NotImplementedError

    def file_kept(
        self, turn: Turn, step: str, data: dict[str, Any], file: FeedbackFile
    ) -> tuple[str, str]:
        """Where the dialog goes once `file` is in data["files"] (which it may change as the
        file calls for), and the note said before the question."""
        raise NotImplementedError

    async def _control(self, turn: Turn, step: str, data: dict[str, Any], action: str) -> None:
        """A tap on one of the dialog's own buttons (`action`: the payload after the prefix)."""
        raise NotImplementedError

    async def _text(self, turn: Turn, step: str, data: dict[str, Any], text: str) -> None:
        """A text that answers the dialog."""
        raise NotImplementedError

    async def _again(self, turn: Turn, data: dict[str, Any]) -> bool:
        """The dialog's own keyword typed in it: True when that started it again."""
        raise NotImplementedError

    async def _other(self, turn: Turn, step: str, data: dict[str, Any]) -> bool:
        """Any other kind of message (a location): True when the dialog took it."""
        raise NotImplementedError

    # What both do alike.

    async def _in_dialog(self, turn: Turn) -> bool:
        """A message while the dialog is open: a tap on its buttons, a file, a text that is not
        a keyword meant as one, or what `_other` takes; False passes it on to the router."""
        event = turn.event
        assert turn.dialog is not None
        step, data = turn.dialog.step, dict(turn.dialog.data)
        if event.kind == InboundKind.BUTTON:
            payload = event.button_payload or ""
            if not payload.startswith(self.prefix):
                return False  # an acknowledgement tapped meanwhile still counts
            await self._control(turn, step, data, payload[len(self.prefix) :])
        elif event.kind in FILE_KINDS:
            await self._file(turn, step, data)
        elif event.kind == InboundKind.TEXT:
            if not self.kit.passes_on(turn):
                await self._text(turn, step, data, event.text.strip())
            elif not await self._again(turn, data):
                return False  # BANTUAN, STATUS <nomor>, LAYANAN...: meant as the keyword
        else:
            return await self._other(turn, step, data)
        return True

    async def _ask(self, turn: Turn, step: str, data: dict[str, Any], note: str = "") -> None:
        """Move to `step` and ask its question, after `note` if any."""
        async with in_transaction():
            await self._ask_now(turn, step, data, note)
        self.kit.wake_sender()

    async def _ask_now(self, turn: Turn, step: str, data: dict[str, Any], note: str) -> None:
        """As `_ask`, inside the caller's transaction (the caller wakes the sender)."""
        text, buttons = await self.question(step, data)
        text = "\n\n".join(filter(None, [note, text]))
        await self.kit.step_now(turn, self.flow, step, data, text, buttons)

    def confirm_buttons(self) -> Buttons:
        """Kirim / Ubah / Batal, under the summary."""
        say = self.kit.say
        return [
            {"label": say("dialog_button_send"), "payload": f"{self.prefix}kirim"},
            {"label": say("dialog_button_edit"), "payload": f"{self.prefix}ubah"},
            {"label": say("dialog_button_cancel"), "payload": f"{self.prefix}batal"},
        ]

    async def _file(self, turn: Turn, step: str, data: dict[str, Any]) -> None:
        """A photo, voice note or document: kept, and the dialog moves on (`file_kept`); one
        refused is said before the question asked again."""
        file, refusal = await self.kit.take_file(turn, len(data.get("files") or []))
        if file is None:
            await self._ask(turn, step, data, refusal)
            return
        async with in_transaction():
            data = await self.kit.latest_data(turn, self.flow, data)
            data["files"] = [*(data.get("files") or []), file.id]
            step, note = self.file_kept(turn, step, data, file)
            await self._ask_now(turn, step, data, note)
        self.kit.wake_sender()

    async def _file_ticket(
        self,
        turn: Turn,
        data: dict[str, Any],
        answer: Callable[[Ticket], str],
        *,
        kind: TicketKind,
        category: str,
        details: dict[str, Any],
        location: dict[str, Any] | None = None,
    ) -> None:
        """File the ticket of `data` (its description and files), end the dialog and answer
        `answer(ticket)`, together; past the hourly limit the member is told and it ends."""
        kit, event = self.kit, turn.event
        if await kit.rate_limited(turn):
            await end_dialog(event.channel, event.address, self.flow)
            return
        try:
            async with in_transaction():
                if not await end_dialog(event.channel, event.address, self.flow):
                    return  # filed already by a tap a moment ago
                ticket = await file_ticket(
                    kit.rules,
                    kind=kind,
                    category=category,
                    member=turn.member,
                    channel=event.channel,
                    address=event.address,
                    description=data["description"],
                    now=turn.now,
                    location=location,
                    details=details,
                    file_ids=data.get("files") or [],
                )
                await kit.answer_now(turn, answer(ticket))
        except (TooManyTickets, ValidationFailed):
            await kit.reply(turn, kit.say("dialog_not_filed"))
            return
        kit.wake_sender()


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
