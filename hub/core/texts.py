"""Every sentence the hub says to RT heads, in Bahasa Indonesia first and English second.

The sentences live in `hub/locale/<language>/*.toml`, one file per part of the hub (core,
tickets, polls, inbox...), so that people who translate or reword them never read code. A key is
in one file of its language only; English may leave a key out (Indonesian is said instead).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("id", "en")


class DuplicateText(ValueError):
    """The same key in two files of one language."""


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every sentence of one language, read once from its folder."""
    folder = resources.files("hub") / "locale" / language
    table: dict[str, str] = {}
    origin: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        for key, value in tomllib.loads(entry.read_text(encoding="utf-8")).items():
            if key in table:
                raise DuplicateText(f"{language}: {key!r} is in {origin[key]} and {entry.name}")
            if not isinstance(value, str):
                raise ValueError(f"{language}/{entry.name}: {key!r} is not a sentence")
            table[key], origin[key] = value, entry.name
    return table


def text(language: str, key: str, **values: Any) -> str:
    """The sentence `key` in `language` (falling back to Indonesian), filled with `values`."""
    table = catalogue(language if language in LANGUAGES else "id")
    template = table.get(key) or catalogue("id")[key]
    return template.format(**values)
