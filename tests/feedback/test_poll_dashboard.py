"""The dashboard's polls: the form creates one with the compose page's audience picker, the page
shows the results as bars and the turnout per area, staff close it, officials only read."""

from __future__ import annotations

import datetime as dt
import re

from aiohttp.test_utils import TestClient

from hub.access.auth import open_session
from hub.runtime import HUB, Hub
from hub.web.dashboard.base import SESSION_COOKIE
from models import Poll, PollStatus, PollVote, User, UserRole
from tests.factories import make_member, make_user

KELURAHAN = "Sungai Kunjang/Loa Bakung"


async def sign_in(client: TestClient, user: User) -> str:
    client.session.cookie_jar.clear()
    token, session = await open_session(user, 1, dt.datetime.now(dt.UTC))
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token}, client.make_url("/"))
    return session.csrf_token


async def test_staff_create_watch_and_close_a_poll(client: TestClient) -> None:
    hub: Hub = client.app[HUB]
    members = [await make_member(f"{KELURAHAN}/RT 00{n}") for n in (1, 2)]
    staff = await make_user(UserRole.STAFF, (KELURAHAN,))
    csrf = await sign_in(client, staff)
    form = await (await client.get("/polls/new")).text()
    assert 'name="areas"' in form and "Jajak pendapat" in form  # the picker and the nav entry

    refused = await client.post(
        "/polls/new",
        data={"csrf_token": csrf, "question": "Rapat?", "options": "Ya", "areas": KELURAHAN},
    )
    assert refused.status == 422 and "2 sampai 10 pilihan" in await refused.text()
    resp = await client.post(
        "/polls/new",
        data={
            "csrf_token": csrf,
            "question": "Setuju ronda malam dimulai lagi?",
            "options": "Setuju\r\nTidak setuju\r\n",
            "areas": KELURAHAN,
            "send_result": "1",
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    poll = await Poll.get()
    assert resp.headers["Location"] == f"/polls/{poll.id}"
    assert poll.options == ["Setuju", "Tidak setuju"] and poll.send_result
    await PollVote.create(
        poll=poll, member=members[0], option=1, channel="sandbox",
        voted_at=hub.clock(), changed_at=hub.clock(),
    )  # fmt: skip

    page = await (await client.get(f"/polls/{poll.id}")).text()
    assert '<meta http-equiv="refresh"' in page
    assert "1 dari 2 penerima memilih (50%)" in page
    widths = re.findall(r'<rect x="200" y="6" height="20" width="(\d+)"', page)
    assert widths == ["1", "400"]  # no votes: a sliver; the most votes: the full bar
    assert f"{KELURAHAN}/RT 001" in page and "Tutup sekarang" in page
    assert '<span class="nav-count">1<' in page  # one open poll

    official = await make_user(UserRole.OFFICIAL, (KELURAHAN,))
    official_csrf = await sign_in(client, official)
    seen = await (await client.get(f"/polls/{poll.id}")).text()
    assert "Tutup sekarang" not in seen
    denied = await client.post(f"/polls/{poll.id}/close", data={"csrf_token": official_csrf})
    assert denied.status == 403

    csrf = await sign_in(client, staff)
    closed = await client.post(
        f"/polls/{poll.id}/close", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert closed.status == 303
    assert (await Poll.get(id=poll.id)).status == PollStatus.CLOSED
    page = await (await client.get(f"/polls/{poll.id}")).text()
    assert 'http-equiv="refresh"' not in page and "Tutup sekarang" not in page
    listing = await (await client.get("/polls")).text()
    assert "Setuju ronda malam dimulai lagi?" in listing and "Ditutup" in listing
