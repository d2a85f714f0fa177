"""Unused uploads and the leftovers of crashed uploads are deleted; what a broadcast names stays."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hub.access.auth import Scope
from hub.files.media import LEFTOVER_KEEP, UNUSED_KEEP, MediaStore
from models import Attachment, Broadcast, BroadcastStatus

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
NOW = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _database(db: str) -> Iterator[None]:
    """Every test here runs on SQLite and on PostgreSQL."""
    yield


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(store: MediaStore, name: str, age: dt.timedelta) -> Attachment:
    attachment = await store.save(_chunks(PDF), name, user=None, scope=Scope(None, None))
    await Attachment.filter(id=attachment.id).update(created_at=NOW - age)
    return attachment


async def test_only_old_uploads_no_broadcast_names_are_deleted(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=64 * 1024, public_url="https://hub.example")
    old_unused = await upload(store, "lama.pdf", UNUSED_KEEP + dt.timedelta(hours=1))
    new_unused = await upload(store, "baru.pdf", UNUSED_KEEP - dt.timedelta(hours=1))
    old_named = await upload(store, "perda.pdf", UNUSED_KEEP * 10)
    await Broadcast.create(
        title="Perda",
        text="Terlampir.",
        status=BroadcastStatus.SENT,
        audience={"areas": ["Sungai Kunjang"]},
        attachment_ids=[old_named.id],
    )

    summary = await store.delete_unused(NOW)

    assert summary == {"attachments_deleted": 1, "leftovers_deleted": 0}
    remaining = set(await Attachment.all().values_list("id", flat=True))
    assert remaining == {new_unused.id, old_named.id}
    assert not store.path_of(old_unused).exists()
    assert store.path_of(new_unused).exists()
    assert store.path_of(old_named).exists()
    assert await store.delete_unused(NOW) == {"attachments_deleted": 0, "leftovers_deleted": 0}


async def test_leftovers_of_crashed_uploads_go_after_a_day(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, max_bytes=64 * 1024, public_url="https://hub.example")
    stale = tmp_path / ".upload-aaaa.part"
    fresh = tmp_path / ".upload-bbbb.part"
    other = tmp_path / "notes.txt"  # not ours to judge: left alone
    for path in (stale, fresh, other):
        path.write_bytes(b"%PDF-1.7 cut short")
    old = (NOW - LEFTOVER_KEEP - dt.timedelta(minutes=1)).timestamp()
    for path in (stale, other):
        os.utime(path, (old, old))
    os.utime(fresh, (NOW.timestamp(), NOW.timestamp()))

    summary = await store.delete_unused(NOW)

    assert summary == {"attachments_deleted": 0, "leftovers_deleted": 1}
    assert not stale.exists()
    assert fresh.exists() and other.exists()


async def test_a_missing_media_folder_is_nothing_to_clean(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "never-created", max_bytes=1024, public_url="https://h.example")
    assert await store.delete_unused(NOW) == {"attachments_deleted": 0, "leftovers_deleted": 0}
