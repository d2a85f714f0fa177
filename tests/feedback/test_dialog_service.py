"""SYARAT and LAYANAN on the sandbox: requirements in one message without a ticket, typos
forgiven, the numbered list for an unknown service, and the timeout of a service form."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub.app import HUB
from hub.core.dialogs import dialog_of
from jobs.feedback_dialogs import end_lapsed_feedback_dialogs
from models import Ticket
from tests.conftest import FakeClock
from tests.feedback.test_dialog import phone_of, said


async def test_syarat_with_a_typo_answers_in_one_message_and_files_nothing(
    timed: TestClient,
) -> None:
    phone, member = await phone_of(timed)
    [answer] = await phone.act(text="syarat domisilli")
    assert answer["text"].startswith("📄 Surat keterangan domisili\nPersyaratan:\n1. KTP-el – 📷")
    assert said("syarat_how_to_apply", code="domisili") in answer["text"]
    assert answer["buttons"] == [
        {"label": "Ajukan layanan ini", "payload": "layanan:pilih:domisili"}
    ]
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None
    assert await Ticket.all().count() == 0
    # The keyword itself misspelt is forgiven too (it only answers).
    assert (await phone.type("SYRAT ahli waris")).startswith("📄 Surat keterangan ahli waris")


async def test_syarat_alone_or_unknown_gives_the_list_and_a_number_answers(
    timed: TestClient,
) -> None:
    phone, member = await phone_of(timed)
    unknown = await phone.type("SYARAT paspor")
    assert unknown.startswith(said("layanan_unknown", text="paspor"))
    assert "3. Surat keterangan domisili" in unknown
    assert (await phone.type("3")).startswith("📄 Surat keterangan domisili")
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None
    # SYARAT alone, then a tap on the list.
    [listing] = await phone.act(text="SYARAT")
    assert listing["buttons"][0]["payload"] == "syarat:pengantar-ktp"
    assert (await phone.tap("syarat:pengantar-kk")).startswith("📄 Surat pengantar Kartu Keluarga")
    # After the list, anything else goes its usual way (here: the menu number of BANTUAN).
    await phone.type("SYARAT")
    assert await phone.type("BANTUAN") == timed.app[HUB].router.help_text("id")


async def test_the_apply_button_starts_the_request_and_it_files_on_the_sandbox(
    timed: TestClient,
) -> None:
    phone, member = await phone_of(timed)
    await phone.type("SYARAT domisili")
    asked = await phone.tap("layanan:pilih:domisili")
    assert "Untuk siapa surat Surat keterangan domisili" in asked
    assert "(1 dari 3)" in await phone.type("Untuk Bu Ani, warga baru")
    await phone.tap("layanan:selesai")  # no photos from the sandbox: all to bring
    filed = await phone.tap("layanan:kirim")
    ticket = await Ticket.get(member_id=member.id)
    assert ticket.category == "domisili"
    assert ticket.details == {
        "documents": [],
        "visit": ["KTP-el", "Kartu Keluarga (KK)", "Surat pengantar RT/RW"],
    }
    assert ticket.number in filed and "• KTP-el" in filed


async def test_an_unfinished_service_request_times_out_politely(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    phone, member = await phone_of(timed)
    await phone.type("LAYANAN")
    await phone.type("5")
    clock.advance(minutes=31)
    assert await end_lapsed_feedback_dialogs(hub) == {"dialogs_ended": 1}
    while await hub.sender.run_once():
        pass
    [closed] = await phone.new()
    assert closed["text"] == said("layanan_timeout", minutes=30)
    # Answering after the form closed starts nothing odd: the number is the menu again.
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None
