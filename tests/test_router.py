"""The dialog router: dialogs first (BATAL ends any), buttons, keywords, evidence, inbox last.

A test flow is registered the way a package would register its own (a complaint, a poll): the
router knows flows only by registration, and dialog state lives in the database.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels import InboundMessage
from channels.sandbox import SandboxChannel
from hub.app import Hub
from hub.core.dialogs import Dialog, dialog_of, save_dialog
from hub.core.texts import text as say
from hub.messaging.router import Command, Router, Turn
from models import Conversation, Delivery, DeliveryStatus, OutboundMessage
from tests.factories import bearer, make_member, make_token

AREA = "Sungai Kunjang/Loa Bakung"
FLOW = "survei"
_ids = itertools.count(1)


def register_survey(hub: Hub) -> None:
    """A two-question flow: it takes text, and leaves buttons to the rest of the router."""

    async def survey(turn: Turn) -> bool:
        if turn.event.button_payload is not None:
            return False
        event, dialog = turn.event, turn.dialog
        assert dialog is not None
        if dialog.step == "nama":
            data = {"nama": event.text}
            await save_dialog(event.channel, event.address, Dialog(FLOW, "alamat", data))
            await hub.conversations.send_text(event, turn.member, "Alamatnya?")
        else:
            await hub.conversations.send_text(
                event, turn.member, f"Tercatat: {dialog.data['nama']}, {event.text}"
            )
            await save_dialog(event.channel, event.address, Dialog(FLOW, "selesai", {}))
        return True

    hub.router.add_dialog(FLOW, survey)


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


async def send(hub: Hub, address: str, text: str = "", **kwargs: Any) -> list[str]:
    before = len(phone(hub).messages(address))
    await phone(hub).act(address, text=text, **kwargs)
    await hub.sender.run_once()
    return [m.text for m in phone(hub).messages(address)[before:]]


async def start_survey(address: str, *, expires_at: dt.datetime | None = None) -> None:
    await save_dialog("sandbox", address, Dialog(FLOW, "nama", {}, expires_at))


async def test_the_dialog_gets_the_text_before_any_keyword(client: TestClient, hub: Hub) -> None:
    register_survey(hub)
    member = await make_member(f"{AREA}/RT 001")
    address = f"sandbox-{member.id}"
    await start_survey(address)

    assert await send(hub, address, "BANTUAN") == ["Alamatnya?"]  # a name, as far as it knows
    assert await dialog_of("sandbox", address) == Dialog(FLOW, "alamat", {"nama": "BANTUAN"})
    assert await send(hub, address, "Jl. Mawar 3") == ["Tercatat: BANTUAN, Jl. Mawar 3"]


async def test_batal_ends_any_dialog(client: TestClient, hub: Hub) -> None:
    register_survey(hub)
    member = await make_member(f"{AREA}/RT 001")
    address = f"sandbox-{member.id}"
    await start_survey(address)

    assert await send(hub, address, " batal ") == [say("id", "dialog_cancelled")]
    assert await dialog_of("sandbox", address) is None
    # Out of the dialog, keywords are keywords again; BATAL has nothing left to end.
    assert await send(hub, address, "BANTUAN") == [hub.router.help_text("id")]
    assert await send(hub, address, "BATAL") == [say("id", "nothing_to_cancel")]


async def test_an_acknowledgement_tapped_mid_dialog_still_counts(
    client: TestClient, hub: Hub
) -> None:
    register_survey(hub)
    token = await make_token()
    member = await make_member(f"{AREA}/RT 001", name="Pak Darto")
    address = f"sandbox-{member.id}"
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Rapat", "text": "Sabtu pagi.", "audience": {"areas": [AREA]}},
        headers=bearer(token),
    )
    assert resp.status == 201
    await hub.sender.run_once()
    await start_survey(address)
    payload = phone(hub).messages(address)[-1].buttons[0].payload

    await send(hub, address, button=payload)
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.status == DeliveryStatus.ACKNOWLEDGED
    assert (await dialog_of("sandbox", address)) == Dialog(FLOW, "nama", {})  # left as it was


async def test_a_dialog_survives_a_restart(client: TestClient, hub: Hub) -> None:
    register_survey(hub)
    member = await make_member(f"{AREA}/RT 001")
    address = f"sandbox-{member.id}"
    await start_survey(address)
    await send(hub, address, "Bu Sari")

    fresh = Hub(hub.config)  # a new process: nothing of the dialog in memory
    register_survey(fresh)
    await fresh.dispatcher.receive(
        [
            InboundMessage(
                channel="sandbox",
                address=address,
                external_id=f"after-restart-{next(_ids)}",
                received_at=dt.datetime.now(dt.UTC),
                text="RT 001",
            )
        ]
    )
    last = await OutboundMessage.filter(address=address).order_by("-id").first()
    assert last is not None and last.text == "Tercatat: Bu Sari, RT 001"


@pytest.mark.parametrize("flow", [FLOW, "aduan_lama"])
async def test_a_lapsed_or_unknown_dialog_ends_and_the_message_goes_on(
    client: TestClient, hub: Hub, flow: str
) -> None:
    register_survey(hub)
    member = await make_member(f"{AREA}/RT 001")
    address = f"sandbox-{member.id}"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    lapses = past if flow == FLOW else None  # an unknown flow ends however long it may wait
    await save_dialog("sandbox", address, Dialog(flow, "nama", {}, lapses))

    assert await send(hub, address, "BANTUAN") == [hub.router.help_text("id")]
    assert await dialog_of("sandbox", address) is None
    assert await Conversation.filter(address=address).count() == 1  # the row stays, empty


# What RT heads see is built from the registry, and is what they saw before it -----------------

HELP_BEFORE = {
    "id": (
        "Perintah yang bisa Anda kirim:\n• BANTUAN – menampilkan pesan ini\n"
        "• BERHENTI – berhenti menerima pengumuman\n• MULAI – menerima pengumuman lagi\n"
        "• DAFTAR <kode> – menghubungkan nomor ini dengan kode undangan\n"
        "• ADUAN – melaporkan masalah di lingkungan (boleh dengan foto, pesan suara atau lokasi)\n"
        "• LAYANAN – mengajukan surat atau layanan kelurahan untuk warga\n"
        "• SYARAT <layanan> – melihat persyaratan sebuah layanan, misalnya SYARAT domisili\n"
        "• STATUS <nomor> – melihat perkembangan aduan atau permohonan Anda (STATUS saja: semua "
        "yang masih berjalan)\n"
        "• CEK <kode> – memeriksa keaslian pengumuman dengan kode cek di bawahnya\n"
        'Tekan "Sudah dibaca" di bawah setiap pengumuman untuk konfirmasi.'
    ),
    "en": (
        "Commands you can send:\n• HELP – this message\n• STOP – stop announcements\n"
        "• START – receive announcements again\n"
        "• JOIN <code> – link this number with an invite code\n"
        "• COMPLAINT – report a problem in the neighbourhood (with a photo, voice note or "
        "location if you like)\n"
        "• SERVICE – request a letter or service from the kelurahan for a resident\n"
        "• REQUIREMENTS <service> – see what a service requires, e.g. REQUIREMENTS domisili\n"
        "• STATUS <number> – see how your complaint or request is going (STATUS alone: all that "
        "are open)\n"
        "• CEK <code> – check whether an announcement is genuine by the code under it\n"
        'Tap "I have read it" below each announcement to confirm.'
    ),
}
MENU_BEFORE = {
    "id": (
        "Halo Pak Darto! Ketik angka atau kata kunci:\n1. BANTUAN – daftar perintah\n"
        "2. BERHENTI – berhenti menerima pesan\n3. MULAI – menerima pesan lagi\n"
        "4. ADUAN – melaporkan masalah di lingkungan\n"
        "5. LAYANAN – mengajukan surat atau layanan kelurahan\n"
        "6. STATUS <nomor> – cek status aduan"
    ),
    "en": (
        "Hello Pak Darto! Type a number or keyword:\n1. HELP – list of commands\n"
        "2. STOP – stop receiving messages\n3. START – receive messages again\n"
        "4. COMPLAINT – report a problem in the neighbourhood\n"
        "5. SERVICE – request a letter or kelurahan service\n"
        "6. STATUS <number> – check a complaint's status"
    ),
}


@pytest.mark.parametrize("language", ["id", "en"])
def test_help_menu_and_command_list_come_from_the_registry(
    client: TestClient, hub: Hub, language: str
) -> None:
    assert hub.router.help_text(language) == HELP_BEFORE[language]
    assert hub.router.menu_text(language, "Pak Darto") == MENU_BEFORE[language]
    assert [name for name, _ in hub.router.platform_commands(language)] == [
        "bantuan",
        "berhenti",
        "mulai",
        "aduan",
        "layanan",
        "status",
        "cek",
    ]


async def test_keywords_parse_with_their_argument_and_typos_are_asked_back() -> None:
    router = Router()

    async def nothing(turn: Turn) -> None:
        return None

    router.add_command(Command("help", ("BANTUAN",), nothing, forgiving=True, in_menu=True))
    router.add_command(Command("stop", ("STATUS",), nothing, in_menu=True))
    assert router.parse("status  AD-0012 ") == ("stop", "AD-0012", None)
    assert router.parse("STATSU AD-0012") == (None, "AD-0012", "STATUS")  # changes: asked back
    assert router.parse("BANTAUN") == ("help", "", None)  # harmless: taken as meant
    assert router.parse("2") == ("stop", "", None)  # the menu's numbers, in registration order
    assert router.parse("2 rumah") == (None, "2 rumah", None)
    assert router.help_text("id").splitlines()[1:3] == [
        "• BANTUAN – menampilkan pesan ini",
        "• BERHENTI – berhenti menerima pengumuman",
    ]


def test_registrations_that_would_clash_are_refused() -> None:
    router = Router()

    async def nothing(turn: Turn) -> None:
        return None

    async def taken(turn: Turn) -> bool:
        return True

    router.add_command(Command("help", ("BANTUAN", "HELP"), nothing))
    with pytest.raises(ValueError, match="HELP"):
        router.add_command(Command("other", ("HELP",), nothing))
    with pytest.raises(ValueError, match="twice"):
        router.add_command(Command("help", ("TOLONG",), nothing))
    router.add_button("ack:", nothing)
    with pytest.raises(ValueError, match="overlaps"):
        router.add_button("ac", nothing)
    router.add_dialog(FLOW, taken)
    with pytest.raises(ValueError, match="twice"):
        router.add_dialog(FLOW, taken)


def test_a_near_miss_is_a_keyword_only_where_it_reads_as_one(client: TestClient, hub: Hub) -> None:
    parse = hub.router.parse
    assert parse("STATSU SKJ-2026-000123") == ("status", "SKJ-2026-000123", None)
    assert parse("Satu lagi ya")[0] is None  # a sentence that starts like STATUS
    assert parse("Satu lagi tambahan dari saya, Pak")[0] is None
    assert parse("SYRAT ahli waris") == ("syarat", "ahli waris", None)
