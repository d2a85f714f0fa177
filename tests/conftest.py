"""Shared fixtures: a network guard, both databases, the app with a test client, factories, and
the fake Telegram and WhatsApp APIs on loopback with the configuration that points the hub at them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, tortoise_test_context

from channels.whatsapp import WhatsAppChannel
from hub.access import auth
from hub.app import HUB, Hub, create_app
from hub.core.config import Config
from models.config import MODEL_MODULES
from tests import fake_graph, fake_telegram
from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import FakeBotAPI

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test_{}")
SERVER_URL = POSTGRES_URL.rsplit("/", 1)[0]  # the server itself, to drop test databases


# Network guard ------------------------------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _guarded(real):  # type: ignore[no-untyped-def]
    def connect(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            if not _is_local(address[0]):
                raise OSError(f"test tried to reach the network: {address[0]}")
        return real(self, address)

    return connect


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if isinstance(host, bytes):
        host = host.decode()
    if not _is_local(host):
        raise OSError(f"test tried to resolve a network name: {host}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def _guarded_lookup(real):  # type: ignore[no-untyped-def]
    def lookup(host: str) -> object:
        if not _is_local(host):
            raise OSError(f"test tried to resolve a network name: {host}")
        return real(host)

    return lookup


def _guarded_sendto(real):  # type: ignore[no-untyped-def]
    def sendto(self: socket.socket, data: bytes, *args: object) -> object:
        address = args[-1]
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise OSError(f"test tried to send to the network: {address[0]}")
        return real(self, data, *args)

    return sendto


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection or name lookup that is not to loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_real_connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, _guarded_lookup(getattr(socket, name)))
    monkeypatch.setattr(socket.socket, "sendto", _guarded_sendto(socket.socket.sendto))
    yield


@pytest.fixture(autouse=True)
def quick_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters in tests: the real ones cost 0.15 s per user made."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# Databases ----------------------------------------------------------------------------------


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    return _postgres_reachable()


def _db_url(kind: str, postgres_available: bool) -> str:
    if kind == "sqlite":
        return "sqlite://:memory:"
    if not postgres_available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is not reachable and CI is set")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    return POSTGRES_URL


@contextlib.asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[TortoiseContext]:
    """tortoise_test_context, plus dropping the PostgreSQL database it created.

    Tortoise creates a database per context but never drops it: thousands of test runs would
    fill the server's disk.
    """
    async with tortoise_test_context(MODEL_MODULES, db_url=url) as ctx:
        client = ctx.db()
        name = getattr(client, "database", None) if url.startswith("postgres") else None
        yield ctx
        await client.close()
    if name:
        admin = await asyncpg.connect(f"{SERVER_URL}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def db(db_kind: str, postgres_available: bool) -> AsyncIterator[str]:
    """A fresh database with the schema, on SQLite and on PostgreSQL; yields its kind."""
    # Tortoise caches insert statements per connection name, not per dialect: a SQLite test
    # followed by a PostgreSQL one in the same process would reuse "?" placeholders.
    EXECUTOR_CACHE.clear()
    async with fresh_database(_db_url(db_kind, postgres_available)):
        yield db_kind


# The app ------------------------------------------------------------------------------------


def make_config(**sections: dict[str, object]) -> Config:
    config = Config()
    for section, values in sections.items():
        config = config.replace(section, **values)
    return config


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest_asyncio.fixture
async def client(db: str, config: Config) -> AsyncIterator[TestClient]:
    """A test client for the app on the test database; tests drive the sender themselves."""
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture
def hub(client: TestClient) -> Hub:
    return client.app[HUB]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


# 10:00 WITA on a weekday: outside the default quiet hours.
CLOCK_START = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(CLOCK_START)


@pytest_asyncio.fixture
async def timed(db: str, config: Config, clock: FakeClock) -> AsyncIterator[TestClient]:
    """A client for an app whose clock the test controls."""
    app = create_app(config, clock=clock, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


# The fake platforms on loopback -------------------------------------------------------------

TELEGRAM_WEBHOOK_SECRET = "hub-webhook-secret-5e1a"
PUBLIC_URL = "https://balai.example.id"
BUSINESS_PHONE = "+62 811-0001-1100"


@pytest_asyncio.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    """The fake Telegram Bot API, started on loopback."""
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    """The fake WhatsApp Graph API, started on loopback."""
    server = FakeGraphAPI()
    await server.start()
    yield server
    await server.stop()


def telegram_settings(bot_api: FakeBotAPI, **values: object) -> dict[str, object]:
    """`[telegram]` for the hub on the fake Bot API, in webhook mode unless `values` differ."""
    return {
        "enabled": True,
        "mode": "webhook",
        "api_base_url": bot_api.url,
        "bot_username": "balaiwarga_bot",
        "token": fake_telegram.TOKEN,
        "webhook_secret": TELEGRAM_WEBHOOK_SECRET,
        **values,
    }


def whatsapp_settings(graph: FakeGraphAPI, **values: object) -> dict[str, object]:
    """`[whatsapp]` for the hub on the fake Graph API."""
    return {
        "enabled": True,
        "api_base_url": graph.url,
        "api_version": fake_graph.VERSION,
        "phone_number_id": fake_graph.PHONE_NUMBER_ID,
        "business_phone": BUSINESS_PHONE,
        "access_token": fake_graph.TOKEN,
        "app_secret": fake_graph.APP_SECRET,
        "verify_token": fake_graph.VERIFY_TOKEN,
        **values,
    }


def telegram_config(bot_api: FakeBotAPI, **values: object) -> Config:
    """The hub with Telegram (and the sandbox) on the fake Bot API; Telegram needs a public URL."""
    return make_config(
        telegram=telegram_settings(bot_api, **values), hub={"public_url": PUBLIC_URL}
    )


def whatsapp_config(graph: FakeGraphAPI, **values: object) -> Config:
    """The hub with WhatsApp (and the sandbox) on the fake Graph API."""
    return make_config(whatsapp=whatsapp_settings(graph, **values))


def whatsapp_on_the_hub_clock(hub: Hub) -> None:
    """Run the hub's WhatsApp channel on the hub's clock (before the app starts), as both read the
    wall clock in production: the window is then asked at one `now` when queued and when sent."""
    hub.channels["whatsapp"] = WhatsAppChannel(
        hub.config.whatsapp, hub.receive, public_url=hub.config.hub.public_url, clock=hub.clock
    )


@pytest_asyncio.fixture
async def wa(db: str, graph: FakeGraphAPI) -> AsyncIterator[TestClient]:
    """A test client for the app with WhatsApp enabled against the fake Graph API."""
    app = create_app(whatsapp_config(graph), manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
