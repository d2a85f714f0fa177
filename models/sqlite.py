"""Tortoise's SQLite client with transactions that wait for the write lock instead of failing.

Several processes write to one SQLite file (`hub run`, `hub roster import`, `hub migrate`). Tortoise
opens transactions with a plain `BEGIN`, which takes no lock until the first write: a transaction
that reads and then writes (most of the hub's) is refused with "database is locked" at once, and
SQLite's busy timeout never applies, whenever another connection is writing or has written since
the read. `BEGIN IMMEDIATE` takes the write lock up front, so the busy timeout covers the wait.
Within one process this changes nothing: Tortoise already runs one transaction at a time there.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError


class _ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # Tortoise reports this as a TransactionManagementError; it is the database being
            # busy past the timeout, like any other statement refused for the lock.
            raise OperationalError(exc) from exc


class _ImmediateTransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> TransactionalDBClient:
        # Tortoise's own __aenter__ keeps its connection lock when BEGIN fails: a busy database
        # would then stall every later query of the process. Give it back instead.
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


class ImmediateSqliteClient(SqliteClient):
    """SQLite client whose transactions start with BEGIN IMMEDIATE."""

    def _in_transaction(self) -> TransactionContext:
        return _ImmediateTransactionContext(_ImmediateTransactionWrapper(self), self._lock)


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    """What Tortoise asks an engine module for."""
    return ImmediateSqliteClient


client_class = ImmediateSqliteClient
