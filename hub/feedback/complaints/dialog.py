"""The complaint dialog (flow "aduan"): how an RT head files an aduan on any channel.

ADUAN (or /aduan, its menu number, a tap on "aduan:" under an announcement) starts it:
category (a number, the name, a near miss, or a button) → description (text; a photo's caption
counts) → photos, voice notes, documents or a location, optional (SELESAI or "Lanjut" goes on)
→ a summary with Kirim / Ubah / Batal → the ticket, its number, the verification deadline in
words and how to ask STATUS. Forgiving order: a file or a place sent early is kept, and a long
text where a category was asked is kept as the description. BATAL (typed: the router's cancel
command; tapped: here) ends it. State lives in the database (hub/core/dialogs.py); see
dialog_kit.py for the shared tools, the frame both dialogs share (StepDialog) and the timeout
sweep, service_dialog.py for LAYANAN/SYARAT.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from channels import Channel, InboundKind
from hub.broadcast.deliveries import REPORT_PREFIX, payload_id
from hub.core.config import Config
from hub.core.timeutil import Clock
from hub.feedback.complaints.catalogue import Category
from hub.feedback.complaints.dialog_kit import (
    EDIT_WORDS,
    MAX_BUTTONS,
    SEND_WORDS,
    Buttons,
    DialogKit,
    StepDialog,
    normalized,
    place,
    said_one_of,
)
from hub.feedback.complaints.service_dialog import ServiceDialog
from hub.feedback.complaints.tickets import TicketRules
from hub.feedback.files import FeedbackFiles
from hub.messaging.router import Command, Router, Turn
from models import Delivery, FeedbackFile, Ticket, TicketKind

FLOW = "aduan"
PREFIX = REPORT_PREFIX  # its own control buttons share the prefix of the report button
CATEGORY, DESCRIPTION, MEDIA, CONFIRM, EDIT = "kategori", "keterangan", "lampiran", "cek", "ubah"
DONE_WORDS = ("SELESAI", "LANJUT", "SUDAH", "CUKUP", "TIDAK", "TIDAK ADA", "LEWATI", "DONE")


def _fresh(broadcast_id: int | None) -> dict[str, Any]:
    return {
        "category": None,
        "description": None,
        "files": [],
        "location": None,
        "far_km": None,
        "broadcast_id": broadcast_id,
        "editing": False,
    }


class ComplaintDialog(StepDialog):
    """The aduan flow's handlers, registered on the router by `register()`."""

    flow = FLOW
    prefix = PREFIX

    @property
    def categories(self) -> tuple[Category, ...]:
        return self.kit.rules.catalogue.categories

    def register(self, router: Router) -> None:
        router.add_command(
            Command("aduan", ("ADUAN", "LAPOR", "COMPLAINT"), self._command, forgiving=True,
                    in_menu=True, platform_command="aduan")
        )  # fmt: skip
        router.add_dialog(FLOW, self._in_dialog)
        router.add_button(PREFIX, self._button)

    # Starting -------------------------------------------------------------------------------

    async def _command(self, turn: Turn) -> None:
        await self.start(turn, None, turn.argument)

    async def _button(self, turn: Turn) -> None:
        """A tap outside the dialog: "Laporkan masalah" under an announcement ("aduan:<broadcast
        id>") or a bare "aduan:" starts one, a stale control button (the dialog ended) says how
        to start again."""
        payload = turn.event.button_payload or ""
        if payload == PREFIX or payload_id(payload, PREFIX) is not None:
            await self.start(turn, await self._reported(turn, payload))
        else:
            await self.kit.reply(turn, self.kit.say("aduan_not_active"))

    @staticmethod
    async def _reported(turn: Turn, payload: str) -> int | None:
        """The broadcast a report button names, if it was sent to this member; a payload made
        up for someone else's broadcast files a complaint about nothing in particular."""
        broadcast_id = payload_id(payload, PREFIX)
        if broadcast_id is None:
            return None
        sent = await Delivery.filter(broadcast_id=broadcast_id, member_id=turn.member.id).exists()
        return broadcast_id if sent else None

    async def start(self, turn: Turn, broadcast_id: int | None, typed: str = "") -> None:
        """From the top; "ADUAN <kalimat>" ("Lapor pak, selokan meluap") keeps the sentence
        as the description."""
        if await self.kit.rate_limited(turn):
            return
        data = _fresh(broadcast_id)
        notes = [self.kit.say("aduan_start", name=turn.member.name)]
        if typed and self.kit.description_problem(typed) is None:
            data["description"] = typed.strip()
            notes.append(self.kit.say("aduan_description_kept"))
        await self._ask(turn, CATEGORY, data, "\n".join(notes))

    # In the dialog --------------------------------------------------------------------------

    async def _again(self, turn: Turn, data: dict[str, Any]) -> bool:
        """ADUAN again, alone: from the top."""
        if turn.command != "aduan" or turn.argument:
            return False
        await self.start(turn, data.get("broadcast_id"))
        return True

    async def _other(self, turn: Turn, step: str, data: dict[str, Any]) -> bool:
        """A shared location is kept; nothing else is for this dialog."""
        if turn.event.kind != InboundKind.LOCATION or turn.event.location is None:
            return False
        await self._location(turn, step, data)
        return True

    async def _control(self, turn: Turn, step: str, data: dict[str, Any], action: str) -> None:
        """A tap on one of the dialog's own buttons."""
        if action == "":
            await self.start(turn, data.get("broadcast_id"))
        elif action.isdigit():  # the report button under another announcement: about that one
            await self.start(turn, await self._reported(turn, PREFIX + action))
        elif action.startswith("kategori:"):
            await self._text(turn, CATEGORY, data, action.removeprefix("kategori:"))
        elif action == "lanjut":
            await self._ask(turn, CONFIRM, data)
        elif action == "kirim":
            await self._submit(turn, data)
        elif action == "ubah":
            await self._ask(turn, EDIT, data)
        elif action == "batal":
            await self.kit.end(turn, FLOW, self.kit.say("aduan_cancelled"))
        else:
            await self._ask(turn, step, data)

    async def _text(self, turn: Turn, step: str, data: dict[str, Any], text: str) -> None:
        if step == CATEGORY:
            await self._category(turn, data, text)
        elif step == DESCRIPTION:
            await self._description(turn, data, text)
        elif step == MEDIA:
            await self._more(turn, data, text)
        elif step == CONFIRM:
            if said_one_of(text, SEND_WORDS):
                await self._submit(turn, data)
            elif said_one_of(text, EDIT_WORDS):
                await self._ask(turn, EDIT, data)
            else:
                await self._ask(turn, CONFIRM, data, self.kit.say("aduan_confirm_again"))
        else:
            await self._edit(turn, data, text)

    async def _category(self, turn: Turn, data: dict[str, Any], text: str) -> None:
        category = self.match_category(text)
        if category is not None:
            data["category"] = category.name
            await self._ask(turn, self._after_category(data), data)
        elif (
            not data.get("description")
            and len(text.split()) >= 3
            and self.kit.description_problem(text) is None
        ):
            # A sentence where a category was asked is the description, given early: kept.
            data["description"] = text
            await self._ask(turn, CATEGORY, data, self.kit.say("aduan_description_kept"))
        else:
            note = self.kit.say("aduan_category_unknown", text=text[:40])
            await self._ask(turn, CATEGORY, data, note)

    def _after_category(self, data: dict[str, Any]) -> str:
        if data.get("editing") or (data.get("description") and data.get("files")):
            return CONFIRM
        return MEDIA if data.get("description") else DESCRIPTION

    async def _description(self, turn: Turn, data: dict[str, Any], text: str) -> None:
        problem = self.kit.description_problem(text)
        if problem is not None:
            await self._ask(turn, DESCRIPTION, data, problem)
            return
        data["description"] = text
        await self._ask(turn, CONFIRM if data.get("editing") else MEDIA, data)

    async def _more(self, turn: Turn, data: dict[str, Any], text: str) -> None:
        """Text while files are asked for: done, or more of the description."""
        if said_one_of(text, DONE_WORDS + SEND_WORDS):
            await self._ask(turn, CONFIRM, data)
            return
        longer = f"{data.get('description') or ''}\n{text}".strip()
        problem = self.kit.description_problem(longer)
        if problem is not None:
            await self._ask(turn, MEDIA, data, problem)
            return
        data["description"] = longer
        await self._ask(turn, MEDIA, data, self.kit.say("aduan_description_added"))

    async def _edit(self, turn: Turn, data: dict[str, Any], text: str) -> None:
        choice = normalized(text)
        data["editing"] = True
        if choice in ("1", "kategori", "category"):
            await self._ask(turn, CATEGORY, data)
        elif choice in ("2", "keterangan", "description"):
            await self._ask(turn, DESCRIPTION, data)
        elif choice in ("3", "foto", "lampiran", "lokasi", "files"):
            data.update(files=[], location=None, far_km=None)
            await self._ask(turn, MEDIA, data)
        else:
            await self._ask(turn, EDIT, data)

    # Files and places -----------------------------------------------------------------------

    def file_kept(
        self, turn: Turn, step: str, data: dict[str, Any], file: FeedbackFile
    ) -> tuple[str, str]:
        caption = turn.event.text.strip()
        if caption and not data.get("description"):
            if self.kit.description_problem(caption) is None:
                data["description"] = caption  # a photo with a caption is both
        note = self.kit.say(
            "aduan_file_kept",
            kind=self.kit.say(f"dialog_kind_{file.kind}"),
            count=len(data["files"]),
            max=self.kit.config.feedback.max_files,
        )
        return self._next_after_media(step, data), note

    async def _location(self, turn: Turn, step: str, data: dict[str, Any]) -> None:
        assert turn.event.location is not None
        where = place(turn.event.location)
        far = await self.kit.far_from_home(turn, where["latitude"], where["longitude"])
        data.update(location=where, far_km=far)
        note = self.kit.say("aduan_location_kept", place=self.kit.place_text(where))
        if far is not None:
            note += "\n" + self.kit.say("aduan_location_far", km=f"{far:g}")
        await self._ask(turn, self._next_after_media(step, data), data, note)

    def _next_after_media(self, step: str, data: dict[str, Any]) -> str:
        """Where a file or a place leaves the dialog: the question still open, or the summary
        once the files are all there."""
        if step in (CONFIRM, EDIT):
            return CONFIRM
        if step == MEDIA and len(data.get("files") or []) >= self.kit.config.feedback.max_files:
            return CONFIRM
        if step == DESCRIPTION and data.get("description"):
            return MEDIA
        return step

    # Questions ------------------------------------------------------------------------------

    async def question(self, step: str, data: dict[str, Any]) -> tuple[str, Buttons]:
        """The text and buttons that ask for `step`."""
        say = self.kit.say
        if step == CATEGORY:
            lines = [f"{n}. {c.name}" for n, c in enumerate(self.categories, 1)]
            text = say("aduan_ask_category", categories="\n".join(lines))
            buttons: Buttons = ()
            if len(self.categories) <= MAX_BUTTONS:
                buttons = [
                    {"label": c.name, "payload": f"{PREFIX}kategori:{n}"}
                    for n, c in enumerate(self.categories, 1)
                ]
            return text, buttons
        if step == DESCRIPTION:
            return say("aduan_ask_description", category=data.get("category") or "-"), ()
        if step == MEDIA:
            files = len(data.get("files") or [])
            label = (
                say("dialog_button_next")
                if files or data.get("location")
                else say("dialog_button_no_photo")
            )
            text = say("aduan_ask_media", max=self.kit.config.feedback.max_files)
            return text, [{"label": label, "payload": f"{PREFIX}lanjut"}]
        if step == EDIT:
            return say("aduan_ask_edit"), ()
        return await self._summary(data), self.confirm_buttons()

    async def _summary(self, data: dict[str, Any]) -> str:
        kit = self.kit
        text = kit.say(
            "aduan_summary",
            category=data.get("category") or "-",
            description=data.get("description") or "-",
            files=await kit.files_summary(data.get("files") or []),
            place=kit.place_text(data.get("location")),
        )
        if data.get("far_km") is not None:
            text += "\n" + kit.say("aduan_summary_far", km=f"{data['far_km']:g}")
        return text

    def match_category(self, typed: str) -> Category | None:
        """The category someone means: its number, its name or a part of it ("banjir",
        "lampu jalan"), typos forgiven."""
        wanted = normalized(typed)
        if wanted.isdigit():
            number = int(wanted)
            return self.categories[number - 1] if 1 <= number <= len(self.categories) else None
        names: dict[str, Category] = {}
        for category in self.categories:
            names.setdefault(normalized(category.name), category)
            for part in category.name.split("/"):
                names.setdefault(normalized(part), category)
        if wanted in names:
            return names[wanted]
        close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.75)
        return names[close[0]] if close else None

    # Filing ---------------------------------------------------------------------------------

    async def _submit(self, turn: Turn, data: dict[str, Any]) -> None:
        """File the ticket, end the dialog and answer with the number, together."""
        if not data.get("category") or not data.get("description"):
            await self._ask(turn, CATEGORY if not data.get("category") else DESCRIPTION, data)
            return
        details: dict[str, Any] = {}
        if data.get("broadcast_id"):
            details["broadcast_id"] = data["broadcast_id"]
        if data.get("far_km") is not None:
            details["location_far_km"] = data["far_km"]

        def filed(ticket: Ticket) -> str:
            return self.kit.say(
                "aduan_filed",
                name=turn.member.name,
                number=ticket.number,
                deadline=self.kit.long_date(ticket.due_at or turn.now),
            )

        await self._file_ticket(
            turn,
            data,
            filed,
            kind=TicketKind.COMPLAINT,
            category=data["category"],
            details=details,
            location=data.get("location"),
        )


def register(
    router: Router,
    *,
    config: Config,
    rules: TicketRules,
    files: FeedbackFiles,
    channels: Mapping[str, Channel],
    wake_sender: Callable[[], None],
    clock: Clock,
) -> DialogKit:
    """Register ADUAN, LAYANAN and SYARAT with their dialogs and buttons on the router."""
    kit = DialogKit(config, rules, files, channels, wake_sender, clock, router)
    ComplaintDialog(kit).register(router)
    ServiceDialog(kit).register(router)
    return kit
