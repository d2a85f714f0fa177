"""Migrations build, from an empty database, exactly the schema the models describe."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate

from hub.core.db import apply_migrations, close_database, open_database, tortoise_config
from hub.core.dialogs import Dialog, dialog_of
from models import Area, AreaKind, Member
from models.sql import placeholders
from tests.conftest import POSTGRES_URL, SERVER_URL, fresh_database

# Tables that belong to the tools, not to the models.
TOOL_TABLES = {"tortoise_migrations", "sqlite_sequence"}


@dataclass(frozen=True)
class Schema:
    columns: dict[str, dict[str, tuple[str, bool]]]  # table → column → (type, nullable)
    indexes: set[tuple[str, tuple[str, ...], bool]]  # (table, columns, unique)
    foreign_keys: set[tuple[str, str, str, str]]  # (table, column, referenced table, column)


async def _rows(conn: BaseDBAsyncClient, sql: str) -> list[dict[str, Any]]:
    return list(await conn.execute_query_dict(sql))


async def describe_sqlite(conn: BaseDBAsyncClient) -> Schema:
    tables = [
        r["name"]
        for r in await _rows(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
        if r["name"] not in TOOL_TABLES
    ]
    columns: dict[str, dict[str, tuple[str, bool]]] = {}
    indexes = set()
    foreign_keys = set()
    for table in tables:
        info = await _rows(conn, f'PRAGMA table_info("{table}")')
        columns[table] = {r["name"]: (r["type"].upper(), not r["notnull"]) for r in info}
        for index in await _rows(conn, f'PRAGMA index_list("{table}")'):
            cols = await _rows(conn, f'PRAGMA index_info("{index["name"]}")')
            ordered = tuple(c["name"] for c in sorted(cols, key=lambda c: c["seqno"]))
            indexes.add((table, ordered, bool(index["unique"])))
        for fk in await _rows(conn, f'PRAGMA foreign_key_list("{table}")'):
            foreign_keys.add((table, fk["from"], fk["table"], fk["to"]))
    return Schema(columns, indexes, foreign_keys)


async def describe_postgres(conn: BaseDBAsyncClient) -> Schema:
    columns: dict[str, dict[str, tuple[str, bool]]] = {}
    for r in await _rows(
        conn,
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable "
        "FROM information_schema.columns WHERE table_schema = 'public'",
    ):
        if r["table_name"] in TOOL_TABLES:
            continue
        kind = r["data_type"] + (
            f"({r['character_maximum_length']})" if r["character_maximum_length"] else ""
        )
        columns.setdefault(r["table_name"], {})[r["column_name"]] = (
            kind,
            r["is_nullable"] == "YES",
        )
    indexes = set()
    for r in await _rows(
        conn,
        "SELECT t.relname AS table_name, ix.indisunique AS is_unique, "
        "array_to_string(array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o), ',') "
        "AS cols "
        "FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid "
        "JOIN pg_namespace ns ON ns.oid = t.relnamespace WHERE ns.nspname = 'public'",
    ):
        if r["table_name"] not in TOOL_TABLES:
            indexes.add((r["table_name"], tuple(r["cols"].split(",")), bool(r["is_unique"])))
    foreign_keys = set()
    for r in await _rows(
        conn,
        "SELECT kcu.table_name, kcu.column_name, ccu.table_name AS ref_table, "
        "ccu.column_name AS ref_column FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name "
        "JOIN information_schema.constraint_column_usage ccu "
        "ON tc.constraint_name = ccu.constraint_name "
        "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'",
    ):
        foreign_keys.add((r["table_name"], r["column_name"], r["ref_table"], r["ref_column"]))
    return Schema(columns, indexes, foreign_keys)


async def describe(conn: BaseDBAsyncClient, kind: str) -> Schema:
    return await (describe_sqlite(conn) if kind == "sqlite" else describe_postgres(conn))


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> AsyncIterator[tuple[str, str]]:
    """(kind, url) of a database with nothing in it; PostgreSQL ones are dropped afterwards."""
    EXECUTOR_CACHE.clear()  # insert SQL is cached per connection name, not per dialect
    if request.param == "sqlite":
        yield "sqlite", f"sqlite://{tmp_path}/migrated.sqlite3"
        return
    if not postgres_available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is not reachable and CI is set")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name = f"hub_migrations_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{SERVER_URL}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield "postgres", f"{SERVER_URL}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        EXECUTOR_CACHE.clear()


MIGRATIONS = Path(__file__).parents[1] / "models" / "migrations"


async def reference_schema(kind: str, tmp_path: Path) -> Schema:
    """The schema Tortoise's generate_schemas makes straight from the models."""
    EXECUTOR_CACHE.clear()
    url = f"sqlite://{tmp_path}/generated.sqlite3" if kind == "sqlite" else POSTGRES_URL
    async with fresh_database(url) as ctx:
        schema = await describe(ctx.db(), kind)
    EXECUTOR_CACHE.clear()
    return schema


async def test_migrations_build_the_schema_of_the_models(
    empty_database: tuple[str, str], tmp_path: Path
) -> None:
    kind, url = empty_database
    on_disk = sorted(p.stem for p in MIGRATIONS.glob("0*.py"))
    assert await apply_migrations(url) == on_disk
    assert await apply_migrations(url) == []

    await open_database(url, migrate_first=False)
    try:
        migrated = await describe(connections.get("default"), kind)
        # The ORM works on the migrated tables.
        kecamatan = await Area.create(
            kind=AreaKind.KECAMATAN,
            name="Sungai Kunjang",
            path="Sungai Kunjang",
            path_key="sungai kunjang",
        )
        member = await Member.create(name="Pak Darto", invite_code="ABCD2345")
        assert (await Area.get(id=kecamatan.id)).created_at <= dt.datetime.now(dt.UTC)
        assert await Member.filter(id=member.id).count() == 1
    finally:
        await close_database()

    generated = await reference_schema(kind, tmp_path)
    assert set(migrated.columns) == set(generated.columns), "tables differ"
    for table, cols in generated.columns.items():
        assert migrated.columns[table] == cols, f"columns of {table} differ"
    assert migrated.indexes == generated.indexes
    assert migrated.foreign_keys == generated.foreign_keys


async def test_open_database_applies_pending_migrations(empty_database: tuple[str, str]) -> None:
    _, url = empty_database
    await open_database(url)
    try:
        assert await Member.all().count() == 0
    finally:
        await close_database()
    assert await apply_migrations(url) == []


async def test_claims_waiting_for_staff_become_claim_dialogs(
    empty_database: tuple[str, str],
) -> None:
    """0008 turns the untyped conversation state into a dialog; only claims were ever read."""
    _, url = empty_database
    await migrate(config=tortoise_config(url), target="models.0007_delivery_seat")
    await Tortoise.close_connections()
    await open_database(url, migrate_first=False)
    try:
        conn = connections.get("default")
        claimed = {"member_id": 7, "claimed_at": "2026-12-01T08:00:00+00:00"}
        for address, state, data in (
            ("a-pending", "claim", claimed),
            ("a-refused", "claim_refused", claimed),
            ("a-menu", "menu", {"last_command": "menu"}),
        ):
            await conn.execute_insert(
                "INSERT INTO conversation (channel, address, state, data, updated_at) "
                f"VALUES ({', '.join(placeholders(5, conn))})",
                ["sandbox", address, state, json.dumps(data), dt.datetime.now(dt.UTC)],
            )
    finally:
        await close_database()
    # 0008 and every migration after it (the later ones leave these rows alone).
    later = sorted(p.stem for p in MIGRATIONS.glob("0*.py") if p.stem >= "0008")
    assert await apply_migrations(url) == later

    await open_database(url, migrate_first=False)
    try:
        dialogs = {
            address: await dialog_of("sandbox", address)
            for address in ("a-pending", "a-refused", "a-menu")
        }
    finally:
        await close_database()
    assert dialogs == {
        "a-pending": Dialog("claim", "pending", claimed),
        "a-refused": Dialog("claim", "refused", claimed),
        "a-menu": None,
    }
