"""Files members send outside a dialog, in the staff inbox: a Telegram photo (getFile and the
download on the fake Bot API) and a WhatsApp voice note (media URL and download on the fake Graph
API) land in the thread with their file, served to staff of the member's area and 404 to anyone
else's; a file too large or of the wrong type is answered politely and the message kept without
it; a message made a ticket takes its file along."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from hub.access.auth import open_session
from hub.app import HUB, Hub, create_app
from hub.core.texts import text as say
from hub.web.dashboard.base import SESSION_COOKIE
from models import FeedbackFile, InboxMessage, OutboundMessage, Ticket, User, UserRole
from tests.conftest import PUBLIC_URL, make_config, telegram_settings, whatsapp_settings
from tests.factories import bearer, make_token, make_user
from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram_hub import message_update, post_update, telegram_member
from tests.test_whatsapp_hub import inbound, post_webhook, whatsapp_member

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 2000
OGG = b"OggS\x00\x02" + b"\x00" * 3000
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 100
SITI = "+6281234567001"
KELURAHAN = "Sungai Kunjang/Loa Bakung"
OTHER = "Sungai Kunjang/Karang Asam"
CAPTION = "Selokan depan rumah Pak RT meluap"
MAX_MB = 1  # [feedback] max_file_mb in these tests: a file over it stays small enough to send


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def said(key: str, **values: Any) -> str:
    return say("id", key, hub=make_config().hub.name, **values)


async def answers(address: str) -> list[str]:
    """What the hub queued for the chat, oldest first."""
    return [m.text for m in await OutboundMessage.filter(address=address).order_by("id")]


def media_config(tmp_path: Path, **channel: dict[str, object]) -> Any:
    return make_config(
        hub={"public_url": PUBLIC_URL},
        broadcast={"media_dir": str(tmp_path / "media")},
        feedback={"max_file_mb": MAX_MB},
        **channel,
    )


@pytest_asyncio.fixture
async def tg(db: str, bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[TestClient]:
    config = media_config(tmp_path, telegram=telegram_settings(bot_api))
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest_asyncio.fixture
async def wa(db: str, graph: FakeGraphAPI, tmp_path: Path) -> AsyncIterator[TestClient]:
    config = media_config(tmp_path, whatsapp=whatsapp_settings(graph))
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def api(client: TestClient, token: str, path: str) -> tuple[int, Any]:
    resp = await client.get("/api/v1" + path, headers=bearer(token))
    return resp.status, await resp.json()


async def sign_in(client: TestClient, user: User) -> None:
    client.session.cookie_jar.clear()
    token, _ = await open_session(user, 1, dt.datetime.now(dt.UTC))
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token}, client.make_url("/"))


def telegram_photo(bot_api: FakeBotAPI, data: bytes, *, told: int | None = None) -> list[dict]:
    file_id = bot_api.add_file(data, "image/jpeg", "photo.jpg")
    size = len(data) if told is None else told
    return [{"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600,
             "file_size": size}]  # fmt: skip


async def assert_served_in_scope(client: TestClient, url: str, data: bytes, kind: str) -> None:
    """The API URL of an inbox file: its bytes to staff of the area, 404 to another area's."""
    ours = await make_token(UserRole.STAFF, (KELURAHAN,))
    theirs = await make_token(UserRole.STAFF, (OTHER,))
    resp = await client.get(url, headers=bearer(ours))
    assert resp.status == 200, await resp.text()
    assert await resp.read() == data
    assert resp.headers["Content-Type"] == kind
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    refused = await client.get(url, headers=bearer(theirs))
    assert refused.status == 404
    assert (await refused.json())["error"]["code"] == "not_found"


async def assert_page_serves_in_scope(
    client: TestClient, member_id: int, url: str, tag: str, data: bytes
) -> None:
    """The dashboard thread shows the file as `tag`; the file route answers the area's staff
    with its bytes and another area's staff with 404."""
    await sign_in(client, await make_user(UserRole.STAFF, (KELURAHAN,)))
    page = await (await client.get(f"/inbox/{member_id}")).text()
    assert re.search(rf'<{tag}[^>]*src="{re.escape(url)}"', page), page
    resp = await client.get(url)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    await sign_in(client, await make_user(UserRole.STAFF, (OTHER,)))
    assert (await client.get(url)).status == 404


async def test_a_telegram_photo_lands_in_the_thread_with_its_file(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    member = await telegram_member(7001, name="Pak Darto")
    photo = telegram_photo(bot_api, JPEG)
    assert await post_update(tg, message_update(7001, photo=photo, caption=CAPTION)) == 200
    assert bot_api.calls_to("getFile")[-1]["file_id"] == photo[0]["file_id"]
    assert await answers("7001") == [said("media_received")]

    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    status, thread = await api(tg, token, f"/inbox/members/{member.id}")
    assert status == 200
    [message] = thread["messages"]
    [file] = await FeedbackFile.filter(inbox_message_id=message["id"])
    assert (message["kind"], message["text"]) == ("photo", CAPTION)
    url = f"/api/v1/inbox/messages/{message['id']}/files/{file.id}"
    assert message["files"] == [
        {"id": file.id, "kind": "photo", "content_type": "image/jpeg", "size": len(JPEG),
         "url": url},
    ]  # fmt: skip
    assert file.member_id == member.id and file.ticket_id is None  # type: ignore[attr-defined]
    await assert_served_in_scope(tg, url, JPEG, "image/jpeg")
    status, listed = await api(tg, token, "/inbox")
    assert listed["threads"][0]["last_message"]["files"] == message["files"]
    # Another area's staff see no thread, and no file through another message's id either.
    theirs = await make_token(UserRole.STAFF, (OTHER,))
    assert (await api(tg, theirs, f"/inbox/members/{member.id}"))[0] == 404
    dashboard_url = f"/inbox/messages/{message['id']}/files/{file.id}"
    await assert_page_serves_in_scope(tg, member.id, dashboard_url, "img", JPEG)
    wrong_message = f"/api/v1/inbox/messages/{message['id'] + 1}/files/{file.id}"
    assert (await tg.get(wrong_message, headers=bearer(token))).status == 404


async def test_a_whatsapp_voice_note_lands_in_the_thread_with_its_file(
    wa: TestClient, graph: FakeGraphAPI
) -> None:
    member = await whatsapp_member(SITI)
    voice_id = graph.add_media(OGG, "audio/ogg; codecs=opus")
    voice = {"mime_type": "audio/ogg; codecs=opus", "id": voice_id, "voice": True}
    assert await post_webhook(wa, inbound(SITI, "audio", voice)) == 200
    assert await answers(SITI) == [said("media_received")]

    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    status, thread = await api(wa, token, f"/inbox/members/{member.id}")
    assert status == 200
    [message] = thread["messages"]
    [file] = message["files"]
    assert (message["kind"], file["kind"], file["content_type"], file["size"]) == (
        "voice",
        "voice",
        "audio/ogg",
        len(OGG),
    )
    await assert_served_in_scope(wa, file["url"], OGG, "audio/ogg")
    dashboard_url = file["url"].removeprefix("/api/v1")
    await assert_page_serves_in_scope(wa, member.id, dashboard_url, "audio", OGG)


async def test_too_large_or_the_wrong_type_is_answered_and_the_message_kept(
    tg: TestClient, bot_api: FakeBotAPI, wa: TestClient, graph: FakeGraphAPI, tmp_path: Path
) -> None:
    await telegram_member(7002)
    # Telegram tells the size first: refused without downloading it.
    declared = telegram_photo(bot_api, JPEG, told=2 * 1024 * 1024)
    assert await post_update(tg, message_update(7002, photo=declared, caption="Foto besar")) == 200
    assert bot_api.calls_to("getFile") == []
    too_large = said("dialog_file_too_large", max_mb=MAX_MB)
    assert await answers("7002") == [too_large]

    await whatsapp_member(SITI)
    # WhatsApp: a document that is not one (the bytes say so), then a file larger than it said.
    exe = graph.add_media(EXE, "application/pdf", "surat.pdf")
    document = {"id": exe, "mime_type": "application/pdf", "filename": "surat.pdf"}
    assert await post_webhook(wa, inbound(SITI, "document", document)) == 200
    big = graph.add_media(b"\xff\xd8\xff" + b"\x00" * (MAX_MB * 1024 * 1024), declared_size=900)
    assert await post_webhook(wa, inbound(SITI, "image", {"id": big, "mime_type": "image/jpeg"}))
    wrong_type = said("dialog_file_wrong_type", accepted=said("dialog_file_types"))
    assert await answers(SITI) == [wrong_type, too_large]

    rows = await InboxMessage.all().order_by("id").values_list("channel", "kind", "text")
    assert rows == [
        ("telegram", "photo", "Foto besar"),
        ("whatsapp", "document", ""),
        ("whatsapp", "photo", ""),
    ]
    assert not await FeedbackFile.exists()
    assert list((tmp_path / "media").glob("feedback-*")) == []  # nothing kept on disk either
    # Staff see that something came, without a file.
    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    threads = (await api(tg, token, "/inbox"))[1]["threads"]
    assert [t["last_message"]["files"] for t in threads] == [[], []]


async def test_a_message_made_a_ticket_takes_its_file_along(
    tg: TestClient, bot_api: FakeBotAPI
) -> None:
    member = await telegram_member(7003)
    file_id = bot_api.add_file(PDF, "application/pdf", "pengantar.pdf")
    document = {"file_id": file_id, "file_unique_id": "d1", "file_name": "pengantar.pdf",
                "mime_type": "application/pdf", "file_size": len(PDF)}  # fmt: skip
    caption = "Surat pengantar untuk perbaikan jalan di gang 3"
    assert await post_update(tg, message_update(7003, document=document, caption=caption)) == 200
    message = await InboxMessage.get(member_id=member.id)
    [file] = await FeedbackFile.filter(inbox_message_id=message.id)
    assert (file.kind, file.content_type, file.filename) == (
        "document",
        "application/pdf",
        "pengantar.pdf",
    )
    await sign_in(tg, await make_user(UserRole.STAFF, (KELURAHAN,)))
    page = await (await tg.get(f"/inbox/{member.id}")).text()
    assert f'href="/inbox/messages/{message.id}/files/{file.id}">📄 pengantar.pdf' in page

    token = await make_token(UserRole.STAFF, (KELURAHAN,))
    resp = await tg.post(
        f"/api/v1/inbox/messages/{message.id}/ticket",
        json={"kind": "aduan", "category": "jalan"},
        headers=bearer(token),
    )
    assert resp.status == 201, await resp.text()
    number = (await resp.json())["number"]
    ticket = await Ticket.get(number=number)
    await file.refresh_from_db()
    assert (file.ticket_id, file.inbox_message_id) == (ticket.id, message.id)  # type: ignore[attr-defined]

    status, detail = await api(tg, token, f"/complaints/{number}")
    assert status == 200
    url = f"/api/v1/complaints/{number}/files/{file.id}"
    assert [(f["id"], f["kind"], f["url"]) for f in detail["files"]] == [(file.id, "document", url)]
    served = await tg.get(url, headers=bearer(token))
    assert served.status == 200 and await served.read() == PDF
    ticket_page = await (await tg.get(f"/complaints/{number}")).text()
    assert f"/complaints/{number}/files/{file.id}" in ticket_page
    # The thread keeps showing it beside the ticket's number.
    [shown] = (await api(tg, token, f"/inbox/members/{member.id}"))[1]["messages"]
    assert (shown["ticket"], [f["id"] for f in shown["files"]]) == (number, [file.id])
