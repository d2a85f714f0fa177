"""Feedback files: the type read from the bytes, opening a stored file, and the cleanup of files
no ticket took."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from hub.core.errors import NotFound
from hub.feedback.files import FeedbackFiles, detect_type
from models import FeedbackFile, Ticket, TicketKind
from tests.factories import make_member

NOW = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.4\n", "application/pdf"),
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00", "audio/mp4"),
        (b"\x00\x00\x00\x18ftyp3gp4\x00\x00", "audio/3gpp"),
        (b"#!AMR\n\x3c", "audio/amr"),
        (b"#!AMR-WB\n\x04", "audio/amr-wb"),
        (b"MZ\x90\x00", None),  # a Windows program
        (b"<html><script>", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),  # RIFF, but not WebP
        (b"", None),
    ],
)
def test_the_type_comes_from_the_bytes(head: bytes, expected: str | None) -> None:
    assert detect_type(head) == expected


async def _stored(
    files: FeedbackFiles, name: str, created: dt.datetime, **links: object
) -> FeedbackFile:
    files.folder.mkdir(parents=True, exist_ok=True)
    (files.folder / name).write_bytes(b"\xff\xd8\xff")
    return await FeedbackFile.create(
        kind="photo", filename="photo.jpg", content_type="image/jpeg", size=3, sha256="0" * 64,
        stored_name=name, created_at=created, **links,
    )  # fmt: skip


async def test_files_no_ticket_took_are_deleted_after_a_day(db: str, tmp_path: Path) -> None:
    files = FeedbackFiles(tmp_path / "media", 1024 * 1024)
    member = await make_member()
    ticket = await Ticket.create(
        number="SKN-2030-000001", kind=TicketKind.COMPLAINT, category="jalan", member=member,
        channel="sandbox", address="a", description="Jalan rusak", created_at=NOW,
    )  # fmt: skip
    old = NOW - dt.timedelta(days=2)
    abandoned = await _stored(files, "feedback-a.jpg", old, member=member)
    filed = await _stored(files, "feedback-b.jpg", old, ticket=ticket)
    recent = await _stored(files, "feedback-c.jpg", NOW - dt.timedelta(hours=1))
    stray = files.folder / "feedback-d.jpg"  # written, then the process died before its row
    stray.write_bytes(b"x")
    os.utime(stray, (old.timestamp(), old.timestamp()))
    attachment = files.folder / "0123abcd.jpg"  # a broadcast attachment: not ours to touch
    attachment.write_bytes(b"x")
    os.utime(attachment, (old.timestamp(), old.timestamp()))

    assert await files.delete_unlinked(NOW) == {"files_deleted": 1, "strays_deleted": 1}
    assert {f.id for f in await FeedbackFile.all()} == {filed.id, recent.id}
    assert not (files.folder / abandoned.stored_name).exists() and not stray.exists()
    assert attachment.exists()
    assert (await files.open_file(filed)).read_bytes() == b"\xff\xd8\xff"


async def test_a_file_gone_from_disk_is_not_found(db: str, tmp_path: Path) -> None:
    files = FeedbackFiles(tmp_path / "media", 1024 * 1024)
    row = await _stored(files, "feedback-e.jpg", NOW)
    (files.folder / row.stored_name).unlink()
    with pytest.raises(NotFound):
        await files.open_file(row)
