"""The WhatsApp channel: Meta's WhatsApp Cloud API (the Graph API) over one aiohttp session.

Addresses are E.164 numbers with a plus ("+6281234567890"), as the roster stores them, or
"bsuid:<business-scoped user id>" for people whose number WhatsApp withholds (usernames). The
platform's message ids are wamids ("wamid.HBgN...").

The 24-hour window: WhatsApp takes free text, buttons and media only within 24 hours of the person's
last message to us (`Outgoing.last_inbound_at`; a few minutes' margin is kept for clocks and
queues). `Channel.window_open` is the rule, the same one the hub queues by, so what the hub queues
as free text still goes as free text here. Outside it the message goes as the approved template
named by `Outgoing.template` ("broadcast", "reminder" or "call_list" in `[whatsapp]`) and the
result says `used_template=True`; with no template it fails for good as WINDOW_CLOSED. A
free-form send that WhatsApp refuses with 131047 (window closed after all) is sent once more as
the template.

Buttons: up to 3 go out as interactive reply buttons, 4 to 10 as an interactive list; more are
refused. An interactive message's body holds 1024 characters where a text message holds 4096: a
longer text with buttons goes as two messages, the whole text first and then the buttons under the
text's last paragraph. The SendResult's external id is the first (text) message's: receipts are
counted on it. A tap on the buttons answers the second message (its `reply_to`), which the hub
matches by the button's payload. The phone button of an Outgoing is not shown: WhatsApp vouches for
the sender's number on every message anyway. WhatsApp cannot edit a sent message (can_edit False).

Files: an image (JPEG or PNG up to 5 MB) or a document, with the text as its caption, inside the
window only. Each file is uploaded once (`/{phone_number_id}/media`) and sent by its media id, kept
in memory by content hash for 29 days (Meta keeps it 30). Buttons cannot ride on a file, so an
Outgoing with both sends its text with the buttons and reports the file left out
(`SendResult.left_out_files`), as does the template that carries a message outside the window:
the hub sends the file on its own once the window is open.

The access token travels only in the Authorization header; every text that leaves this module
(errors, log lines, readiness) has it and the app secret replaced by "<secret>".
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

import aiohttp

from channels.base import (
    Button,
    Channel,
    Event,
    EventSink,
    InboundKind,
    InboundMessage,
    Outgoing,
    OutgoingFile,
    SendError,
    SendErrorReason,
    SendResult,
    StatusKind,
    StatusUpdate,
    WebhookRejected,
)

log = logging.getLogger(__name__)

NAME = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
BSUID_PREFIX = "bsuid:"

WINDOW = dt.timedelta(hours=24)  # the customer-service window after the person's last message
WINDOW_MARGIN = dt.timedelta(minutes=5)  # closed a little early: clocks, queues, the request itself

TEXT_LIMIT = 4096  # characters of a text message
INTERACTIVE_BODY_LIMIT = 1024  # characters of an interactive message's body
CAPTION_LIMIT = 1024
REPLY_BUTTONS_MAX = 3
LIST_ROWS_MAX = 10
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
# The label of the button that opens a list. The hub's texts live in hub/texts; this one is
# WhatsApp's own chrome and kept short enough for any language.
LIST_BUTTON_LABEL = "Pilih"
# Characters the variables of one template may take together: the approved body holds 1024 with
# its own wording, so the variables leave room for it.
TEMPLATE_PARAMS_BUDGET = 800

MAX_MEDIA_BYTES = 16 * 1024 * 1024
IMAGE_MAX_BYTES = 5 * 1024 * 1024  # larger images go as documents (those take 100 MB)
MEDIA_ID_TTL = 29 * 24 * 3600.0  # seconds an uploaded media id is reused (Meta keeps it 30 days)
MEDIA_NOT_FOUND_CODE = 131053
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=5, sock_read=30)
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5, sock_connect=3)  # keeps /readyz quick
PROBE_INTERVAL = 30.0  # seconds between reachability checks while the Graph API was unreachable

THROUGHPUT_RETRY_AFTER = 5.0  # 130429: the number's messages-per-second ceiling
APP_LIMIT_RETRY_AFTER = 60.0  # 4, 80007: app and account call limits, counted over longer windows
PAIR_RETRY_AFTER = 6.0  # 131056: about one message per six seconds to one person
SPAM_RETRY_AFTER = 3600.0  # 131048: the number is held back for spam; wait an hour
SPAM_PAUSED = "WhatsApp spam limit: sending paused"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Errors -------------------------------------------------------------------------------------

WINDOW_CLOSED_CODE = 131047  # re-engagement: more than 24 hours since the person last wrote
PAIR_LIMIT_CODE = 131056
SPAM_LIMIT_CODE = 131048
_THROTTLED = {
    130429: THROUGHPUT_RETRY_AFTER,
    4: APP_LIMIT_RETRY_AFTER,
    80007: APP_LIMIT_RETRY_AFTER,
}
_UNKNOWN_RECIPIENT = {131026, 131030}  # undeliverable; not on the test number's allowed list
# The token, its permissions or the account: staff must act. 200-299 are Graph permission errors.
_BAD_CONFIG = {0, 3, 10, 190, 131005, 131031, 131042, 133010}
_CONNECTION = {1, 2, 131000, 131016, 133004}  # "unknown error", "service unavailable"...
_CODE_IN_MESSAGE = re.compile(r"^\(#\d+\)\s*")


def _error_title(error: Mapping[str, Any]) -> str:
    """Meta's title: its own field in webhooks; in API answers the message after "(#code)"."""
    title = error.get("title") or _CODE_IN_MESSAGE.sub("", str(error.get("message") or ""))
    text = str(title).strip() or "no description"
    data = error.get("error_data")
    details = str(data.get("details") or "").strip() if isinstance(data, Mapping) else ""
    return f"{text}: {details}" if details and details != text else text


class GraphError(SendError):
    """A send error the Graph API answered with an error object; `code` is Meta's error code."""

    def __init__(self, reason: SendErrorReason, code: int, detail: str, **kwargs: Any) -> None:
        super().__init__(reason, detail, **kwargs)
        self.code = code


def send_error_from(status: int, error_json: Any, *, retry_after: float | None = None) -> SendError:
    """Map one Graph API answer (HTTP status, JSON body) onto the channel family of send errors.

    `retry_after` is the answer's Retry-After header in seconds, when it had one. Answers with
    Meta's error object give a GraphError whose detail starts with the code and title.
    """
    error = error_json.get("error") if isinstance(error_json, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(error.get("code"), int | str):
        # Not Meta's answer: a proxy, a load balancer, or api_base_url pointing elsewhere.
        if status in (401, 403):
            return SendError(SendErrorReason.BAD_CONFIG, f"the Graph API answered HTTP {status}")
        if status == 404:
            return SendError(
                SendErrorReason.BAD_CONFIG, "no Graph API at the configured address (HTTP 404)"
            )
        if status == 429:
            return SendError(
                SendErrorReason.THROTTLED,
                "the Graph API answered HTTP 429",
                retry_after=retry_after or THROUGHPUT_RETRY_AFTER,
            )
        return SendError(SendErrorReason.CONNECTION, f"the Graph API answered HTTP {status}")
    try:
        code = int(error["code"])
    except ValueError:
        code = -1
    detail = f"{code} {_error_title(error)}"[:300]

    def graph_error(reason: SendErrorReason, **kwargs: Any) -> GraphError:
        return GraphError(reason, code, detail, **kwargs)

    if code in _THROTTLED:
        return graph_error(SendErrorReason.THROTTLED, retry_after=retry_after or _THROTTLED[code])
    if code == PAIR_LIMIT_CODE:  # too many messages to this one person in a short time
        return graph_error(
            SendErrorReason.THROTTLED,
            retry_after=retry_after or PAIR_RETRY_AFTER,
            recipient_only=True,
        )
    if code == SPAM_LIMIT_CODE:
        return graph_error(
            SendErrorReason.THROTTLED, retry_after=max(retry_after or 0.0, SPAM_RETRY_AFTER)
        )
    if code in _UNKNOWN_RECIPIENT:
        return graph_error(SendErrorReason.UNKNOWN_RECIPIENT)
    if code == WINDOW_CLOSED_CODE:
        return graph_error(SendErrorReason.WINDOW_CLOSED)
    if code in _BAD_CONFIG or 200 <= code <= 299 or status in (401, 403):
        return graph_error(SendErrorReason.BAD_CONFIG)
    if code in _CONNECTION or status >= 500:
        return graph_error(SendErrorReason.CONNECTION)
    if status == 429:
        return graph_error(
            SendErrorReason.THROTTLED, retry_after=retry_after or THROUGHPUT_RETRY_AFTER
        )
    # 100 (invalid parameter), 131008/131009 (missing or invalid parameter), 131051 (message
    # type), 132xxx (template) and anything else Meta refuses: this content will not go.
    return graph_error(SendErrorReason.REJECTED)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the mapped default is as good
    return seconds if seconds >= 0 else None


# Text ---------------------------------------------------------------------------------------


def _fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _last_paragraph(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return paragraphs[-1] if paragraphs else text.strip()


_WHITESPACE = re.compile(r"\s+")


def template_parameters(params: Sequence[str], budget: int = TEMPLATE_PARAMS_BUDGET) -> list[str]:
    """Template variables as Meta takes them: one line, single spaces, never empty, within `budget`.

    Meta refuses variables with line breaks, tabs or more than four spaces in a row (132018) and
    bodies over 1024 characters. Short variables keep their whole text; long ones share what the
    short ones left of the budget, each cut with an ellipsis.
    """
    cleaned = [_WHITESPACE.sub(" ", p).strip() or "-" for p in params]
    caps = [0] * len(cleaned)
    remaining = budget
    for left, i in enumerate(sorted(range(len(cleaned)), key=lambda i: len(cleaned[i]))):
        share = remaining // (len(cleaned) - left)
        caps[i] = min(len(cleaned[i]), max(share, 1))
        remaining -= caps[i]
    return [_fit(p, cap) for p, cap in zip(cleaned, caps, strict=True)]


# Webhooks -----------------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _at(timestamp: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return _now()


def parse_notification(
    data: Mapping[str, Any], *, phone_number_id: str | None = None
) -> list[Event]:
    """The events in one webhook notification (`entry[].changes[].value`), in their order.

    Changes for another business number than `phone_number_id` (when given) are skipped: one app
    can serve several numbers. Unknown fields, types and statuses are logged and skipped.
    """
    events: list[Event] = []
    for entry in _list(data.get("entry")):
        if not isinstance(entry, Mapping):
            continue
        for change in _list(entry.get("changes")):
            if not isinstance(change, Mapping):
                continue
            field = change.get("field")
            value = change.get("value")
            if field != "messages" or not isinstance(value, Mapping):
                log.debug("whatsapp: ignoring a %r change", field)
                continue
            metadata = value.get("metadata")
            ours = metadata.get("phone_number_id") if isinstance(metadata, Mapping) else None
            if phone_number_id and ours and str(ours) != phone_number_id:
                log.info("whatsapp: ignoring a change for another number (%s)", ours)
                continue
            events.extend(_from_value(value))
    return events


def _from_value(value: Mapping[str, Any]) -> list[Event]:
    events: list[Event] = []
    contacts = [c for c in _list(value.get("contacts")) if isinstance(c, Mapping)]
    for message in _list(value.get("messages")):
        try:
            inbound = _from_message(message, contacts)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("whatsapp: message not understood: %r", exc)
            continue
        if inbound is not None:
            events.append(inbound)
    for status in _list(value.get("statuses")):
        try:
            update = _from_status(status)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("whatsapp: status not understood: %r", exc)
            continue
        if update is not None:
            events.append(update)
    for error in _list(value.get("errors")):
        if isinstance(error, Mapping):
            log.warning(
                "whatsapp: the platform reported %s %s",
                error.get("code"),
                _error_title(error),
            )
    return events


def _contact_for(
    contacts: list[Mapping[str, Any]], wa_id: str | None, user_id: str | None
) -> Mapping[str, Any]:
    for contact in contacts:
        if wa_id and str(contact.get("wa_id") or "") == wa_id:
            return contact
        if user_id and str(contact.get("user_id") or "") == user_id:
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


_MEDIA_KINDS = {
    "image": InboundKind.PHOTO,
    "audio": InboundKind.VOICE,
    "document": InboundKind.DOCUMENT,
}


def _from_message(m: Mapping[str, Any], contacts: list[Mapping[str, Any]]) -> InboundMessage | None:
    external_id = str(m["id"])
    wa_id = _digits(m["from"]) if m.get("from") else None
    user_id = m.get("from_user_id") or m.get("user_id")
    contact = _contact_for(contacts, wa_id, str(user_id) if user_id else None)
    user_id = user_id or contact.get("user_id")
    if wa_id:
        address: str = "+" + wa_id
        phone: str | None = address
    elif user_id:
        address, phone = BSUID_PREFIX + str(user_id), None
    else:
        log.warning("whatsapp: message %s names no sender; skipped", external_id)
        return None
    profile = contact.get("profile") or {}
    kind_name = str(m.get("type") or "")
    kind = InboundKind.OTHER
    text = ""
    button_payload: str | None = None
    reply_to = (m.get("context") or {}).get("id")
    extra: dict[str, Any] = {}
    if kind_name == "text":
        kind, text = InboundKind.TEXT, str((m.get("text") or {}).get("body") or "")
    elif kind_name == "interactive":
        interactive = m["interactive"]
        reply = interactive.get(interactive.get("type")) or {}
        if interactive.get("type") in ("button_reply", "list_reply") and reply.get("id"):
            kind, button_payload = InboundKind.BUTTON, str(reply["id"])
            text = str(reply.get("title") or "")
        else:
            extra = {"type": f"interactive:{interactive.get('type')}"}
    elif kind_name == "button":  # a quick-reply button of a template
        button = m["button"]
        kind, button_payload = InboundKind.BUTTON, str(button["payload"])
        text = str(button.get("text") or "")
    elif kind_name in _MEDIA_KINDS:
        media = m[kind_name]
        kind = _MEDIA_KINDS[kind_name]
        text = str(media.get("caption") or "")
        extra = {"media_id": str(media["id"]), "mime_type": media.get("mime_type")}
        if kind_name == "audio":
            extra["voice"] = bool(media.get("voice"))
        elif kind_name == "document":
            extra["filename"] = media.get("filename")
    elif kind_name == "location":
        location = m["location"]
        kind = InboundKind.LOCATION
        extra = {
            "latitude": location["latitude"],
            "longitude": location["longitude"],
            "name": location.get("name") or "",
            "address": location.get("address") or "",
        }
    elif kind_name == "reaction":
        reaction = m["reaction"]
        if not reaction.get("emoji"):
            return None  # a reaction taken back
        kind, text = InboundKind.REACTION, str(reaction["emoji"])
        reply_to = reaction.get("message_id")
    else:
        # Stickers, video, contacts, system notices, "unsupported" and types not known yet.
        extra = {"type": kind_name or "unknown"}
        if kind_name == "system":
            text = str((m.get("system") or {}).get("body") or "")
        elif kind_name not in ("sticker", "unsupported", "video", "contacts"):
            log.info("whatsapp: message %s of type %r stored as other", external_id, kind_name)
    if user_id:
        extra["user_id"] = str(user_id)
    return InboundMessage(
        channel=NAME,
        address=address,
        external_id=external_id,
        received_at=_at(m.get("timestamp")),
        text=text,
        kind=kind,
        button_payload=button_payload,
        reply_to=str(reply_to) if reply_to else None,
        sender_name=str(profile.get("name") or ""),
        phone=phone,
        extra=extra,
    )


_STATUSES = {
    "sent": StatusKind.SENT,
    "delivered": StatusKind.DELIVERED,
    "read": StatusKind.READ,
    "failed": StatusKind.FAILED,
}


def _from_status(s: Mapping[str, Any]) -> StatusUpdate | None:
    status = _STATUSES.get(str(s.get("status")))
    if status is None:
        # "deleted", "warning", "played" and whatever comes next: nothing the hub tracks.
        log.info("whatsapp: status %r for %s ignored", s.get("status"), s.get("id"))
        return None
    reason = ""
    window_closed = unreachable = False
    if status == StatusKind.FAILED:
        errors = [e for e in _list(s.get("errors")) if isinstance(e, Mapping)]
        if errors:
            reason = f"{errors[0].get('code')} {_error_title(errors[0])}"[:255]
            window_closed = str(errors[0].get("code")) == str(WINDOW_CLOSED_CODE)
            unreachable = str(errors[0].get("code")) in {str(c) for c in _UNKNOWN_RECIPIENT}
        else:
            reason = "failed (no reason given)"
    return StatusUpdate(
        channel=NAME,
        external_id=str(s["id"]),
        status=status,
        at=_at(s.get("timestamp")),
        evidence="receipt",
        reason=reason,
        window_closed=window_closed,
        recipient_unreachable=unreachable,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; aiohttp's headers are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


# Outgoing payloads --------------------------------------------------------------------------


def _recipient(address: str) -> dict[str, str]:
    """The recipient fields of a send: `to` for a number, `recipient` for a business-scoped id."""
    if address.startswith(BSUID_PREFIX) and len(address) > len(BSUID_PREFIX):
        return {"recipient": address[len(BSUID_PREFIX) :]}
    digits = address.removeprefix("+")
    if digits.isdigit() and 6 <= len(digits) <= 15:
        return {"recipient_type": "individual", "to": digits}
    raise SendError(SendErrorReason.UNKNOWN_RECIPIENT, f"not a WhatsApp address: {address!r}")


def _check_ids(buttons: Sequence[Button], limit: int) -> None:
    for button in buttons:
        if not 0 < len(button.payload) <= limit:
            raise SendError(
                SendErrorReason.REJECTED,
                f"button payload is {len(button.payload)} characters; WhatsApp takes 1 to {limit}",
            )


def _interactive(body: str, buttons: Sequence[Button]) -> dict[str, Any]:
    """Reply buttons for up to three choices, a list for four to ten."""
    if len(buttons) <= REPLY_BUTTONS_MAX:
        _check_ids(buttons, BUTTON_ID_LIMIT)
        action: dict[str, Any] = {
            "buttons": [
                {
                    "type": "reply",
                    "reply": {"id": b.payload, "title": _fit(b.label, BUTTON_TITLE_LIMIT)},
                }
                for b in buttons
            ]
        }
        kind = "button"
    elif len(buttons) <= LIST_ROWS_MAX:
        _check_ids(buttons, ROW_ID_LIMIT)
        rows = []
        for b in buttons:
            row = {"id": b.payload, "title": _fit(b.label, ROW_TITLE_LIMIT)}
            if len(b.label) > ROW_TITLE_LIMIT:  # the whole label shows under the cut title
                row["description"] = _fit(b.label, ROW_DESCRIPTION_LIMIT)
            rows.append(row)
        action = {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]}
        kind = "list"
    else:
        raise SendError(
            SendErrorReason.REJECTED,
            f"{len(buttons)} buttons; WhatsApp shows at most {LIST_ROWS_MAX} choices",
        )
    return {"type": kind, "body": {"text": body}, "action": action}


def _template(
    name: str, language: str, params: Sequence[str], buttons: Sequence[Button]
) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if params:
        components.append(
            {
                "type": "body",
                "parameters": [{"type": "text", "text": p} for p in template_parameters(params)],
            }
        )
    if buttons:  # the approved template's quick-reply button carries the first button's payload
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": buttons[0].payload}],
            }
        )
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = components
    return template


# The channel --------------------------------------------------------------------------------


class MediaTooLarge(SendError):
    """A media file over the size this channel takes (permanent)."""

    def __init__(self, size: int | None, limit: int) -> None:
        shown = f"{size / 1024 / 1024:.1f} MB" if size is not None else "more than that"
        super().__init__(
            SendErrorReason.REJECTED,
            f"the media file is {shown}; at most {limit / 1024 / 1024:.0f} MB are taken",
        )
        self.size = size
        self.limit = limit


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
        if outgoing.buttons or len(caption) > CAPTION_LIMIT:
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
        if not outgoing.buttons:
            return await self._post_message({**recipient, **context, **_text(text)})
        if len(text) <= INTERACTIVE_BODY_LIMIT:
            interactive = _interactive(text, outgoing.buttons)
            return await self._post_message(
                {**recipient, **context, "type": "interactive", "interactive": interactive}
            )
        # Too long for an interactive body: the text first, then the buttons under its end.
        body = _fit(_last_paragraph(text), INTERACTIVE_BODY_LIMIT)
        interactive = _interactive(body, outgoing.buttons)  # refused buttons refuse before sending
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
        names = {
            "broadcast": self.settings.broadcast_template,
            "reminder": self.settings.reminder_template,
            "call_list": self.settings.call_list_template,
        }
        if outgoing.template not in names:
            raise SendError(
                SendErrorReason.REJECTED, f"no WhatsApp template for {outgoing.template!r}"
            )
        name = names[outgoing.template]
        if not name:
            raise SendError(
                SendErrorReason.BAD_CONFIG, f"whatsapp.{outgoing.template}_template is not set"
            )
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
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(400, "body is not JSON") from None
        except RecursionError:
            raise WebhookRejected(400, "body is nested too deeply") from None
        if not isinstance(data, dict):
            raise WebhookRejected(400, "body is not a JSON object")
        if data.get("object") not in (None, "whatsapp_business_account"):
            log.info("whatsapp: ignoring a notification about %r", data.get("object"))
            return []
        return parse_notification(data, phone_number_id=str(self.settings.phone_number_id) or None)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": text, "preview_url": False}}
