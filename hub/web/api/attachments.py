"""Attachments: a file uploaded before the broadcast that names it (multipart field `file`).

The body is read as a stream by the media store, which stops at `[broadcast]
max_attachment_mb`; see hub/web/media.py for why this route alone takes large bodies.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from hub.core.errors import ValidationFailed
from hub.runtime import HUB, Hub
from hub.web.api.guards import SCOPE, USER
from hub.web.api.routes import component, route
from hub.web.api.schemas import INTEGER, STRING, described, one_of
from hub.web.media import FILE_FIELD, MULTIPART_ERRORS, check_upload_request, malformed, save_part
from hub.web.permissions import Permission

ATTACHMENT = component(
    "Attachment",
    {
        "type": "object",
        "required": ["id", "filename", "content_type", "size", "url"],
        "properties": {
            "id": INTEGER,
            "filename": STRING,
            "content_type": one_of("application/pdf", "image/jpeg", "image/png"),
            "size": described(INTEGER, "bytes"),
            "url": described(STRING, "Public download link; its token is the secret"),
        },
    },
)
UPLOAD = component(
    "AttachmentUpload",
    {
        "type": "object",
        "required": [FILE_FIELD],
        "properties": {
            FILE_FIELD: {"type": "string", "contentMediaType": "application/octet-stream"}
        },
    },
)


@route(
    "POST",
    "/attachments",
    summary="Upload a file to attach to broadcasts (PDF, JPEG or PNG, read from its bytes; at "
    "most [broadcast] max_attachment_mb)",
    permission=Permission.WRITE,
    upload=UPLOAD,
    status=201,
    response=ATTACHMENT,
)
async def post_attachment(request: web.Request) -> web.Response:
    """Upload one file (multipart field `file`); 201 with its id and public link."""
    hub: Hub = request.app[HUB]
    check_upload_request(request, hub.media)
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == FILE_FIELD:
                attachment = await save_part(hub.media, part, request[USER], request[SCOPE])
                return web.json_response(hub.media.view(attachment), status=201)
            await part.release()  # other fields are ignored
    except MULTIPART_ERRORS as exc:
        raise malformed(exc) from None
    raise ValidationFailed(f"no file in the field {FILE_FIELD!r}", field=FILE_FIELD, code="no_file")
