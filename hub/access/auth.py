"""Staff accounts: passwords (argon2), API tokens, dashboard sessions, and area scopes."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import re
import secrets
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.expressions import Q, Subquery

from hub.access.areas import is_within
from hub.core.errors import Forbidden, ValidationFailed
from models import (
    ApiToken,
    Area,
    BroadcastArea,
    Seat,
    User,
    UserRole,
    WebSession,
)

_USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

# Argon2 costs ~0.15 s of CPU and 64 MiB per hash: it runs in these threads, off the event loop,
# and at most two at a time, so a burst of logins neither stalls the hub nor exhausts its memory
# (later ones wait their turn in the pool's queue).
_HASH_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")

TOKEN_PREFIX = "bw_"
MIN_PASSWORD_LENGTH = 10

# Login limits, each counted before the password is checked, so parallel guesses cannot all be
# checked (docs/architecture.md, "Logins"):
# - an account from one client address: this many failures in a row, then a wait that doubles
#   after each further failure up to MAX_LOCK_SECONDS. A stranger's failures lock the stranger
#   out, not the owner at another address.
FREE_FAILURES = 3
MAX_LOCK_SECONDS = 15 * 60
# - a client address over all usernames: this many failures at once, then one more for every
#   ADDRESS_FORGET_SECONDS (a leaky bucket), so trying many usernames is as slow as one.
ADDRESS_FREE_FAILURES = 20
ADDRESS_FORGET_SECONDS = MAX_LOCK_SECONDS
# - an account from all addresses (User.failed_logins / locked_until): a ceiling against guessing
#   from many addresses. One address needs about a day to reach it and then locks the owner out
#   for at most a minute in each quarter hour; the owner's next login clears it.
ACCOUNT_FREE_FAILURES = 100
ACCOUNT_MAX_LOCK_SECONDS = 60
# Client addresses, account-address pairs and unknown usernames remembered (least recent go).
THROTTLE_KEEP = 10_000
_RESERVE_TRIES = 50  # compare-and-swap rounds before a busy account answers "try again"


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    """The argon2 hash of `password`, computed here (for scripts; async code uses the pool)."""
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    """The argon2 hash of `password`, computed in the hashing threads."""
    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, hash_password, password)


def _verify(password_hash: str, password: str) -> bool:
    # `_hasher` is looked up at each call: tests swap in cheap parameters.
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`, checked in the hashing threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASH_POOL, _verify, password_hash, password)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


async def create_user(
    username: str, password: str, role: UserRole, areas: Sequence[Area] = ()
) -> User:
    """A new staff account; refuses short passwords and taken usernames."""
    username = username.strip()
    if not _USERNAME.fullmatch(username):
        raise ValidationFailed("username: use 1-64 letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if await User.exists(username=username):
        raise ValidationFailed(f"username {username!r} is taken", code="conflict")
    user = await User.create(
        username=username, password_hash=await hash_password_async(password), role=role
    )
    if areas:
        await user.areas.add(*areas)
    return user


async def create_token(user: User) -> str:
    """A new API token for `user`; only its hash is stored, so show it now or never."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(user=user, token_hash=hash_secret(token), prefix=token[:10])
    return token


async def user_for_token(token: str, now: dt.datetime) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await ApiToken.get_or_none(token_hash=hash_secret(token), revoked_at=None).select_related(
        "user"
    )
    if row is None or not row.user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=5):
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    return row.user


class LoginThrottled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"try again in {retry_after:.0f} s")
        self.retry_after = retry_after


def _lock_after(
    failures: int,
    now: dt.datetime,
    free: int = FREE_FAILURES,
    longest: float = MAX_LOCK_SECONDS,
) -> dt.datetime | None:
    """When the next try may come after this many failures in a row (None: at once)."""
    if failures <= free:
        return None
    # The exponent is capped so that a huge count stays cheap to compute.
    return now + dt.timedelta(seconds=min(2 ** min(failures - free, 30), longest))


def _account_lock_after(failures: int, now: dt.datetime) -> dt.datetime | None:
    return _lock_after(failures, now, ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_LOCK_SECONDS)


def _wait(locked_until: dt.datetime | None, now: dt.datetime) -> float:
    return (locked_until - now).total_seconds() if locked_until and locked_until > now else 0.0


def client_key(address: str) -> str:
    """The key a client address is throttled under: an IPv6 address by its /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One subscriber usually holds a whole /64: its addresses count as one client.
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


def _remember(table: OrderedDict[_K, _V], key: _K, value: _V) -> None:
    """Store as the most recent entry and forget the least recent beyond THROTTLE_KEEP."""
    table.pop(key, None)
    table[key] = value
    while len(table) > THROTTLE_KEEP:
        table.popitem(last=False)


@dataclass(frozen=True)
class Attempt:
    """One login attempt counted against its account-address pair and its address."""

    username: str
    client: str
    failures: int  # the pair's count including this attempt
    previous_lock: dt.datetime | None


class LoginThrottle:
    """The login limits kept in this process's memory: per account and client address, per
    client address, and the account ceiling of usernames that do not exist.

    Every method is synchronous, so a check and its count happen with no other coroutine in
    between: of parallel attempts, only those the limits allow get through.
    """

    def __init__(self) -> None:
        self._pairs: OrderedDict[tuple[str, str], tuple[int, dt.datetime | None]] = OrderedDict()
        self._addresses: OrderedDict[str, tuple[float, dt.datetime]] = OrderedDict()
        # Unknown usernames are throttled exactly like accounts, so a 429 does not reveal which
        # usernames exist.
        self._unknown: OrderedDict[str, tuple[int, dt.datetime | None]] = OrderedDict()

    def _address_level(self, client: str, now: dt.datetime) -> float:
        level, at = self._addresses.get(client, (0.0, now))
        return max(0.0, level - max(0.0, (now - at).total_seconds()) / ADDRESS_FORGET_SECONDS)

    def reserve(self, username: str, client: str, now: dt.datetime) -> Attempt:
        """Count an attempt on `username` from `client`, or raise LoginThrottled."""
        failures, locked_until = self._pairs.get((username, client), (0, None))
        level = self._address_level(client, now)
        wait = max(
            _wait(locked_until, now),
            (level + 1 - ADDRESS_FREE_FAILURES) * ADDRESS_FORGET_SECONDS,
        )
        if wait > 0:
            raise LoginThrottled(wait)
        _remember(self._pairs, (username, client), (failures + 1, _lock_after(failures + 1, now)))
        _remember(self._addresses, client, (level + 1, now))
        return Attempt(username, client, failures + 1, locked_until)

    def reserve_unknown(self, username: str, now: dt.datetime) -> None:
        """Count an attempt on a username that does not exist, as the account ceiling would."""
        failures, locked_until = self._unknown.get(username, (0, None))
        if wait := _wait(locked_until, now):
            raise LoginThrottled(wait)
        _remember(self._unknown, username, (failures + 1, _account_lock_after(failures + 1, now)))

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the pair starts over and the address does not count it."""
        self._pairs.pop((attempt.username, attempt.client), None)
        self._uncount_address(attempt.client)

    def cancel(self, attempt: Attempt) -> None:
        """The attempt was refused before its password was checked: it does not count."""
        key = (attempt.username, attempt.client)
        if key in self._pairs:
            failures, locked_until = self._pairs[key]
            if failures == attempt.failures:  # no attempt came after it: undo its lock too
                locked_until = attempt.previous_lock
            if failures <= 1:
                del self._pairs[key]
            else:
                self._pairs[key] = (failures - 1, locked_until)
        self._uncount_address(attempt.client)

    def _uncount_address(self, client: str) -> None:
        if client in self._addresses:
            level, at = self._addresses[client]
            self._addresses[client] = (max(0.0, level - 1), at)


_default_throttle = LoginThrottle()  # for callers without a hub (scripts, tests)


async def _reserve_account(user: User, now: dt.datetime) -> None:
    """Count an attempt on the account's ceiling in the database, or raise LoginThrottled.

    A compare-and-swap on failed_logins: of parallel attempts (in any process, on SQLite or
    PostgreSQL) exactly one moves the count from a given value, the others read it again.
    """
    failures, locked_until = user.failed_logins, user.locked_until
    for _ in range(_RESERVE_TRIES):
        if wait := _wait(locked_until, now):
            raise LoginThrottled(wait)
        counted = (
            await User.filter(id=user.id, failed_logins=failures)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
            .update(failed_logins=failures + 1, locked_until=_account_lock_after(failures + 1, now))
        )
        if counted:
            return
        row = await User.filter(id=user.id).values("failed_logins", "locked_until")
        if not row:
            raise LoginThrottled(1.0)  # deleted meanwhile
        failures, locked_until = row[0]["failed_logins"], row[0]["locked_until"]
    raise LoginThrottled(1.0)


async def check_password(
    username: str,
    password: str,
    now: dt.datetime,
    *,
    client: str = "",
    throttle: LoginThrottle | None = None,
) -> User | None:
    """The user if the password is right; None otherwise. Raises LoginThrottled while the
    limits for this account, the client's address (`client`) or the account overall are spent.
    """
    throttle = throttle or _default_throttle
    username = username.strip()
    attempt = throttle.reserve(username, client_key(client), now)
    try:
        user = await User.get_or_none(username=username)
        if user is None:
            throttle.reserve_unknown(username, now)
        else:
            await _reserve_account(user, now)
    except LoginThrottled:
        throttle.cancel(attempt)
        raise
    ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        return None
    throttle.succeeded(attempt)
    await User.filter(id=user.id).update(failed_logins=0, locked_until=None, last_login_at=now)
    return user


async def open_session(user: User, hours: int, now: dt.datetime) -> tuple[str, WebSession]:
    """A new dashboard session; returns the cookie value and the row (with its CSRF token)."""
    token = secrets.token_urlsafe(32)
    session = await WebSession.create(
        user=user,
        token_hash=hash_secret(token),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=now + dt.timedelta(hours=hours),
    )
    return token, session


async def session_for_cookie(token: str, now: dt.datetime) -> WebSession | None:
    session = await WebSession.get_or_none(token_hash=hash_secret(token)).select_related("user")
    if session is None or session.expires_at <= now or not session.user.is_active:
        return None
    return session


async def close_session(token: str) -> None:
    await WebSession.filter(token_hash=hash_secret(token)).delete()


@dataclass
class Scope:
    """What a user may see: all areas (keys None) or those at or below the listed area keys."""

    user: User | None
    keys: list[str] | None

    @classmethod
    async def of(cls, user: User | None) -> Scope:
        if user is None or user.role == UserRole.ADMIN:
            return cls(user, None)
        keys = [a.path_key for a in await user.areas.all()]
        return cls(user, keys or None)

    @property
    def can_write(self) -> bool:
        return self.user is None or self.user.role != UserRole.OFFICIAL

    def covers(self, area_key: str) -> bool:
        return self.keys is None or is_within(area_key, self.keys)

    def require_area(self, area: Area) -> None:
        if not self.covers(area.path_key):
            raise Forbidden(f"area {area.path} is outside your areas")

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden("officials have read-only access")

    def area_filter(self, field: str = "area__path_key") -> Q | None:
        """A filter for rows whose area (reached through `field`) is in scope; None: all are."""
        if self.keys is None:
            return None
        query = Q()
        for key in self.keys:
            query |= Q(**{field: key}) | Q(**{f"{field}__startswith": key + "/"})
        return query

    def covers_all(self, area_keys: Sequence[str] | None) -> bool:
        """True when every key is in scope; None (an unscoped owner's) is for unscoped users."""
        if self.keys is None:
            return True
        return area_keys is not None and all(self.covers(key) for key in area_keys)

    async def require_members(self, member_ids: Sequence[int]) -> None:
        if self.keys is None or not member_ids:
            return
        seats = Seat.filter(member_id__in=list(member_ids), ended_at__isnull=True)
        area_filter = self.area_filter()
        assert area_filter is not None
        inside = set(await seats.filter(area_filter).values_list("member_id", flat=True))
        outside = sorted(set(member_ids) - inside)
        if outside:
            raise Forbidden(f"member {outside[0]} is outside your areas")

    def broadcasts(self) -> Q | None:
        """A filter for the broadcasts in scope: every area they reach (stored when created) lies
        in the user's areas, or the user created them. None: all are."""
        area_filter = self.area_filter("area_key")
        if area_filter is None:
            return None
        reaching_out = BroadcastArea.exclude(area_filter).values("broadcast_id")
        query = ~Q(id__in=Subquery(reaching_out))
        if self.user is not None:
            query |= Q(created_by_id=self.user.id)
        return query
