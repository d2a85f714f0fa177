"""A fake WhatsApp Cloud API (Graph API) on loopback, reached through `[whatsapp] api_base_url`.

It answers what the channel calls the way Meta does: `POST /{version}/{phone_number_id}/messages`
(text, interactive, template, image, document, mark-as-read), media upload, media metadata and the
download URL it points to, and the phone number itself. It checks the bearer token (a wrong one is
a 401 with error 190), refuses what Meta refuses (button titles over 20 characters or the same
twice, template variables with line breaks, unknown templates...), records every call, and plays
scripted failures with Meta's error JSON per recipient or per call. With `strict_rate` N it
enforces the number's throughput the strict way: a message that would make more than N arrive
within any one second is refused with error 130429 (HTTP 400, as Meta answers it); each refusal
is counted.

It also builds signed webhook notifications for the tests and the ingest benchmark
(`signed_webhook`, `status_notification`, `text_notification`); `serve_in_process()` runs it in
a process of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer

TOKEN = "EAAJfakeTokenForTestsOnlyZxQ7cVb9LmNp3RtY5wKd8HsA"
APP_SECRET = "3f9c1a7e5b2d8c4a6e0f9b1d3c5a7e2f"
VERIFY_TOKEN = "balai-warga-verify-7c41d0"
VERSION = "v21.0"
PHONE_NUMBER_ID = "109876543210987"
WABA_ID = "110200300400500"
DISPLAY_PHONE = "6281100011100"
# Approved templates of the fake account: name -> number of body variables.
TEMPLATES = {
    "pengumuman_baru": 2,
    "pengingat_pengumuman": 2,
    "daftar_telepon": 3,
    "laporan_partisipasi": 3,
}
TEMPLATE_LANGUAGE = "id"

# Meta's errors as the fake words them: code -> (HTTP status, title, details).
ERRORS: dict[int, tuple[int, str, str]] = {
    1: (500, "An unknown error occurred", "Try again later."),
    4: (400, "Application request limit reached", "The app made too many calls."),
    10: (403, "Permission denied", "The token has no permission for this phone number."),
    100: (400, "Invalid parameter", "A parameter of the request is not valid."),
    190: (401, "Error validating access token", "The session has expired."),
    200: (403, "Permissions error", "The app lacks a permission for this call."),
    80007: (400, "Rate limit issues", "The WhatsApp Business Account reached its rate limit."),
    130429: (400, "Rate limit hit", "The number's message throughput was reached."),
    131000: (500, "Something went wrong", "The message could not be sent; try again."),
    131005: (403, "Access denied", "The permission was removed or never granted."),
    131008: (400, "Required parameter is missing", "A required parameter is missing."),
    131009: (400, "Parameter value is not valid", "A parameter value is not valid."),
    131026: (400, "Message undeliverable", "The recipient cannot receive this message."),
    131030: (
        400,
        "Recipient phone number not in allowed list",
        "Add the number to the test number's allowed recipients.",
    ),
    131047: (
        400,
        "Re-engagement message",
        "More than 24 hours have passed since the recipient last replied.",
    ),
    131048: (400, "Spam rate limit hit", "Too many of this number's messages were reported."),
    131051: (400, "Unsupported message type", "This message type is not supported."),
    131053: (400, "Media upload error", "The media could not be found or uploaded."),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages to this recipient in a short time.",
    ),
    132000: (
        400,
        "Number of parameters does not match the expected number of params",
        "The template takes another number of variables.",
    ),
    132001: (400, "Template does not exist", "No approved template of this name and language."),
    132018: (
        400,
        "There was an issue with the parameters in your template.",
        "Variables cannot hold new lines, tabs or more than 4 consecutive spaces.",
    ),
}


def error_body(
    code: int,
    *,
    message: str | None = None,
    details: str | None = None,
    subcode: int | None = None,
) -> dict[str, Any]:
    """Meta's error JSON for `code` (titles and details from ERRORS unless given)."""
    _, title, default_details = ERRORS.get(code, (400, "Unknown error", ""))
    error: dict[str, Any] = {
        "message": message if message is not None else f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": details if details is not None else default_details,
        },
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass
class Call:
    method: str
    path: str
    body: Any  # the JSON body, the form fields, or None
    at: float  # time.monotonic() on arrival


@dataclass
class Failure:
    code: int | None  # None: a bare HTTP status without Meta's error object
    status: int
    message: str | None
    details: str | None
    endpoint: str | None  # messages, read, media, media_info, download, phone; None: any
    to: str | None  # recipient ("6281..." or a business-scoped id); None: any
    free_form_only: bool  # only messages that are not templates (a closed window)
    message_type: str | None  # only messages of this type ("interactive"...); None: any
    times: int | None  # None: every time
    retry_after: str | None


@dataclass
class Media:
    data: bytes
    mime_type: str
    filename: str
    declared_size: int | None  # what the metadata says; None: no file_size at all


@dataclass
class FakeGraphAPI(LoopbackServer):
    """The fake server; `await start()` returns the api_base_url to configure."""

    token: str = TOKEN
    phone_number_id: str = PHONE_NUMBER_ID
    version: str = VERSION
    templates: dict[str, int] = field(default_factory=lambda: dict(TEMPLATES))
    record: bool = True
    strict_rate: int | None = None  # messages allowed in any one-second window; None: no limit
    calls: list[Call] = field(default_factory=list)
    media: dict[str, Media] = field(default_factory=dict)
    read_marks: list[str] = field(default_factory=list)
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (wamid, payload)
    sent: int = 0  # messages accepted
    answered_429: int = 0  # messages refused by the strict rate (130429)

    def __post_init__(self) -> None:
        self._failures: list[Failure] = []
        self._ids = itertools.count(1)
        self._arrivals: deque[float] = deque(maxlen=self.strict_rate or 1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # Lifecycle ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_get("/whatsapp_business/attachments/", self._download)
        app.router.add_post("/{version}/{node}/messages", self._messages)
        app.router.add_post("/{version}/{node}/media", self._upload)
        app.router.add_get("/{version}/{node}", self._node)
        return app

    # What tests script -------------------------------------------------------------------------

    def fail(
        self,
        code: int | None,
        *,
        status: int | None = None,
        message: str | None = None,
        details: str | None = None,
        endpoint: str | None = "messages",
        to: str | None = None,
        free_form_only: bool = False,
        message_type: str | None = None,
        times: int | None = 1,
        retry_after: str | None = None,
    ) -> None:
        """Answer the next `times` matching calls with Meta's error `code` (HTTP status from
        ERRORS unless given); `fail(None, status=502)` answers a bare HTTP error."""
        if status is None:
            status = ERRORS.get(code, (400, "", ""))[0] if code is not None else 500
        to = to.removeprefix("+") if to else None
        self._failures.append(
            Failure(
                code,
                status,
                message,
                details,
                endpoint,
                to,
                free_form_only,
                message_type,
                times,
                retry_after,
            )
        )

    def add_media(
        self,
        data: bytes,
        mime_type: str = "image/jpeg",
        filename: str = "",
        *,
        declared_size: int | None = None,
        omit_size: bool = False,
    ) -> str:
        """Store a file as if someone sent it; returns its media id. The metadata claims
        `declared_size` (the real size unless given), or no size at all with `omit_size`."""
        media_id = str(900_000_000_000_000 + next(self._ids))
        size = None if omit_size else len(data) if declared_size is None else declared_size
        self.media[media_id] = Media(data, mime_type, filename, size)
        return media_id

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """The message payloads accepted or refused (not mark-as-read), oldest first."""
        wanted = to.removeprefix("+") if to else None
        found = []
        for call in self.calls:
            if call.method != "POST" or not call.path.endswith("/messages"):
                continue
            body = call.body if isinstance(call.body, dict) else {}
            if body.get("status") == "read":
                continue
            if wanted is None or _recipient_of(body) == wanted:
                found.append(body)
        return found

    # Serving -----------------------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "sent": self.sent,
                "read_marks": len(self.read_marks),
                "answered_429": self.answered_429,
            }
        )

    def _note(self, request: web.Request, body: Any) -> None:
        if self.record:
            self.calls.append(Call(request.method, request.path, body, time.monotonic()))

    def _authorized(self, request: web.Request) -> web.Response | None:
        """None when the bearer token is right, else Meta's answer to a bad one."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not given:
            return _error(
                401, 190, message="An active access token must be used to query information."
            )
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _error(
                401, 190, message="Invalid OAuth access token - Cannot parse access token"
            )
        if request.match_info.get("version", self.version) != self.version:
            return _error(400, 100, message=f"Unknown version {request.match_info['version']}")
        return None

    def _scripted(self, endpoint: str, body: Mapping[str, Any]) -> web.Response | None:
        to = _recipient_of(body)
        for failure in self._failures:
            if failure.endpoint not in (None, endpoint):
                continue
            if failure.to is not None and failure.to != to:
                continue
            if failure.free_form_only and body.get("type") == "template":
                continue
            if failure.message_type not in (None, body.get("type")):
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            if failure.code is None:
                return web.Response(status=failure.status, text="Bad Gateway", headers=headers)
            return _error(
                failure.status,
                failure.code,
                message=failure.message,
                details=failure.details,
                headers=headers,
            )
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self._note(request, body)
        if (refused := self._authorized(request)) is not None:
            return refused
        if request.match_info["node"] != self.phone_number_id:
            return _error(400, 100, message="Unsupported post request. Object does not exist.")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _error(400, 100, details="messaging_product must be whatsapp")
        if body.get("status") == "read":
            if (refused := self._scripted("read", body)) is not None:
                return refused
            message_id = str(body.get("message_id") or "")
            if not message_id.startswith("wamid."):
                return _error(400, 100, details="message_id is not a WhatsApp message id")
            self.read_marks.append(message_id)
            return web.json_response({"success": True})
        to = _recipient_of(body)
        if not to:
            return _error(400, 131008, details="The parameter to is required.")
        if self.strict_rate:
            # The number's throughput, counted over accepted messages in a sliding second.
            arrived = time.monotonic()
            if len(self._arrivals) == self.strict_rate and arrived - self._arrivals[0] < 1.0:
                self.answered_429 += 1
                return _error(400, 130429)
            self._arrivals.append(arrived)
        if (refused := self._scripted("messages", body)) is not None:
            return refused
        if (refused := self._refuse(body)) is not None:
            return refused
        wamid = "wamid." + base64.b64encode(f"{to}:{next(self._ids):08d}".encode()).decode()
        self.sent += 1
        if self.record:
            self.accepted.append((wamid, body))
        contact = {"input": to, "wa_id": to} if "to" in body else {"input": to, "user_id": to}
        message: dict[str, Any] = {"id": wamid}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        return web.json_response(
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}
        )

    def _refuse(self, body: Mapping[str, Any]) -> web.Response | None:
        """Meta's answer to a message it would not take, else None."""
        kind = body.get("type", "text")
        if kind == "text":
            text = (body.get("text") or {}).get("body") or ""
            if not text.strip() or len(text) > 4096:
                return _error(400, 100, details="text.body must be 1 to 4096 characters")
            return None
        if kind == "interactive":
            return _refuse_interactive(body.get("interactive") or {})
        if kind == "template":
            return self._refuse_template(body.get("template") or {})
        if kind in ("image", "document"):
            media = body.get(kind) or {}
            if ("id" in media) == ("link" in media):
                return _error(400, 131008, details=f"{kind} needs one of id and link")
            if "id" in media and media["id"] not in self.media:
                return _error(400, 131053)
            if "link" in media and not str(media["link"]).startswith(("http://", "https://")):
                return _error(400, 131009, details="link must be an http(s) URL")
            if len(media.get("caption") or "") > 1024:
                return _error(400, 131009, details="caption is over 1024 characters")
            return None
        return _error(400, 131051)

    def _refuse_template(self, template: Mapping[str, Any]) -> web.Response | None:
        name = template.get("name")
        language = (template.get("language") or {}).get("code")
        if name not in self.templates or language != TEMPLATE_LANGUAGE:
            return _error(400, 132001, details=f"template {name!r} ({language}) does not exist")
        components = template.get("components") or []
        body = next((c for c in components if c.get("type") == "body"), {})
        parameters = body.get("parameters") or []
        if len(parameters) != self.templates[str(name)]:
            return _error(400, 132000)
        for parameter in parameters:
            text = str(parameter.get("text") or "")
            if not text or re.search(r"[\n\t]| {5,}", text):
                return _error(400, 132018)
        for component in components:
            if component.get("type") == "button":
                payloads = [p.get("payload") for p in component.get("parameters") or []]
                if component.get("sub_type") != "quick_reply" or not all(payloads):
                    return _error(400, 131009, details="quick_reply buttons need a payload")
        return None

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: (v if isinstance(v, str) else f"file:{v.filename}") for k, v in form.items()}
        self._note(request, fields)
        if (refused := self._authorized(request)) is not None:
            return refused
        if (refused := self._scripted("media", {})) is not None:
            return refused
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or isinstance(upload, str) or not upload:
            return _error(400, 131008, details="messaging_product and file are required")
        data = upload.file.read()
        media_id = self.add_media(
            data, str(form.get("type") or upload.content_type), upload.filename or ""
        )
        return web.json_response({"id": media_id})

    async def _node(self, request: web.Request) -> web.Response:
        """GET a phone number or a media id."""
        self._note(request, None)
        if (refused := self._authorized(request)) is not None:
            return refused
        node = request.match_info["node"]
        if node == self.phone_number_id:
            if (refused := self._scripted("phone", {})) is not None:
                return refused
            return web.json_response(
                {
                    "verified_name": "Kelurahan Loa Bakung",
                    "display_phone_number": "+62 811-0001-1100",
                    "quality_rating": "GREEN",
                    "id": self.phone_number_id,
                }
            )
        if (refused := self._scripted("media_info", {})) is not None:
            return refused
        media = self.media.get(node)
        if media is None:
            return _error(
                400, 100, message=f"Unsupported get request. Object with ID '{node}' not found."
            )
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "url": f"{self.url}/whatsapp_business/attachments/?mid={node}&ext=1767250800"
            f"&hash=ATv{hashlib.sha256(node.encode()).hexdigest()[:24]}",
            "mime_type": media.mime_type,
            "sha256": hashlib.sha256(media.data).hexdigest(),
            "id": node,
        }
        if media.declared_size is not None:
            answer["file_size"] = media.declared_size
        return web.json_response(answer)

    async def _download(self, request: web.Request) -> web.Response:
        self._note(request, None)
        if (refused := self._authorized(request)) is not None:
            return refused
        if (refused := self._scripted("download", {})) is not None:
            return refused
        media = self.media.get(request.query.get("mid", ""))
        if media is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=media.data, content_type=media.mime_type)


def _refuse_interactive(interactive: Mapping[str, Any]) -> web.Response | None:
    body = (interactive.get("body") or {}).get("text") or ""
    if not body.strip() or len(body) > 1024:
        return _error(400, 131009, details="interactive body must be 1 to 1024 characters")
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            return _error(400, 131009, details="reply buttons: 1 to 3")
        for button in buttons:
            reply = button.get("reply") or {}
            if not 0 < len(reply.get("title") or "") <= 20:
                return _error(400, 131009, details="button title must be 1 to 20 characters")
            if not 0 < len(reply.get("id") or "") <= 256:
                return _error(400, 131009, details="button id must be 1 to 256 characters")
        for part in ("title", "id"):
            if len({(b.get("reply") or {}).get(part) for b in buttons}) < len(buttons):
                return _error(400, 131009, details=f"button {part}s must be unique")
        return None
    if interactive.get("type") == "list":
        rows = [row for s in action.get("sections") or [] for row in s.get("rows") or []]
        if not 1 <= len(rows) <= 10 or not 0 < len(action.get("button") or "") <= 20:
            return _error(400, 131009, details="lists: 1 to 10 rows and a button label")
        for row in rows:
            if not 0 < len(row.get("title") or "") <= 24 or not 0 < len(row.get("id") or "") <= 200:
                return _error(400, 131009, details="row title 1 to 24, id 1 to 200 characters")
            if len(row.get("description") or "") > 72:
                return _error(400, 131009, details="row description over 72 characters")
        if len({row.get("id") for row in rows}) < len(rows):
            return _error(400, 131009, details="row ids must be unique")
        return None
    return _error(400, 131009, details="unknown interactive type")


def _recipient_of(body: Mapping[str, Any]) -> str:
    return str(body.get("to") or body.get("recipient") or "")


def _error(
    status: int,
    code: int,
    *,
    message: str | None = None,
    details: str | None = None,
    subcode: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        error_body(code, message=message, details=details, subcode=subcode),
        status=status,
        headers=headers,
    )


# Webhooks ---------------------------------------------------------------------------------------


def sign(body: bytes, app_secret: str = APP_SECRET) -> str:
    """The X-Hub-Signature-256 value Meta sends with `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_webhook(
    payload: Mapping[str, Any] | bytes, app_secret: str = APP_SECRET
) -> tuple[bytes, dict[str, str]]:
    """A webhook request as Meta posts it: (body, headers with the signature)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}


def notification(*values: Mapping[str, Any], field_name: str = "messages") -> dict[str, Any]:
    """The envelope around change values: one entry, one change per value."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_PHONE,
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                        "field": field_name,
                    }
                    for value in values
                ],
            }
        ],
    }


def status(
    wamid: str,
    kind: str = "delivered",
    *,
    recipient: str = "6281234567001",
    timestamp: int | None = None,
    error_code: int | None = None,
) -> dict[str, Any]:
    """One entry of `statuses[]`; `error_code` adds Meta's errors to a failed one."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": kind,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "recipient_id": recipient,
    }
    if kind in ("sent", "delivered", "read"):
        entry["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "utility"}
    if error_code is not None:
        _, title, details = ERRORS.get(error_code, (400, "Unknown error", ""))
        entry["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    return entry


def status_notification(statuses: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A notification carrying these statuses (see `status()`)."""
    return notification({"statuses": list(statuses)})


def text_notification(
    wa_id: str,
    text: str,
    *,
    wamid: str | None = None,
    name: str = "Siti Rahmawati",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A notification of one text message from `wa_id` (digits, no plus)."""
    return notification(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": wamid or "wamid." + base64.b64encode(secrets.token_bytes(18)).decode(),
                    "timestamp": str(timestamp if timestamp is not None else int(time.time())),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
    )


def serve_in_process(ready: Any, token: str = TOKEN, strict_rate: int | None = None) -> None:
    """Run a fake with `record=False` until terminated; puts its base URL on the `ready` queue.

    The target of a multiprocessing.Process, so the fake's CPU is not counted as the hub's.
    """
    import asyncio

    async def main() -> None:
        fake = FakeGraphAPI(token=token, record=False, strict_rate=strict_rate)
        ready.put(await fake.start())
        await asyncio.Event().wait()

    asyncio.run(main())
