"""Service requests (flow "layanan") and their requirements (SYARAT), in the chat.

LAYANAN shows the numbered catalogue; a choice (number, name, key or word; typos forgiven)
shows its requirements, marking what can be sent as a photo here and what needs a visit; then
for whom and what for (text); then each requirement that can be checked online is asked for in
turn (a photo or a document; LEWATI skips one, SELESAI the rest); a summary; Kirim files a
service ticket whose details name the documents sent online and what still needs a visit, and
the answer lists the latter, so the resident comes once with everything.

SYARAT <layanan> answers with a service's requirements in one message and starts nothing;
SYARAT alone (or an unknown service) gives the numbered list, and a number then answers.
"""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from channels import InboundKind
from hub.core.dialogs import end_dialog
from hub.feedback.complaints.catalogue import Service
from hub.feedback.complaints.dialog_kit import (
    EDIT_WORDS,
    MAX_BUTTONS,
    SEND_WORDS,
    Buttons,
    DialogKit,
    StepDialog,
    said_one_of,
)
from hub.messaging.router import Command, Router, Turn
from models import FeedbackFile, Ticket, TicketKind

FLOW = "layanan"
LOOKUP_FLOW = "syarat"  # waits for a number after SYARAT alone
PREFIX = "layanan:"
LOOKUP_PREFIX = "syarat:"
CHOOSE, DETAILS, DOCUMENTS, CONFIRM = "pilih", "keperluan", "dokumen", "cek"
SKIP_WORDS = ("LEWATI", "LEWAT", "SKIP", "TIDAK", "TIDAK ADA", "BELUM ADA")
DONE_WORDS = ("SELESAI", "LANJUT", "SUDAH", "CUKUP", "DONE")


class ServiceDialog(StepDialog):
    """The layanan flow and the SYARAT lookup, registered by `register()`."""

    flow = FLOW
    prefix = PREFIX

    def __init__(self, kit: DialogKit) -> None:
        super().__init__(kit)
        self.catalogue = kit.rules.catalogue

    def register(self, router: Router) -> None:
        router.add_command(
            Command("layanan", ("LAYANAN", "SERVICE"), self._command, forgiving=True,
                    in_menu=True, platform_command="layanan")
        )  # fmt: skip
        router.add_command(
            Command("syarat", ("SYARAT", "REQUIREMENTS"), self._requirements, forgiving=True)
        )
        router.add_dialog(FLOW, self._in_dialog)
        router.add_dialog(LOOKUP_FLOW, self._in_lookup)
        router.add_button(PREFIX, self._button)
        router.add_button(LOOKUP_PREFIX, self._lookup_button)

    # SYARAT ---------------------------------------------------------------------------------

    async def _requirements(self, turn: Turn) -> None:
        service = self.catalogue.find_service(turn.argument) if turn.argument else None
        if service is not None:
            await self._tell_requirements(turn, service)
            return
        note = self.kit.say("layanan_unknown", text=turn.argument[:40]) if turn.argument else ""
        text = "\n\n".join(filter(None, [note, self._list("syarat_ask")]))
        buttons = self._list_buttons(LOOKUP_PREFIX)
        if turn.dialog is not None:  # in another dialog: answer, and leave that one be
            await self.kit.reply(turn, text, buttons)
        else:
            await self.kit.step(turn, LOOKUP_FLOW, CHOOSE, {}, text, buttons)

    async def _tell_requirements(self, turn: Turn, service: Service) -> None:
        kit = self.kit
        text = "\n\n".join(
            [self.requirements_text(service), kit.say("syarat_how_to_apply", code=service.key)]
        )
        buttons = [
            {"label": kit.say("dialog_button_apply"), "payload": f"{PREFIX}pilih:{service.key}"}
        ]
        async with in_transaction():
            await end_dialog(turn.event.channel, turn.event.address, LOOKUP_FLOW)
            await kit.answer_now(turn, text, buttons)
        kit.wake_sender()

    async def _in_lookup(self, turn: Turn) -> bool:
        """After SYARAT alone: a number or a name answers; anything else goes its way."""
        event = turn.event
        service = None
        if event.kind == InboundKind.TEXT and not self.kit.passes_on(turn):
            service = self.catalogue.find_service(event.text)
        if service is None:
            await end_dialog(event.channel, event.address, LOOKUP_FLOW)
            return False
        await self._tell_requirements(turn, service)
        return True

    async def _lookup_button(self, turn: Turn) -> None:
        key = (turn.event.button_payload or "")[len(LOOKUP_PREFIX) :]
        service = self.catalogue.service(key)
        if service is not None:
            await self._tell_requirements(turn, service)

    def requirements_text(self, service: Service) -> str:
        say = self.kit.say
        lines = [
            f"{n}. {r.name} – {say('syarat_online' if r.online else 'syarat_visit')}"
            for n, r in enumerate(service.requirements, 1)
        ]
        return say("syarat_list_of", service=service.name, requirements="\n".join(lines))

    def _list(self, key: str) -> str:
        lines = [f"{n}. {s.name}" for n, s in enumerate(self.catalogue.services, 1)]
        return self.kit.say(key, services="\n".join(lines))

    def _list_buttons(self, prefix: str) -> Buttons:
        services = self.catalogue.services
        if len(services) > MAX_BUTTONS:
            return ()
        payload = "pilih:" if prefix == PREFIX else ""
        return [{"label": s.name, "payload": f"{prefix}{payload}{s.key}"} for s in services]

    # LAYANAN --------------------------------------------------------------------------------

    async def _command(self, turn: Turn) -> None:
        await self.start(turn, turn.argument)

    async def _button(self, turn: Turn) -> None:
        rest = (turn.event.button_payload or "")[len(PREFIX) :]
        if rest.startswith("pilih:"):
            await self.start(turn, rest.removeprefix("pilih:"))
        else:
            await self.kit.reply(turn, self.kit.say("layanan_not_active"))

    async def start(self, turn: Turn, typed: str) -> None:
        if await self.kit.rate_limited(turn):
            return
        data: dict[str, Any] = {
            "service": None,
            "description": None,
            "files": [],
            "documents": [],
            "skipped": [],
            "doc": 0,
            "editing": False,
        }
        await self._choose(turn, data, typed)

    async def _choose(self, turn: Turn, data: dict[str, Any], typed: str) -> None:
        service = self.catalogue.find_service(typed) if typed else None
        if service is None:
            note = self.kit.say("layanan_unknown", text=typed[:40]) if typed else ""
            await self._ask(turn, CHOOSE, data, note)
            return
        data["service"] = service.key
        await self._ask(turn, DETAILS, data, self.requirements_text(service))

    async def _again(self, turn: Turn, data: dict[str, Any]) -> bool:
        """LAYANAN again: from the top, with what followed it."""
        if turn.command != "layanan":
            return False
        await self.start(turn, turn.argument)
        return True

    async def _other(self, turn: Turn, step: str, data: dict[str, Any]) -> bool:
        """A location is no document: the question again, with a word why."""
        if turn.event.kind != InboundKind.LOCATION:
            return False
        await self._ask(turn, step, data, self.kit.say("layanan_no_location"))
        return True

    async def _control(self, turn: Turn, step: str, data: dict[str, Any], action: str) -> None:
        if action.startswith("pilih:"):
            await self._choose(turn, data, action.removeprefix("pilih:"))
        elif action == "lewati" and step == DOCUMENTS:
            await self._skip(turn, data, rest=False)
        elif action == "selesai" and step == DOCUMENTS:
            await self._skip(turn, data, rest=True)
        elif action == "kirim" and step == CONFIRM:
            await self._submit(turn, data)
        elif action == "ubah":
            data["editing"] = True
            await self._ask(turn, DETAILS, data)
        elif action == "batal":
            await self.kit.end(turn, FLOW, self.kit.say("layanan_cancelled"))
        else:
            await self._ask(turn, step, data)

    async def _text(self, turn: Turn, step: str, data: dict[str, Any], text: str) -> None:
        if step == CHOOSE:
            await self._choose(turn, data, text)
        elif step == DETAILS:
            problem = self.kit.description_problem(text)
            if problem is not None:
                await self._ask(turn, DETAILS, data, problem)
                return
            data["description"] = text
            await self._ask(turn, self._after_details(data), data)
        elif step == DOCUMENTS:
            if said_one_of(text, DONE_WORDS + SEND_WORDS):
                await self._skip(turn, data, rest=True)
            elif said_one_of(text, SKIP_WORDS):
                await self._skip(turn, data, rest=False)
            else:
                await self._ask(turn, DOCUMENTS, data, self.kit.say("layanan_document_again"))
        elif said_one_of(text, SEND_WORDS):
            await self._submit(turn, data)
        elif said_one_of(text, EDIT_WORDS):
            data["editing"] = True
            await self._ask(turn, DETAILS, data)
        else:
            await self._ask(turn, CONFIRM, data, self.kit.say("layanan_confirm_again"))

    def _service(self, data: dict[str, Any]) -> Service | None:
        return self.catalogue.service(data.get("service") or "")

    def _online(self, data: dict[str, Any]) -> list[str]:
        service = self._service(data)
        return [r.name for r in service.requirements if r.online] if service else []

    def _after_details(self, data: dict[str, Any]) -> str:
        pending = data.get("doc", 0) < len(self._online(data))
        return DOCUMENTS if pending and not data.get("editing") else CONFIRM

    async def _skip(self, turn: Turn, data: dict[str, Any], *, rest: bool) -> None:
        online, index = self._online(data), data.get("doc", 0)
        upto = len(online) if rest else index + 1
        data["skipped"] = [*data.get("skipped", []), *online[index:upto]]
        data["doc"] = upto
        await self._ask(turn, DOCUMENTS if upto < len(online) else CONFIRM, data)

    def file_kept(
        self, turn: Turn, step: str, data: dict[str, Any], file: FeedbackFile
    ) -> tuple[str, str]:
        """A photo or document: at the documents step it is the one asked for; before, kept."""
        online, index = self._online(data), data.get("doc", 0)
        note = self.kit.say("layanan_file_kept")
        if step == DOCUMENTS and index < len(online):
            data["documents"] = [*data.get("documents", []), online[index]]
            data["doc"] = index + 1
            note = self.kit.say("layanan_document_kept", document=online[index])
            if len(data["files"]) >= self.kit.config.feedback.max_files:
                data["skipped"] = [*data.get("skipped", []), *online[index + 1 :]]
                data["doc"] = len(online)
            step = DOCUMENTS if data["doc"] < len(online) else CONFIRM
        return step, note

    # Questions ------------------------------------------------------------------------------

    async def question(self, step: str, data: dict[str, Any]) -> tuple[str, Buttons]:
        say, service = self.kit.say, self._service(data)
        if step == CHOOSE or service is None:
            return self._list("layanan_ask_service"), self._list_buttons(PREFIX)
        if step == DETAILS:
            return say("layanan_ask_details", service=service.name), ()
        if step == DOCUMENTS:
            online, index = self._online(data), data.get("doc", 0)
            text = say(
                "layanan_ask_document", document=online[index], n=index + 1, total=len(online)
            )
            return text, [
                {"label": say("dialog_button_skip"), "payload": f"{PREFIX}lewati"},
                {"label": say("dialog_button_done"), "payload": f"{PREFIX}selesai"},
            ]
        documents = data.get("documents") or []
        text = say(
            "layanan_summary",
            service=service.name,
            description=data.get("description") or "-",
            documents=_bullets(documents) or say("dialog_files_none"),
            visit=_bullets(self.visit_list(service, data)) or say("layanan_visit_none"),
        )
        return text, self.confirm_buttons()

    @staticmethod
    def visit_list(service: Service, data: dict[str, Any]) -> list[str]:
        """What still has to be brought to the office: the visit-only requirements, and the
        ones that could have been sent here but were not."""
        sent = set(data.get("documents") or [])
        return [r.name for r in service.requirements if not r.online or r.name not in sent]

    # Filing ---------------------------------------------------------------------------------

    async def _submit(self, turn: Turn, data: dict[str, Any]) -> None:
        service = self._service(data)
        if service is None or not data.get("description"):
            await self._ask(turn, CHOOSE if service is None else DETAILS, data)
            return
        visit = self.visit_list(service, data)
        details = {"documents": list(data.get("documents") or []), "visit": visit}

        def filed(ticket: Ticket) -> str:
            return self.kit.say(
                "layanan_filed",
                name=turn.member.name,
                service=service.name,
                number=ticket.number,
                visit=_bullets(visit) or self.kit.say("layanan_visit_none"),
                deadline=self.kit.long_date(ticket.due_at or turn.now),
            )

        await self._file_ticket(
            turn, data, filed, kind=TicketKind.SERVICE, category=service.key, details=details
        )


def _bullets(items: list[str]) -> str:
    return "\n".join(f"• {item}" for item in items)
