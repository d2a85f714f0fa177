"""Domain errors that the API and the command line turn into clear messages."""

from __future__ import annotations


class HubError(Exception):
    """A request the hub refuses; `code` is stable for scripts, the message is for people."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class ValidationFailed(HubError):
    status = 422
    code = "invalid"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class UnsupportedMediaType(HubError):
    status = 415
    code = "unsupported_media_type"


class Conflict(HubError):
    status = 409
    code = "conflict"
