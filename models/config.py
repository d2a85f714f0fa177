"""Tortoise configuration for a database URL; also what `tortoise makemigrations` reads."""

from __future__ import annotations

import os
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

MODEL_MODULES = [
    "models.roster",
    "models.users",
    "models.broadcasts",
    "models.outbox",
    "models.conversations",
    "models.groups",
    "models.leases",
    "models.feedback",
    "models.insight",
]


def normalize_db_url(url: str) -> str:
    """Tortoise names the PostgreSQL scheme `postgres`; accept the common `postgresql` too."""
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://") :]
    return url


# How long an SQLite statement waits for another process's write lock before "database is
# locked": a batch of a roster import or a burst of the sender is over well within it, and a
# request still waiting this long is better answered 503 than kept waiting. The URL may set its
# own (`?busy_timeout=...`, in milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def connection_config(db_url: str) -> str | dict[str, Any]:
    """PostgreSQL as its URL; SQLite through models.sqlite (BEGIN IMMEDIATE), WAL, busy timeout."""
    url = normalize_db_url(db_url)
    if not url.startswith("sqlite://"):
        return url
    expanded = expand_db_url(url)  # WAL is Tortoise's default; URL parameters become PRAGMAs
    expanded["engine"] = "models.sqlite"
    expanded["credentials"].setdefault("busy_timeout", SQLITE_BUSY_TIMEOUT_MS)
    return expanded


def tortoise_config(db_url: str) -> dict[str, Any]:
    """The Tortoise config dict for one database, with our models and migrations."""
    return {
        "connections": {"default": connection_config(db_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For the `tortoise` command line (makemigrations); the hub itself calls tortoise_config().
TORTOISE_ORM = tortoise_config(os.environ.get("HUB_DATABASE_URL", "sqlite://data/hub.sqlite3"))
