"""The SQLite file as several processes share it: writers wait for each other, and say when not."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from hub.core.db import close_database, is_busy, open_database
from models import Area, AreaKind


@contextlib.asynccontextmanager
async def hub_database(url: str) -> AsyncIterator[None]:
    await open_database(url)
    try:
        yield
    finally:
        await close_database()


def other_process(path: Path) -> sqlite3.Connection:
    """A connection of its own, as `hub roster import` next to `hub run` has."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


async def read_then_write(name: str) -> None:
    """The shape of most of the hub's transactions: look something up, then write."""
    async with in_transaction():
        await Area.all().count()
        await Area.create(kind=AreaKind.KECAMATAN, name=name, path=name, path_key=name.lower())


async def test_sqlite_is_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    async with hub_database(f"sqlite://{tmp_path}/hub.sqlite3"):
        connection = connections.get("default")
        assert await connection.execute_query_dict("PRAGMA journal_mode") == [
            {"journal_mode": "wal"}
        ]
        assert await connection.execute_query_dict("PRAGMA busy_timeout") == [{"timeout": 10000}]
    async with hub_database(f"sqlite://{tmp_path}/hub.sqlite3?busy_timeout=250"):
        connection = connections.get("default")
        assert await connection.execute_query_dict("PRAGMA busy_timeout") == [{"timeout": 250}]


async def test_a_transaction_waits_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    async with hub_database(f"sqlite://{path}"):
        other = other_process(path)
        other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        hub_write = asyncio.create_task(read_then_write("Sungai Kunjang"))
        # A plain BEGIN read, then was refused the write at once ("database is locked"), busy
        # timeout or not; the hub's transaction must be waiting instead.
        await asyncio.wait({hub_write}, timeout=0.5)
        other.execute("COMMIT")
        await hub_write
        other.close()

        assert await Area.filter(name="Sungai Kunjang").count() == 1


async def test_a_lock_held_past_the_timeout_is_reported_and_the_hub_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite3"
    async with hub_database(f"sqlite://{path}?busy_timeout=50"):
        other = other_process(path)
        other.execute("BEGIN IMMEDIATE")

        with pytest.raises(OperationalError) as refused:
            await read_then_write("Sungai Kunjang")
        assert is_busy(refused.value)

        other.execute("ROLLBACK")
        other.close()
        # Nothing of the process stays stuck behind the failed BEGIN.
        await asyncio.wait_for(read_then_write("Samarinda Ulu"), timeout=30)
        assert await Area.all().values_list("name", flat=True) == ["Samarinda Ulu"]


@pytest.mark.parametrize(
    ("error", "busy"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database table is locked"), True),
        (OperationalError(sqlite3.OperationalError("database is locked")), True),
        (sqlite3.OperationalError("no such table: area"), False),
        (OperationalError("syntax error"), False),
        (RuntimeError("database is locked"), False),  # the words alone are not enough
    ],
)
def test_is_busy(error: BaseException, busy: bool) -> None:
    assert is_busy(error) is busy
    try:
        raise RuntimeError("while saving") from error
    except RuntimeError as wrapped:
        assert is_busy(wrapped) is busy
