"""Files in the dialogs, through a recording channel that can fetch media: too large (declared
or real), the wrong type, a fetch to try again, the per-ticket limit, a photo before the
category; and the service request with its documents and the list of what needs a visit."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from channels import (
    Channel,
    EventSink,
    FetchedMedia,
    InboundKind,
    InboundMessage,
    Media,
    MediaKind,
    Outgoing,
    SendError,
    SendErrorReason,
    SendResult,
)
from hub.app import HUB, Hub, create_app
from hub.core.dialogs import dialog_of
from hub.core.texts import text as say
from models import ChannelAddress, FeedbackFile, OutboundMessage, Ticket, TicketKind
from tests.conftest import FakeClock, make_config
from tests.factories import make_member

RT1 = "Sungai Kunjang/Loa Bakung/RT 001"
JPEG = b"\xff\xd8\xff\xe0" + b"\x07" * 4000
PDF = b"%PDF-1.7\n" + b"\x01" * 3000
ADDRESS = "mc-1"


@dataclass(frozen=True)
class Settings:
    messages_per_second: int = 10_000


class MediaChat(Channel):
    """A messenger whose received files the test provides: bytes, or an error to raise."""

    name = "mediachat"

    def __init__(self, sink: EventSink) -> None:
        super().__init__(Settings(), sink)
        self.files: dict[str, bytes | Exception] = {}
        self.fetched: list[str] = []

    async def send(self, outgoing: Outgoing) -> SendResult:
        return SendResult("out", dt.datetime.now(dt.UTC))

    async def fetch_media(self, media: Media) -> FetchedMedia:
        self.fetched.append(media.file_id)
        found = self.files[media.file_id]
        if isinstance(found, Exception):
            raise found
        return FetchedMedia(found, "application/octet-stream")


@pytest_asyncio.fixture
async def app(db: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[TestClient]:
    config = make_config(
        broadcast={"media_dir": str(tmp_path / "media")}, feedback={"max_file_mb": 1}
    )
    created = create_app(config, clock=clock, manage_database=False, run_workers=False)
    async with TestClient(TestServer(created)) as client:
        yield client


@pytest.fixture
def chat(app: TestClient) -> MediaChat:
    hub: Hub = app.app[HUB]
    channel = MediaChat(hub.receive)
    hub.channels[MediaChat.name] = channel
    return channel


_ids = itertools.count(1)


class Member:
    """A member on the MediaChat: sends text, taps and files; reads what the hub queued."""

    def __init__(self, hub: Hub, chat: MediaChat) -> None:
        self.hub, self.chat, self.seen = hub, chat, 0

    async def _send(self, **fields: Any) -> list[str]:
        event = InboundMessage(
            channel="mediachat",
            address=ADDRESS,
            external_id=f"mc-in-{next(_ids)}",
            received_at=self.hub.clock(),
            **fields,
        )
        await self.hub.receive([event])
        rows = await OutboundMessage.filter(address=ADDRESS, id__gt=self.seen).order_by("id")
        if rows:
            self.seen = rows[-1].id
        return [r.text for r in rows]

    async def type(self, text: str) -> str:
        return "\n---\n".join(await self._send(text=text))

    async def tap(self, payload: str) -> str:
        return "\n---\n".join(await self._send(kind=InboundKind.BUTTON, button_payload=payload))

    async def file(
        self, data: bytes | Exception, kind: MediaKind = MediaKind.PHOTO, **media: Any
    ) -> str:
        file_id = f"file-{next(_ids)}"
        self.chat.files[file_id] = data
        event_media = Media(kind, file_id, **media)
        return "\n---\n".join(
            await self._send(
                kind=InboundKind(kind.value), media=event_media, text=media.get("caption", "")
            )
        )


@pytest_asyncio.fixture
async def member(app: TestClient, chat: MediaChat) -> Member:
    row = await make_member(RT1, channels=(), name="Bu Sari")
    await ChannelAddress.create(member=row, channel="mediachat", address=ADDRESS)
    return Member(app.app[HUB], chat)


def said(key: str, **values: Any) -> str:
    return say("id", key, hub=make_config().hub.name, **values)


ACCEPTED = said("dialog_file_types")


async def test_a_photo_before_the_category_is_kept_and_the_category_asked_again(
    member: Member,
) -> None:
    await member.type("ADUAN")
    answer = await member.file(JPEG)
    assert answer.startswith("✅ foto diterima (1 dari paling banyak 5 berkas).")
    assert "Aduan ini tentang apa?" in answer
    await member.type("5")
    await member.type("Ada orang mencurigakan tiap malam")
    summary = await member.type("SELESAI")
    assert "Lampiran: 1 foto" in summary
    await member.tap("aduan:kirim")
    ticket = await Ticket.get()
    assert await FeedbackFile.filter(ticket_id=ticket.id).count() == 1


async def test_too_large_files_are_refused_before_and_after_downloading(
    member: Member, chat: MediaChat
) -> None:
    await member.type("ADUAN")
    declared = await member.file(JPEG, size=5 * 1024 * 1024)
    assert declared.startswith(said("dialog_file_too_large", max_mb=1))
    assert chat.fetched == []  # never downloaded
    real = await member.file(b"\xff\xd8\xff" + b"\x00" * (1024 * 1024 + 1))  # no size told
    assert real.startswith(said("dialog_file_too_large", max_mb=1))
    assert len(chat.fetched) == 1
    assert await FeedbackFile.all().count() == 0


async def test_the_wrong_type_or_an_empty_file_is_refused_politely(member: Member) -> None:
    await member.type("ADUAN")
    exe = await member.file(b"MZ\x90\x00" + b"\x00" * 100, MediaKind.DOCUMENT, file_name="a.pdf")
    assert exe.startswith(said("dialog_file_wrong_type", accepted=ACCEPTED))
    assert (await member.file(b"")).startswith(said("dialog_file_empty"))
    assert await FeedbackFile.all().count() == 0


async def test_a_fetch_that_may_work_later_asks_to_send_again(member: Member) -> None:
    await member.type("ADUAN")
    failed = await member.file(SendError(SendErrorReason.CONNECTION, "timeout"))
    assert failed.startswith(said("dialog_file_again"))
    gone = await member.file(SendError(SendErrorReason.REJECTED, "expired"))
    assert gone.startswith(said("dialog_file_unavailable"))
    assert await FeedbackFile.all().count() == 0
    dialog = await dialog_of("mediachat", ADDRESS)
    assert dialog is not None and dialog.data["files"] == []


async def test_at_most_max_files_per_ticket(member: Member, chat: MediaChat) -> None:
    await member.type("ADUAN")
    await member.type("1")
    await member.type("Sampah berserakan di pinggir sungai")
    for n in range(5):
        answer = await member.file(JPEG + bytes([n]))
    assert "Ringkasan aduan" in answer and "Lampiran: 5 foto" in answer  # the fifth: summary
    fetched = len(chat.fetched)
    assert (await member.file(JPEG)).startswith(said("dialog_file_limit", max=5))
    assert len(chat.fetched) == fetched  # not even downloaded
    await member.type("KIRIM")
    ticket = await Ticket.get()
    assert await FeedbackFile.filter(ticket_id=ticket.id).count() == 5
    assert await FeedbackFile.filter(ticket_id__isnull=True).count() == 0


async def test_a_pdf_and_a_webp_are_taken_with_their_type(member: Member) -> None:
    await member.type("ADUAN")
    await member.type("6")
    await member.type("Data KK warga belum diperbarui")
    await member.file(PDF, MediaKind.DOCUMENT, file_name="kk warga.pdf")
    webp = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 50
    await member.file(webp)
    rows = await FeedbackFile.all().order_by("id")
    assert [(r.kind, r.content_type, r.filename) for r in rows] == [
        ("document", "application/pdf", "kk warga.pdf"),
        ("photo", "image/webp", "photo.webp"),
    ]


# The service request -------------------------------------------------------------------------


async def test_a_service_request_with_documents_and_what_needs_a_visit(member: Member) -> None:
    listing = await member.type("LAYANAN")
    assert "Layanan apa yang ingin diajukan?" in listing and "1. Surat pengantar KTP-el" in listing
    chosen = await member.type("ktp")  # a word of the catalogue
    assert "📄 Surat pengantar KTP-el" in chosen
    assert "Kartu Keluarga (KK) – 📷 bisa difoto" in chosen
    assert "sidik jari dan foto di Disdukcapil – 🏢 perlu dibawa" in chosen
    assert "Untuk siapa surat" in chosen

    asked = await member.type("Untuk Budi Santoso, KTP hilang")
    assert "Silakan kirim foto Kartu Keluarga (KK) (1 dari 2)" in asked
    kept = await member.file(JPEG)
    assert kept.startswith(said("layanan_document_kept", document="Kartu Keluarga (KK)"))
    assert "Surat pengantar RT/RW (2 dari 2)" in kept
    summary = await member.tap("layanan:lewati")  # no letter yet: it goes on the visit list
    assert "Dokumen yang dikirim:\n• Kartu Keluarga (KK)" in summary
    assert "• Surat pengantar RT/RW" in summary.split("Perlu dibawa")[1]

    filed = await member.tap("layanan:kirim")
    ticket = await Ticket.get()
    assert (ticket.kind, ticket.category) == (TicketKind.SERVICE, "pengantar-ktp")
    assert ticket.description == "Untuk Budi Santoso, KTP hilang"
    assert ticket.details == {
        "documents": ["Kartu Keluarga (KK)"],
        "visit": [
            "Surat pengantar RT/RW",
            "Hadir untuk perekaman sidik jari dan foto di Disdukcapil",
        ],
    }
    assert await FeedbackFile.filter(ticket_id=ticket.id).count() == 1
    assert ticket.number in filed
    assert "Yang masih perlu dibawa ke kantor kelurahan:\n• Surat pengantar RT/RW\n" in filed
    assert await dialog_of("mediachat", ADDRESS) is None


async def test_a_service_with_everything_online_needs_no_visit(member: Member) -> None:
    await member.type("LAYANAN domisili")  # the service named at once
    await member.type("Untuk Ani, pindahan dari Balikpapan")
    for _ in range(3):
        await member.file(JPEG)
    summary_or_filed = await member.type("KIRIM")
    ticket = await Ticket.get()
    assert ticket.details == {
        "documents": ["KTP-el", "Kartu Keluarga (KK)", "Surat pengantar RT/RW"],
        "visit": [],
    }
    assert "Yang masih perlu dibawa ke kantor kelurahan:\ntidak ada" in summary_or_filed


async def test_selesai_skips_the_remaining_documents(member: Member) -> None:
    await member.type("LAYANAN")
    await member.type("2")
    await member.type("Untuk keluarga Pak Udin, anak baru lahir")
    await member.file(JPEG)
    summary = await member.type("selesai")
    assert "Ringkasan permohonan" in summary
    await member.type("kirim")
    ticket = await Ticket.get()
    assert ticket.details["documents"] == ["Kartu Keluarga lama"]
    assert ticket.details["visit"] == [
        "KTP-el kepala keluarga",
        "Surat pengantar RT/RW",
        "Buku nikah atau akta cerai (bila status berubah)",
        "Kartu Keluarga asli untuk diserahkan",
    ]
