"""What RT heads can file: complaint categories and the service catalogue, with their SLAs.

Categories come from `[feedback] categories`; services, their requirements (persyaratan) and the
SLAs that differ from `[feedback]`'s come from a TOML catalogue (`[feedback] catalogue`, else
the built-in catalogue.toml beside this module). Loaded and checked once at start: a broken
catalogue stops the hub with the file and the entry named, like any other configuration error.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hub.core.config import ConfigError, FeedbackSection
from models import TicketKind

_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class Requirement:
    name: str
    online: bool  # can be checked from a photo sent in the chat; else it needs a visit


@dataclass(frozen=True)
class Service:
    key: str  # stored as the ticket's category: "domisili"
    name: str  # "Surat keterangan domisili"
    words: tuple[str, ...]  # what RT heads may type after SYARAT or LAYANAN
    requirements: tuple[Requirement, ...]
    verify_within_days: int
    resolve_within_days: int


@dataclass(frozen=True)
class Category:
    name: str  # stored as the ticket's category: "drainase/banjir"
    verify_within_days: int
    resolve_within_days: int


@dataclass(frozen=True)
class Catalogue:
    categories: tuple[Category, ...]
    services: tuple[Service, ...]

    def category(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def service(self, key: str) -> Service | None:
        return next((s for s in self.services if s.key == key), None)

    def sla(self, kind: TicketKind, category: str) -> tuple[int, int]:
        """(verify, resolve) working days for a ticket of this kind and category."""
        found = self.service(category) if kind == TicketKind.SERVICE else self.category(category)
        if found is None:  # a category removed from the config since the ticket was filed
            return self.categories[0].verify_within_days, self.categories[0].resolve_within_days
        return found.verify_within_days, found.resolve_within_days

    def find_service(self, typed: str) -> Service | None:
        """The service someone means by what they typed ("ktp", "Domisili", "2", "ahli waris"),
        typos forgiven; None when nothing is close."""
        wanted = _WORD.sub(" ", typed.lower()).strip()
        if not wanted:
            return None
        if wanted.isdigit():
            number = int(wanted)
            return self.services[number - 1] if 1 <= number <= len(self.services) else None
        names: dict[str, Service] = {}
        for service in self.services:
            for word in (service.key.replace("-", " "), service.name.lower(), *service.words):
                names.setdefault(_WORD.sub(" ", word.lower()).strip(), service)
        if wanted in names:
            return names[wanted]
        close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.75)
        return names[close[0]] if close else None


def _days(entry: dict[str, Any], key: str, default: int, where: str) -> int:
    value = entry.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(where, f"{key} must be a number of working days, got {value!r}")
    return value


def _requirements(entry: dict[str, Any], where: str) -> tuple[Requirement, ...]:
    raw = entry.get("requirements")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(where, "lists no requirements")
    found = []
    for item in raw:
        if isinstance(item, str):
            item = {"name": item, "online": True}
        if not isinstance(item, dict) or not str(item.get("name", "")).strip():
            raise ConfigError(where, f"a requirement needs a name, got {item!r}")
        found.append(Requirement(str(item["name"]).strip(), bool(item.get("online", True))))
    return tuple(found)


def _service(entry: Any, number: int, settings: FeedbackSection, source: str) -> Service:
    where = f"{source}: services[{number}]"
    if not isinstance(entry, dict):
        raise ConfigError(where, "expected a [[services]] table")
    key = entry.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ConfigError(where, f"key must be lower-case letters, digits and '-', got {key!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(where, "needs a name")
    words = entry.get("words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ConfigError(where, "words must be a list of strings")
    return Service(
        key=key,
        name=name.strip(),
        words=tuple(w.lower() for w in words),
        requirements=_requirements(entry, where),
        verify_within_days=_days(entry, "verify_within_days", settings.verify_within_days, where),
        resolve_within_days=_days(
            entry, "resolve_within_days", settings.resolve_within_days, where
        ),
    )


def _read(settings: FeedbackSection) -> tuple[dict[str, Any], str]:
    if not settings.catalogue:
        builtin = resources.files(__package__) / "catalogue.toml"
        return tomllib.loads(builtin.read_text(encoding="utf-8")), "catalogue.toml"
    path = Path(settings.catalogue)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), str(path)
    except OSError as exc:
        raise ConfigError("feedback.catalogue", f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("feedback.catalogue", f"{path} is not valid TOML: {exc}") from None


def load_catalogue(settings: FeedbackSection) -> Catalogue:
    """The categories and services, checked; raises ConfigError naming the broken entry."""
    data, source = _read(settings)
    slas = data.get("categories", {})
    if not isinstance(slas, dict):
        raise ConfigError(source, "[categories] must be a table of category names")
    unknown = sorted(set(slas) - set(settings.categories))
    if unknown:
        raise ConfigError(source, f"[categories] names {unknown[0]!r}, not in feedback.categories")
    categories = []
    for name in settings.categories:
        entry = slas.get(name, {})
        where = f"{source}: categories.{name!r}"
        categories.append(
            Category(
                name,
                _days(entry, "verify_within_days", settings.verify_within_days, where),
                _days(entry, "resolve_within_days", settings.resolve_within_days, where),
            )
        )
    services = [_service(e, n, settings, source) for n, e in enumerate(data.get("services", []))]
    keys = [s.key for s in services]
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(source, f"the service {twice!r} is listed twice")
    return Catalogue(tuple(categories), tuple(services))
