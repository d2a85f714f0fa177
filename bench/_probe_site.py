"""The plumbing of `bench/probe.py`: the hub under test (app, database, fakes, clients on
loopback), answers and tallies, the hub's log, the network guard and a counting password hasher."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, DummyCookieJar, TCPConnector
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_SERVER = os.environ.get("HUB_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REQUEST_TIMEOUT = 60.0
OWNER_PASSWORD = "kunci-rahasia-pemilik-2026"  # of the accounts the probes log in to
# Client addresses on loopback, one per purpose, so one probe's failed logins do not throttle
# another's (the login limits count per client address).
ATTACKER_ADDRESS = "127.0.0.10"
SPOOFER_ADDRESS = "127.0.0.11"  # sends a made-up X-Forwarded-For with each guess
OWNER_ADDRESS = "127.0.0.2"
REFLECT_ADDRESS = "127.0.0.3"  # wrong logins with XSS payloads as usernames
FIXATION_ADDRESS = "127.0.0.4"  # logins holding a planted session cookie


@dataclass
class Answer:
    """What came back; status 0: no answer (connection dropped or timed out)."""

    status: int
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    @property
    def server_error(self) -> bool:
        return self.status >= 500 or self.status == 0

    def cookie(self, name: str) -> str | None:
        for line in self.set_cookies:
            key, _, rest = line.partition("=")
            if key.strip() == name:
                return rest.split(";", 1)[0]
        return None


async def ask(
    session: ClientSession | TestClient, method: str, url: str | URL, **kw: Any
) -> Answer:
    """One request; exceptions and timeouts become status 0."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            resp = await session.request(method, url, allow_redirects=False, **kw)
            body = await resp.read()
            resp.release()
    except (ClientError, TimeoutError) as exc:
        return Answer(0, f"no answer: {type(exc).__name__}: {exc}")
    return Answer(
        resp.status,
        body.decode("utf-8", "replace"),
        resp.headers,
        resp.headers.getall("Set-Cookie", []),
    )


@dataclass
class Tally:
    """One family's counts and the examples of what went wrong."""

    family: str
    attempts: int = 0
    accepted: int = 0
    server_errors: int = 0
    lost: int = 0
    findings: dict[str, list[str]] = field(default_factory=dict)  # by cause: examples
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        request: str,
        answer: Answer,
        *,
        accepted: bool = False,
        lost: bool = False,
        detail: str = "",
    ) -> None:
        """Count one attempt; what went wrong is kept as an example (request → answer)."""
        self.attempts += 1
        error = answer.server_error
        cause = LOG.take()  # the exception the hub logged for this request, if any
        self.accepted += accepted
        self.server_errors += error
        self.lost += lost
        if accepted or error or lost:
            what = [w for w, bad in (("5xx", error), ("accepted", accepted), ("lost", lost)) if bad]
            if error and not detail:
                detail = cause or answer.text[:100]
            # One group per exception for a 5xx, else per kind of request.
            key = f"{', '.join(what)}: {detail if error else request[:36]}"
            self.findings.setdefault(key, []).append(
                f"{request[:160]} → {answer.status}{f' ({detail})' if detail else ''}"
            )


class LastFailure(logging.Handler):
    """Remembers the last exception the hub logged, to name the cause of a 5xx."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        if not record.exc_info or record.exc_info[1] is None:
            return
        exc = record.exc_info[1]
        frames = traceback.extract_tb(record.exc_info[2])
        ours = [f for f in frames if str(ROOT) in f.filename and "site-packages" not in f.filename]
        where = ours[-1] if ours else (frames[-1] if frames else None)
        place = f" at {Path(where.filename).relative_to(ROOT)}:{where.lineno}" if ours else ""
        if where and not ours:
            place = f" in {Path(where.filename).name}:{where.lineno}"
        message = " ".join(str(exc).split())  # aiohttp's parser errors span lines
        self.last = f"{type(exc).__name__}: {message[:90]}{place}"

    def take(self) -> str:
        value, self.last = self.last, ""
        return value


LOG = LastFailure()


def setup_logging(work: Path) -> None:
    """The hub's log to a file in the temp dir; exceptions also to LOG."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.FileHandler(work / "hub.log")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(LOG)


def guard_network() -> None:
    """The tests' guard: any connection or name lookup off loopback fails."""
    from tests import conftest as guard

    socket.socket.connect = guard._guarded(guard._real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guard._guarded(guard._real_connect_ex)  # type: ignore[method-assign]
    socket.getaddrinfo = guard._guarded_getaddrinfo  # type: ignore[assignment]
    for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        setattr(socket, name, guard._guarded_lookup(getattr(socket, name)))
    socket.socket.sendto = guard._guarded_sendto(socket.socket.sendto)  # type: ignore[method-assign]


class CountingHasher:
    """hub.access.auth's argon2 hasher, counting the passwords it verified (from any thread)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.verified = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return bool(self.inner.verify(password_hash, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Site:
    """The running app: its test client (for the tests' helpers), a plain cookie-less session
    for everything else, and what the probes need to know."""

    client: TestClient
    plain: ClientSession
    base: str
    hub: Any
    world: Any = None
    sessions: list[ClientSession] = field(default_factory=list)

    def session_from(self, address: str) -> ClientSession:
        """A cookie-less session whose connections come from `address` (on loopback)."""
        session = ClientSession(
            base_url=self.base,
            cookie_jar=DummyCookieJar(),
            connector=TCPConnector(local_addr=(address, 0)),
        )
        self.sessions.append(session)
        return session


def hub_config(db_url: str, work: Path, fakes: dict[str, Any]) -> Any:
    """SQLite/PostgreSQL, the sandbox, Telegram (webhook mode) and WhatsApp on the fakes."""
    from tests.conftest import PUBLIC_URL, make_config, telegram_settings, whatsapp_settings

    return make_config(
        hub={"public_url": PUBLIC_URL, "data_dir": str(work), "run_scheduler": False},
        database={"url": db_url},
        web={"secure_cookies": False},  # plain http on loopback: the cookie must come back
        telegram=telegram_settings(fakes["telegram"]),
        whatsapp=whatsapp_settings(fakes["whatsapp"]),
        sandbox={"enabled": True},
        broadcast={"media_dir": str(work / "media")},
    )


@contextlib.asynccontextmanager
async def running_site(config: Any) -> AsyncIterator[Site]:
    """The app on 127.0.0.1, with its clients."""
    from hub.app import HUB, create_app

    app = create_app(config, manage_database=False, run_workers=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    base = str(client.make_url("/")).rstrip("/")
    plain = ClientSession(base_url=base, cookie_jar=DummyCookieJar())
    site = Site(client, plain, base, app[HUB])
    try:
        yield site
    finally:
        for session in [plain, *site.sessions]:
            await session.close()
        await site.hub.tasks.wait()
        await client.close()


@contextlib.asynccontextmanager
async def database(kind: str, part: str, work: Path) -> AsyncIterator[str]:
    """A fresh database (SQLite file in the temp dir, or a new PostgreSQL one), open in Tortoise
    with the schema; closed (and dropped) afterwards."""
    from hub.core.db import close_database, open_database

    name = f"bench_probe_{os.getpid()}_{part}"
    if kind == "postgres":
        await _postgres(f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES_SERVER}/{name}"
    else:
        url = f"sqlite://{work}/{part}.sqlite3"
    try:
        await open_database(url)
        try:
            yield url
        finally:
            await close_database()
    finally:
        if kind == "postgres":
            await _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fakes_running() -> AsyncIterator[dict[str, Any]]:
    """The tests' fake Bot API and Graph API on loopback, in this process."""
    from tests.fake_graph import FakeGraphAPI
    from tests.fake_telegram import FakeBotAPI

    bot_api, graph = FakeBotAPI(record=False), FakeGraphAPI(record=False)
    await bot_api.start()
    await graph.start()
    try:
        yield {"telegram": bot_api, "whatsapp": graph}
    finally:
        await bot_api.stop()
        await graph.stop()


def cookie(name: str, value: str) -> dict[str, str]:
    return {"Cookie": f"{name}={value}"}


async def session_cookie(user: Any, *, hours: int = 1, ago: float = 0) -> tuple[str, str]:
    """A dashboard session for `user` opened `ago` hours back: (cookie value, CSRF token)."""
    from hub.access.auth import open_session

    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=ago)
    token, session = await open_session(user, hours, now)
    return token, session.csrf_token


async def login(
    session: ClientSession,
    username: str,
    password: str,
    next_path: str = "/",
    *,
    forwarded_for: str | None = None,
    also: str = "",
) -> Answer:
    """POST /login with a matching login-form token (cookie and field); `also`: more cookies."""
    from hub.web.dashboard.login import LOGIN_COOKIE

    token = "probe-login-token-" + "t" * 24
    form = {"csrf_token": token, "username": username, "password": password, "next": next_path}
    headers = {"Cookie": f"{LOGIN_COOKIE}={token}" + (f"; {also}" if also else "")}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return await ask(session, "POST", "/login", data=form, headers=headers)


def leaks_secrets(world: Any, text: str) -> bool:
    return any(secret and secret in text for secret in world.secrets)


async def snapshot_changed(before: Any) -> bool:
    from tests.test_permissions import snapshot

    return bool(before != await snapshot())


async def tests_call(call: Awaitable[tuple[int, str]]) -> Answer:
    """Run one of the tests' helpers (which return (status, text)); no answer is status 0."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            status, text = await call
    except (ClientError, TimeoutError) as exc:
        return Answer(0, f"no answer: {type(exc).__name__}")
    return Answer(status, text)
