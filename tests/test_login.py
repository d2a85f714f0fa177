"""Password checks and the login limits: counted before checking, per account and client
address, per address, an account-wide ceiling that expires, and argon2 off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from hub.access import auth
from hub.access.auth import LoginThrottle, LoginThrottled, check_password
from models import User
from tests.conftest import CLOCK_START
from tests.factories import PASSWORD, make_user
from tests.test_dashboard import hidden, login_attempt

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"
WRONG = "wrong password!"


class CountingHasher(PasswordHasher):
    """The tests' cheap hasher, noting every password it verifies and the thread it ran in."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []
        self.threads: set[int] = set()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(password))
        self.threads.add(threading.get_ident())
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.add(threading.get_ident())
        return super().hash(password, salt=salt)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", counting)
    return counting


async def attempt(
    throttle: LoginThrottle, username: str, password: str, client: str, now: dt.datetime
) -> User | LoginThrottled | None:
    """check_password's answer, or the LoginThrottled it raised."""
    try:
        return await check_password(username, password, now, client=client, throttle=throttle)
    except LoginThrottled as exc:
        return exc


async def test_parallel_guesses_are_counted_before_any_is_checked(
    db: str, hasher: CountingHasher
) -> None:
    user = await make_user()
    throttle = LoginThrottle()
    results = await asyncio.gather(
        *(attempt(throttle, user.username, f"{WRONG}{i}", ATTACKER, CLOCK_START) for i in range(60))
    )
    checked = auth.FREE_FAILURES + 1  # the free ones, and the one whose failure sets the lock
    assert len(hasher.verified) == checked
    assert results[:checked] == [None] * checked
    assert all(isinstance(r, LoginThrottled) for r in results[checked:])
    await user.refresh_from_db()
    assert user.failed_logins == checked and user.locked_until is None  # far below the ceiling


async def test_the_right_password_among_parallel_guesses_does_not_get_in(
    db: str, hasher: CountingHasher
) -> None:
    user = await make_user()
    throttle = LoginThrottle()
    right = {auth.FREE_FAILURES + 1, 30, 59}  # right after the free ones, and later
    guesses = [PASSWORD if i in right else f"{WRONG}{i}" for i in range(60)]
    results = await asyncio.gather(
        *(attempt(throttle, user.username, g, ATTACKER, CLOCK_START) for g in guesses)
    )
    assert not any(isinstance(r, User) for r in results)
    assert PASSWORD not in hasher.verified
    await user.refresh_from_db()
    assert user.last_login_at is None


async def test_a_strangers_failures_do_not_lock_the_owner_out(db: str) -> None:
    user = await make_user()
    throttle = LoginThrottle()
    now = CLOCK_START
    for _ in range(12):  # each one checked: the stranger waits out every lock
        assert await attempt(throttle, user.username, WRONG, ATTACKER, now) is None
        now += dt.timedelta(seconds=auth.MAX_LOCK_SECONDS)
    assert await attempt(throttle, user.username, WRONG, ATTACKER, now) is None
    locked = await attempt(throttle, user.username, PASSWORD, ATTACKER, now)
    assert isinstance(locked, LoginThrottled) and locked.retry_after == auth.MAX_LOCK_SECONDS

    owner = await attempt(throttle, user.username, PASSWORD, OWNER, now)
    assert isinstance(owner, User) and owner.id == user.id
    await user.refresh_from_db()
    assert user.failed_logins == 0 and user.last_login_at == now
    # The owner's login did not unlock the stranger.
    assert isinstance(await attempt(throttle, user.username, PASSWORD, ATTACKER, now), Exception)


async def test_an_address_is_throttled_across_usernames(db: str, hasher: CountingHasher) -> None:
    # Real accounts: an unknown username is checked against the dummy hash, which is slow.
    users = [await make_user() for _ in range(auth.ADDRESS_FREE_FAILURES + 3)]
    names = [u.username for u in users]
    throttle = LoginThrottle()
    now = CLOCK_START
    for name in names[: auth.ADDRESS_FREE_FAILURES]:  # each username far below its own limit
        assert await attempt(throttle, name, WRONG, ATTACKER, now) is None
    refused = await attempt(throttle, names[-1], WRONG, ATTACKER, now)
    assert isinstance(refused, LoginThrottled)
    assert refused.retry_after == auth.ADDRESS_FORGET_SECONDS
    refused = await attempt(throttle, users[0].username, PASSWORD, ATTACKER, now)
    assert isinstance(refused, LoginThrottled)
    assert len(hasher.verified) == auth.ADDRESS_FREE_FAILURES
    # Another address is not affected, and the owner's right password works from there.
    assert await attempt(throttle, names[-1], WRONG, OWNER, now) is None
    assert isinstance(await attempt(throttle, users[0].username, PASSWORD, OWNER, now), User)
    # One failure is forgotten every ADDRESS_FORGET_SECONDS.
    now += dt.timedelta(seconds=auth.ADDRESS_FORGET_SECONDS)
    assert await attempt(throttle, names[-2], WRONG, ATTACKER, now) is None
    assert isinstance(await attempt(throttle, names[-3], WRONG, ATTACKER, now), LoginThrottled)


async def test_an_ipv6_client_is_throttled_by_its_64_network(db: str) -> None:
    name = (await make_user()).username
    throttle = LoginThrottle()
    for i in range(auth.FREE_FAILURES + 1):
        assert await attempt(throttle, name, WRONG, f"2001:db8::{i + 1:x}", CLOCK_START) is None
    refused = await attempt(throttle, name, PASSWORD, "2001:db8::ffff:1", CLOCK_START)
    assert isinstance(refused, LoginThrottled)
    other_network = await attempt(throttle, name, PASSWORD, "2001:db8:0:1::1", CLOCK_START)
    assert isinstance(other_network, User)


async def test_the_account_ceiling_is_counted_atomically_capped_and_expires(
    db: str, hasher: CountingHasher
) -> None:
    user = await make_user()
    await User.filter(id=user.id).update(failed_logins=auth.ACCOUNT_FREE_FAILURES - 1)
    throttle = LoginThrottle()
    now = CLOCK_START
    results = await asyncio.gather(
        *(attempt(throttle, user.username, WRONG, f"192.0.2.{i}", now) for i in range(60))
    )
    assert len(hasher.verified) == 2  # the last free one, and the one that sets the lock
    assert sum(isinstance(r, LoginThrottled) for r in results) == 58
    await user.refresh_from_db()
    assert user.failed_logins == auth.ACCOUNT_FREE_FAILURES + 1
    assert user.locked_until == now + dt.timedelta(seconds=2)

    # The owner tried during the lock: refused, but not counted against the owner's address.
    for _ in range(10):
        assert isinstance(await attempt(throttle, user.username, PASSWORD, OWNER, now), Exception)
    # However many failures, the ceiling locks for ACCOUNT_MAX_LOCK_SECONDS at most.
    await User.filter(id=user.id).update(failed_logins=100_000, locked_until=None)
    assert await attempt(throttle, user.username, WRONG, ATTACKER, now) is None
    await user.refresh_from_db()
    assert user.locked_until == now + dt.timedelta(seconds=auth.ACCOUNT_MAX_LOCK_SECONDS)
    refused = await attempt(throttle, user.username, PASSWORD, OWNER, now)
    assert isinstance(refused, LoginThrottled)
    assert refused.retry_after == auth.ACCOUNT_MAX_LOCK_SECONDS

    now += dt.timedelta(seconds=auth.ACCOUNT_MAX_LOCK_SECONDS)
    assert isinstance(await attempt(throttle, user.username, PASSWORD, OWNER, now), User)
    await user.refresh_from_db()
    assert user.failed_logins == 0 and user.locked_until is None


async def test_hashing_and_verification_run_off_the_event_loop(
    db: str, hasher: CountingHasher
) -> None:
    user = await make_user()  # create_user hashes the password
    throttle = LoginThrottle()
    assert isinstance(await attempt(throttle, user.username, PASSWORD, OWNER, CLOCK_START), User)
    assert await attempt(throttle, "nobody", PASSWORD, OWNER, CLOCK_START) is None  # dummy hash
    assert len(hasher.verified) == 2
    assert hasher.threads and threading.get_ident() not in hasher.threads


async def test_at_most_two_passwords_are_verified_at_once(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()
    quick = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

    class BlockingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                release.wait(timeout=10)  # bounded: on the event loop it stalls the test
                return quick.verify(hash, password)
            finally:
                with lock:
                    running -= 1

    name = (await make_user()).username
    monkeypatch.setattr(auth, "_hasher", BlockingHasher())
    throttle = LoginThrottle()
    checks = [
        asyncio.ensure_future(attempt(throttle, name, WRONG, f"192.0.2.{i}", CLOCK_START))
        for i in range(6)
    ]
    for _ in range(1000):  # the loop stays free while checks run: this polling proceeds
        if running == 2:
            break
        await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*checks) == [None] * 6
    assert most == 2


async def test_a_strangers_failures_do_not_keep_the_owner_out_of_the_dashboard(
    timed: TestClient,
) -> None:
    user = await make_user()
    for _ in range(auth.FREE_FAILURES + 1):
        status, _ = await login_attempt(timed, user.username, WRONG)
        assert status == 422
    page = await (await timed.get("/login")).text()
    resp = await timed.post(
        "/login",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "username": user.username,
            "password": PASSWORD,
        },
        allow_redirects=False,
    )
    assert resp.status == 429 and resp.headers["Retry-After"] == "2"  # the clock stands still

    # The owner, from another address (127.0.0.2), logs in.
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(
        base_url=timed.make_url(""),
        connector=connector,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    ) as owner:
        status, _ = await login_attempt(owner, user.username, PASSWORD)  # type: ignore[arg-type]
    assert status == 303


def test_the_client_address_behind_a_trusted_proxy() -> None:
    from aiohttp.test_utils import make_mocked_request

    from hub.web.middleware import client_address

    def remote(peer: str, forwarded: str | None) -> object:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        request = make_mocked_request("POST", "/login", headers=headers)
        request._transport_peername = (peer, 1234)  # type: ignore[attr-defined]
        return request

    trusted = ["127.0.0.1", "10.0.0.0/8"]
    cases = [
        ("127.0.0.1", "203.0.113.9", [], "127.0.0.1"),  # no proxy trusted: the peer
        ("127.0.0.1", "203.0.113.9", trusted, "203.0.113.9"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.2.3", trusted, "203.0.113.9"),  # forged first
        (
            "198.51.100.7",
            "203.0.113.9",
            trusted,
            "198.51.100.7",
        ),  # not a proxy: its word is ignored
        ("127.0.0.1", None, trusted, "127.0.0.1"),
        ("127.0.0.1", "not-an-address", trusted, "127.0.0.1"),
    ]
    for peer, forwarded, proxies, expected in cases:
        request = remote(peer, forwarded)
        assert client_address(request, proxies) == expected, (peer, forwarded, proxies)  # type: ignore[arg-type]
