"""The staff dashboard: login, CSRF, composing, the broadcast pages, groups, join requests and the
sandbox phone."""

from __future__ import annotations

import datetime as dt
import html
import re
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.access import auth
from hub.app import Hub, create_app
from hub.broadcast.queries import delivery_counts
from hub.roster.groups import LINK_CODE_DAYS, LinkCode
from hub.web import dashboard
from models import (
    AuditLog,
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    GroupChat,
    GroupLinkCode,
    JoinRequest,
    MessageKind,
    OutboundMessage,
    User,
    UserRole,
    WebSession,
)
from tests.conftest import FakeClock, make_config
from tests.factories import PASSWORD, make_area, make_member, make_user
from tests.test_messenger_features import FakeChat, inbound, receive

LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"
KARANG_ASAM = "Sungai Kunjang/Karang Asam"

_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


def hidden_fields(page: str) -> list[tuple[str, str]]:
    """Every hidden field of a page, in order, unescaped."""
    return [(name, html.unescape(value)) for name, value in _HIDDEN.findall(page)]


def hidden(page: str, name: str) -> str:
    return next(value for field, value in hidden_fields(page) if field == name)


async def login_attempt(client: TestClient, username: str, password: str) -> tuple[int, str]:
    page = await (await client.get("/login")).text()
    resp = await client.post(
        "/login",
        data={"csrf_token": hidden(page, "csrf_token"), "username": username, "password": password},
        allow_redirects=False,
    )
    return resp.status, await resp.text()


async def log_in(client: TestClient, role: UserRole = UserRole.ADMIN, **kwargs: object) -> User:
    user = await make_user(role, **kwargs)  # type: ignore[arg-type]
    status, _ = await login_attempt(client, user.username, PASSWORD)
    assert status == 303
    return user


async def csrf_token(client: TestClient) -> str:
    page = await (await client.get("/")).text()
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, page
    return html.unescape(match.group(1))


async def compose(client: TestClient, **fields: object) -> tuple[int, str, str]:
    """POST the compose form; returns status, body and the Location header."""
    data: dict[str, object] = {"csrf_token": await csrf_token(client), "ack_required": "1"}
    data.update(fields)
    form = [
        (k, v) for k, value in data.items() for v in (value if isinstance(value, list) else [value])
    ]
    resp = await client.post("/broadcasts/new", data=form, allow_redirects=False)
    return resp.status, await resp.text(), resp.headers.get("Location", "")


# Login ---------------------------------------------------------------------------------------


async def test_login_page_renders_with_a_login_csrf_cookie(client: TestClient) -> None:
    resp = await client.get("/login")
    assert resp.status == 200
    page = await resp.text()
    assert "Nama pengguna" in page and "Kata sandi" in page
    cookie = resp.cookies["bw_login_csrf"]
    assert cookie.value == hidden(page, "csrf_token")
    assert cookie["httponly"] and cookie["path"] == "/login"


async def test_wrong_password_and_unknown_user_get_the_same_generic_message(
    client: TestClient,
) -> None:
    user = await make_user()
    for username, password in ((user.username, "wrong password!"), ("nobody", PASSWORD)):
        status, page = await login_attempt(client, username, password)
        assert status == 422
        assert "Nama pengguna atau kata sandi salah" in page
        assert "bw_session" not in {c.key for c in client.session.cookie_jar}
    assert await WebSession.all().count() == 0


async def test_repeated_failures_are_throttled(timed: TestClient, clock: FakeClock) -> None:
    """The lock runs on the hub's clock, which stands still until the test moves it."""
    user = await make_user()
    for _ in range(auth.FREE_FAILURES + 1):
        status, _ = await login_attempt(timed, user.username, "wrong password!")
        assert status == 422
    status, page = await login_attempt(timed, user.username, PASSWORD)
    assert status == 429
    assert "Terlalu banyak percobaan, coba lagi dalam 2 detik" in page
    assert await WebSession.all().count() == 0
    clock.advance(seconds=2)  # the lock is over: the right password opens a session
    status, _ = await login_attempt(timed, user.username, PASSWORD)
    assert status == 303
    assert await WebSession.all().count() == 1


async def test_login_sets_a_safe_session_cookie_and_lands_on_the_list(client: TestClient) -> None:
    user = await make_user()
    page = await (await client.get("/login")).text()
    resp = await client.post(
        "/login",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "username": user.username,
            "password": PASSWORD,
        },
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/"
    set_cookie = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith("bw_session="))
    attributes = {part.strip().lower() for part in set_cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # plain http in tests; see the next test for https
    assert await WebSession.filter(user_id=user.id).count() == 1

    home = await client.get("/")
    assert home.status == 200
    assert "Pengumuman" in await home.text()


async def test_session_cookie_is_secure_when_configured(db: str) -> None:
    config = make_config(web={"secure_cookies": True})
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        user = await make_user()
        login = await client.get("/login")
        assert "Secure" in login.headers["Set-Cookie"]
        token = hidden(await login.text(), "csrf_token")
        # The client keeps Secure cookies for https only, so send it by hand over this http.
        resp = await client.post(
            "/login",
            data={"csrf_token": token, "username": user.username, "password": PASSWORD},
            headers={"Cookie": f"bw_login_csrf={token}"},
            allow_redirects=False,
        )
        assert resp.status == 303
        set_cookie = next(h for h in resp.headers.getall("Set-Cookie") if "bw_session=" in h)
        assert "Secure" in set_cookie


async def test_login_without_the_login_csrf_token_is_refused(client: TestClient) -> None:
    user = await make_user()
    await client.get("/login")
    resp = await client.post(
        "/login",
        data={"csrf_token": "forged", "username": user.username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert await WebSession.all().count() == 0


async def test_login_follows_only_local_next_paths(client: TestClient) -> None:
    user = await make_user()
    for target, expected in (
        ("/broadcasts/new", "/broadcasts/new"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ):
        client.session.cookie_jar.clear()
        page = await (await client.get("/login", params={"next": target})).text()
        assert hidden(page, "next") == expected
        resp = await client.post(
            "/login",
            data={
                "csrf_token": hidden(page, "csrf_token"),
                "username": user.username,
                "password": PASSWORD,
                "next": target,
            },
            allow_redirects=False,
        )
        assert resp.headers["Location"] == expected


async def test_logged_out_requests_go_to_the_login_page(client: TestClient) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login"
    resp = await client.get("/broadcasts/new", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login?next=/broadcasts/new"
    resp = await client.get("/broadcasts/live", allow_redirects=False)
    assert resp.status == 401
    resp = await client.post("/broadcasts/new", data={"title": "x"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert await Broadcast.all().count() == 0


async def test_logout_needs_csrf_and_ends_the_session(client: TestClient) -> None:
    await log_in(client)
    resp = await client.post("/logout", allow_redirects=False)
    assert resp.status == 403
    assert await WebSession.all().count() == 1

    resp = await client.post(
        "/logout", data={"csrf_token": await csrf_token(client)}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert await WebSession.all().count() == 0
    resp = await client.get("/", allow_redirects=False)
    assert resp.headers["Location"] == "/login"


# Security headers ----------------------------------------------------------------------------


async def test_dashboard_responses_carry_security_headers(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    pages = [await client.get("/login")]
    await log_in(client)
    pages += [
        await client.get(path)
        for path in ("/", "/broadcasts/new", "/sandbox", "/static/dashboard.js", "/broadcasts/999")
    ]
    for resp in pages:
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert pages[-1].status == 404
    assert "<script>" not in await pages[1].text()  # no inline script anywhere


async def test_the_api_and_health_routes_are_untouched(client: TestClient) -> None:
    health = await client.get("/healthz")
    assert await health.json() == {"status": "ok"}
    assert "Content-Security-Policy" not in health.headers
    api = await client.get("/api/v1/members")
    assert api.status == 401 and (await api.json())["error"]["code"] == "unauthorized"


async def test_text_is_escaped(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    status, _, location = await compose(
        client, title="<script>alert(1)</script>", text="<b>hai</b>", areas=[LOA_BAKUNG]
    )
    assert status == 303
    page = await (await client.get(location)).text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# CSRF and composing --------------------------------------------------------------------------


async def test_posts_without_or_with_a_wrong_csrf_token_are_refused(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    fields = {"title": "Rapat", "text": "Rapat RT", "areas": LOA_BAKUNG, "ack_required": "1"}
    resp = await client.post("/broadcasts/new", data=fields, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post(
        "/broadcasts/new", data={**fields, "csrf_token": "wrong"}, allow_redirects=False
    )
    assert resp.status == 403
    resp = await client.post(
        "/broadcasts/new", data={**fields, "csrf_token": "salah-é"}, allow_redirects=False
    )
    assert resp.status == 403
    assert await Broadcast.all().count() == 0


async def test_compose_creates_a_broadcast_for_the_chosen_areas(
    client: TestClient, hub: Hub
) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002")
    await make_member(f"{KARANG_ASAM}/RT 001")
    await log_in(client)

    form = await (await client.get("/broadcasts/new")).text()
    for path in ("Sungai Kunjang", LOA_BAKUNG, f"{LOA_BAKUNG}/RT 001", f"{KARANG_ASAM}/RT 001"):
        assert f'value="{path}"' in form

    status, _, location = await compose(
        client, title="Kerja bakti", text="Minggu pukul 07.00\r\ndi balai RT.", areas=[LOA_BAKUNG]
    )
    assert status == 303
    broadcast = await Broadcast.get()
    assert location == f"/broadcasts/{broadcast.id}?notice=created"
    assert broadcast.recipients == 2
    assert broadcast.ack_required
    assert broadcast.text == "Minggu pukul 07.00\ndi balai RT."
    assert (await delivery_counts(broadcast.id))["pending"] == 2

    assert await hub.sender.run_once() == 2
    detail = await (await client.get(location)).text()
    assert "Pengumuman dibuat dan sedang dikirim." in detail
    recipients_table = detail.split('id="daftar-telepon"')[0]  # the call list repeats them
    assert recipients_table.count('class="badge delivery-sent"') == 2
    assert "WITA" in detail

    listing = await (await client.get("/")).text()
    assert "Kerja bakti" in listing and 'data-count="sent">2<' in listing
    live = await (await client.get("/broadcasts/live")).json()
    assert live["broadcasts"][0]["counts"]["sent"] == 2


async def test_compose_without_ack_and_with_several_areas(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{KARANG_ASAM}/RT 001")
    await make_member(f"{KARANG_ASAM}/RT 002")
    await log_in(client)
    status, _, _ = await compose(
        client,
        title="Info",
        text="Info",
        areas=[f"{LOA_BAKUNG}/RT 001", KARANG_ASAM],
        ack_required="",
    )
    assert status == 303
    broadcast = await Broadcast.get()
    assert broadcast.recipients == 3 and not broadcast.ack_required


async def test_validation_errors_keep_the_values_and_create_nothing(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)

    status, page, _ = await compose(client, title="  ", text="Isi tetap <ada>", areas=[LOA_BAKUNG])
    assert status == 422
    assert "Judul wajib diisi." in page
    assert "Isi tetap &lt;ada&gt;</textarea>" in page
    assert f'value="{LOA_BAKUNG}" checked' in page

    status, page, _ = await compose(client, title="Rapat warga", text="Isi")
    assert status == 422
    assert "Pilih minimal satu wilayah penerima." in page
    assert 'value="Rapat warga"' in page

    status, page, _ = await compose(client, title="Rapat", text="x" * 5000, areas=[LOA_BAKUNG])
    assert status == 422
    assert "maksimal 4096 karakter" in page
    assert await Broadcast.all().count() == 0


async def test_an_area_nobody_holds_is_refused(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_area(f"{LOA_BAKUNG}/RT 009")
    await log_in(client)
    status, page, _ = await compose(
        client, title="Rapat", text="Isi", areas=[f"{LOA_BAKUNG}/RT 009"]
    )
    assert status == 422
    assert "Belum ada ketua RT yang menjabat" in page
    assert await Broadcast.all().count() == 0


async def test_staff_compose_only_within_their_areas(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{KARANG_ASAM}/RT 001")
    await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))

    form = await (await client.get("/broadcasts/new")).text()
    assert f'value="{LOA_BAKUNG}/RT 001"' in form
    assert KARANG_ASAM not in form
    assert 'value="Sungai Kunjang"' not in form

    status, page, _ = await compose(client, title="Rapat", text="Isi", areas=[KARANG_ASAM])
    assert status == 422
    assert "di luar wilayah Anda" in page
    assert await Broadcast.all().count() == 0


async def test_officials_cannot_compose(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client, UserRole.OFFICIAL)
    home = await (await client.get("/")).text()
    assert "/broadcasts/new" not in home

    resp = await client.get("/broadcasts/new")
    assert resp.status == 403
    status, page, _ = await compose(client, title="Rapat", text="Isi", areas=[LOA_BAKUNG])
    assert status == 403
    assert "hanya dapat melihat" in page
    assert await Broadcast.all().count() == 0


async def test_broadcast_list_shows_only_what_the_scope_sees(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{KARANG_ASAM}/RT 001")
    await log_in(client)
    for title, area in (("Untuk Loa Bakung", LOA_BAKUNG), ("Untuk Karang Asam", KARANG_ASAM)):
        status, _, _ = await compose(client, title=title, text="Isi", areas=[area])
        assert status == 303
    other = await Broadcast.get(title="Untuk Karang Asam")

    client.session.cookie_jar.clear()
    await log_in(client, UserRole.OFFICIAL, areas=(LOA_BAKUNG,))
    listing = await (await client.get("/")).text()
    assert "Untuk Loa Bakung" in listing and "Untuk Karang Asam" not in listing
    assert (await client.get(f"/broadcasts/{other.id}")).status == 404
    live = await (await client.get("/broadcasts/live")).json()
    assert [b["title"] for b in live["broadcasts"]] == ["Untuk Loa Bakung"]


async def test_cancel_a_sending_broadcast(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    _, _, location = await compose(client, title="Batal", text="Isi", areas=[LOA_BAKUNG])
    broadcast = await Broadcast.get()
    detail = await (await client.get(location)).text()
    assert f'action="/broadcasts/{broadcast.id}/cancel"' in detail

    resp = await client.post(f"/broadcasts/{broadcast.id}/cancel", allow_redirects=False)
    assert resp.status == 403
    resp = await client.post(
        f"/broadcasts/{broadcast.id}/cancel",
        data={"csrf_token": await csrf_token(client)},
        allow_redirects=False,
    )
    assert resp.status == 303
    await broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.CANCELLED
    assert (await delivery_counts(broadcast.id))["cancelled"] == 1
    detail = await (await client.get(resp.headers["Location"])).text()
    assert "Pengumuman dibatalkan" in detail
    assert "/cancel" not in detail


# The sandbox phone ---------------------------------------------------------------------------


async def test_sandbox_phone_shows_the_message_and_the_tap_acknowledges(
    client: TestClient, hub: Hub
) -> None:
    member = await make_member(f"{LOA_BAKUNG}/RT 001", name="Pak Rahmat")
    await make_member(f"{LOA_BAKUNG}/RT 002", channels=())  # no sandbox phone: not listed
    await log_in(client)
    _, _, _ = await compose(client, title="Kerja bakti", text="Minggu pagi.", areas=[LOA_BAKUNG])
    broadcast = await Broadcast.get()
    await hub.sender.run_once()

    phones = await (await client.get("/sandbox")).text()
    assert f'href="/sandbox/{member.id}"' in phones
    assert phones.count('href="/sandbox/') == 1

    page = await (await client.get(f"/sandbox/{member.id}")).text()
    assert "<strong>Kerja bakti</strong>" in page and "Sudah dibaca" in page
    # Looking at the page is not opening the chat: only the script's POST is.
    assert (await delivery_counts(broadcast.id))["read"] == 0

    token = await csrf_token(client)
    resp = await client.post(f"/sandbox/{member.id}/open")
    assert resp.status == 403
    resp = await client.post(f"/sandbox/{member.id}/open", headers={"X-CSRF-Token": token})
    assert resp.status == 200 and (await resp.json()) == {"read": 1}
    assert (await delivery_counts(broadcast.id))["read"] == 1

    button = hidden(page, "button")
    assert button.startswith("ack:")
    resp = await client.post(
        f"/sandbox/{member.id}/act", data={"button": button}, allow_redirects=False
    )
    assert resp.status == 403
    assert (await delivery_counts(broadcast.id))["acknowledged"] == 0

    resp = await client.post(
        f"/sandbox/{member.id}/act",
        data={"csrf_token": token, "button": button},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/sandbox/{member.id}"
    assert (await delivery_counts(broadcast.id))["acknowledged"] == 1

    await hub.sender.run_once()  # the announcement is changed in place to show the confirmation
    live = await (await client.get(f"/sandbox/{member.id}/live")).json()
    [message] = live["messages"]  # no empty bubble for the tap, no extra thank-you message
    assert "Kerja bakti" in message["text"]
    assert message["text"].endswith("✅ Sudah dikonfirmasi")
    assert message["buttons"] == []
    assert message["parts"][1] == {"text": "Kerja bakti", "bold": True}


async def test_sandbox_typed_text_and_errors(client: TestClient, hub: Hub) -> None:
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    token = await csrf_token(client)

    resp = await client.post(f"/sandbox/{member.id}/act", data={"csrf_token": token, "text": "  "})
    assert resp.status == 422
    assert "Ketik pesan atau tekan salah satu tombol." in await resp.text()

    resp = await client.post(
        f"/sandbox/{member.id}/act", data={"csrf_token": token, "button": "ack:999"}
    )
    assert resp.status == 422
    assert "Tombol itu tidak ada lagi" in await resp.text()

    resp = await client.post(
        f"/sandbox/{member.id}/act",
        data={"csrf_token": token, "text": "BANTUAN"},
        allow_redirects=False,
    )
    assert resp.status == 303
    await hub.sender.run_once()
    page = await (await client.get(f"/sandbox/{member.id}")).text()
    assert "BANTUAN" in page and "Perintah yang bisa Anda kirim" in page
    assert page.index("BANTUAN") < page.index("Perintah yang bisa Anda kirim")  # oldest first


async def test_sandbox_phone_is_scoped_and_read_only_for_officials(
    client: TestClient, hub: Hub
) -> None:
    inside = await make_member(f"{LOA_BAKUNG}/RT 001")
    outside = await make_member(f"{KARANG_ASAM}/RT 001")
    await log_in(client, UserRole.OFFICIAL, areas=(LOA_BAKUNG,))
    token = await csrf_token(client)

    assert (await client.get(f"/sandbox/{outside.id}")).status == 404
    page = await (await client.get(f"/sandbox/{inside.id}")).text()
    assert "data-open-url" not in page and 'name="text"' not in page
    resp = await client.post(f"/sandbox/{inside.id}/act", data={"csrf_token": token, "text": "Hai"})
    assert resp.status == 403
    resp = await client.post(f"/sandbox/{inside.id}/open", headers={"X-CSRF-Token": token})
    assert resp.status == 403
    assert hub.channels["sandbox"].messages(f"sandbox-{inside.id}", include_own=True) == []


async def test_sandbox_pages_are_absent_when_the_channel_is_off(db: str) -> None:
    app = create_app(
        make_config(sandbox={"enabled": False}), manage_database=False, run_workers=False
    )
    async with TestClient(TestServer(app)) as client:
        await log_in(client)
        assert (await client.get("/sandbox")).status == 404
        assert "/sandbox" not in await (await client.get("/")).text()


async def test_hostile_input_gets_no_server_error(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    status, page = await login_attempt(client, "ad\x00min", "pass\x00word")
    assert status == 422 and "Nama pengguna atau kata sandi salah" in page
    await log_in(client)
    status, _, _ = await compose(client, title="Ra\x00pat", text="I\x00si", areas=[LOA_BAKUNG])
    assert status == 303
    assert (await Broadcast.get()).title == "Rapat"
    for path in (
        "/broadcasts/99999999999999999999",
        "/sandbox/99999999999999999999",
        "/broadcasts/abc",
        "/static/../dashboard.py",
        "/static/nothing.css",
    ):
        assert (await client.get(path)).status == 404, path


# Groups and link codes -----------------------------------------------------------------------

# 08.15 WITA on 7 January 2030.
LINKED_AT = dt.datetime(2030, 1, 7, 0, 15, tzinfo=dt.UTC)


async def make_group(area: str, title: str, address: str, **fields: object) -> GroupChat:
    return await GroupChat.create(
        channel="telegram",
        address=address,
        title=title,
        area=await make_area(area),
        linked_at=LINKED_AT,
        **fields,
    )


async def request_code(client: TestClient, area: str, **extra: str) -> tuple[int, str]:
    token = await csrf_token(client)
    data = {"csrf_token": token, "area": area} | extra
    resp = await client.post("/groups/link-codes", data=data, allow_redirects=False)
    return resp.status, await resp.text()


@pytest.mark.parametrize("role", [UserRole.ADMIN, UserRole.STAFF])
async def test_groups_page_lists_linked_groups_with_local_times(
    client: TestClient, role: UserRole
) -> None:
    await make_group(LOA_BAKUNG, "Ketua RT Loa Bakung", "-1001")
    await make_group(LOA_BAKUNG, "Grup lama", "-1002", removed_at=LINKED_AT)
    await log_in(client, role, areas=("Sungai Kunjang",) if role == UserRole.STAFF else ())

    resp = await client.get("/groups")
    assert resp.status == 200
    page = await resp.text()
    assert 'href="/groups" aria-current="page"' in page
    assert "Ketua RT Loa Bakung" in page and "Telegram" in page and LOA_BAKUNG in page
    assert "7 Jan 2030, 08.15" in page and "Terhubung sejak (WITA)" in page
    assert "Grup lama" not in page  # the hub was removed from it
    assert 'action="/groups/link-codes"' in page
    assert f'<option value="{LOA_BAKUNG}">' in page
    assert "Content-Security-Policy" in resp.headers


async def test_groups_page_without_groups_or_areas(client: TestClient) -> None:
    await log_in(client)
    page = await (await client.get("/groups")).text()
    assert "Belum ada grup yang terhubung" in page
    assert "Impor roster terlebih dahulu" in page and "<select" not in page


async def test_groups_are_filtered_by_the_users_areas(client: TestClient) -> None:
    await make_group(LOA_BAKUNG, "Grup Loa Bakung", "-1001")
    await make_group(f"{LOA_BAKUNG}/RT 001", "Grup RT 001", "-1002")
    await make_group(KARANG_ASAM, "Grup Karang Asam", "-1003")
    await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))

    page = await (await client.get("/groups")).text()
    assert "Grup Loa Bakung" in page and "Grup RT 001" in page
    assert "Grup Karang Asam" not in page
    assert KARANG_ASAM not in page  # not in the table, not among the form's areas
    assert 'value="Sungai Kunjang"' not in page
    # A closed select shows one option: an RT's label names its kelurahan.
    assert f'<option value="{LOA_BAKUNG}">Kelurahan Loa Bakung</option>' in page
    assert f'<option value="{LOA_BAKUNG}/RT 001">Loa Bakung › RT 001</option>' in page


async def test_the_form_creates_a_link_code_and_shows_the_instruction(
    client: TestClient, hub: Hub
) -> None:
    await make_area(f"{LOA_BAKUNG}/RT 001")
    user = await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))

    status, page = await request_code(client, LOA_BAKUNG.lower())  # paths ignore case
    assert status == 200
    row = await GroupLinkCode.get().select_related("area")
    assert (row.area.path, row.created_by_id, row.used_at) == (LOA_BAKUNG, user.id, None)
    assert await AuditLog.filter(action="group.link_code", target=LOA_BAKUNG).exists()

    instruction = LinkCode(row.code, LOA_BAKUNG, row.expires_at).instruction
    assert row.code in instruction
    assert f'<code class="instruction">{html.escape(instruction)}</code>' in page
    assert f'<p class="link-code">{row.code}</p>' in page
    assert f"Kode penghubung untuk {LOA_BAKUNG}" in page
    expires = row.expires_at.astimezone(hub.config.tz)
    assert expires - row.created_at.astimezone(hub.config.tz) <= dt.timedelta(days=LINK_CODE_DAYS)
    assert f"Berlaku sampai {dashboard._when(row.expires_at, hub.config.tz)} WITA" in page
    assert f'<option value="{LOA_BAKUNG}" selected>' in page

    # Another code for another area of the scope: one more row, the first one untouched.
    status, page = await request_code(client, f"{LOA_BAKUNG}/RT 001")
    assert status == 200
    assert await GroupLinkCode.all().count() == 2


async def test_the_instruction_on_the_page_links_the_group(client: TestClient, hub: Hub) -> None:
    """Sent in a group as shown, the instruction links it; the group then shows on the page."""
    chat = FakeChat(hub.receive)
    hub.channels[FakeChat.name] = chat
    await make_area(LOA_BAKUNG)
    await log_in(client)
    _, page = await request_code(client, LOA_BAKUNG)
    match = re.search(r'<code class="instruction">([^<]+)</code>', page)
    assert match, page
    await receive(
        hub,
        inbound(
            "fakechat",
            "-100777",
            html.unescape(match.group(1)),
            sender="tg-admin",
            in_group=True,
            chat_title="RT se-Loa Bakung",
        ),
    )
    group = await GroupChat.get(address="-100777").select_related("area")
    assert group.area.path == LOA_BAKUNG
    page = await (await client.get("/groups")).text()
    assert "RT se-Loa Bakung" in page


async def test_link_code_form_errors_create_nothing(client: TestClient) -> None:
    await make_area(LOA_BAKUNG)
    await make_area(KARANG_ASAM)
    await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))
    for area, message in (
        ("", "Pilih wilayah grup."),
        ("Sungai Kunjang/Tidak Ada", "Wilayah yang dipilih tidak dikenal."),
        ("Loa Bakung", "Wilayah yang dipilih tidak dikenal."),  # a path, not a name
        (KARANG_ASAM, "Wilayah yang dipilih berada di luar wilayah Anda."),
        ("Sungai Kunjang", "Wilayah yang dipilih berada di luar wilayah Anda."),
        ("x" * 5000 + "\x00", "Wilayah yang dipilih tidak dikenal."),
    ):
        status, page = await request_code(client, area)
        assert status == 422, area
        assert message in page and 'aria-invalid="true"' in page
        assert 'class="instruction"' not in page
    assert await GroupLinkCode.all().count() == 0


async def test_link_code_needs_the_csrf_token(client: TestClient) -> None:
    await make_area(LOA_BAKUNG)
    await log_in(client)
    for data in ({"area": LOA_BAKUNG}, {"area": LOA_BAKUNG, "csrf_token": "salah"}):
        resp = await client.post("/groups/link-codes", data=data, allow_redirects=False)
        assert resp.status == 403
        assert "token keamanan tidak cocok" in await resp.text()
    assert await GroupLinkCode.all().count() == 0


async def test_logged_out_group_and_join_request_pages_go_to_login(client: TestClient) -> None:
    for path in ("/groups", "/join-requests"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == f"/login?next={path}"
    resp = await client.post("/groups/link-codes", data={"area": LOA_BAKUNG}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert await GroupLinkCode.all().count() == 0


async def test_officials_see_groups_but_cannot_create_codes_or_see_join_requests(
    client: TestClient,
) -> None:
    await make_group(LOA_BAKUNG, "Ketua RT Loa Bakung", "-1001")
    await JoinRequest.create(channel="telegram", address="tg-1", name="Orang Asing")
    await log_in(client, UserRole.OFFICIAL, areas=(LOA_BAKUNG,))

    page = await (await client.get("/groups")).text()
    assert "Ketua RT Loa Bakung" in page
    assert "/groups/link-codes" not in page and "<select" not in page
    assert 'href="/join-requests"' not in page and "nav-count" not in page

    status, page = await request_code(client, LOA_BAKUNG)
    assert status == 403 and "hanya dapat melihat" in page
    assert await GroupLinkCode.all().count() == 0

    resp = await client.get("/join-requests")
    assert resp.status == 403
    assert "Orang Asing" not in await resp.text()


# Join requests -------------------------------------------------------------------------------


async def test_join_requests_show_the_pending_ones_only(client: TestClient, hub: Hub) -> None:
    pending = await JoinRequest.create(
        channel="whatsapp",
        address="wa-6281255501234",
        name="Bu <Sri>",
        phone="+6281255501234",
        first_text="Saya ketua RT 005\nmohon didaftarkan",
    )
    await JoinRequest.create(channel="telegram", address="tg-2", name="Pak Tanpa Nomor")
    await JoinRequest.create(
        channel="telegram",
        address="tg-3",
        name="Pak Sudah Terdaftar",
        resolved_at=dt.datetime.now(dt.UTC),
    )
    await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))

    resp = await client.get("/join-requests")
    assert resp.status == 200
    page = await resp.text()
    assert 'href="/join-requests" aria-current="page"' in page
    assert "Bu &lt;Sri&gt;" in page and "Bu <Sri>" not in page
    assert "+6281255501234" in page and "WhatsApp" in page
    assert "Saya ketua RT 005\nmohon didaftarkan" in page
    assert f"{dashboard._when(pending.created_at, hub.config.tz)}" in page
    assert "Pak Tanpa Nomor" in page and "belum dibagikan" in page
    assert "Pak Sudah Terdaftar" not in page
    assert "Menunggu (2)" in page
    assert "hub roster import" in page and "DAFTAR KODE" in page  # how to resolve them


async def test_join_requests_page_when_none_wait(client: TestClient) -> None:
    await log_in(client)
    page = await (await client.get("/join-requests")).text()
    assert "Tidak ada permintaan yang menunggu." in page
    assert "nav-count" not in page


# The navigation's badge ----------------------------------------------------------------------


async def test_the_navigation_counts_pending_join_requests(client: TestClient) -> None:
    for n in range(3):
        await JoinRequest.create(channel="telegram", address=f"tg-{n}", name=f"Orang {n}")
    await JoinRequest.create(
        channel="telegram", address="tg-done", resolved_at=dt.datetime.now(dt.UTC)
    )
    await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))
    for path in ("/", "/groups", "/join-requests", "/broadcasts/new", "/sandbox"):
        page = await (await client.get(path)).text()
        assert 'class="nav-count" data-pending="3">3<' in page, path
    # Error pages keep the navigation too.
    page = await (await client.get("/broadcasts/999")).text()
    assert 'data-pending="3"' in page

    await JoinRequest.filter(address="tg-0").update(resolved_at=dt.datetime.now(dt.UTC))
    page = await (await client.get("/groups")).text()
    assert 'data-pending="2"' in page

    await JoinRequest.all().update(resolved_at=dt.datetime.now(dt.UTC))
    page = await (await client.get("/groups")).text()
    assert 'href="/join-requests"' in page and "nav-count" not in page


async def test_the_badge_costs_one_count_per_page_and_none_elsewhere(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[str] = []
    real = dashboard._pending_join_requests

    async def counting(request: object) -> int:
        counted.append(getattr(request, "path", ""))
        return await real(request)  # type: ignore[arg-type]

    # Patched where render() looks it up: the package re-exports it, but from base.
    monkeypatch.setattr(dashboard.base, "_pending_join_requests", counting)
    await JoinRequest.create(channel="telegram", address="tg-1")
    await log_in(client)
    counted.clear()

    await client.get("/groups")
    assert counted == ["/groups"]
    counted.clear()
    await client.get("/broadcasts/live")  # polled by the page's script: no badge, no query
    await client.post("/logout", data={"csrf_token": "salah"})
    assert counted == ["/logout"]  # the 403 page is a page with the navigation


# Claims: an invite code sent again from another account ---------------------------------------


async def claim(hub: Hub, address: str, code: str) -> None:
    await receive(hub, inbound("sandbox", address, f"/start {code}", sender_name="Orang Lain"))


async def act(client: TestClient, request_id: int, action: str) -> tuple[int, str]:
    data = {"csrf_token": await csrf_token(client)}
    resp = await client.post(
        f"/join-requests/{request_id}/{action}", data=data, allow_redirects=False
    )
    return resp.status, resp.headers.get("Location", "")


async def test_staff_approve_or_refuse_a_claim_once(client: TestClient, hub: Hub) -> None:
    darto = await make_member(f"{LOA_BAKUNG}/RT 001", name="Pak Darto")  # joined on the sandbox
    sari = await make_member(f"{LOA_BAKUNG}/RT 002", name="Bu Sari")
    await claim(hub, "sandbox-intruder", darto.invite_code)
    await claim(hub, "sandbox-other", sari.invite_code)
    first = await JoinRequest.get(address="sandbox-intruder")
    second = await JoinRequest.get(address="sandbox-other")
    await log_in(client, UserRole.STAFF, areas=(LOA_BAKUNG,))

    page = await (await client.get("/join-requests")).text()
    assert "Pak Darto" in page and "Bu Sari" in page
    assert f'action="/join-requests/{first.id}/approve"' in page

    assert await act(client, first.id, "approve") == (303, "/join-requests?notice=claim_approved")
    bound = await ChannelAddress.get(channel="sandbox", address="sandbox-intruder")
    assert bound.member_id == darto.id
    [welcome] = await OutboundMessage.filter(address="sandbox-intruder", kind=MessageKind.NOTICE)
    assert "Pak Darto" in welcome.text and "RT 001" in welcome.text
    assert await AuditLog.filter(action="join_request.approve").count() == 1
    # A second click (or a second staff member) changes nothing.
    assert await act(client, first.id, "approve") == (303, "/join-requests?notice=claim_resolved")
    assert await ChannelAddress.filter(member_id=darto.id).count() == 2

    assert await act(client, second.id, "refuse") == (303, "/join-requests?notice=claim_refused")
    assert not await ChannelAddress.exists(address="sandbox-other")
    page = await (await client.get("/join-requests?notice=claim_refused")).text()
    assert "Tidak ada permintaan yang menunggu." in page and "tidak terhubung" in page
    # The refused claim sent again is told so and stays closed.
    await claim(hub, "sandbox-other", sari.invite_code)
    [last] = await OutboundMessage.filter(address="sandbox-other").order_by("-id").limit(1)
    assert "tidak disetujui" in last.text
    assert not await JoinRequest.filter(resolved_at=None).exists()


async def test_claims_outside_the_area_or_for_officials_are_refused(
    client: TestClient, hub: Hub
) -> None:
    darto = await make_member(f"{LOA_BAKUNG}/RT 001", name="Pak Darto")
    await claim(hub, "sandbox-intruder", darto.invite_code)
    request = await JoinRequest.get(address="sandbox-intruder")

    await log_in(client, UserRole.STAFF, areas=(KARANG_ASAM,))
    # Another kelurahan's claim names an RT head that is not theirs to see: not found.
    assert (await act(client, request.id, "approve"))[0] == 404
    assert (await act(client, request.id, "refuse"))[0] == 404
    assert "Pak Darto" not in await (await client.get("/join-requests")).text()
    await client.post("/logout", data={"csrf_token": await csrf_token(client)})
    await log_in(client, UserRole.OFFICIAL)
    assert (await act(client, request.id, "approve"))[0] == 403
    assert not await ChannelAddress.exists(address="sandbox-intruder")
    assert await JoinRequest.filter(resolved_at=None).count() == 1


async def test_a_locked_database_gets_a_page_to_retry(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await log_in(client)

    async def locked(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("hub.web.dashboard.broadcasts._visible_broadcasts", locked)

    resp = await client.get("/")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    assert html.escape(dashboard.TEXTS["busy"]) in await resp.text()
    live = await client.get("/broadcasts/live")
    assert live.status == 503 and live.headers["Retry-After"] == "5"
    assert (await live.json())["error"]["message"] == dashboard.TEXTS["busy"]
