"""Attachments over HTTP: the public download (`GET /media/<token>/<filename>`, no login: the
token, 128 random bits, is the secret; platforms fetching a link and RT heads opening one both
land here), the response that serves a private feedback file (a ticket's or an inbox message's,
to a user whose scope the caller checked in its query), and the multipart reading that the API's
upload (`POST /api/v1/attachments`, hub/web/api/attachments.py) and the dashboard's compose form
share.

Uploads are read as a stream (`request.multipart()`), which the server's `[web] max_body_kb` does
not cap: the media store stops reading at `[broadcast] max_attachment_mb` instead, so only the
upload routes take large bodies. Every other route keeps the small limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict

from hub.access import audit
from hub.access.auth import Scope
from hub.core.errors import HubError, UnsupportedMediaType, ValidationFailed
from hub.files.media import CHUNK_BYTES, MAX_ATTACHMENTS, MediaStore
from hub.runtime import HUB
from hub.web.permissions import Permission, requires
from models import Attachment, User

FILE_FIELD = "file"
# Room for the multipart framing around the file: boundaries, part headers, a few small fields.
MULTIPART_SLACK = 64 * 1024

HEADERS = {
    "X-Content-Type-Options": "nosniff",  # the stored type is the one detected at upload
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "public, max-age=86400",  # a token's file never changes
}


def content_disposition(filename: str) -> str:
    """`inline` with an ASCII fallback name and the exact one in RFC 5987 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@requires(Permission.PUBLIC)  # the token in the link is the secret
async def download(request: web.Request) -> web.StreamResponse:
    """The attachment's bytes with its detected type; 404 for anything not an attachment."""
    store = request.app[HUB].media
    found = await store.find(request.match_info["token"], request.match_info["filename"])
    if found is None:
        return web.json_response(
            {"error": {"code": "not_found", "message": "no such file"}}, status=404
        )
    attachment, path = found
    headers = {
        **HEADERS,
        "Content-Type": attachment.content_type,
        "Content-Disposition": content_disposition(attachment.filename),
    }
    return web.FileResponse(path, headers=headers)


def private_file(path: Path, content_type: str, filename: str) -> web.FileResponse:
    """A stored file only signed-in users may fetch (a ticket's photo or voice note): its
    stored type, inline but sandboxed, never cached."""
    headers = {
        "Content-Type": content_type,
        "Content-Disposition": content_disposition(filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
    return web.FileResponse(path, headers=headers)


def check_upload_request(request: web.Request, store: MediaStore) -> None:
    """Refuse what cannot be an upload before reading any of it."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"send the file as multipart/form-data in the field {FILE_FIELD!r}"
        )
    if request.content_length is not None and (
        request.content_length > store.max_bytes + MULTIPART_SLACK
    ):
        raise store.too_large()


# What aiohttp's multipart reader raises for a broken body: ValueError and RuntimeError for the
# framing, AssertionError for some states, and its HTTP parser's errors (LineTooLong,
# InvalidHeader, BadHttpMessage) for a part header that is too long or not a header.
MULTIPART_ERRORS = (ValueError, RuntimeError, AssertionError, HttpProcessingError)


def malformed(exc: Exception) -> HubError:
    # An HttpProcessingError's str() starts with its status and spans lines; its message does not.
    detail = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    return HubError(f"the multipart body is malformed: {detail}", code="malformed_multipart")


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


async def save_part(
    store: MediaStore, part: BodyPartReader, user: User | None, scope: Scope
) -> Attachment:
    """Stream one multipart file part into the media store (see MediaStore.save)."""
    try:
        # Clients percent-encode what a quoted header value cannot hold (aiohttp all of it).
        filename = unquote(part.filename or "")
        attachment = await store.save(_chunks(part), filename, user=user, scope=scope)
    except MULTIPART_ERRORS as exc:
        raise malformed(exc) from None
    await audit.record(
        user, "attachment.upload", f"attachment:{attachment.id}", filename=attachment.filename
    )
    return attachment


# Multipart forms of the dashboard -------------------------------------------------------------
#
# The compose form goes as multipart/form-data when it carries files. Its CSRF token is its first
# field and is checked before anything else is read; the reader is kept on the request so the
# handler goes on where the check stopped. Text fields are held to `[web] max_body_kb`, files
# stream into the media store.

FORM_READER = web.RequestKey("multipart_form_reader", MultipartReader)


async def _small(part: BodyPartReader, limit: int) -> str:
    data = b""
    while chunk := await part.read_chunk(CHUNK_BYTES):
        data += chunk
        if len(data) > limit:
            raise HubError("a form field is too large", code="too_large")
    return data.decode("utf-8", errors="replace").replace("\x00", "")


async def first_form_field(request: web.Request, name: str) -> str:
    """The first field of a multipart form when it is `name` (else ""); the rest stays unread."""
    try:
        reader = await request.multipart()
        request[FORM_READER] = reader
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != name or part.filename:
            return ""
        return await _small(part, 1024)
    except MULTIPART_ERRORS as exc:
        raise malformed(exc) from None


async def read_form(
    request: web.Request, store: MediaStore, user: User | None, scope: Scope, *, text_bytes: int
) -> tuple[MultiDict[str], list[Attachment], ValidationFailed | None]:
    """The rest of a multipart form: its text fields, its files (stored as attachments), and the
    media store's refusal of a file, if any: reading stops there, with what came before kept."""
    if request.content_length is not None and (
        request.content_length > MAX_ATTACHMENTS * store.max_bytes + text_bytes + MULTIPART_SLACK
    ):
        raise store.too_large()
    fields: MultiDict[str] = MultiDict()
    files: list[Attachment] = []
    text_left = text_bytes
    try:
        reader = request.get(FORM_READER) or await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                await part.release()
            elif part.filename is None:
                value = await _small(part, text_left)
                text_left -= len(value.encode())
                fields.add(part.name, value)
            elif part.filename == "":  # a file input left empty
                await part.release()
            elif len(files) >= MAX_ATTACHMENTS:
                refused = ValidationFailed(
                    f"at most {MAX_ATTACHMENTS} attachments per broadcast",
                    field="attachments",
                    code="too_many_attachments",
                )
                return fields, files, refused
            else:
                try:
                    files.append(await save_part(store, part, user, scope))
                except ValidationFailed as exc:
                    return fields, files, exc
    except MULTIPART_ERRORS as exc:
        raise malformed(exc) from None
    return fields, files, None


def setup(app: web.Application) -> None:
    """The public download route on the main app."""
    app.router.add_get("/media/{token}/{filename}", download)
