"""Attachments: files staff attach to broadcasts, kept under the media folder.

An upload is streamed to a temporary file in the media folder, chunk by chunk, and refused as soon
as it passes the size limit or its first bytes show a type the hub does not send (the type comes
from the file's magic bytes, never from the client's word). A complete file is renamed into place
(atomic on one file system) under a random token; the `attachment` row records its name, type,
size and SHA-256. Public links are `/media/<token>/<filename>`: the token is the secret.

Types: PDF, JPEG and PNG, the kinds every channel shows in the chat. WebP is left out because
WhatsApp takes it only as a sticker.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import secrets
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tortoise.transactions import in_transaction

from channels import Channel, OutgoingFile, SendResult
from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.errors import ValidationFailed
from hub.core.outbox import queue
from hub.core.texts import text as say
from models import (
    Attachment,
    Broadcast,
    ChannelAddress,
    Delivery,
    MessageKind,
    OutboundMessage,
    OutboxState,
    User,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MAX_ATTACHMENTS = 10  # files per broadcast
FILENAME_MAX = 200  # as long as Attachment.filename
TOKEN_PATTERN = re.compile(r"[0-9a-f]{32}")
# An upload no broadcast names is deleted after this long (staff uploaded, then changed their
# mind); a broadcast keeps its files as long as it exists.
UNUSED_KEEP = dt.timedelta(days=7)
# What an upload cut short by a crash leaves behind (.upload-<token>.part) goes after a day.
LEFTOVER_KEEP = dt.timedelta(days=1)

# content type -> (stored extension, extensions a filename of that type may end with)
ALLOWED_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "application/pdf": (".pdf", (".pdf",)),
    "image/jpeg": (".jpg", (".jpg", ".jpeg")),
    "image/png": (".png", (".png",)),
}
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
MAGIC_BYTES = max(len(magic) for magic, _ in _MAGIC)


class AttachmentTooLarge(ValidationFailed):
    status = 413
    code = "attachment_too_large"


class AttachmentTypeNotAllowed(ValidationFailed):
    status = 415
    code = "attachment_type_not_allowed"


def detect_type(head: bytes) -> str | None:
    """The content type named by a file's first bytes, if it is one the hub sends."""
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def clean_filename(name: str, content_type: str, fallback: str) -> str:
    """A filename safe to show and to put in a header, ending in its type's extension."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>:|?*;')
    base = " ".join(base.split()).strip(" .") or fallback
    extension, known = ALLOWED_TYPES[content_type]
    if not base.lower().endswith(known):
        base += extension  # "surat.exe" holding a PDF is shown as "surat.exe.pdf"
    if len(base) > FILENAME_MAX:
        stem, dot, suffix = base.rpartition(".")
        base = stem[: FILENAME_MAX - len(suffix) - 1] + dot + suffix
    return base


def _too_large(limit: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(
        f"the file is larger than the limit of {limit // (1024 * 1024)} MB", field="file"
    )


def _not_allowed() -> AttachmentTypeNotAllowed:
    return AttachmentTypeNotAllowed(
        "only PDF, JPEG and PNG files can be attached (the type is read from the file itself)",
        field="file",
    )


def media_path(attachment: Attachment) -> str:
    """The public download path of an attachment, below the hub's address."""
    return f"/media/{attachment.token}/{quote(attachment.filename)}"


@dataclass(frozen=True)
class MediaStore:
    """The media folder: stores uploads, finds them again, names their public links."""

    folder: Path
    max_bytes: int
    public_url: str
    language: str = "id"

    @classmethod
    def from_config(cls, config: Config) -> MediaStore:
        folder = config.broadcast.media_dir or str(Path(config.hub.data_dir) / "media")
        return cls(
            folder=Path(folder),
            max_bytes=config.broadcast.max_attachment_mb * 1024 * 1024,
            public_url=config.hub.public_url.rstrip("/"),
            language=config.hub.language,
        )

    def too_large(self) -> AttachmentTooLarge:
        """The error for an upload over the limit (also used before reading a declared size)."""
        return _too_large(self.max_bytes)

    async def save(
        self, chunks: AsyncIterable[bytes], filename: str, *, user: User | None, scope: Scope
    ) -> Attachment:
        """Stream an upload to disk and record it; raises ValidationFailed and keeps nothing.

        The file belongs to the uploader's areas: only users whose areas cover them may use it.
        """
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        partial = self.folder / f".upload-{token}.part"
        digest = hashlib.sha256()
        size = 0
        head = b""
        content_type: str | None = None
        stored: Path | None = None
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self.too_large()  # stop reading: the rest is never taken
                    if content_type is None and len(head) < MAGIC_BYTES:
                        head += chunk[: MAGIC_BYTES - len(head)]
                        if len(head) >= MAGIC_BYTES:
                            content_type = detect_type(head) or ""
                            if not content_type:
                                raise _not_allowed()
                    digest.update(chunk)
                    # A 64 KiB write lands in the page cache in microseconds: no thread needed.
                    out.write(chunk)
                if size == 0:
                    raise ValidationFailed(
                        "the file is empty", field="file", code="attachment_empty"
                    )
                content_type = content_type or detect_type(head)
                if not content_type:
                    raise _not_allowed()
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
            stored = self.folder / (token + ALLOWED_TYPES[content_type][0])
            await asyncio.to_thread(os.replace, partial, stored)
            fallback = say(self.language, "attachment_name")
            return await Attachment.create(
                token=token,
                filename=clean_filename(filename, content_type, fallback),
                content_type=content_type,
                size=size,
                sha256=digest.hexdigest(),
                stored_name=stored.name,
                uploaded_by=user,
                area_keys=scope.keys,
            )
        except BaseException:
            partial.unlink(missing_ok=True)
            if stored is not None:
                stored.unlink(missing_ok=True)
            raise

    def path_of(self, attachment: Attachment) -> Path:
        """Where the attachment's bytes are."""
        return self.folder / attachment.stored_name

    def url_of(self, attachment: Attachment) -> str:
        """The public download link."""
        return self.public_url + media_path(attachment)

    def outgoing_file(self, attachment: Attachment) -> OutgoingFile:
        return OutgoingFile(
            path=str(self.path_of(attachment)),
            filename=attachment.filename,
            content_type=attachment.content_type,
            size=attachment.size,
            sha256=attachment.sha256,
            url=self.url_of(attachment),
        )

    async def outgoing_files(self, ids: Sequence[int]) -> list[tuple[int, OutgoingFile]]:
        """(id, file) for the attachments with these ids, in that order; gone ones are skipped."""
        found = {a.id: a for a in await Attachment.filter(id__in=list(ids))}
        files = []
        for attachment_id in ids:
            attachment = found.get(attachment_id)
            if attachment is None or not self.path_of(attachment).is_file():
                log.error("attachment %s is gone from the database or the disk", attachment_id)
                continue
            files.append((attachment_id, self.outgoing_file(attachment)))
        return files

    async def find(self, token: str, filename: str) -> tuple[Attachment, Path] | None:
        """The attachment a public link names, with its file; None unless both exist."""
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        attachment = await Attachment.get_or_none(token=token)
        if attachment is None or attachment.filename != filename:
            return None
        path = self.path_of(attachment)
        # stored_name is ours (token + extension), so the path cannot leave the folder.
        if path.parent != self.folder or not path.is_file():
            return None
        return attachment, path

    async def delete_unused(self, now: dt.datetime) -> dict[str, int]:
        """Delete uploads no broadcast and no message still to send names (older than
        UNUSED_KEEP), and upload leftovers. A report's chart waits in the outbox, not on a
        broadcast, maybe longer than that (quiet hours, an outage)."""
        named: set[int] = set()
        for ids in await Broadcast.filter(attachment_ids__isnull=False).values_list(
            "attachment_ids", flat=True
        ):
            named.update(ids or ())
        waiting = OutboundMessage.filter(
            attachment_ids__isnull=False, state__in=[OutboxState.QUEUED, OutboxState.SENDING]
        )
        for ids in await waiting.values_list("attachment_ids", flat=True):
            named.update(ids or ())
        unused = await Attachment.filter(created_at__lt=now - UNUSED_KEEP).exclude(
            id__in=sorted(named)
        )
        deleted = 0
        for attachment in unused:
            # The row first: a file without its row is never served; a row without its file is.
            await Attachment.filter(id=attachment.id).delete()
            await asyncio.to_thread(self.path_of(attachment).unlink, missing_ok=True)
            deleted += 1
        leftovers = await asyncio.to_thread(self._delete_leftovers, now - LEFTOVER_KEEP)
        return {"attachments_deleted": deleted, "leftovers_deleted": leftovers}

    def _delete_leftovers(self, before: dt.datetime) -> int:
        if not self.folder.is_dir():
            return 0
        deleted = 0
        for partial in self.folder.glob(".upload-*.part"):
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < before.timestamp():
                    partial.unlink()
                    deleted += 1
        return deleted

    def view(self, attachment: Attachment) -> dict[str, Any]:
        """The API's shape of an attachment."""
        return {
            "id": attachment.id,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "url": self.url_of(attachment),
        }


async def check_attachment_ids(ids: Sequence[int], scope: Scope) -> list[int]:
    """The ids without repeats, in their order; raises ValidationFailed for unknown ones and for
    those uploaded in areas the user does not cover (as if unknown: ids are sequential)."""
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_ATTACHMENTS:
        raise ValidationFailed(
            f"at most {MAX_ATTACHMENTS} attachments per broadcast",
            field="attachments",
            code="too_many_attachments",
        )
    if not unique:
        return []
    rows = await Attachment.filter(id__in=unique).values_list("id", "area_keys")
    known = {attachment_id for attachment_id, keys in rows if scope.covers_all(keys)}
    missing = [i for i in unique if i not in known]
    if missing:
        raise ValidationFailed(
            f"unknown attachment id(s): {', '.join(map(str, missing))}",
            field="attachments",
            code="unknown_attachment",
        )
    return unique


# Attachments in the outbox ------------------------------------------------------------------
#
# One outbox row is one platform request. A row with text and files sends the text, with the one
# file as its caption's carrier when the channel takes that text as a caption (and, if the row has
# buttons, buttons on a file); otherwise the text alone. In the same transaction that records the
# row as sent, the sender writes the next row, holding the files not sent yet; that row sends the
# first of them alone and writes the next in turn. So the files follow their text in order, and a
# crash leaves either the row unsent (sent again, as any row) or the row sent and its follow-up
# queued: never a file lost, never one doubled beyond the sender's known bound.
#
# A follow-up is a NOTICE tied to the broadcast (`broadcast_id`, which a cancel also stops) but
# not to the delivery: receipts, failures and fallbacks concern the announcement, not its files.
# Where the platform takes files only inside a free-text window (WhatsApp), a follow-up outside it
# waits, queued at its deadline, until the member writes (tapping the template's button counts);
# `release_waiting()` then makes it due. After FILE_WAIT it fails for good.

FILE_WAIT = dt.timedelta(days=7)
WAITING_FOR_WINDOW = "waiting for the member to write (the free-text window is closed)"
FILE_WAIT_OVER = "the member did not write within 7 days: the file was not sent"
_RELEASE_PAGE = 1000


@dataclass(frozen=True)
class FilePlan:
    """What one outbox row sends of its files."""

    files: list[tuple[int, OutgoingFile]]  # the row's files still to go, in their order
    now: tuple[tuple[int, OutgoingFile], ...] = ()  # the one going with this request, if any
    must_wait: bool = False  # files alone, and the platform takes none now

    @property
    def attachments(self) -> tuple[OutgoingFile, ...]:
        return tuple(file for _, file in self.now)


NO_FILES = FilePlan([])


async def plan_files(
    store: MediaStore | None,
    channel: Channel,
    message: OutboundMessage,
    last_inbound_at: dt.datetime | None,
    now: dt.datetime,
) -> FilePlan:
    """Which of a row's files go with its request at `now` (see the notes above)."""
    if not message.attachment_ids or store is None or message.edit_of:
        return NO_FILES
    files = await store.outgoing_files(message.attachment_ids)
    if not files:
        return NO_FILES
    window_open = channel.window_open(last_inbound_at, now)
    if not message.text:
        return FilePlan(files, (files[0],), must_wait=not window_open)
    as_caption = (
        len(files) == 1
        and window_open
        and channel.takes_caption(message.text, bool(message.buttons))
    )
    return FilePlan(files, (files[0],) if as_caption else ())


async def record_sent(
    message: OutboundMessage,
    plan: FilePlan,
    result: SendResult,
    sent: Mapping[str, object],
    now: dt.datetime,
) -> None:
    """Mark a row with files sent (`sent`: its columns) and queue its next file, together."""
    sent_ids = [] if result.left_out_files else [i for i, _ in plan.now]
    rest = [i for i, _ in plan.files if i not in sent_ids]
    broadcast_id = message.broadcast_id
    if broadcast_id is None and message.delivery_id is not None:
        delivery = await Delivery.get(id=message.delivery_id).only("id", "broadcast_id")
        broadcast_id = delivery.broadcast_id
    async with in_transaction():
        # A row cancelled (or finished elsewhere) while its request was in flight is recorded as
        # sent, as any row, but its files stay behind.
        ours = await OutboundMessage.filter(
            id=message.id, state__in=[OutboxState.SENDING, OutboxState.QUEUED]
        ).update(**sent, attachment_ids=sent_ids or None)
        if not ours:
            await OutboundMessage.filter(id=message.id).update(**sent)
            return
        if rest:
            await _follow_up(message, rest, broadcast_id, now)


async def _follow_up(
    message: OutboundMessage, ids: list[int], broadcast_id: int | None, now: dt.datetime
) -> OutboundMessage:
    return await queue(
        MessageKind.NOTICE,
        member_id=message.member_id,
        broadcast_id=broadcast_id,
        channel=message.channel,
        address=message.address,
        text="",
        attachment_ids=ids,
        due=now,
    )


async def record_refused_file(
    message: OutboundMessage, failed: Mapping[str, object], now: dt.datetime
) -> bool:
    """A file the platform refused (too large for it, say) fails alone: the next one still goes.

    Returns False when the row is not a file alone with more files behind it.
    """
    ids = list(message.attachment_ids or [])
    if message.text or len(ids) < 2:
        return False
    async with in_transaction():
        ours = await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(
            **failed, attachment_ids=ids[:1]
        )
        if ours:
            await _follow_up(message, ids[1:], message.broadcast_id, now)
    return True


async def wait_for_window(
    message: OutboundMessage, now: dt.datetime, *, platform_said: bool = False
) -> bool:
    """Hold a file until the member writes; False (nothing changed) once its wait is over.

    `platform_said`: the platform refused it as outside the window, so the hub's last-write time
    is wrong; forgetting it keeps the file from being released again before the member writes.
    """
    if message.failure_reason == WAITING_FOR_WINDOW and now >= message.next_attempt_at:
        return False
    await OutboundMessage.filter(id=message.id, state=OutboxState.SENDING).update(
        state=OutboxState.QUEUED,
        next_attempt_at=now + FILE_WAIT,
        failure_reason=WAITING_FOR_WINDOW,
        claim_token=None,
        claimed_until=None,
    )
    if platform_said:
        await ChannelAddress.filter(channel=message.channel, address=message.address).update(
            last_inbound_at=None
        )
    return True


async def release_waiting(channels: Mapping[str, Channel], now: dt.datetime) -> int:
    """Make waiting files due where the member has written since; returns how many."""
    released = 0
    last_id = 0
    while True:
        rows = (
            await OutboundMessage.filter(
                state=OutboxState.QUEUED,
                failure_reason=WAITING_FOR_WINDOW,
                next_attempt_at__gt=now,
                channel__in=list(channels),
                id__gt=last_id,
            )
            .order_by("id")
            .limit(_RELEASE_PAGE)
            .values_list("id", "channel", "address")
        )
        if not rows:
            return released
        last_id = rows[-1][0]
        addresses = list({address for _, _, address in rows})
        windows = {
            (channel, address): at
            for channel, address, at in await ChannelAddress.filter(
                address__in=addresses
            ).values_list("channel", "address", "last_inbound_at")
        }
        ready = [
            row_id
            for row_id, channel, address in rows
            if channels[channel].window_open(windows.get((channel, address)), now)
        ]
        if ready:
            released += await OutboundMessage.filter(
                id__in=ready, state=OutboxState.QUEUED, failure_reason=WAITING_FOR_WINDOW
            ).update(next_attempt_at=now, failure_reason=None)
        if len(rows) < _RELEASE_PAGE:
            return released
