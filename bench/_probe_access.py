"""Families 1 and 2 of `bench/probe.py`: who may do what (tests/test_permissions.py's tables,
run as staff and an official of kelurahan A against B's objects), and the dashboard's attacks:
CSRF, open redirects, XSS, session fixation and dead cookies."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from markupsafe import escape
from yarl import URL

from bench import _probe_hooks as hooks
from bench._probe_site import (
    FIXATION_ADDRESS,
    OWNER_PASSWORD,
    REFLECT_ADDRESS,
    Answer,
    Site,
    Tally,
    ask,
    cookie,
    leaks_secrets,
    login,
    session_cookie,
    snapshot_changed,
    tests_call,
)

XSS = [  # (payload, the part that must never appear unescaped in a page)
    ('<script>alert("x1")</script>', '<script>alert("x1")'),
    ('"><img src=x onerror=alert("x2")>', "<img src=x onerror"),
    ("'><svg onload=alert('x3')>", "<svg onload"),
    ('</textarea><script>alert("x4")</script>', '<script>alert("x4")'),
    ('</title><script>alert("x5")</script>', '<script>alert("x5")'),
    ('<iframe src="javascript:alert(6)">', "<iframe src="),
    ('<a href="javascript:alert(7)">x7</a>', '<a href="javascript:'),
    ("{{7*7}}<b>x8</b>", "<b>x8</b>"),
]


REDIRECTS = [  # values of ?next= (raw: already percent-encoded) that must not leave the site
    ("//evil.example", False),
    ("https://evil.example/", False),
    ("http:evil.example", False),
    ("/\\evil.example", False),
    ("\\/evil.example", False),
    ("\\\\evil.example", False),
    ("%2F%2Fevil.example", True),
    ("/%2F/evil.example", True),
    ("%2F%5Cevil.example", True),
    ("/%5Cevil.example", True),
    ("///evil.example", False),
    ("/\t/evil.example", False),
    ("%2F%09%2Fevil.example", True),
    ("/%0A/evil.example", True),
    ("%20//evil.example", True),
    ("%00//evil.example", True),
    ("javascript:alert(1)", False),
    ("//evil.example@127.0.0.1", False),
    ("https:/evil.example", False),
    ("/.//evil.example", False),
    ("%252F%252Fevil.example", True),
    ("/%E3%80%82/evil.example", True),
]


async def probe_api_authorization(site: Site) -> Tally:
    """Every API probe of the permission table, as staff and official of A against B's objects."""
    from hub.web.permissions import Permission
    from tests.test_permissions import API_PROBES, _label, _send, snapshot

    tally, world = Tally("1. Authorization, API"), site.world
    for probe in API_PROBES:
        checks = []
        if probe.permission in (Permission.WRITE, Permission.ADMIN):
            checks.append(("official_a", "a", 403))  # officials write nothing, even in A
        if probe.other_area is not None:
            writes = probe.permission != Permission.READ
            checks += [("staff_a", "b", probe.other_area)]
            checks += [("official_a", "b", 403 if writes else probe.other_area)]
        for role, area, expected in checks:
            before = await snapshot()
            answer = await tests_call(_send(site.client, world, role, probe, area))
            tally.add(
                f"{role} {_label(probe)} ({area.upper()}'s objects), expected {expected}",
                answer,
                accepted=answer.status in range(200, 400) or leaks_secrets(world, answer.text),
                lost=await snapshot_changed(before),
            )
        await _probe_list(site, tally, probe)
    return tally


async def _probe_list(site: Site, tally: Tally, probe: Any) -> None:
    """A list route read by A's staff and official: none of B's objects, none of B's secrets."""
    from hub.web.permissions import Permission
    from tests.test_permissions import _label, _send

    key, noun = probe.lists
    if not key:
        return
    world = site.world
    readers = ("staff_a", "official_a") if probe.permission == Permission.READ else ("staff_a",)
    nouns = ("broadcast", "scheduled", "orphan") if noun == "broadcast" else (noun,)
    theirs = {world.ids["b"][n] for n in nouns}
    for role in readers:
        answer = await tests_call(_send(site.client, world, role, probe, "a"))
        try:
            seen = {item["id"] for item in json.loads(answer.text)[key]}
        except (ValueError, KeyError, TypeError):
            seen = set()
        tally.add(
            f"{role} {_label(probe)}: B's objects listed?",
            answer,
            accepted=bool(seen & theirs) or leaks_secrets(world, answer.text),
        )


async def probe_page_authorization(site: Site) -> Tally:
    """Every dashboard page of the permission table, the same way."""
    from hub.web.permissions import Permission
    from tests.test_permissions import DASHBOARD_PAGES, _visit, snapshot

    tally, world = Tally("1. Authorization, dashboard"), site.world
    for page in DASHBOARD_PAGES:
        if page.permission == Permission.PUBLIC:
            continue
        writes = page.permission == Permission.WRITE
        checks: list[tuple[str, str, int | None]] = [("official_a", "a", 403)] if writes else []
        for role in ("staff_a", "official_a"):
            expected = 403 if role == "official_a" and writes else page.other_area
            checks.append((role, "b", expected))
        for role, area, expected in checks:
            before = await snapshot()
            answer = await tests_call(_visit(site.client, world, role, page, area))
            refused = expected is not None and answer.status in range(200, 400)
            tally.add(
                f"{role} {page.method} {page.path} {page.target} ({area.upper()}'s), "
                f"expected {expected or 'no secrets'}",
                answer,
                accepted=refused or leaks_secrets(world, answer.text),
                lost=await snapshot_changed(before),
            )
    return tally


async def probe_csrf(site: Site) -> Tally:
    """Every POST page without, with a wrong, or with another session's CSRF token (admin's
    session, so a bypass would really change things); the login form without its own token."""
    from hub.web.dashboard.base import CSRF_HEADER, SESSION_COOKIE
    from hub.web.permissions import Permission
    from tests.test_permissions import DASHBOARD_PAGES, snapshot

    tally, world = Tally("2a. Dashboard CSRF"), site.world
    _, foreign = await session_cookie(world.users["staff_b"])
    variants: list[tuple[str, str | None, str | None]] = [
        ("no token", None, None),
        ("empty token", "", None),
        ("wrong token", "x" * 32, None),
        ("another session's token", foreign, None),
        ("wrong X-CSRF-Token header", None, "x" * 32),
        ("another session's token in the header", None, foreign),
        ("non-ASCII token", "é" * 32, None),
    ]
    ids = world.ids["a"] | {"name": "app.css"}
    for page in DASHBOARD_PAGES:
        if page.method != "POST" or page.permission == Permission.PUBLIC:
            continue
        for label, field_value, header in variants:
            token, _ = await session_cookie(world.users["admin"])
            form = page.form(ids) if page.form else {}
            if field_value is not None:
                form = {**form, "csrf_token": field_value}
            headers = cookie(SESSION_COOKIE, token) | ({CSRF_HEADER: header} if header else {})
            before = await snapshot()
            answer = await ask(site.plain, "POST", page.url(ids), data=form, headers=headers)
            alive = await ask(site.plain, "GET", "/", headers=cookie(SESSION_COOKIE, token))
            tally.add(
                f"POST {page.url(ids)} {label}",
                answer,
                accepted=answer.status != 403,
                lost=await snapshot_changed(before) or alive.status != 200,
            )
    await _login_csrf(site, tally)
    return tally


async def _login_csrf(site: Site, tally: Tally) -> None:
    """The login form's double-submit token: missing or mismatched logs nobody in."""
    from hub.web.dashboard.base import SESSION_COOKIE
    from hub.web.dashboard.login import LOGIN_COOKIE

    good = "c" * 40
    form = {"username": "pemilik", "password": OWNER_PASSWORD, "next": "/"}
    for label, cookie_value, field_value in (
        ("no cookie, no token", None, None),
        ("token without its cookie", None, good),
        ("cookie without the token", good, None),
        ("mismatched token", good, "d" * 40),
        ("empty cookie and token", "", ""),
    ):
        data = form | ({"csrf_token": field_value} if field_value is not None else {})
        headers = cookie(LOGIN_COOKIE, cookie_value) if cookie_value is not None else {}
        answer = await ask(site.plain, "POST", "/login", data=data, headers=headers)
        tally.add(
            f"POST /login with the right password, {label}",
            answer,
            accepted=answer.status != 403,
            lost=answer.cookie(SESSION_COOKIE) is not None,
        )


def leaves_site(location: str, origin: str) -> bool:
    """Whether a browser following this Location (or form field) would leave `origin`.

    Roughly the WHATWG URL parser: leading and trailing control characters and spaces go, tabs
    and newlines anywhere go, a backslash is a slash; then a scheme or `//` names another host.
    """
    value = location.strip("".join(map(chr, range(33))))
    value = re.sub(r"[\t\n\r]", "", value).replace("\\", "/")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value):
        target = urlsplit(value)
        return not (target.scheme in ("http", "https") and target.netloc == origin)
    if value.startswith("//"):
        return urlsplit("http:" + value).netloc != origin
    return False


async def probe_open_redirect(site: Site) -> Tally:
    """`/login?next=` and the login form's `next`: the way on must stay on the site."""
    from hub.web.dashboard.base import SESSION_COOKIE

    tally, world = Tally("2b. Open redirect"), site.world
    origin = urlsplit(site.base).netloc
    token, _ = await session_cookie(world.users["admin"])
    for raw, encoded in REDIRECTS:
        value = raw if encoded else quote(raw, safe="")
        url = URL(f"/login?next={value}", encoded=True)
        # Logged in: /login sends the user straight on.
        answer = await ask(site.plain, "GET", url, headers=cookie(SESSION_COOKIE, token))
        where = answer.headers.get("Location", "")
        tally.add(
            f"GET /login?next={value} logged in (Location {where!r})",
            answer,
            accepted=leaves_site(where, origin),
        )
        # Logged out: the form carries `next` to the POST.
        answer = await ask(site.plain, "GET", url)
        found = re.search(r'name="next" value="([^"]*)"', answer.text)
        hidden = html.unescape(found.group(1)) if found else ""
        tally.add(
            f"GET /login?next={value} form field (next {hidden!r})",
            answer,
            accepted=leaves_site(hidden, origin),
        )
        # The login itself, with the right password.
        answer = await login(site.plain, "pemilik", OWNER_PASSWORD, unquote(value))
        where = answer.headers.get("Location", "")
        tally.add(
            f"POST /login next={value} (Location {where!r})",
            answer,
            accepted=leaves_site(where, origin),
        )
    return tally


async def seed_xss(site: Site) -> dict[str, list[int]]:
    """Payloads where staff and strangers can put text: RT heads' names, broadcast titles and
    texts, saved groups, linked group chats, join requests (from real webhooks), sandbox
    messages. Returns the ids of the objects that carry them."""
    from models import GroupChat, JoinRequest
    from tests.factories import bearer, make_area, make_member
    from tests.test_permissions import A

    token = site.world.tokens["staff_a"]
    made: dict[str, list[int]] = {"member": [], "broadcast": [], "group": [], "claim": []}
    area = await make_area(f"{A}/RT 009")
    for index, (payload, _) in enumerate(XSS):
        member = await make_member(f"{A}/RT 009", name=payload[:120])
        made["member"].append(member.id)
        body = {"title": payload, "text": payload, "audience": {"areas": [A]}}
        answer = await ask(
            site.plain, "POST", "/api/v1/broadcasts", json=body, headers=bearer(token)
        )
        if answer.status == 201:
            made["broadcast"].append(json.loads(answer.text)["id"])
        body = {"name": payload[:100], "members": [member.id]}
        answer = await ask(
            site.plain, "POST", "/api/v1/member-groups", json=body, headers=bearer(token)
        )
        if answer.status == 201:
            made["group"].append(json.loads(answer.text)["id"])
        await GroupChat.create(
            channel="sandbox",
            address=f"xss-{index}",
            title=payload,
            area=area,
            linked_at=dt.datetime.now(dt.UTC),
        )
        claim = await JoinRequest.create(
            channel="sandbox",
            address=f"xss-{index}",
            name=payload,
            first_text=payload,
            claimed_member=member,
        )
        made["claim"].append(claim.id)
        await ask(
            site.plain,
            "POST",
            f"/api/v1/sandbox/members/{member.id}/messages",
            json={"text": payload},
            headers=bearer(token),
        )
        await _stranger_writes(site, index, payload)
    await site.hub.tasks.wait()
    return made


async def _stranger_writes(site: Site, index: int, payload: str) -> None:
    """A stranger messages the bot on Telegram and on WhatsApp with the payload as name and text."""
    from tests import fake_graph
    from tests.conftest import TELEGRAM_WEBHOOK_SECRET

    user = 880_000 + index
    update = hooks.tg_message(user, payload, first_name=payload)
    await ask(
        site.plain,
        "POST",
        "/webhooks/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET},
    )
    body, headers = fake_graph.signed_webhook(
        fake_graph.text_notification(f"6289900000{index:03d}", payload, name=payload)
    )
    await ask(site.plain, "POST", "/webhooks/whatsapp", data=body, headers=headers)


async def probe_xss(site: Site) -> Tally:
    """Every dashboard page with the payloads in it (and reflected in queries and form errors):
    a payload's dangerous part must never appear unescaped in an HTML page."""
    from hub.web.dashboard.base import CSRF_HEADER, SESSION_COOKIE
    from hub.web.permissions import Permission
    from tests.test_permissions import DASHBOARD_PAGES

    tally, world = Tally("2c. XSS"), site.world
    made = await seed_xss(site)
    token, csrf = await session_cookie(world.users["admin"])
    as_admin = cookie(SESSION_COOKIE, token)
    urls: list[tuple[str, str, Any]] = []
    for page in DASHBOARD_PAGES:
        if page.method != "GET" or page.permission == Permission.PUBLIC:
            continue
        for ids in _xss_ids(made):
            url = page.url(ids)
            if ("GET", url, None) not in urls:
                urls.append(("GET", url, None))
    for payload, _ in XSS:
        urls += [
            ("GET", "/member-groups?" + _q({"q": payload}), None),
            ("POST", "/broadcasts/new", {"title": payload, "text": payload, "areas": "Tidak Ada"}),
            (
                "POST",
                "/member-groups",
                [
                    ("name", payload),
                    ("members", str(world.ids["a"]["member"])),
                    ("members", str(world.ids["b"]["member"])),
                ],
            ),
        ]
        if made["member"]:
            urls.append(
                ("POST", f"/sandbox/{made['member'][0]}/act", {"text": "", "button": payload})
            )
    shown: set[str] = set()
    for method, url, form in urls:
        headers = as_admin | ({CSRF_HEADER: csrf} if form is not None else {})
        answer = await ask(site.plain, method, URL(url, encoded=True), data=form, headers=headers)
        _judge_page(tally, f"{method} {url[:80]}", answer, shown)
    reflect = site.session_from(REFLECT_ADDRESS)
    for payload, _ in XSS:
        answer = await ask(reflect, "GET", "/login?" + _q({"next": "/" + payload}))
        _judge_page(tally, f"GET /login?next=/{payload}", answer, shown)
        answer = await login(reflect, payload, "salah-sekali")
        _judge_page(tally, f"POST /login username={payload}", answer, shown)
    tally.notes.append(
        f"payloads seen rendered (escaped) somewhere: {len(shown)} of {len(XSS)}; "
        f"pages checked: {tally.attempts}"
    )
    return tally


def _q(values: Mapping[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in values.items())


def _xss_ids(made: dict[str, list[int]]) -> list[dict[str, int | str]]:
    count = max((len(v) for v in made.values()), default=0)
    out = []
    for index in range(count):
        ids: dict[str, int | str] = {"name": "app.css"}
        for noun in ("member", "broadcast", "group", "claim"):
            values = made[noun] or [1]
            ids[noun] = values[index % len(values)]
        ids["orphan"] = ids["scheduled"] = ids["broadcast"]
        out.append(ids)
    return out


def _judge_page(tally: Tally, request: str, answer: Answer, shown: set[str]) -> None:
    html_page = "html" in answer.headers.get("Content-Type", "") or not answer.headers
    raw = [marker for _, marker in XSS if marker in answer.text] if html_page else []
    for payload, marker in XSS:
        if str(escape(marker)) in answer.text or html.escape(marker, quote=False) in answer.text:
            shown.add(payload)
    tally.add(request, answer, accepted=bool(raw), detail=f"unescaped: {raw[0]}" if raw else "")


async def probe_sessions(site: Site) -> Tally:
    """Session fixation, expired, closed and foreign cookies, garbage cookies, revoked tokens."""
    from hub.access.auth import create_token, hash_secret
    from hub.web.dashboard.base import SESSION_COOKIE
    from models import ApiToken, User, UserRole
    from tests.factories import bearer, make_user
    from tests.test_permissions import snapshot

    tally, world = Tally("2d. Sessions"), site.world
    # Fixation: a value planted before login is not what the login hands out.
    for label, planted in (
        ("a made-up cookie", "planted-by-attacker-0123456789abcdef"),
        ("the attacker's own valid session", (await session_cookie(world.users["staff_b"]))[0]),
    ):
        session = site.session_from(FIXATION_ADDRESS)
        answer = await login(session, "pemilik", OWNER_PASSWORD, also=f"{SESSION_COOKIE}={planted}")
        issued = answer.cookie(SESSION_COOKIE)
        after = await ask(site.plain, "GET", "/", headers=cookie(SESSION_COOKIE, planted))
        owner_behind_it = after.status == 200 and "pemilik" in after.text
        tally.add(
            f"login holding {label}", answer, accepted=issued in (None, planted) or owner_behind_it
        )
        attributes = next((c for c in answer.set_cookies if c.startswith(SESSION_COOKIE)), "")
        lower = attributes.lower()
        tally.add(
            f"session cookie's attributes: {attributes.partition(';')[2].strip()!r}",
            answer,
            accepted="httponly" not in lower or "samesite" not in lower,
        )
    # Cookies that must not open the dashboard.
    admin = world.users["admin"]
    expired, expired_csrf = await session_cookie(admin, hours=12, ago=13)
    closed, closed_csrf = await session_cookie(admin)
    await ask(
        site.plain,
        "POST",
        "/logout",
        data={"csrf_token": closed_csrf},
        headers=cookie(SESSION_COOKIE, closed),
    )
    inactive_user = await make_user(UserRole.ADMIN, username="nonaktif")
    inactive, _ = await session_cookie(inactive_user)
    await User.filter(id=inactive_user.id).update(is_active=False)
    refused = {
        "expired": (expired, expired_csrf),
        "logged out": (closed, closed_csrf),
        "deactivated user": (inactive, ""),
        "API token as cookie": (world.tokens["admin"], ""),
        "4 kB value": ("a" * 4096, ""),
        "non-ASCII value": ("%C3%A9" * 20, ""),
        "quoted value": ('"' + "a" * 40 + '"', ""),
    }
    scheduled = world.ids["a"]["scheduled"]
    for label, (value, csrf) in refused.items():
        for method, url, form in (
            ("GET", "/", None),
            ("GET", "/join-requests", None),
            ("GET", f"/broadcasts/{scheduled}/live", None),
            ("POST", f"/broadcasts/{scheduled}/pause", {"csrf_token": csrf}),
        ):
            before = await snapshot()
            answer = await ask(
                site.plain, method, url, data=form, headers=cookie(SESSION_COOKIE, value)
            )
            in_ = answer.status == 200 or (
                method == "POST" and answer.headers.get("Location", "").startswith("/broadcasts")
            )
            tally.add(
                f"{method} {url} with a {label} cookie",
                answer,
                accepted=in_,
                lost=await snapshot_changed(before),
            )
    # API tokens: revoked, of a deactivated user.
    revoked = await create_token(world.users["staff_a"])
    now = dt.datetime.now(dt.UTC)
    await ApiToken.filter(token_hash=hash_secret(revoked)).update(revoked_at=now)
    inactive_token = await create_token(inactive_user)
    for label, value in (("revoked token", revoked), ("deactivated user's token", inactive_token)):
        answer = await ask(site.plain, "GET", "/api/v1/members", headers=bearer(value))
        tally.add(f"GET /api/v1/members with a {label}", answer, accepted=answer.status != 401)
    return tally
