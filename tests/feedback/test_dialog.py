"""The complaint dialog on the sandbox, as an RT head types and taps it through the sandbox API.

Category, description, the summary with its buttons, the ticket and its answer; forgiving
order; BATAL; descriptions too short or too long; the hourly limit; a restart in the middle
(a second app on the same database); the timeout sweep.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels import InboundKind, InboundMessage
from hub.app import HUB, Hub, create_app
from hub.core.config import Config
from hub.core.dialogs import dialog_of
from hub.core.texts import text as say
from hub.feedback.complaints.tickets import file_ticket
from jobs.feedback_dialogs import end_lapsed_feedback_dialogs
from models import Conversation, OutboundMessage, Ticket, TicketKind, TicketStatus
from tests.conftest import FakeClock, make_config
from tests.factories import bearer, make_member, make_token

RT1 = "Sungai Kunjang/Loa Bakung/RT 001"


def said(key: str, **values: Any) -> str:
    return say("id", key, hub=make_config().hub.name, **values)


class Phone:
    """A member's simulated phone, driven through the sandbox API."""

    def __init__(self, client: TestClient, member_id: int, token: str) -> None:
        self.client, self.url, self.headers = (
            client,
            f"/api/v1/sandbox/members/{member_id}/messages",
            bearer(token),
        )
        self.seen = 0

    async def inbox(self) -> list[dict[str, Any]]:
        resp = await self.client.get(self.url, headers=self.headers)
        assert resp.status == 200, await resp.text()
        return list((await resp.json())["messages"])

    async def act(self, **body: Any) -> list[dict[str, Any]]:
        """Type text or tap a button; what the hub answered since the last look."""
        resp = await self.client.post(self.url, json=body, headers=self.headers)
        assert resp.status == 202, await resp.text()
        hub = self.client.app[HUB]
        while await hub.sender.run_once():
            pass
        return await self.new()

    async def new(self) -> list[dict[str, Any]]:
        messages = await self.inbox()
        fresh, self.seen = messages[self.seen :], len(messages)
        return fresh

    async def type(self, text: str) -> str:
        return "\n---\n".join(m["text"] for m in await self.act(text=text))

    async def tap(self, payload: str) -> str:
        return "\n---\n".join(m["text"] for m in await self.act(button=payload))


_ids = itertools.count(1)


def typed(hub: Hub, address: str, text: str, **more: Any) -> InboundMessage:
    """A sandbox message as the platform side reports it, with an id of its own (a second
    app's sandbox counts its ids from 1 again, and the hub drops replayed ids)."""
    return InboundMessage(
        channel="sandbox",
        address=address,
        external_id=f"test-in-{next(_ids)}",
        received_at=hub.clock(),
        text=text,
        **more,
    )


async def phone_of(client: TestClient, **kwargs: Any) -> tuple[Phone, Any]:
    member = await make_member(RT1, **kwargs)
    return Phone(client, member.id, await make_token()), member


async def test_a_complaint_from_start_to_ticket(timed: TestClient) -> None:
    phone, member = await phone_of(timed, name="Pak Darto")
    answer = await phone.act(text="ADUAN")
    [question] = answer
    assert "Aduan ini tentang apa?" in question["text"] and "3. jalan" in question["text"]
    assert question["buttons"][2] == {"label": "jalan", "payload": "aduan:kategori:3"}

    assert "tuliskan keterangannya" in await phone.type("jalan")
    answer = await phone.act(text="Jalan berlubang besar di depan masjid Al-Ikhlas")
    assert "kirim foto" in answer[0]["text"].lower()
    assert answer[0]["buttons"] == [{"label": "Kirim tanpa foto", "payload": "aduan:lanjut"}]

    [summary] = await phone.act(button="aduan:lanjut")
    assert "Kategori: jalan" in summary["text"]
    assert "Keterangan: Jalan berlubang besar di depan masjid Al-Ikhlas" in summary["text"]
    assert [b["label"] for b in summary["buttons"]] == ["Kirim", "Ubah", "Batal"]

    filed = await phone.tap("aduan:kirim")
    ticket = await Ticket.get(member_id=member.id)
    assert (ticket.kind, ticket.category, ticket.status) == (
        TicketKind.COMPLAINT,
        "jalan",
        TicketStatus.NEW,
    )
    assert ticket.number == "SKN-2030-000001"  # Sungai Kunjang's initials, no prefix configured
    assert ticket.channel == "sandbox" and ticket.description.startswith("Jalan berlubang")
    assert filed == said(
        "aduan_filed",
        name="Pak Darto",
        number=ticket.number,
        deadline="Kamis, 7 Maret 2030 pukul 16.00 WITA",
    )
    assert f"STATUS {ticket.number}" in filed
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None
    # Tapping Kirim again files nothing twice.
    assert await phone.tap("aduan:kirim") == said("aduan_not_active")
    assert await Ticket.all().count() == 1


async def test_typos_numbers_and_a_description_given_early(timed: TestClient) -> None:
    phone, member = await phone_of(timed)
    await phone.type("aduna")  # ADUAN, misspelt: harmless to start, so taken as meant
    early = await phone.type("Selokan di gang 4 tersumbat sampah")
    assert early.startswith(said("aduan_description_kept"))
    unknown = await phone.type("xyz")
    assert unknown.startswith(said("aduan_category_unknown", text="xyz"))
    media_question = await phone.type("drainse banjir")  # typo of a part of the name
    assert "kirim foto" in media_question.lower()
    summary = await phone.type("selsai")
    assert "Kategori: drainase/banjir" in summary
    assert "Keterangan: Selokan di gang 4 tersumbat sampah" in summary
    await phone.type("KIRIM")
    ticket = await Ticket.get(member_id=member.id)
    assert ticket.category == "drainase/banjir"


async def test_the_menu_number_starts_it_and_ubah_changes_the_category(
    timed: TestClient,
) -> None:
    phone, member = await phone_of(timed)
    assert "Aduan ini tentang apa?" in await phone.type("4")  # BANTUAN, BERHENTI, MULAI, ADUAN
    await phone.type("1")
    await phone.type("Sampah menumpuk di TPS")
    await phone.type("lanjut")
    assert "Apa yang ingin diubah?" in await phone.tap("aduan:ubah")
    await phone.type("1")
    summary = await phone.type("5")  # back to the summary: the rest is kept
    assert "Kategori: keamanan/ketertiban" in summary
    assert "Keterangan: Sampah menumpuk di TPS" in summary
    await phone.tap("aduan:kirim")
    assert (await Ticket.get(member_id=member.id)).category == "keamanan/ketertiban"


async def test_batal_cancels_and_files_nothing(timed: TestClient) -> None:
    phone, member = await phone_of(timed)
    await phone.type("ADUAN")
    await phone.type("2")
    assert await phone.type("BATAL") == said("dialog_cancelled")
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None
    # The button does the same at the summary.
    await phone.type("ADUAN")
    await phone.type("2")
    await phone.type("Banjir setinggi lutut di RT 1")
    await phone.type("SELESAI")
    assert await phone.tap("aduan:batal") == said("aduan_cancelled")
    assert await Ticket.all().count() == 0


async def test_descriptions_too_short_or_too_long_are_asked_again(timed: TestClient) -> None:
    phone, member = await phone_of(timed)
    await phone.type("ADUAN")
    await phone.type("3")
    assert (await phone.type("ok")).startswith(said("dialog_description_short", min=5))
    huge = "Jalan rusak parah. " * 200  # 3800 characters, over the 2000 allowed
    length = len(huge.strip())
    assert (await phone.type(huge)).startswith(
        said("dialog_description_long", max=2000, length=length)
    )
    dialog = await dialog_of("sandbox", f"sandbox-{member.id}")
    assert dialog is not None and dialog.step == "keterangan"
    assert dialog.data["description"] is None
    assert "kirim foto" in (await phone.type("Jalan rusak parah di gang 2")).lower()


async def test_keywords_still_work_inside_the_dialog(timed: TestClient) -> None:
    phone, member = await phone_of(timed)
    await phone.type("ADUAN")
    await phone.type("3")
    help_text = timed.app[HUB].router.help_text("id")
    assert await phone.type("BANTUAN") == help_text  # the keyword alone is the keyword
    # A description that begins with a keyword is a description.
    assert "kirim foto" in (await phone.type("Mulai kemarin lampu jalan mati")).lower()
    dialog = await dialog_of("sandbox", f"sandbox-{member.id}")
    assert dialog is not None and dialog.data["description"] == "Mulai kemarin lampu jalan mati"


async def test_the_hourly_limit_stops_a_new_complaint(timed: TestClient) -> None:
    phone, member = await phone_of(timed)
    for n in range(5):  # [feedback] complaints_per_hour
        await phone.type("ADUAN")
        await phone.type("3")
        await phone.type(f"Jalan rusak nomor {n + 1}")
        await phone.type("SELESAI")
        await phone.type("KIRIM")
    assert await Ticket.filter(member_id=member.id).count() == 5
    assert await phone.type("ADUAN") == said("dialog_rate_limited", count=5)
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None


async def test_the_limit_is_checked_again_when_filing(timed: TestClient, clock: FakeClock) -> None:
    phone, member = await phone_of(timed)
    for n in range(4):
        await phone.type("ADUAN")
        await phone.type("3")
        await phone.type(f"Jalan rusak nomor {n + 1}")
        await phone.type("SELESAI")
        await phone.type("KIRIM")
    await phone.type("ADUAN")  # the fifth may start
    await phone.type("3")
    await phone.type("Jalan rusak nomor 5")
    await phone.type("SELESAI")
    # Meanwhile a fifth one is filed another way (another chat of the same member, say).
    await file_ticket(
        timed.app[HUB].tickets,
        kind=TicketKind.COMPLAINT,
        category="jalan",
        member=member,
        channel="sandbox",
        address="elsewhere",
        description="Lewat jalur lain",
        now=clock(),
    )
    assert await phone.type("KIRIM") == said("dialog_rate_limited", count=5)
    assert await Ticket.filter(member_id=member.id).count() == 5


async def test_a_restart_in_the_middle_loses_nothing(
    timed: TestClient, config: Config, clock: FakeClock
) -> None:
    phone, member = await phone_of(timed)
    await phone.type("ADUAN")
    await phone.type("penerangan jalan")
    await phone.type("Lampu jalan di gang 7 mati sejak Senin")
    # Another hub process on the same database (its sandbox phones start empty).
    app = create_app(config, clock=clock, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as second:
        hub: Hub = second.app[HUB]
        sandbox = hub.channels["sandbox"]
        address = f"sandbox-{member.id}"
        for text in ("SELESAI", "KIRIM"):
            await hub.receive([typed(hub, address, text)])
        while await hub.sender.run_once():
            pass
        texts = [m.text for m in sandbox.messages(address)]  # type: ignore[attr-defined]
    ticket = await Ticket.get(member_id=member.id)
    assert (ticket.category, ticket.description) == (
        "penerangan jalan",
        "Lampu jalan di gang 7 mati sejak Senin",
    )
    assert "Ringkasan aduan" in texts[0] and ticket.number in texts[1]


async def test_a_dialog_left_alone_is_closed_politely_once(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    phone, member = await phone_of(timed)
    await phone.type("ADUAN")
    await phone.type("3")
    clock.advance(minutes=29)
    assert await end_lapsed_feedback_dialogs(hub) == {"dialogs_ended": 0}
    await phone.type("Jalan berlubang di gang 3")  # an answer: the 30 minutes start again
    clock.advance(minutes=29)
    assert await end_lapsed_feedback_dialogs(hub) == {"dialogs_ended": 0}
    clock.advance(minutes=1)
    assert await end_lapsed_feedback_dialogs(hub) == {"dialogs_ended": 1}
    assert await end_lapsed_feedback_dialogs(hub) == {"dialogs_ended": 0}
    while await hub.sender.run_once():
        pass
    assert [m["text"] for m in await phone.new()] == [
        "Isian aduan Anda kami tutup karena tidak ada balasan selama 30 menit. "
        "Ketik ADUAN untuk memulai lagi."
    ]
    assert await dialog_of("sandbox", f"sandbox-{member.id}") is None
    assert await Ticket.all().count() == 0
    row = await OutboundMessage.filter(member_id=member.id).order_by("-id").first()
    assert row is not None and row.kind == "reply"
    assert await Conversation.filter(flow__isnull=False).count() == 0


async def _announce(phone: Phone, member_id: int, **body: Any) -> int:
    """An announcement to one member through the API; its id, sent."""
    resp = await phone.client.post(
        "/api/v1/broadcasts",
        json={"title": "Kerja bakti", "text": "Minggu pagi jam 7.",
              "audience": {"members": [member_id]}, **body},
        headers=phone.headers,
    )  # fmt: skip
    assert resp.status == 201, await resp.text()
    while await phone.client.app[HUB].sender.run_once():
        pass
    return int((await resp.json())["id"])


async def _file_after_tap(phone: Phone, payload: str, member_id: int) -> None:
    """Tap as the platform reports it (the sandbox API taps only buttons the phone was shown),
    then go through the dialog."""
    hub = phone.client.app[HUB]
    tap = typed(hub, f"sandbox-{member_id}", "", kind=InboundKind.BUTTON, button_payload=payload)
    await hub.receive([tap])
    await phone.type("1")
    await phone.type("Sampah tidak diangkut seminggu")
    await phone.type("SELESAI")
    await phone.type("KIRIM")


async def test_the_report_button_under_an_announcement_files_a_complaint_about_it(
    timed: TestClient,
) -> None:
    phone, member = await phone_of(timed)
    broadcast_id = await _announce(phone, member.id, report_button=True)
    [announcement] = await phone.new()
    assert [b["label"] for b in announcement["buttons"]] == [
        said("ack_button"),
        said("report_button"),
    ]
    assert announcement["buttons"][1]["payload"] == f"aduan:{broadcast_id}"

    await _file_after_tap(phone, announcement["buttons"][1]["payload"], member.id)
    ticket = await Ticket.get(member_id=member.id)
    assert ticket.details == {"broadcast_id": broadcast_id}


async def test_an_announcement_without_the_choice_carries_no_report_button(
    timed: TestClient,
) -> None:
    phone, member = await phone_of(timed)
    await _announce(phone, member.id, ack_required=False)
    [announcement] = await phone.new()
    assert announcement["buttons"] == []


@pytest.mark.parametrize("made_up", [True, False])
async def test_a_report_payload_for_a_broadcast_not_sent_to_the_member_names_none(
    timed: TestClient, made_up: bool
) -> None:
    """A bare "aduan:" and a payload naming someone else's broadcast both start a complaint,
    about nothing in particular."""
    phone, member = await phone_of(timed)
    other = await make_member(RT1, name="Bu Sari")
    someone_elses = await _announce(phone, other.id, report_button=True)
    await _file_after_tap(phone, f"aduan:{someone_elses}" if made_up else "aduan:", member.id)
    ticket = await Ticket.get(member_id=member.id)
    assert ticket.details == {}


async def test_lapor_with_a_sentence_keeps_it_as_the_description(timed: TestClient) -> None:
    phone, _member = await phone_of(timed)
    answer = await phone.type("Lapor pak, selokan di gang 4 meluap")
    assert said("aduan_description_kept") in answer and "Aduan ini tentang apa?" in answer
    assert "kirim foto" in (await phone.type("banjir")).lower()
    assert "Keterangan: pak, selokan di gang 4 meluap" in await phone.type("SELESAI")
