"""Attachments: upload and download, and broadcasts that carry files on every channel.

One outbox row is one platform request: a file rides on its announcement as the caption's carrier
when the channel takes that text as a caption, else it follows in a row of its own, written in the
same transaction that records the row before it as sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from channels.telegram import fit_caption
from hub.access.auth import Scope
from hub.app import HUB, Hub, create_app
from hub.core.config import Config, ConfigError, load_config
from hub.core.timeutil import Clock, utcnow
from hub.files import media as hub_media
from hub.files.media import FILE_WAIT_OVER, WAITING_FOR_WINDOW, AttachmentTooLarge, MediaStore
from hub.messaging.sender import LEASE, RELEASE_EVERY
from models import (
    Attachment,
    Broadcast,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    UserRole,
)
from tests.conftest import (
    FakeClock,
    make_config,
    telegram_config,
    whatsapp_config,
    whatsapp_on_the_hub_clock,
)
from tests.factories import bearer, make_member, make_token
from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import FakeBotAPI
from tests.test_dashboard import csrf_token, log_in
from tests.test_telegram_hub import callback_update, post_update, telegram_member
from tests.test_whatsapp_hub import (
    BUDI,
    SITI,
    post_webhook,
    template_button,
    text_from,
    whatsapp_member,
)

KELURAHAN = "Sungai Kunjang/Loa Bakung"
PUBLIC = "https://balai.example.id"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200)
SHORT = "Jadwal posyandu bulan ini terlampir."
ACK = "✅ Sudah dibaca"


def with_media(config: Config, tmp_path: Path, **broadcast: Any) -> Config:
    """The config with the media folder under tmp_path and a 1 MB limit (unless given)."""
    values = {"media_dir": str(tmp_path / "media"), "max_attachment_mb": 1, **broadcast}
    return config.replace("broadcast", **values).replace("hub", public_url=PUBLIC)


async def app_client(config: Config, clock: Clock) -> TestClient:
    app = create_app(config, clock=clock, manage_database=False, run_workers=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def sbx(db: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[TestClient]:
    """The hub with the sandbox channel and a media folder of its own; its clock is `clock`."""
    client = await app_client(with_media(make_config(), tmp_path), clock)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def web(db: str, tmp_path: Path) -> AsyncIterator[TestClient]:
    """As sbx on plain http and the real clock, which the dashboard's login cookies need."""
    config = with_media(make_config(), tmp_path).replace("hub", public_url="http://127.0.0.1")
    client = await app_client(config, utcnow)
    yield client
    await client.close()


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def upload(
    client: TestClient,
    data: bytes,
    filename: str = "jadwal posyandu.pdf",
    content_type: str = "application/pdf",
    *,
    token: str | None = None,
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    headers = bearer(token or await make_token())
    return await client.post("/api/v1/attachments", data=form, headers=headers)


async def uploaded(client: TestClient, data: bytes = PDF, filename: str = "jadwal.pdf") -> int:
    resp = await upload(client, data, filename)
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def announce(
    client: TestClient,
    attachments: list[int],
    *,
    text: str = SHORT,
    ack_required: bool = True,
    **audience: Any,
) -> aiohttp.ClientResponse:
    return await client.post(
        "/api/v1/broadcasts",
        json={
            "title": "Posyandu",
            "text": text,
            "audience": audience or {"areas": [KELURAHAN]},
            "ack_required": ack_required,
            "attachments": attachments,
        },
        headers=bearer(await make_token()),
    )


async def announced(client: TestClient, attachments: list[int], **kwargs: Any) -> int:
    resp = await announce(client, attachments, **kwargs)
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def phone(client: TestClient, member: Member) -> list[dict[str, Any]]:
    resp = await client.get(
        f"/api/v1/sandbox/members/{member.id}/messages", headers=bearer(await make_token())
    )
    assert resp.status == 200
    return list((await resp.json())["messages"])


def listing(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


def stored_files(tmp_path: Path) -> list[Path]:
    return listing(tmp_path / "media")


# Upload and download ---------------------------------------------------------------------------


async def test_an_upload_is_stored_and_served_by_its_public_link(
    sbx: TestClient, tmp_path: Path
) -> None:
    resp = await upload(sbx, PDF, "Perwali 12-2030 tentang posyandu.pdf")
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert set(body) == {"id", "filename", "content_type", "size", "url"}
    assert body["filename"] == "Perwali 12-2030 tentang posyandu.pdf"
    assert (body["content_type"], body["size"]) == ("application/pdf", len(PDF))
    attachment = await Attachment.get(id=body["id"])
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert body["url"] == (
        f"{PUBLIC}/media/{attachment.token}/Perwali%2012-2030%20tentang%20posyandu.pdf"
    )
    # On disk under the random token, complete, with no temporary file left behind.
    [stored] = stored_files(tmp_path)
    assert stored.name == f"{attachment.token}.pdf" == attachment.stored_name
    assert stored.read_bytes() == PDF

    download = await sbx.get(body["url"].removeprefix(PUBLIC))  # no login: the token is the key
    assert download.status == 200
    assert await download.read() == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == (
        'inline; filename="Perwali 12-2030 tentang posyandu.pdf"; '
        "filename*=UTF-8''Perwali%2012-2030%20tentang%20posyandu.pdf"
    )
    assert download.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_type_comes_from_the_bytes_not_from_the_name_or_the_client(
    sbx: TestClient,
) -> None:
    resp = await upload(sbx, PNG, "C:\\Users\\staf\\foto kegiatan.pdf", "application/pdf")
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    # The path is dropped and the name gets the extension of what the file really is.
    assert (body["filename"], body["content_type"]) == ("foto kegiatan.pdf.png", "image/png")
    resp = await upload(sbx, JPEG, "", "application/octet-stream")
    assert (await resp.json())["filename"] == "lampiran.jpg"


def oversized() -> bytes:
    return PDF + bytes(1024 * 1024)


REFUSED = [
    ("too large", oversized, "dokumen.pdf", 413, "attachment_too_large"),
    ("an exe renamed .pdf", lambda: EXE, "jadwal.pdf", 415, "attachment_type_not_allowed"),
    (
        "html",
        lambda: b"<html><script>alert(1)</script>",
        "a.pdf",
        415,
        "attachment_type_not_allowed",
    ),
    ("empty", lambda: b"", "kosong.pdf", 422, "attachment_empty"),
]


@pytest.mark.parametrize(
    ("label", "data", "filename", "status", "code"), REFUSED, ids=[r[0] for r in REFUSED]
)
async def test_refused_uploads_answer_the_error_format_and_keep_nothing(
    sbx: TestClient, tmp_path: Path, label: str, data: Any, filename: str, status: int, code: str
) -> None:
    resp = await upload(sbx, data(), filename)
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == code and error["message"]
    assert await Attachment.all().count() == 0
    assert stored_files(tmp_path) == []


async def test_an_upload_without_a_file_or_not_multipart_is_refused(sbx: TestClient) -> None:
    token = await make_token()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("title", "no file here")
    resp = await sbx.post("/api/v1/attachments", data=form, headers=bearer(token))
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "no_file"
    resp = await sbx.post("/api/v1/attachments", json={"file": "JVBERi0="}, headers=bearer(token))
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    resp = await sbx.post(
        "/api/v1/attachments",
        data=b"--x\r\nnot a part",
        headers=bearer(token) | {"Content-Type": "multipart/form-data; boundary=y"},
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_multipart"
    assert await Attachment.all().count() == 0


FILE_PART = b'Content-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
# Part headers aiohttp's multipart reader refuses (its HTTP errors, not ValueError): each is a 400.
BROKEN_PART_HEADERS = [
    (
        "a part header over 8 KiB",
        b'Content-Disposition: form-data; name="file"; filename="' + b"a" * 9000 + b'.pdf"\r\n',
    ),
    ("a header line without a colon", FILE_PART + b"not a header\r\n"),
    ("a space in a header name", b"Content Disposition: form-data\r\n"),
    ("too many header lines", FILE_PART + b"X-Pad: 1\r\n" * 200),
]


def multipart_body(*parts: bytes) -> bytes:
    """A multipart/form-data body (boundary `b`) of raw parts: their headers, a blank line, data."""
    return b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"


MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


@pytest.mark.parametrize(
    ("label", "headers"), BROKEN_PART_HEADERS, ids=[case[0] for case in BROKEN_PART_HEADERS]
)
async def test_a_malformed_part_header_is_a_400_and_keeps_nothing(
    sbx: TestClient, tmp_path: Path, label: str, headers: bytes
) -> None:
    body = multipart_body(headers + b"\r\n" + PDF)
    resp = await sbx.post(
        "/api/v1/attachments", data=body, headers=bearer(await make_token()) | MULTIPART
    )
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == "malformed_multipart"
    assert await Attachment.all().count() == 0
    assert stored_files(tmp_path) == []


async def test_uploading_needs_a_token_with_write_access(sbx: TestClient) -> None:
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="a.pdf")
    assert (await sbx.post("/api/v1/attachments", data=form)).status == 401
    official = await make_token(UserRole.OFFICIAL)
    assert (await upload(sbx, PDF, token=official)).status == 403
    assert await Attachment.all().count() == 0


async def test_the_store_stops_reading_at_the_limit(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=256 * 1024, public_url=PUBLIC)
    taken = 0

    async def endless(head: bytes) -> AsyncIterator[bytes]:
        nonlocal taken
        yield head
        while True:
            taken += 1
            yield bytes(64 * 1024)

    with pytest.raises(AttachmentTooLarge):
        await store.save(endless(PDF), "besar.pdf", user=None, scope=Scope(None, None))
    assert taken == 4  # 256 KiB: the chunk that passes the limit is the last one read
    taken = 0
    with pytest.raises(hub_media.AttachmentTypeNotAllowed):
        await store.save(endless(EXE), "program.pdf", user=None, scope=Scope(None, None))
    assert taken == 0  # the first bytes were enough
    assert listing(tmp_path) == []


async def test_only_the_upload_route_takes_large_bodies(
    db: str, tmp_path: Path, clock: FakeClock
) -> None:
    config = with_media(make_config(web={"max_body_kb": 64}), tmp_path, max_attachment_mb=1)
    client = await app_client(config, clock)
    try:
        big = PDF + bytes(700 * 1024)  # over max_body_kb, under max_attachment_mb
        assert (await upload(client, big)).status == 201
        resp = await client.post(
            "/api/v1/broadcasts",
            json={"title": "x", "text": "y" * 100_000, "audience": {"areas": [KELURAHAN]}},
            headers=bearer(await make_token()),
        )
        assert resp.status == 413
        # A declared size over the limit is refused before a byte of it is read.
        resp = await client.post(
            "/api/v1/attachments",
            data=b"x" * 10,
            headers=bearer(await make_token())
            | {
                "Content-Type": "multipart/form-data; boundary=b",
                "Content-Length": str(2 * 1024 * 1024),
            },
        )
        assert resp.status == 413
    finally:
        await client.close()


async def test_downloads_of_anything_else_are_404(sbx: TestClient) -> None:
    body = await (await upload(sbx, PDF, "surat.pdf")).json()
    path = body["url"].removeprefix(PUBLIC)
    token = path.split("/")[2]
    for wrong in (
        f"/media/{token}/lain.pdf",  # the right token with another name
        f"/media/{'0' * 32}/surat.pdf",
        f"/media/{token[:-1]}/surat.pdf",
        f"/media/{token}/..%2F..%2Fconfig.toml",
        "/media/..%2F..%2Fconfig.toml/surat.pdf",
    ):
        resp = await sbx.get(wrong)
        assert resp.status == 404, wrong
        assert (await resp.json())["error"]["code"] == "not_found"
    assert (await sbx.get(path)).status == 200


# Broadcasts with files: the sandbox ------------------------------------------------------------


async def test_one_file_and_a_short_text_go_as_one_message(sbx: TestClient) -> None:
    member = await make_member(f"{KELURAHAN}/RT 001")
    attachment_id = await uploaded(sbx, PDF, "jadwal.pdf")
    broadcast_id = await announced(sbx, [attachment_id])
    assert (await Broadcast.get(id=broadcast_id)).attachment_ids == [attachment_id]
    await send_all(hub_of(sbx))

    [message] = await phone(sbx, member)
    assert SHORT in message["text"]
    assert [b["label"] for b in message["buttons"]] == [ACK]
    [file] = message["attachments"]
    assert (file["filename"], file["content_type"]) == ("jadwal.pdf", "application/pdf")
    assert file["url"].startswith(f"{PUBLIC}/media/")
    [row] = await OutboundMessage.all()  # one request, one row
    assert (row.state, row.attachment_ids) == (OutboxState.SENT, [attachment_id])

    # The RT head taps the button under the file: the delivery is acknowledged as usual.
    tap = await sbx.post(
        f"/api/v1/sandbox/members/{member.id}/messages",
        json={"button": message["buttons"][0]["payload"]},
        headers=bearer(await make_token()),
    )
    assert tap.status == 202
    assert (await Delivery.get()).status == DeliveryStatus.ACKNOWLEDGED


async def test_several_files_follow_the_text_in_order_each_its_own_row(sbx: TestClient) -> None:
    first = await make_member(f"{KELURAHAN}/RT 001")
    second = await make_member(f"{KELURAHAN}/RT 002")
    pdf = await uploaded(sbx, PDF, "jadwal.pdf")
    png = await uploaded(sbx, PNG, "denah.png")
    broadcast_id = await announced(sbx, [pdf, png])
    await send_all(hub_of(sbx))

    for member in (first, second):
        text, file1, file2 = await phone(sbx, member)
        assert SHORT in text["text"] and text["attachments"] == []
        assert [b["label"] for b in text["buttons"]] == [ACK]
        assert [f["filename"] for f in file1["attachments"]] == ["jadwal.pdf"]
        assert [f["filename"] for f in file2["attachments"]] == ["denah.png"]
        assert file1["text"] == file2["text"] == ""

    rows = await OutboundMessage.all().order_by("id")
    assert all(r.state == OutboxState.SENT for r in rows)
    assert len(rows) == 6  # one row per request: 2 texts and 4 files
    texts = [r for r in rows if r.kind == MessageKind.BROADCAST]
    files = [r for r in rows if r.kind == MessageKind.NOTICE]
    assert [r.attachment_ids for r in texts] == [None, None]  # the text went alone
    assert sorted(r.attachment_ids for r in files) == [[pdf], [pdf], [png], [png]]
    # Tied to the broadcast (a cancel stops them), not to the delivery (receipts are the text's).
    assert {(r.broadcast_id, r.delivery_id) for r in files} == {(broadcast_id, None)}


async def test_an_unknown_attachment_is_refused_and_nothing_is_created(sbx: TestClient) -> None:
    await make_member(f"{KELURAHAN}/RT 001")
    known = await uploaded(sbx)
    resp = await announce(sbx, [known, 987654])
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "unknown_attachment" and "987654" in error["message"]
    assert await Broadcast.all().count() == 0
    assert await Delivery.all().count() == 0
    assert await OutboundMessage.all().count() == 0
    resp = await announce(sbx, list(range(1, 12)))
    assert resp.status == 422  # more than ten: the schema refuses it
    assert await Broadcast.all().count() == 0


async def test_a_scheduled_broadcast_keeps_its_files(sbx: TestClient, clock: FakeClock) -> None:
    member = await make_member(f"{KELURAHAN}/RT 001")
    attachment_id = await uploaded(sbx)
    later = (clock.now.replace(microsecond=0) + LEASE * 30).isoformat()
    resp = await sbx.post(
        "/api/v1/broadcasts",
        json={
            "title": "Posyandu",
            "text": SHORT,
            "audience": {"members": [member.id]},
            "send_at": later,
            "attachments": [attachment_id],
        },
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    broadcast = await Broadcast.get()
    assert broadcast.attachment_ids == [attachment_id]


async def test_a_scheduled_broadcast_can_change_its_files(
    sbx: TestClient, clock: FakeClock
) -> None:
    member = await make_member(f"{KELURAHAN}/RT 001")
    first, second = await uploaded(sbx), await uploaded(sbx, PNG, "peta.png")
    token = await make_token()
    resp = await sbx.post(
        "/api/v1/broadcasts",
        json={
            "title": "Posyandu",
            "text": SHORT,
            "audience": {"members": [member.id]},
            "send_at": (clock.now + LEASE * 30).isoformat(),
            "attachments": [first],
        },
        headers=bearer(token),
    )
    url = f"/api/v1/broadcasts/{(await resp.json())['id']}"
    resp = await sbx.patch(url, json={"attachments": [second, first]}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    assert (await Broadcast.get()).attachment_ids == [second, first]
    resp = await sbx.patch(url, json={"attachments": [987654]}, headers=bearer(token))
    assert resp.status == 422
    assert (await Broadcast.get()).attachment_ids == [second, first]
    resp = await sbx.patch(url, json={"attachments": []}, headers=bearer(token))
    assert resp.status == 200
    assert (await Broadcast.get()).attachment_ids is None


async def test_cancelling_stops_the_files_not_sent_yet(sbx: TestClient) -> None:
    member = await make_member(f"{KELURAHAN}/RT 001")
    other = await make_member(f"{KELURAHAN}/RT 002")
    ids = [await uploaded(sbx, PDF, "a.pdf"), await uploaded(sbx, PNG, "b.png")]
    broadcast_id = await announced(sbx, ids)
    hub_of(sbx).sender.batch_size = 1
    assert await hub_of(sbx).sender.run_once() == 1  # one text; its first file is now queued
    waiting = await OutboundMessage.get(kind=MessageKind.NOTICE)
    assert (waiting.state, waiting.attachment_ids) == (OutboxState.QUEUED, ids)
    resp = await sbx.post(
        f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=bearer(await make_token())
    )
    assert resp.status == 200
    await send_all(hub_of(sbx))
    await waiting.refresh_from_db()
    assert waiting.state == OutboxState.CANCELLED
    assert [m["attachments"] for m in await phone(sbx, member)] == [[]]
    assert await phone(sbx, other) == []


async def test_the_text_is_recorded_sent_only_together_with_its_next_file(
    sbx: TestClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash safety: the row that records the text as sent and the row of the next file are
    written in one transaction, so no state has the text sent and its files forgotten."""
    member = await make_member(f"{KELURAHAN}/RT 001")
    ids = [await uploaded(sbx, PDF, "a.pdf"), await uploaded(sbx, PNG, "b.png")]
    await announced(sbx, ids)
    hub = hub_of(sbx)

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(hub_media, "_follow_up", crash)
    with pytest.raises(ExceptionGroup):
        await hub.sender.run_once()
    monkeypatch.undo()
    text_row = await OutboundMessage.get(kind=MessageKind.BROADCAST)
    # Not recorded as sent (the transaction rolled back), so nothing of it is lost...
    assert (text_row.state, text_row.attachment_ids) == (OutboxState.SENDING, ids)
    assert not await OutboundMessage.filter(kind=MessageKind.NOTICE).exists()
    assert (await Delivery.get()).status == DeliveryStatus.PENDING

    # ...and once the lease runs out it goes again (the known duplicate bound: the request had
    # reached the platform), this time with its files following, each exactly once.
    clock.advance(seconds=LEASE.total_seconds() + 1)
    await send_all(hub)
    messages = await phone(sbx, member)
    assert [SHORT in m["text"] for m in messages] == [True, True, False, False]
    assert [[f["filename"] for f in m["attachments"]] for m in messages] == [
        [],
        [],
        ["a.pdf"],
        ["b.png"],
    ]
    files = await OutboundMessage.filter(kind=MessageKind.NOTICE).order_by("id")
    assert [(r.state, r.attachment_ids) for r in files] == [
        (OutboxState.SENT, [ids[0]]),
        (OutboxState.SENT, [ids[1]]),
    ]


# Telegram ------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def tg(
    db: str, bot_api: FakeBotAPI, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[TestClient]:
    client = await app_client(with_media(telegram_config(bot_api), tmp_path), clock)
    yield client
    await client.close()


def calls_in(fake: FakeBotAPI, chat_id: int) -> list[tuple[str, dict[str, Any]]]:
    sends = ("sendMessage", "sendDocument", "sendPhoto")
    return [
        (c.method, c.params)
        for c in fake.calls
        if c.method in sends and c.params.get("chat_id") == chat_id
    ]


async def test_telegram_uploads_a_file_once_and_sends_it_with_the_caption_and_button(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    await telegram_member(7001)
    await telegram_member(7002)
    attachment_id = await uploaded(tg, PDF, "jadwal posyandu.pdf")
    await announced(tg, [attachment_id])
    await send_all(hub_of(tg))

    [(method, first)] = calls_in(bot_api, 7001)
    [(_, second)] = calls_in(bot_api, 7002)
    assert method == "sendDocument"
    [upload_] = bot_api.uploads  # uploaded for the first RT head, reused for the second
    assert (upload_.filename, upload_.data) == ("jadwal posyandu.pdf", PDF)
    assert upload_.content_type == "application/pdf"
    assert {first["document"], second["document"]} == {"jadwal posyandu.pdf", upload_.file_id}
    for params in (first, second):
        assert SHORT in params["caption"] and "<b>Posyandu</b>" in params["caption"]
        assert params["parse_mode"] == "HTML"
        [[button]] = params["reply_markup"]["inline_keyboard"]
        assert button["text"] == ACK

    # The tap on the button under the file: the caption (there is no text) shows the confirmation.
    delivery = await Delivery.get(member__addresses__address="7001")
    chat, message_id = map(int, str(delivery.external_id).split(":"))
    payload = first["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert await post_update(tg, callback_update(7001, chat, message_id, payload)) == 200
    await send_all(hub_of(tg))
    assert (await Delivery.get(id=delivery.id)).status == DeliveryStatus.ACKNOWLEDGED
    [edit] = bot_api.calls_to("editMessageCaption")
    assert "reply_markup" not in edit or edit["reply_markup"] == {"inline_keyboard": []}
    assert bot_api.message_text(chat, message_id).endswith("✅ Sudah dikonfirmasi")


async def test_telegram_sends_images_as_photos_and_a_long_text_first(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    await telegram_member(7003)
    png = await uploaded(tg, PNG, "denah.png")
    long_text = "Posyandu di balai RT. " * 60  # over Telegram's 1024-character caption
    await announced(tg, [png], text=long_text)
    await send_all(hub_of(tg))
    [(text_method, text), (file_method, photo)] = calls_in(bot_api, 7003)
    assert text_method == "sendMessage" and long_text.strip()[:50] in text["text"]
    assert "inline_keyboard" in text["reply_markup"]  # the button stays with the text
    assert file_method == "sendPhoto" and photo["photo"] == "denah.png"
    assert "caption" not in photo and "reply_markup" not in photo


def test_a_caption_edit_over_the_limit_keeps_its_last_paragraph() -> None:
    mark = "✅ Sudah dikonfirmasi"
    fitted = fit_caption("📢 Posyandu " * 100 + "\n\n" + mark)
    assert len(fitted.encode("utf-16-le")) // 2 <= 1024
    assert fitted.startswith("📢 Posyandu") and fitted.endswith("…\n\n" + mark)
    assert fit_caption("pendek\n\n" + mark) == "pendek\n\n" + mark


# WhatsApp ------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def wa(
    db: str, graph: FakeGraphAPI, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[TestClient]:
    """The hub with WhatsApp, both on `clock`, which starts at the real time: the members' last
    messages (whatsapp_member) and the platform's timestamps count from it."""
    clock.now = dt.datetime.now(dt.UTC)
    app = create_app(
        with_media(whatsapp_config(graph), tmp_path),
        clock=clock,
        manage_database=False,
        run_workers=False,
    )
    whatsapp_on_the_hub_clock(app[HUB])
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


def uploads_to(graph: FakeGraphAPI) -> list[Any]:
    return [c.body for c in graph.calls if c.method == "POST" and c.path.endswith("/media")]


def kinds(graph: FakeGraphAPI, phone_number: str) -> list[str]:
    return [m.get("type", "text") for m in graph.messages(phone_number)]


async def test_whatsapp_inside_the_window_sends_the_buttons_then_the_file_by_media_id(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    await whatsapp_member(SITI, wrote=dt.timedelta(hours=1))
    await whatsapp_member(BUDI, wrote=dt.timedelta(hours=2))
    attachment_id = await uploaded(wa, PDF, "jadwal.pdf")
    await announced(wa, [attachment_id])
    await send_all(hub_of(wa))

    assert len(uploads_to(graph)) == 1  # one upload for every recipient
    [media_id] = graph.media
    assert graph.media[media_id].data == PDF
    for number in (SITI, BUDI):
        # Buttons cannot ride on a document: the interactive text first, then the file.
        interactive, document = graph.messages(number)
        assert interactive["type"] == "interactive"
        assert SHORT in interactive["interactive"]["body"]["text"]
        assert document["type"] == "document"
        assert document["document"] == {"id": media_id, "filename": "jadwal.pdf"}
    assert await OutboundMessage.filter(state=OutboxState.SENT).count() == 4


async def test_whatsapp_without_buttons_sends_one_image_with_its_caption(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    await whatsapp_member(SITI, wrote=dt.timedelta(minutes=30))
    png = await uploaded(wa, PNG, "denah.png")
    await announced(wa, [png], ack_required=False)
    await send_all(hub_of(wa))
    [image] = graph.messages(SITI)
    assert image["type"] == "image"
    assert SHORT in image["image"]["caption"] and "filename" not in image["image"]
    assert await OutboundMessage.all().count() == 1


async def test_whatsapp_outside_the_window_the_file_waits_for_the_member_to_write(
    wa: TestClient, graph: FakeGraphAPI, clock: FakeClock
) -> None:
    await whatsapp_member(SITI, wrote=None)
    attachment_id = await uploaded(wa, PDF, "jadwal.pdf")
    await announced(wa, [attachment_id])
    hub = hub_of(wa)
    await send_all(hub)
    assert kinds(graph, SITI) == ["template"]  # only a template may go
    waiting = await OutboundMessage.get(kind=MessageKind.NOTICE)
    assert (waiting.state, waiting.failure_reason) == (OutboxState.QUEUED, WAITING_FOR_WINDOW)
    assert uploads_to(graph) == []
    clock.advance(seconds=RELEASE_EVERY.total_seconds() + 1)
    await send_all(hub)
    assert kinds(graph, SITI) == ["template"]  # still nobody wrote

    # The RT head taps the template's button: that opens the window, and the file follows.
    [(template_wamid, _)] = graph.accepted
    delivery = await Delivery.get()
    payload = graph.messages(SITI)[0]["template"]["components"][1]["parameters"][0]["payload"]
    assert await post_webhook(wa, template_button(SITI, payload, template_wamid)) == 200
    assert (await Delivery.get(id=delivery.id)).status == DeliveryStatus.ACKNOWLEDGED
    clock.advance(seconds=RELEASE_EVERY.total_seconds() + 1)
    await send_all(hub)
    assert kinds(graph, SITI) == ["template", "text", "document"]  # the thanks, then the file
    await waiting.refresh_from_db()
    assert (waiting.state, waiting.failure_reason) == (OutboxState.SENT, None)


async def test_whatsapp_a_file_that_waited_seven_days_fails(
    wa: TestClient, graph: FakeGraphAPI, clock: FakeClock
) -> None:
    await whatsapp_member(SITI, wrote=None)
    await announced(wa, [await uploaded(wa)])
    await send_all(hub_of(wa))
    clock.advance(days=7, seconds=1)
    await send_all(hub_of(wa))
    waiting = await OutboundMessage.get(kind=MessageKind.NOTICE)
    assert waiting.state == OutboxState.FAILED
    assert FILE_WAIT_OVER in str(waiting.failure_reason)
    assert kinds(graph, SITI) == ["template"]
    assert (await Delivery.get()).status == DeliveryStatus.SENT  # the announcement itself went


async def test_whatsapp_a_window_closed_by_the_platform_holds_the_file_until_they_write(
    wa: TestClient, graph: FakeGraphAPI, clock: FakeClock
) -> None:
    await whatsapp_member(SITI, wrote=dt.timedelta(hours=23))
    graph.fail(131047, message_type="document")  # our clock said open; WhatsApp knows better
    await announced(wa, [await uploaded(wa)])
    hub = hub_of(wa)
    await send_all(hub)
    waiting = await OutboundMessage.get(kind=MessageKind.NOTICE)
    assert (waiting.state, waiting.failure_reason) == (OutboxState.QUEUED, WAITING_FOR_WINDOW)
    address = await ChannelAddress.get(address=SITI)
    assert address.last_inbound_at is None  # so it is not released again before they write
    clock.advance(seconds=RELEASE_EVERY.total_seconds() + 1)
    await send_all(hub)
    assert kinds(graph, SITI) == ["interactive", "document"]  # the refused one, not retried

    assert await post_webhook(wa, text_from(SITI, "Baik, terima kasih")) == 200
    clock.advance(seconds=RELEASE_EVERY.total_seconds() + 1)
    await send_all(hub)
    assert kinds(graph, SITI)[-1] == "document"
    assert kinds(graph, SITI).count("document") == 2
    await waiting.refresh_from_db()
    assert waiting.state == OutboxState.SENT


# The dashboard's compose form ------------------------------------------------------------------


async def test_the_compose_form_uploads_files_behind_its_csrf_token(
    web: TestClient, tmp_path: Path
) -> None:
    member = await make_member(f"{KELURAHAN}/RT 001")
    await log_in(web)
    page = await (await web.get("/broadcasts/new")).text()
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    token = await csrf_token(web)

    def form(csrf: str | None, data: bytes, filename: str) -> aiohttp.FormData:
        body = aiohttp.FormData()
        if csrf is not None:
            body.add_field("csrf_token", csrf)
        body.add_field("title", "Posyandu")
        body.add_field("text", SHORT)
        body.add_field("areas", KELURAHAN)
        body.add_field("ack_required", "1")
        body.add_field("file", data, filename=filename, content_type="application/pdf")
        return body

    # Without the token first, nothing is read: no file stored, no broadcast.
    resp = await web.post("/broadcasts/new", data=form(None, PDF, "a.pdf"), allow_redirects=False)
    assert resp.status == 403
    assert await Attachment.all().count() == 0 and stored_files(tmp_path) == []

    # A refused file: the form comes back with what was typed and the reason.
    resp = await web.post("/broadcasts/new", data=form(token, EXE, "a.pdf"), allow_redirects=False)
    assert resp.status == 415
    page = await resp.text()
    assert "Hanya berkas PDF, JPEG atau PNG" in page and 'value="Posyandu"' in page
    assert await Broadcast.all().count() == 0

    resp = await web.post(
        "/broadcasts/new", data=form(token, PDF, "jadwal.pdf"), allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    broadcast = await Broadcast.get()
    [attachment] = await Attachment.all()
    assert broadcast.attachment_ids == [attachment.id] and attachment.filename == "jadwal.pdf"
    await send_all(hub_of(web))
    [message] = await phone(web, member)
    assert [f["filename"] for f in message["attachments"]] == ["jadwal.pdf"]
    phone_page = await (await web.get(f"/sandbox/{member.id}")).text()
    assert f'href="/media/{attachment.token}/jadwal.pdf"' in phone_page


async def test_a_form_with_an_error_keeps_the_uploaded_file(web: TestClient) -> None:
    await make_member(f"{KELURAHAN}/RT 001")
    await log_in(web)
    body = aiohttp.FormData()
    body.add_field("csrf_token", await csrf_token(web))
    body.add_field("title", "")
    body.add_field("text", SHORT)
    body.add_field("areas", KELURAHAN)
    body.add_field("file", PDF, filename="jadwal.pdf", content_type="application/pdf")
    resp = await web.post("/broadcasts/new", data=body, allow_redirects=False)
    assert resp.status == 422
    [attachment] = await Attachment.all()
    page = await resp.text()
    assert f'name="attachments" value="{attachment.id}" checked' in page
    assert "jadwal.pdf" in page


@pytest.mark.parametrize(
    ("label", "headers"), BROKEN_PART_HEADERS, ids=[case[0] for case in BROKEN_PART_HEADERS]
)
async def test_the_compose_form_answers_a_malformed_part_header_with_a_400(
    web: TestClient, tmp_path: Path, label: str, headers: bytes
) -> None:
    await make_member(f"{KELURAHAN}/RT 001")
    await log_in(web)
    csrf = b'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
    csrf += (await csrf_token(web)).encode()
    title = b'Content-Disposition: form-data; name="title"\r\n\r\nPosyandu'
    # Broken after the token (while the files are read) and in the first part (the token's).
    for body in (
        multipart_body(csrf, title, headers + b"\r\n" + PDF),
        multipart_body(headers + b"\r\n" + PDF),
    ):
        resp = await web.post(
            "/broadcasts/new", data=body, headers=MULTIPART, allow_redirects=False
        )
        assert resp.status == 400, await resp.text()
    assert await Attachment.all().count() == 0 and stored_files(tmp_path) == []
    assert await Broadcast.all().count() == 0


# Configuration -------------------------------------------------------------------------------


def test_media_settings_default_and_are_checked(tmp_path: Path) -> None:
    store = MediaStore.from_config(Config())
    assert store.folder == Path("data") / "media"
    assert store.max_bytes == 10 * 1024 * 1024
    path = tmp_path / "config.toml"
    path.write_text('[broadcast]\nmedia_dir = "/srv/balai/media"\nmax_attachment_mb = 20\n')
    config = load_config(path, environ={})
    assert MediaStore.from_config(config).folder == Path("/srv/balai/media")
    for value in ("0", "51"):
        with pytest.raises(ConfigError) as refused:
            load_config(path, environ={"HUB_BROADCAST_MAX_ATTACHMENT_MB": value})
        assert refused.value.key == "broadcast.max_attachment_mb"
