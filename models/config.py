"""Tortoise configuration for a database URL; also what `tortoise makemigrations` reads."""

from __future__ import annotations

import os
from typing import Any

MODEL_MODULES = [
    "models.roster",
    "models.users",
    "models.broadcasts",
    "models.outbox",
    "models.conversations",
    "models.groups",
    "models.leases",
]


def normalize_db_url(url: str) -> str:
    """Tortoise names the PostgreSQL scheme `postgres`; accept the common `postgresql` too."""
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://") :]
    return url


def tortoise_config(db_url: str) -> dict[str, Any]:
    """The Tortoise config dict for one database, with our models and migrations."""
    return {
        "connections": {"default": normalize_db_url(db_url)},
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
