"""Pages of lists: `?limit=` (default 50, at most 500) and an opaque `?cursor=`.

Pages are cut by key (the rows after the last id seen), never by offset, so a page costs the same
however deep it is and rows written meanwhile neither repeat nor vanish. The query handed in is
already filtered to the caller's areas: the database filters first, then the page is cut.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from hub.core.errors import ValidationFailed
from hub.web.params import whole_number

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_CURSOR_PREFIX = "k1:"

ModelT = TypeVar("ModelT", bound=Model)


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: int | None  # the key of the last row of the previous page


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The key in a cursor; raises ValidationFailed for anything this module did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError(raw)
        key = int(raw.removeprefix(_CURSOR_PREFIX))
        if not 0 <= key < 2**63:
            raise ValueError(raw)
        return key
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationFailed(
            "cursor: not a cursor this list gave out", field="cursor", code="bad_cursor"
        ) from None


def page_request(query: Mapping[str, str], default_limit: int = DEFAULT_LIMIT) -> PageRequest:
    """The page a request asks for; raises ValidationFailed for a bad limit or cursor."""
    raw = query.get("limit", "")
    limit = default_limit
    if raw:
        number = whole_number(raw, MAX_LIMIT)
        if number is None or number < 1:
            raise ValidationFailed(
                f"limit: a whole number from 1 to {MAX_LIMIT}", field="limit", code="bad_limit"
            )
        limit = number
    cursor = query.get("cursor", "")
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


async def page_of(
    rows: QuerySet[ModelT], page: PageRequest, *, newest_first: bool = False
) -> tuple[list[ModelT], str | None]:
    """One page of `rows` by id, and the cursor of the next page (None on the last)."""
    if page.after is not None:
        rows = rows.filter(id__lt=page.after) if newest_first else rows.filter(id__gt=page.after)
    found = list(await rows.order_by("-id" if newest_first else "id").limit(page.limit + 1))
    if len(found) <= page.limit:
        return found, None
    found = found[: page.limit]
    return found, encode_cursor(found[-1].pk)
