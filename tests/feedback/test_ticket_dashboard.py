"""The complaint pages: the board by status with SLA flags and the nav count, one ticket with its
photo and history, the forms that move, note, message and assign it, and officials read-only."""

from __future__ import annotations

import datetime as dt
import html
import re

from aiohttp.test_utils import TestClient

from hub.app import HUB
from models import Ticket, TicketEvent, TicketStatus, UserRole
from tests.conftest import FakeClock
from tests.factories import bearer, make_member, make_token, make_user
from tests.feedback.test_ticket_api import (
    JPEG,
    KELURAHAN,
    OTHER,
    WITA,
    _stored_file,
    config,  # noqa: F401 - the module's configuration (prefixes, holiday, media folder)
    file,
    shown,
)
from tests.test_dashboard import PASSWORD, login_attempt


async def log_in(client: TestClient, role: UserRole, area: str = KELURAHAN) -> str:
    """Sign in as a new user of that role and area; returns the page's CSRF token."""
    user = await make_user(role, (area,))
    status, _ = await login_attempt(client, user.username, PASSWORD)
    assert status == 303
    page = await (await client.get("/complaints")).text()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found
    return html.unescape(found.group(1))


async def test_the_board_shows_open_tickets_by_status_with_sla_flags(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = timed.app[HUB]
    clock.now = dt.datetime(2030, 3, 7, 10, 0, tzinfo=WITA).astimezone(dt.UTC)
    late = await file(hub, await make_member(f"{KELURAHAN}/RT 001"), description="Lama")
    clock.now = dt.datetime(2030, 3, 8, 10, 0, tzinfo=WITA).astimezone(dt.UTC)
    due_today = await file(hub, await make_member(f"{KELURAHAN}/RT 002"))
    await Ticket.filter(id=due_today.id).update(due_at=dt.datetime(2030, 3, 18, 16, 0, tzinfo=WITA))
    closed = await file(hub, await make_member(f"{KELURAHAN}/RT 003"))
    await Ticket.filter(id=closed.id).update(status=TicketStatus.REJECTED, due_at=None)
    elsewhere = await file(hub, await make_member(f"{OTHER}/RT 001"))
    clock.now = dt.datetime(2030, 3, 18, 9, 0, tzinfo=WITA).astimezone(dt.UTC)  # Monday
    await log_in(timed, UserRole.STAFF)

    page = await (await timed.get("/complaints")).text()
    assert 'data-open="2"' in page  # the nav's count: open tickets in scope
    assert late.number in page and due_today.number in page and closed.number in page
    assert elsewhere.number not in page
    assert "Terlambat 3 hari kerja" in page  # Thursday 14, Friday 15, Monday 18
    assert "Target hari ini" in page
    filtered = await (await timed.get("/complaints?overdue=1")).text()
    assert late.number in filtered and due_today.number not in filtered
    by_status = await (await timed.get("/complaints?status=ditolak")).text()
    assert closed.number in by_status and late.number not in by_status
    resp = await timed.get(f"/complaints?area={OTHER}")
    assert resp.status == 404


async def test_staff_move_note_message_and_assign_from_the_page(timed: TestClient) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await file(hub, member)
    await Ticket.filter(id=ticket.id).update(location={"latitude": -0.5, "longitude": 117.1})
    photo = await _stored_file(hub, ticket, member)
    csrf = await log_in(timed, UserRole.STAFF)
    colleague = await make_user(UserRole.STAFF, (KELURAHAN,))
    url = f"/complaints/{ticket.number}"

    page = await (await timed.get(url)).text()
    assert f'<img src="{url}/files/{photo.id}"' in page
    assert "openstreetmap.org/?mlat=-0.5&amp;mlon=117.1" in page
    assert 'name="status" value="diverifikasi"' in page
    assert 'name="status" value="selesai"' not in page  # only the allowed steps
    image = await timed.get(f"{url}/files/{photo.id}")
    assert image.status == 200 and await image.read() == JPEG

    async def post(path: str, **form: str) -> str:
        resp = await timed.post(
            url + path, data={"csrf_token": csrf, **form}, allow_redirects=False
        )
        assert resp.status == 303
        return resp.headers["Location"]

    assert (await post("/move", status="selesai")).endswith("notice=move_refused")
    assert (await post("/move", status="ditolak")).endswith("notice=reason_missing")
    assert (await post("/move", status="diverifikasi", note="Segera dicek")).endswith("=moved")
    assert (await Ticket.get(id=ticket.id)).status == TicketStatus.VERIFIED
    assert "Segera dicek" in (await shown(hub, member))[-1]
    assert (await post("/notes", text="Hanya untuk petugas")).endswith("=noted")
    assert (await post("/messages", text="Mohon foto tambahan")).endswith("=messaged")
    assert (await post("/assignee", user_id=str(colleague.id))).endswith("=assigned")
    assert (await Ticket.get(id=ticket.id)).assignee_id == colleague.id
    texts = await shown(hub, member)
    assert "Mohon foto tambahan" in texts[-1]
    assert not any("Hanya untuk petugas" in t for t in texts)
    page = await (await timed.get(url)).text()
    assert "Hanya untuk petugas" in page and "Mohon foto tambahan" in page
    kinds = (
        await TicketEvent.filter(ticket_id=ticket.id).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["created", "status", "note", "message", "assigned"]


async def test_officials_see_the_ticket_without_forms(timed: TestClient) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await file(hub, member, description="Sampah menumpuk")
    await log_in(timed, UserRole.OFFICIAL)
    page = await (await timed.get(f"/complaints/{ticket.number}")).text()
    assert "Sampah menumpuk" in page
    assert '<form method="post" action="/complaints/' not in page
    other = await file(hub, await make_member(f"{OTHER}/RT 001"), description="Rahasia B")
    resp = await timed.get(f"/complaints/{other.number}")
    assert resp.status == 404 and "Rahasia B" not in await resp.text()


async def test_a_ticket_reported_under_an_announcement_links_to_it(timed: TestClient) -> None:
    hub = timed.app[HUB]
    member = await make_member(f"{KELURAHAN}/RT 001")
    resp = await timed.post(
        "/api/v1/broadcasts",
        json={"title": "Pemadaman listrik", "text": "Kamis 09.00-12.00.",
              "audience": {"members": [member.id]}, "report_button": True},
        headers=bearer(await make_token()),
    )  # fmt: skip
    assert resp.status == 201, await resp.text()
    broadcast_id = (await resp.json())["id"]
    ticket = await file(hub, member, details={"broadcast_id": broadcast_id})
    await log_in(timed, UserRole.STAFF)
    page = await (await timed.get(f"/complaints/{ticket.number}")).text()
    assert f'<a href="/broadcasts/{broadcast_id}">Pemadaman listrik</a>' in page
    assert "broadcast_id" not in page
