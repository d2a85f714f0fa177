"""Database lifecycle: apply migrations, open and close Tortoise connections."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
from tortoise import Tortoise
from tortoise.exceptions import OperationalError, TransactionManagementError
from tortoise.migrations.api import migrate

from hub.core.config import SECRET_MASK, ConfigError, redact_url
from models.config import normalize_db_url, tortoise_config

log = logging.getLogger(__name__)

# What opening a connection raises when the database is not there for us: no server, no such
# host or database (OSError; Tortoise's DBConnectionError is one), a SQLite folder that cannot be
# made, a server refusing the login or not taking connections yet.
_UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class DatabaseUnavailable(ConfigError):
    """The database of `database.url` cannot be reached: the CLI's one line and exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__("database.url", message)


@contextmanager
def _reaching(db_url: str) -> Iterator[None]:
    """Turn a failure to connect into DatabaseUnavailable, one line without the password."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise DatabaseUnavailable(_unreachable(db_url, exc)) from None


def _unreachable(db_url: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    password = unquote(urlsplit(db_url).password or "")
    if password:  # no driver is known to quote it, but a secret is not left to chance
        reason = reason.replace(password, SECRET_MASK)
    return f"cannot reach {redact_url(db_url)}: {reason}"


# SQLite's words for SQLITE_BUSY and SQLITE_LOCKED: another connection holds the lock.
_SQLITE_LOCKED = re.compile(r"database (?:table |schema )?is locked|database is busy")
_LOCK_ERRORS = (sqlite3.OperationalError, OperationalError, TransactionManagementError)
# PostgreSQL's: a lock_timeout ran out, or a deadlock was broken by failing this transaction.
_POSTGRES_LOCK_ERRORS = (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError)


def _ensure_sqlite_folder(db_url: str) -> None:
    url = normalize_db_url(db_url)
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = Path(url[len("sqlite://") :].split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)


async def apply_migrations(db_url: str) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date).

    Raises DatabaseUnavailable when the database cannot be reached: `hub migrate` and `hub run`
    are the first to connect, and say so in one line.
    """
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)

    try:
        with _reaching(db_url):
            _ensure_sqlite_folder(db_url)
            await migrate(config=tortoise_config(db_url), progress=progress)
    finally:
        # migrate() initialises Tortoise without model executors; start clean afterwards.
        await Tortoise.close_connections()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


async def open_database(db_url: str, *, migrate_first: bool = True) -> None:
    """Apply pending migrations (unless told not to), then connect."""
    if migrate_first:
        await apply_migrations(db_url)
    _ensure_sqlite_folder(db_url)
    await Tortoise.init(config=tortoise_config(db_url))


async def close_database() -> None:
    await Tortoise.close_connections()


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the database refusing for a lock: worth a retry."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _POSTGRES_LOCK_ERRORS):
            return True
        if isinstance(current, _LOCK_ERRORS) and _SQLITE_LOCKED.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False
