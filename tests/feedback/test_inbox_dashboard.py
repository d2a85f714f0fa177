"""Kotak masuk in the dashboard: the badge, the thread list, the thread page and its forms."""

from __future__ import annotations

import datetime as dt
import re

from aiohttp.test_utils import TestClient

from hub.access.auth import open_session
from hub.app import HUB, Hub
from hub.web.dashboard.base import SESSION_COOKIE
from hub.web.dashboard.texts import TEXTS
from models import ChannelAddress, InboxDirection, InboxMessage, Ticket, User, UserRole
from tests.factories import make_member, make_user

KELURAHAN = "Sungai Kunjang/Loa Bakung"
QUESTION = "Pak, kapan jadwal fogging di RT kami? Nyamuk banyak sekali."


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


async def sign_in(client: TestClient, user: User) -> str:
    client.session.cookie_jar.clear()
    token, session = await open_session(user, 1, dt.datetime.now(dt.UTC))
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token}, client.make_url("/"))
    return session.csrf_token


async def question_from(hub: Hub, name: str) -> int:
    member = await make_member(f"{KELURAHAN}/RT 001", name=name)
    await hub.channels["sandbox"].act(f"sandbox-{member.id}", text=QUESTION)  # type: ignore[attr-defined]
    return member.id


def badge(page: str) -> str | None:
    found = re.search(
        r'href="/inbox"[^>]*>Kotak masuk\s*<span class="nav-count" data-unread="(\d+)"', page
    )
    return found.group(1) if found else None


async def test_staff_read_answer_and_make_a_ticket_from_the_dashboard(client: TestClient) -> None:
    hub = hub_of(client)
    member_id = await question_from(hub, "Bu Sari")
    csrf = await sign_in(client, await make_user(UserRole.STAFF, (KELURAHAN,)))

    listing = await (await client.get("/inbox")).text()
    assert badge(listing) == "1"
    assert "Belum dibaca (1)" in listing and "Bu Sari" in listing

    page = await (await client.get(f"/inbox/{member_id}")).text()
    assert QUESTION in page and "Jadikan tiket" in page and "Kirim lewat Sandbox" in page
    assert TEXTS["inbox_window_closed"] not in page  # the sandbox has no window
    assert badge(page) is None  # opening the thread read it
    assert (await InboxMessage.get(member_id=member_id)).read_at is not None

    resp = await client.post(
        f"/inbox/{member_id}/reply",
        data={"csrf_token": csrf, "text": "Kamis pagi, Bu."},
        allow_redirects=False,
    )
    assert (resp.status, resp.headers["Location"]) == (
        303,
        f"/inbox/{member_id}?notice=inbox_replied",
    )
    assert await InboxMessage.filter(direction=InboxDirection.OUT, text="Kamis pagi, Bu.").exists()
    empty = await client.post(
        f"/inbox/{member_id}/reply", data={"csrf_token": csrf, "text": " "}, allow_redirects=False
    )
    assert empty.headers["Location"].endswith("notice=inbox_reply_empty")

    [question] = await InboxMessage.filter(direction=InboxDirection.IN)
    form = {"csrf_token": csrf, "kind": "aduan", "category": "drainase/banjir", "description": ""}
    made = await client.post(
        f"/inbox/messages/{question.id}/ticket", data=form, allow_redirects=False
    )
    ticket = await Ticket.get()
    assert made.headers["Location"] == (
        f"/inbox/{member_id}?notice=inbox_ticket_made&number={ticket.number}"
    )
    assert ticket.description == QUESTION
    again = await client.post(
        f"/inbox/messages/{question.id}/ticket", data=form, allow_redirects=False
    )
    assert again.headers["Location"].endswith("notice=inbox_ticket_twice")
    page = await (await client.get(made.headers["Location"])).text()
    assert ticket.number in page and TEXTS["inbox_ticket_made"].format(number=ticket.number) in page


async def test_the_window_note_shows_when_only_a_template_can_go(client: TestClient) -> None:
    hub = hub_of(client)
    member_id = await question_from(hub, "Pak Darto")
    # As if the member's platform closed the free-text window: ask the channel class, not a name.
    sandbox = type(hub.channels["sandbox"])
    original = sandbox.free_text_window
    sandbox.free_text_window = dt.timedelta(hours=24)
    try:
        await ChannelAddress.filter(member_id=member_id).update(
            last_inbound_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
        )
        await sign_in(client, await make_user(UserRole.STAFF, (KELURAHAN,)))
        page = await (await client.get(f"/inbox/{member_id}")).text()
    finally:
        sandbox.free_text_window = original
    assert TEXTS["inbox_window_closed"] in page


async def test_officials_read_without_marking_read_or_forms(client: TestClient) -> None:
    hub = hub_of(client)
    member_id = await question_from(hub, "Bu Sari")
    await sign_in(client, await make_user(UserRole.OFFICIAL, (KELURAHAN,)))
    page = await (await client.get(f"/inbox/{member_id}")).text()
    assert QUESTION in page
    assert "Jadikan tiket" not in page and f'action="/inbox/{member_id}/reply"' not in page
    assert (await InboxMessage.get(member_id=member_id)).read_at is None
    other = await sign_in(client, await make_user(UserRole.STAFF, ("Sungai Kunjang/Karang Asam",)))
    assert other
    assert (await client.get(f"/inbox/{member_id}")).status == 404
    assert "Bu Sari" not in await (await client.get("/inbox")).text()
