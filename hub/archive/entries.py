"""The archive as anyone may read it: the published announcements that went out, newest first.

An entry carries what the RT heads received and nothing more: the title, the text, the files
(by their public links), when it went out, the earlier versions a correction replaced. Never the
audience, the recipients, delivery counts or who wrote it. A broadcast is in the archive once it
was published and went out: a scheduled one, a series (its runs are the entries), a missed run
and anything unpublished never are.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from hub.broadcast.publication import format_code
from hub.core.config import Config
from hub.core.errors import ValidationFailed
from hub.files.media import media_path
from models import Attachment, Broadcast

PAGE_SIZE = 20
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CURSOR_PREFIX = "a1:"
_CURSOR = re.compile(r"a1:([0-9]{1,18}):([0-9]{1,10})", re.ASCII)
ID_MAX = 2**31 - 1  # broadcast ids are 32-bit integer columns


@dataclass(frozen=True)
class PublicFile:
    filename: str
    path: str  # the public download path, /media/<token>/<name>: the token is the secret
    content_type: str
    size: int


@dataclass(frozen=True)
class Revision:
    """An earlier version of an announcement, as RT heads received it before a correction."""

    title: str
    text: str
    replaced_at: dt.datetime


@dataclass(frozen=True)
class ArchiveEntry:
    code: str  # as people read it: 7QK-2M4
    title: str
    text: str
    published_at: dt.datetime
    files: tuple[PublicFile, ...]
    revisions: tuple[Revision, ...]  # oldest first

    @property
    def corrected_at(self) -> dt.datetime | None:
        return self.revisions[-1].replaced_at if self.revisions else None


def published() -> QuerySet[Broadcast]:
    """The broadcasts in the archive."""
    return Broadcast.filter(
        published=True, published_at__isnull=False, verification_code__isnull=False
    )


def entry_url(config: Config, entry: ArchiveEntry) -> str:
    """The entry's page at the hub's public address."""
    return f"{config.hub.public_url.rstrip('/')}/arsip/{entry.code}"


def _revisions(stored: list[dict[str, Any]] | None) -> tuple[Revision, ...]:
    """The replaced versions (who replaced them stays inside)."""
    return tuple(
        Revision(r["title"], r["text"], dt.datetime.fromisoformat(r["replaced_at"]))
        for r in stored or []
    )


async def entries_of(broadcasts: Sequence[Broadcast]) -> list[ArchiveEntry]:
    """The entries of these published broadcasts, in their order, files read in one query."""
    wanted = {i for b in broadcasts for i in b.attachment_ids or []}
    files = {
        a.id: PublicFile(a.filename, media_path(a), a.content_type, a.size)
        for a in await Attachment.filter(id__in=sorted(wanted))
    }
    entries = []
    for b in broadcasts:
        assert b.verification_code is not None and b.published_at is not None
        entries.append(
            ArchiveEntry(
                code=format_code(b.verification_code),
                title=b.title,
                text=b.text,
                published_at=b.published_at,
                files=tuple(files[i] for i in b.attachment_ids or [] if i in files),
                revisions=_revisions(b.revisions),
            )
        )
    return entries


async def entry_by_code(code: str) -> ArchiveEntry | None:
    """The entry with this code (as stored), or None when no published broadcast has it."""
    broadcast = await published().get_or_none(verification_code=code)
    return (await entries_of([broadcast]))[0] if broadcast else None


def _encode(broadcast: Broadcast) -> str:
    assert broadcast.published_at is not None
    micros = (broadcast.published_at - _EPOCH) // dt.timedelta(microseconds=1)
    raw = f"{_CURSOR_PREFIX}{micros}:{broadcast.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, int]:
    """(published_at, id) of the last entry of the previous page; raises ValidationFailed for
    anything `_encode` did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found = _CURSOR.fullmatch(raw)
        if found is None or int(found[2]) > ID_MAX:
            raise ValueError(raw)
        return _EPOCH + dt.timedelta(microseconds=int(found[1])), int(found[2])
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        raise ValidationFailed("not a page of the archive", code="bad_cursor") from None


async def archive_page(
    cursor: str | None, limit: int = PAGE_SIZE
) -> tuple[list[ArchiveEntry], str | None]:
    """A page of the archive, newest first, and the cursor of the next page (None: the last)."""
    rows = published()
    if cursor:
        when, last_id = _decode(cursor)
        rows = rows.filter(Q(published_at__lt=when) | Q(published_at=when, id__lt=last_id))
    found = list(await rows.order_by("-published_at", "-id").limit(limit + 1))
    after = _encode(found[limit - 1]) if len(found) > limit else None
    return await entries_of(found[:limit]), after
