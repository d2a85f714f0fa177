"""Staff accounts: passwords (argon2), API tokens, dashboard sessions, and area scopes."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.expressions import Q, Subquery

from hub.areas import is_within
from hub.errors import Forbidden, ValidationFailed
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

TOKEN_PREFIX = "bw_"
MIN_PASSWORD_LENGTH = 10
# After this many failures in a row an account waits before the next try (doubling each time).
FREE_FAILURES = 3
MAX_LOCK_SECONDS = 15 * 60


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


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
    user = await User.create(username=username, password_hash=hash_password(password), role=role)
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


def _lock_after(failures: int, now: dt.datetime) -> dt.datetime | None:
    """When the next try may come after this many failures in a row (None: at once)."""
    if failures <= FREE_FAILURES:
        return None
    return now + dt.timedelta(seconds=min(2 ** (failures - FREE_FAILURES), MAX_LOCK_SECONDS))


# Failures for usernames that do not exist, kept in memory and throttled exactly like real
# accounts, so a 429 does not reveal which usernames exist.
_unknown_failures: OrderedDict[str, tuple[int, dt.datetime | None]] = OrderedDict()
_UNKNOWN_KEEP = 10_000


def _unknown_user_failed(username: str, now: dt.datetime) -> None:
    failures, _ = _unknown_failures.pop(username, (0, None))
    _unknown_failures[username] = (failures + 1, _lock_after(failures + 1, now))
    while len(_unknown_failures) > _UNKNOWN_KEEP:
        _unknown_failures.popitem(last=False)


async def check_password(username: str, password: str, now: dt.datetime) -> User | None:
    """The user if the password is right; None otherwise. Raises LoginThrottled while locked."""
    username = username.strip()
    user = await User.get_or_none(username=username)
    locked_until = user.locked_until if user else _unknown_failures.get(username, (0, None))[1]
    if locked_until is not None and locked_until > now:
        raise LoginThrottled((locked_until - now).total_seconds())
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.is_active
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None:
        _unknown_user_failed(username, now)
        return None
    if not ok:
        failures = user.failed_logins + 1
        await User.filter(id=user.id).update(
            failed_logins=failures, locked_until=_lock_after(failures, now)
        )
        return None
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
