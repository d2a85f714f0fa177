"""Area paths (`Sungai Kunjang/Loa Bakung/RT 012`) and lookups in the area tree."""

from __future__ import annotations

import re

from tortoise.expressions import Q

from hub.core.errors import ValidationFailed
from models import Area, AreaKind

_SPACES = re.compile(r"\s+")
_KEY_LENGTH = Area._meta.fields_map["path_key"].max_length

# Each level's parent kinds: an RT sits under a kelurahan or an RW.
PARENT_KINDS = {
    AreaKind.KECAMATAN: (None,),
    AreaKind.KELURAHAN: (AreaKind.KECAMATAN,),
    AreaKind.RW: (AreaKind.KELURAHAN,),
    AreaKind.RT: (AreaKind.KELURAHAN, AreaKind.RW),
}


class UnknownArea(ValidationFailed):
    """No area has that path."""

    code = "unknown_area"

    def __init__(self, path: str) -> None:
        super().__init__(f"unknown area: {path[:80]!r}")
        self.path = path


def clean_name(name: str) -> str:
    """Trim and collapse spaces: `  RT   012 ` → `RT 012`."""
    return _SPACES.sub(" ", name).strip()


def path_key(path: str) -> str:
    """The lookup key of a path: parts cleaned, lower case, joined by '/'."""
    parts = [clean_name(part).lower() for part in path.split("/")]
    return "/".join(part for part in parts if part)


async def area_by_path(path: str) -> Area:
    """The area at that path (case and repeated spaces ignored); raises UnknownArea."""
    key = path_key(path)
    # Keys no area can have (too long, NUL) are refused here; the database would reject them.
    if not key or len(key) > _KEY_LENGTH or "\x00" in key:
        raise UnknownArea(path)
    area = await Area.get_or_none(path_key=key)
    if area is None:
        raise UnknownArea(path)
    return area


def within(area: Area, prefix: str = "") -> Q:
    """A filter for the area and everything below it, on a relation reached through `prefix`."""
    return Q(**{f"{prefix}path_key": area.path_key}) | Q(
        **{f"{prefix}path_key__startswith": area.path_key + "/"}
    )


def is_within(area_key: str, scope_keys: list[str]) -> bool:
    """True when `area_key` is one of `scope_keys` or below one of them."""
    return any(area_key == key or area_key.startswith(key + "/") for key in scope_keys)


def ancestor_keys(area_key: str) -> list[str]:
    """The keys of an area and of every area above it ("a/b/c" → a, a/b, a/b/c)."""
    parts = area_key.split("/")
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def common_area(keys: list[str]) -> str | None:
    """The deepest area key every key lies at or below; None when they share none."""
    if not keys:
        return None
    common: list[str] = []
    for parts in zip(*(key.split("/") for key in keys), strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common) or None
