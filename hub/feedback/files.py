"""Files RT heads send with their feedback: photos, voice notes and documents.

A file still on the platform is fetched through the channel's `fetch_media` (channels that can,
`FetchesMedia`), checked (the size the platform declares before downloading, the real size
after, the type read from the bytes themselves), written atomically into the media folder (the
one hub/files/media.py keeps: a temporary `.upload-<token>.part` renamed into place, so a crash
leaves only what its cleanup already removes) and recorded as a `FeedbackFile`. The row is linked
to its ticket when the ticket is filed; until then the dialog keeps its id.

Never public: the public `/media/<token>/<name>` route serves broadcast attachments only (it looks
the token up in `attachment`); these files are opened by `open_file()` for staff and officials of
the ticket's area, checked by whoever serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from channels import Channel, InboundMessage, SendError
from channels.capabilities import FetchesMedia, MediaTooLarge
from hub.core.config import Config
from hub.core.errors import NotFound
from hub.files.media import MediaStore
from models import FeedbackFile, Member

log = logging.getLogger(__name__)

STORED_PREFIX = "feedback-"  # stored files' names: feedback-<token>.<ext>
# A file no ticket or inbox message took (the dialog was abandoned) goes after this long.
UNLINKED_KEEP = dt.timedelta(days=1)

# content type -> extension of the stored file
EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "audio/ogg": ".ogg",
    "audio/mp4": ".m4a",
    "audio/3gpp": ".3gp",
    "audio/amr": ".amr",
    "audio/amr-wb": ".awb",
}
_PREFIXES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),  # Opus voice notes (WhatsApp, Telegram)
    (b"#!AMR-WB\n", "audio/amr-wb"),
    (b"#!AMR\n", "audio/amr"),  # older Android voice recorders
)


class FileRefused(Exception):
    """A file the hub does not keep; `reason` names the polite answer (see REASONS)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# Why a file was not kept: each is a sentence `file_<reason>` in the locale.
REASONS = ("too_large", "wrong_type", "empty", "again", "unavailable")


def detect_type(data: bytes) -> str | None:
    """The content type the bytes show (JPEG, PNG, WebP, PDF, OGG, MP4/M4A/3GP, AMR), or None."""
    for magic, kind in _PREFIXES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":  # the ISO media family: the brand tells 3GP from MP4/M4A
        return "audio/3gpp" if data[8:11] in (b"3gp", b"3g2") else "audio/mp4"
    return None


@dataclass(frozen=True)
class FeedbackFiles:
    """The feedback files in the media folder: taking them from a chat, finding them again."""

    folder: Path
    max_bytes: int

    @classmethod
    def from_config(cls, config: Config) -> FeedbackFiles:
        return cls(
            folder=MediaStore.from_config(config).folder,
            max_bytes=config.feedback.max_file_mb * 1024 * 1024,
        )

    @property
    def max_mb(self) -> int:
        return self.max_bytes // (1024 * 1024)

    async def take(
        self,
        event: InboundMessage,
        member: Member,
        channels: Mapping[str, Channel],
        now: dt.datetime,
    ) -> FeedbackFile:
        """Fetch, check and store the file of a PHOTO, VOICE or DOCUMENT message; raises
        FileRefused and keeps nothing when it cannot."""
        media = event.media
        channel = channels.get(event.channel)
        if media is None or not isinstance(channel, FetchesMedia):
            raise FileRefused("unavailable", f"{event.channel} cannot fetch media")
        if media.size is not None and media.size > self.max_bytes:
            raise FileRefused("too_large", f"declared {media.size} bytes")
        try:
            fetched = await channel.fetch_media(media)
        except MediaTooLarge as exc:
            raise FileRefused("too_large", str(exc)) from None
        except SendError as exc:
            log.warning("could not fetch a %s file from %s: %s", media.kind, event.channel, exc)
            raise FileRefused("again" if exc.retryable else "unavailable", str(exc)) from None
        data = fetched.data
        if not data:
            raise FileRefused("empty")
        if len(data) > self.max_bytes:
            raise FileRefused("too_large", f"{len(data)} bytes")
        content_type = detect_type(data)
        if content_type is None:
            raise FileRefused("wrong_type", f"platform said {fetched.mime_type!r}")
        stored = await self._write(data, EXTENSIONS[content_type])
        try:
            return await FeedbackFile.create(
                member=member,
                kind=media.kind.value,
                filename=_filename(media.file_name, media.kind.value, EXTENSIONS[content_type]),
                content_type=content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                stored_name=stored.name,
                created_at=now,
            )
        except BaseException:
            stored.unlink(missing_ok=True)
            raise

    async def _write(self, data: bytes, extension: str) -> Path:
        """Write the bytes under a fresh random name, atomically; the final path."""
        token = secrets.token_hex(16)
        partial = self.folder / f".upload-{token}.part"  # MediaStore's cleanup removes leftovers
        final = self.folder / f"{STORED_PREFIX}{token}{extension}"

        def write() -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            try:
                with partial.open("wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, final)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise

        await asyncio.to_thread(write)
        return final

    def path_of(self, file: FeedbackFile) -> Path:
        return self.folder / file.stored_name

    async def open_file(self, file: FeedbackFile) -> Path:
        """Where a feedback file's bytes are, for a caller who checked the user may see it;
        raises NotFound when the file is gone. Never serve these on a public link."""
        path = self.path_of(file)
        # stored_name is ours (prefix, token, extension): the path cannot leave the folder.
        if path.parent != self.folder or not await asyncio.to_thread(path.is_file):
            raise NotFound(f"feedback file {file.id} is not on disk")
        return path

    async def delete_unlinked(self, now: dt.datetime) -> dict[str, int]:
        """Delete files no ticket or inbox message took within UNLINKED_KEEP (abandoned
        dialogs), and stored files whose row never got written (a crash in between)."""
        before = now - UNLINKED_KEEP
        unlinked = await FeedbackFile.filter(
            ticket_id__isnull=True, inbox_message_id__isnull=True, created_at__lt=before
        )
        for file in unlinked:
            # The row first: a row without its file is reported missing, never the reverse.
            await FeedbackFile.filter(id=file.id).delete()
            await asyncio.to_thread(self.path_of(file).unlink, missing_ok=True)
        known = set(await FeedbackFile.all().values_list("stored_name", flat=True))
        strays = await asyncio.to_thread(self._delete_strays, known, before)
        return {"files_deleted": len(unlinked), "strays_deleted": strays}

    def _delete_strays(self, known: set[str], before: dt.datetime) -> int:
        if not self.folder.is_dir():
            return 0
        deleted = 0
        for path in self.folder.glob(f"{STORED_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if path.name not in known and path.stat().st_mtime < before.timestamp():
                    path.unlink()
                    deleted += 1
        return deleted


def _filename(given: str, kind: str, extension: str) -> str:
    """A name to show staff: the document's own (cleaned), else the kind with its extension."""
    base = given.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>:|?*;')
    base = " ".join(base.split()).strip(" .")[:150]
    if not base:
        return f"{kind}{extension}"
    return base if base.lower().endswith(extension) else base + extension
