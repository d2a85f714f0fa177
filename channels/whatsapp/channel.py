"""The WhatsApp channel: lifecycle, sending (free form, template, media), media, webhooks."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

import aiohttp

from channels.base import (
    Channel,
    Event,
    EventSink,
    InboundMessage,
    Outgoing,
    OutgoingFile,
    SendError,
    SendErrorReason,
    SendResult,
    WebhookRejected,
    webhook_json,
)
from channels.capabilities import FetchedMedia, MediaTooLarge
from channels.events import Media
from channels.whatsapp.api import (
    MAX_MEDIA_BYTES,
    MEDIA_NOT_FOUND_CODE,
    MEDIA_TIMEOUT,
    PROBE_INTERVAL,
    PROBE_TIMEOUT,
    REQUEST_TIMEOUT,
    SPAM_LIMIT_CODE,
    SPAM_PAUSED,
    GraphError,
    _json,
    _retry_after,
    send_error_from,
)
from channels.whatsapp.messages import (
    _E164,
    CAPTION_LIMIT,
    INTERACTIVE_BODY_LIMIT,
    TEXT_LIMIT,
    _fit,
    _interactive,
    _international_digits,
    _last_paragraph,
    _poll_choices,
    _recipient,
    _text,
)
from channels.whatsapp.payloads import NAME, SIGNATURE_HEADER, _header, _now, parse_notification
from channels.whatsapp.templates import _template, template_name

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=24)  # the customer-service window after the person's last message
WINDOW_MARGIN = dt.timedelta(minutes=5)  # closed a little early: clocks, queues, the request itself

IMAGE_MAX_BYTES = 5 * 1024 * 1024  # larger images go as documents (those take 100 MB)
MEDIA_ID_TTL = 29 * 24 * 3600.0  # seconds an uploaded media id is reused (Meta keeps it 30 days)


class WhatsAppChannel(Channel):
    """One WhatsApp Business phone number on the Cloud API; webhooks come through the hub."""

    name = NAME
    can_edit = False
    can_toast = False  # answer() marks the tapped message read; WhatsApp shows no toast
    free_text_window = WINDOW
    window_margin = WINDOW_MARGIN
    caption_limit = CAPTION_LIMIT
    buttons_with_files = False  # interactive messages carry no media

    def __init__(
        self,
        settings: Any,
        sink: EventSink,
        *,
        public_url: str = "",
        clock: Callable[[], dt.datetime] = _now,
        max_media_bytes: int = MAX_MEDIA_BYTES,
        connection_pool_size: int = 64,
    ) -> None:
        super().__init__(settings, sink, public_url=public_url)
        self._clock = clock
        self._max_media_bytes = max_media_bytes
        self._pool_size = connection_pool_size
        base = str(settings.api_base_url).rstrip("/")
        self._base = f"{base}/{settings.api_version}"
        self._messages_url = f"{self._base}/{settings.phone_number_id}/messages"
        self._token = str(settings.access_token)
        self._secrets = [s for s in (self._token, str(settings.app_secret)) if s]
        self._session: aiohttp.ClientSession | None = None
        self._down: str | None = "not started"  # a reason the channel cannot send
        self._unreachable = False  # _down is about reaching the Graph API: worth probing again
        self._next_probe = 0.0
        self._spam_paused = False
        self._media_ids: dict[str, tuple[str, float]] = {}  # sha256 -> (media id, uploaded at)
        self._uploading: dict[str, asyncio.Lock] = {}  # one upload per file at a time

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session and check the token on the phone number; never fails the hub."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30),
                headers={"Authorization": f"Bearer {self._token}"},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        await self._probe()

    async def stop(self) -> None:
        """Close the session and its connections."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
        self._down, self._unreachable = "stopped", False

    async def ready(self) -> str | None:
        """None when the last send or check went through; else why not (never the token)."""
        if self._unreachable and self._session is not None and time.monotonic() >= self._next_probe:
            await self._probe()
        if self._down is not None:
            return self._down
        return SPAM_PAUSED if self._spam_paused else None

    async def _probe(self) -> None:
        """GET the phone number: proves the address, the token and its permission on the number."""
        self._next_probe = time.monotonic() + PROBE_INTERVAL
        try:
            answer = await self._graph(
                "GET", f"{self._base}/{self.settings.phone_number_id}", limits=PROBE_TIMEOUT
            )
        except SendError as exc:
            # Unreachable or busy: worth asking again. Anything else (a wrong token, no permission,
            # no such phone number id) needs staff.
            self._unreachable = exc.reason in (
                SendErrorReason.CONNECTION,
                SendErrorReason.THROTTLED,
            )
            if self._unreachable:
                self._down = f"cannot reach the WhatsApp Graph API: {exc.detail}"[:200]
            else:
                self._down = f"WhatsApp channel down: {exc.detail}"[:200]
            log.warning("whatsapp: the check on the phone number failed: %s", exc)
            return
        self._down, self._unreachable = None, False
        log.info(
            "whatsapp: connected as %s (%s)",
            answer.get("display_phone_number", "?"),
            answer.get("verified_name", "?"),
        )

    # The Graph API --------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<secret>")
        return text

    def _scrub(self, value: Any) -> Any:
        """The JSON with every secret taken out of its strings (Meta can quote what it was sent)."""
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, Mapping):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    async def _graph(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        data: Any = None,
        limits: aiohttp.ClientTimeout = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """One Graph API call; returns the JSON answer; raises SendError (see send_error_from)."""
        session = self._session
        if session is None or session.closed:
            raise SendError(SendErrorReason.CONNECTION, "the WhatsApp channel is not started")
        try:
            async with session.request(
                method, url, json=json_body, data=data, timeout=limits
            ) as response:
                status = response.status
                headers = response.headers
                raw = await response.read()
        except TimeoutError:
            raise SendError(
                SendErrorReason.CONNECTION, "the Graph API did not answer in time"
            ) from None
        except aiohttp.ClientError as exc:
            detail = self._redact(f"{type(exc).__name__}: {exc}")[:200]
            raise SendError(SendErrorReason.CONNECTION, detail) from None
        answer = _json(raw)
        if 200 <= status < 300 and isinstance(answer, dict):
            return answer
        if 200 <= status < 300:
            raise SendError(SendErrorReason.CONNECTION, "the Graph API answered something not JSON")
        raise self._failure(status, answer, headers)

    def _failure(self, status: int, answer: Any, headers: Mapping[str, str]) -> SendError:
        """The send error for a failed answer, logged; a configuration error takes the channel
        down until a call goes through."""
        error = send_error_from(status, self._scrub(answer), retry_after=_retry_after(headers))
        trace = answer.get("error", {}).get("fbtrace_id") if isinstance(answer, dict) else None
        log.info("whatsapp: HTTP %d: %s (fbtrace %s)", status, error, trace)
        if error.reason == SendErrorReason.BAD_CONFIG:
            self._down = f"WhatsApp channel down: {error.detail}"[:200]
            self._unreachable = False
        return error

    async def _post_message(self, payload: dict[str, Any]) -> str:
        """POST one message; returns its wamid. A send that goes through lifts the spam pause."""
        body = {"messaging_product": "whatsapp", **payload}
        try:
            answer = await self._graph("POST", self._messages_url, json_body=body)
        except SendError as exc:
            if isinstance(exc, GraphError) and exc.code == SPAM_LIMIT_CODE:
                if not self._spam_paused:
                    log.error("whatsapp: %s; sending is paused", exc.detail)
                self._spam_paused = True
            raise
        try:
            wamid = str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise SendError(
                SendErrorReason.CONNECTION, "the Graph API answered without a message id"
            ) from None
        if self._spam_paused:
            log.info("whatsapp: a send went through again; the spam pause is over")
        self._spam_paused = False
        self._down, self._unreachable = None, False
        return wamid

    # Sending --------------------------------------------------------------------------------

    async def send(self, outgoing: Outgoing) -> SendResult:
        """Send free-form inside the window, the template outside it; raises SendError."""
        if outgoing.edit_of is not None:
            raise SendError(SendErrorReason.REJECTED, "WhatsApp cannot change a sent message")
        outgoing.checked_poll()  # a poll no platform takes is refused, in the window or not
        recipient = _recipient(outgoing.address)
        # A file alone has no template: it waits for the window (WINDOW_CLOSED).
        has_template = outgoing.template is not None and bool(outgoing.text.strip())
        if not self.window_open(outgoing.last_inbound_at, self._clock()):
            if not has_template:
                raise SendError(
                    SendErrorReason.WINDOW_CLOSED,
                    "the person has not written in 24 hours and this message has no template",
                )
            return await self._send_template_without_files(recipient, outgoing)
        left_out = False
        try:
            if outgoing.attachments:
                wamid, left_out = await self._send_with_file(recipient, outgoing)
            else:
                wamid = await self._send_free_form(recipient, outgoing)
        except SendError as exc:
            if exc.reason != SendErrorReason.WINDOW_CLOSED or not has_template:
                raise
            log.info("whatsapp: message %s met a closed window; sending the template", outgoing.key)
            return await self._send_template_without_files(recipient, outgoing)
        return SendResult(external_id=wamid, sent_at=self._clock(), left_out_files=left_out)

    async def _send_template_without_files(
        self, recipient: dict[str, str], outgoing: Outgoing
    ) -> SendResult:
        result = await self._send_template(recipient, outgoing)
        return dataclasses.replace(result, left_out_files=bool(outgoing.attachments))

    async def _send_with_file(
        self, recipient: dict[str, str], outgoing: Outgoing
    ) -> tuple[str, bool]:
        """The file with the text as its caption; (wamid, whether the file was left out)."""
        if len(outgoing.attachments) > 1:
            raise SendError(SendErrorReason.REJECTED, "one file per message")
        caption = outgoing.text if outgoing.text.strip() else ""
        if outgoing.poll_buttons() or len(caption) > CAPTION_LIMIT:
            # Buttons ride on no file, and a caption is shorter than a text: the text goes alone.
            return await self._send_free_form(recipient, outgoing), True
        file = outgoing.attachments[0]
        kind = "image" if file.is_image and file.size <= IMAGE_MAX_BYTES else "document"
        filename = file.filename if kind == "document" else ""
        media_id = await self._media_id(file)
        try:
            result = await self._send_media(
                kind,
                outgoing.address,
                outgoing.last_inbound_at,
                media_id,
                None,
                caption,
                filename,
                outgoing.reply_to,
            )
        except GraphError as exc:
            if exc.code != MEDIA_NOT_FOUND_CODE:
                raise
            self._media_ids.pop(file.sha256, None)  # Meta no longer has it: upload it again
            result = await self._send_media(
                kind,
                outgoing.address,
                outgoing.last_inbound_at,
                await self._media_id(file),
                None,
                caption,
                filename,
                outgoing.reply_to,
            )
        return result.external_id, False

    async def _media_id(self, file: OutgoingFile) -> str:
        """The media id of an uploaded copy of the file, uploading it first if needed."""
        async with self._uploading.setdefault(file.sha256, asyncio.Lock()):
            known = self._media_ids.get(file.sha256)
            if known is not None and time.monotonic() - known[1] < MEDIA_ID_TTL:
                return known[0]
            try:
                handle = await asyncio.to_thread(open, file.path, "rb")
            except OSError as exc:
                raise SendError(SendErrorReason.REJECTED, f"the file is gone: {exc}") from None
            with handle:
                media_id = await self.upload_media(handle, file.content_type, file.filename)
            self._media_ids[file.sha256] = (media_id, time.monotonic())
            return media_id

    async def _send_free_form(self, recipient: dict[str, str], outgoing: Outgoing) -> str:
        text = outgoing.text
        if not text.strip():
            raise SendError(SendErrorReason.REJECTED, "empty message")
        if len(text) > TEXT_LIMIT:
            raise SendError(
                SendErrorReason.REJECTED, f"{len(text)} characters; WhatsApp takes {TEXT_LIMIT}"
            )
        context = {"context": {"message_id": outgoing.reply_to}} if outgoing.reply_to else {}
        # No native polls: a poll's options are reply buttons or a list, tapped like any button.
        body, buttons = text, outgoing.poll_buttons()
        if outgoing.poll is not None:
            body, buttons = _poll_choices(text, buttons)
        if not buttons:
            return await self._post_message({**recipient, **context, **_text(text)})
        if len(body) <= INTERACTIVE_BODY_LIMIT:
            interactive = _interactive(body, buttons)
            return await self._post_message(
                {**recipient, **context, "type": "interactive", "interactive": interactive}
            )
        # Too long for an interactive body: the text first, then the buttons under its end (a
        # poll's options listed in full, when the body lists them).
        last = _fit(_last_paragraph(body), INTERACTIVE_BODY_LIMIT)
        interactive = _interactive(last, buttons)  # refused buttons refuse before sending
        wamid = await self._post_message({**recipient, **context, **_text(text)})
        try:
            await self._post_message(
                {**recipient, "type": "interactive", "interactive": interactive}
            )
        except SendError as exc:
            # The text went out: failing now would have the hub send it twice. The buttons are
            # lost; receipts, replies and reminders still work on the text.
            log.warning(
                "whatsapp: message %s went out but its buttons did not: %s", outgoing.key, exc
            )
        return wamid

    async def _send_template(self, recipient: dict[str, str], outgoing: Outgoing) -> SendResult:
        name = template_name(self.settings, outgoing.template)
        template = _template(
            name, self.settings.template_language, outgoing.template_params, outgoing.buttons
        )
        context = {"context": {"message_id": outgoing.reply_to}} if outgoing.reply_to else {}
        wamid = await self._post_message(
            {**recipient, **context, "type": "template", "template": template}
        )
        return SendResult(external_id=wamid, sent_at=self._clock(), used_template=True)

    async def send_image(
        self,
        address: str,
        *,
        last_inbound_at: dt.datetime | None,
        media_id: str | None = None,
        link: str | None = None,
        caption: str = "",
        reply_to: str | None = None,
    ) -> SendResult:
        """Send an image by uploaded media id or public https link (inside the window only)."""
        return await self._send_media(
            "image", address, last_inbound_at, media_id, link, caption, "", reply_to
        )

    async def send_document(
        self,
        address: str,
        *,
        last_inbound_at: dt.datetime | None,
        media_id: str | None = None,
        link: str | None = None,
        filename: str = "",
        caption: str = "",
        reply_to: str | None = None,
    ) -> SendResult:
        """Send a document by uploaded media id or public https link (inside the window only)."""
        return await self._send_media(
            "document", address, last_inbound_at, media_id, link, caption, filename, reply_to
        )

    async def _send_media(
        self,
        kind: str,
        address: str,
        last_inbound_at: dt.datetime | None,
        media_id: str | None,
        link: str | None,
        caption: str,
        filename: str,
        reply_to: str | None,
    ) -> SendResult:
        if (media_id is None) == (link is None):
            raise ValueError("give exactly one of media_id and link")
        recipient = _recipient(address)
        if not self.window_open(last_inbound_at, self._clock()):
            raise SendError(
                SendErrorReason.WINDOW_CLOSED, "media goes only within 24 hours of their message"
            )
        media: dict[str, str] = {"id": media_id} if media_id is not None else {"link": str(link)}
        if caption:
            media["caption"] = _fit(caption, CAPTION_LIMIT)
        if filename:
            media["filename"] = filename
        context = {"context": {"message_id": reply_to}} if reply_to else {}
        wamid = await self._post_message({**recipient, **context, "type": kind, kind: media})
        return SendResult(external_id=wamid, sent_at=self._clock())

    async def mark_read(self, message_id: str) -> None:
        """Show the person's message (and those before it) as read: blue ticks. Raises SendError."""
        await self._graph(
            "POST",
            self._messages_url,
            json_body={"messaging_product": "whatsapp", "status": "read", "message_id": message_id},
        )

    async def answer(self, event: InboundMessage, text: str) -> None:
        """WhatsApp has no toast: mark the tapped message read instead; failures are only logged."""
        try:
            await self.mark_read(event.external_id)
        except SendError as exc:
            log.info("whatsapp: marking %s read failed: %s", event.external_id, exc)

    # Media ----------------------------------------------------------------------------------

    async def upload_media(self, data: bytes | BinaryIO, mime_type: str, filename: str) -> str:
        """Upload a file (bytes, or an open file streamed from disk) for later sends; returns its
        media id. Raises SendError."""
        # File names go as UTF-8 in quotes, as browsers send them: quoted, aiohttp would
        # percent-encode them and the recipient would see "surat%20edaran.pdf".
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=filename, content_type=mime_type)
        answer = await self._graph(
            "POST",
            f"{self._base}/{self.settings.phone_number_id}/media",
            data=form,
            limits=MEDIA_TIMEOUT,  # megabytes going up take longer than a message
        )
        if "id" not in answer:
            raise SendError(SendErrorReason.CONNECTION, "the Graph API answered without a media id")
        return str(answer["id"])

    async def fetch_media(self, media: Media) -> FetchedMedia:
        """A received file (FetchesMedia): its media URL, then the bytes, within the size limit."""
        if media.size is not None and media.size > self._max_media_bytes:
            raise MediaTooLarge(media.size, self._max_media_bytes)
        data, mime_type = await self.download_media(media.file_id)
        return FetchedMedia(data, mime_type)

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """A received file's bytes and MIME type; raises MediaTooLarge over the size limit."""
        meta = await self._graph("GET", f"{self._base}/{media_id}")
        url, mime_type = meta.get("url"), str(meta.get("mime_type") or "application/octet-stream")
        if not url:
            raise SendError(SendErrorReason.REJECTED, f"media {media_id} has no download address")
        try:
            size = int(meta["file_size"]) if meta.get("file_size") is not None else None
        except (TypeError, ValueError):
            size = None
        if size is not None and size > self._max_media_bytes:
            raise MediaTooLarge(size, self._max_media_bytes)
        session = self._session
        assert session is not None  # _graph checked it
        try:
            async with session.get(url, timeout=MEDIA_TIMEOUT) as response:
                if response.status != 200:
                    answer = _json(await response.read())
                    raise self._failure(response.status, answer, response.headers)
                if (response.content_length or 0) > self._max_media_bytes:
                    raise MediaTooLarge(response.content_length, self._max_media_bytes)
                chunks: list[bytes] = []
                received = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    received += len(chunk)
                    if received > self._max_media_bytes:  # the size was not told, or was wrong
                        raise MediaTooLarge(None, self._max_media_bytes)
                    chunks.append(chunk)
                mime_type = response.headers.get("Content-Type", "").split(";")[0] or mime_type
        except TimeoutError:
            raise SendError(SendErrorReason.CONNECTION, "the media download timed out") from None
        except aiohttp.ClientError as exc:
            detail = self._redact(f"{type(exc).__name__}: {exc}")[:200]
            raise SendError(SendErrorReason.CONNECTION, detail) from None
        return b"".join(chunks), mime_type

    # Links and addresses --------------------------------------------------------------------

    def invite_link(self, code: str) -> str | None:
        """Click-to-chat (InvitesByLink): wa.me/<business number>?text=DAFTAR%20<code>; None
        without `business_phone`."""
        digits = _international_digits(str(self.settings.business_phone or ""))
        return f"https://wa.me/{digits}?text={quote(f'DAFTAR {code}')}" if digits else None

    @classmethod
    def address_for_phone(cls, phone: str) -> str | None:
        """The number is the address (AddressesByPhone): "+62812..." as the roster keeps it."""
        return phone if _E164.fullmatch(phone) else None

    # Webhooks -------------------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """`X-Hub-Signature-256: sha256=<hex>` must be the HMAC-SHA256 of the body with the app
        secret (constant-time compare); anything else: 401."""
        given = _header(headers, SIGNATURE_HEADER)
        if given is None:
            raise WebhookRejected(401, "missing signature header")
        scheme, _, signature = given.strip().partition("=")
        if scheme != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", signature):
            raise WebhookRejected(401, "malformed signature header")
        secret = str(self.settings.app_secret).encode()
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(signature.lower().encode(), expected.encode()):
            raise WebhookRejected(401, "wrong signature")

    def verify_subscription(self, params: Mapping[str, str]) -> str:
        """Meta's GET handshake: answer hub.challenge when hub.verify_token is ours, else 403."""
        token = str(params.get("hub.verify_token") or "").encode()
        expected = str(self.settings.verify_token).encode()
        mode_ok = params.get("hub.mode") == "subscribe"
        if not (expected and hmac.compare_digest(token, expected)) or not mode_ok:
            raise WebhookRejected(403, "wrong verify token or mode")
        challenge = params.get("hub.challenge")
        if not challenge:
            raise WebhookRejected(400, "missing hub.challenge")
        return str(challenge)

    def parse_webhook(self, body: bytes) -> list[Event]:
        """One notification, possibly of many messages and statuses; not a JSON object: 400."""
        data = webhook_json(body)
        if data.get("object") not in (None, "whatsapp_business_account"):
            log.info("whatsapp: ignoring a notification about %r", data.get("object"))
            return []
        return parse_notification(data, phone_number_id=str(self.settings.phone_number_id) or None)
