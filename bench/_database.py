"""A fresh database for one benchmark run: SQLite in a temp folder, or a new PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

POSTGRES_SERVER = os.environ.get("HUB_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


@contextlib.contextmanager
def database(kind: str, keep: bool, name: str) -> Iterator[tuple[str, Path]]:
    """(URL, work folder) of a fresh database, removed afterwards unless `keep`."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    db_name = f"bench_{name}_{os.getpid()}"
    if kind == "postgres":
        asyncio.run(_postgres(f"CREATE DATABASE {db_name}"))
        url = f"{POSTGRES_SERVER}/{db_name}"
    else:
        url = f"sqlite://{work}/hub.sqlite3"
    try:
        yield url, work
    finally:
        if kind == "postgres" and not keep:
            asyncio.run(_postgres(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        if keep:
            print(f"kept {work} ({url})", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


async def _postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
