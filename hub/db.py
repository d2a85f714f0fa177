"""Database lifecycle: apply migrations, open and close Tortoise connections."""

from __future__ import annotations

import logging
from pathlib import Path

from tortoise import Tortoise
from tortoise.migrations.api import migrate

from models.config import normalize_db_url, tortoise_config

log = logging.getLogger(__name__)


def _ensure_sqlite_folder(db_url: str) -> None:
    url = normalize_db_url(db_url)
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = Path(url[len("sqlite://") :].split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)


async def apply_migrations(db_url: str) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    _ensure_sqlite_folder(db_url)
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(name)

    try:
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
