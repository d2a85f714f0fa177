"""Webhook notifications (Meta's JSON) as the hub's events."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from channels.events import (
    Event,
    InboundKind,
    InboundMessage,
    Location,
    Media,
    MediaKind,
    StatusKind,
    StatusUpdate,
)
from channels.whatsapp.api import _UNKNOWN_RECIPIENT, WINDOW_CLOSED_CODE, _error_title
from channels.whatsapp.messages import BSUID_PREFIX

log = logging.getLogger(__name__)

NAME = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    "image": MediaKind.PHOTO,
    "audio": MediaKind.VOICE,
    "document": MediaKind.DOCUMENT,
}
# Types stored as OTHER without a log line: known, and nothing the hub answers.
_QUIET_OTHER = {"sticker", "unsupported", "video", "contacts", "system"}


@dataclasses.dataclass
class _Content:
    """What a message says, by its type."""

    kind: InboundKind = InboundKind.OTHER
    text: str = ""
    button_payload: str | None = None
    reply_to: str | None = None
    media: Media | None = None
    location: Location | None = None
    platform_type: str = ""


def _sender(
    m: Mapping[str, Any], contacts: list[Mapping[str, Any]]
) -> tuple[str, str | None, str | None, Mapping[str, Any]] | None:
    """(address, phone, alias, contact) of the sender; None when the message names none."""
    wa_id = _digits(m["from"]) if m.get("from") else None
    user_id = m.get("from_user_id") or m.get("user_id")
    contact = _contact_for(contacts, wa_id, str(user_id) if user_id else None)
    user_id = user_id or contact.get("user_id")
    bsuid = BSUID_PREFIX + str(user_id) if user_id else None
    if wa_id:
        return "+" + wa_id, "+" + wa_id, bsuid, contact
    if bsuid:
        return bsuid, None, None, contact
    return None


def _from_message(m: Mapping[str, Any], contacts: list[Mapping[str, Any]]) -> InboundMessage | None:
    external_id = str(m["id"])
    sender = _sender(m, contacts)
    if sender is None:
        log.warning("whatsapp: message %s names no sender; skipped", external_id)
        return None
    address, phone, alias, contact = sender
    content = _content(m, external_id)
    if content is None:
        return None
    profile = contact.get("profile") or {}
    return InboundMessage(
        channel=NAME,
        address=address,
        external_id=external_id,
        received_at=_at(m.get("timestamp")),
        text=content.text,
        kind=content.kind,
        button_payload=content.button_payload,
        reply_to=content.reply_to,
        sender_name=str(profile.get("name") or ""),
        phone=phone,
        media=content.media,
        location=content.location,
        alias=alias,
        platform_type=content.platform_type,
    )


def _content(m: Mapping[str, Any], external_id: str) -> _Content | None:
    """The message's content by its type; None for a reaction taken back (nothing to store)."""
    type_name = str(m.get("type") or "")
    context_id = (m.get("context") or {}).get("id")
    content = _Content(reply_to=str(context_id) if context_id else None)
    if type_name == "text":
        content.kind, content.text = InboundKind.TEXT, str((m.get("text") or {}).get("body") or "")
    elif type_name == "interactive":
        interactive = m["interactive"]
        reply = interactive.get(interactive.get("type")) or {}
        if interactive.get("type") in ("button_reply", "list_reply") and reply.get("id"):
            content.kind, content.button_payload = InboundKind.BUTTON, str(reply["id"])
            content.text = str(reply.get("title") or "")
        else:
            content.platform_type = f"interactive:{interactive.get('type')}"
    elif type_name == "button":  # a quick-reply button of a template
        button = m["button"]
        content.kind, content.button_payload = InboundKind.BUTTON, str(button["payload"])
        content.text = str(button.get("text") or "")
    elif type_name in _MEDIA_KINDS:
        content.media = _media(_MEDIA_KINDS[type_name], m[type_name])
        content.kind, content.text = InboundKind(content.media.kind), content.media.caption
    elif type_name == "location":
        place = m["location"]
        content.kind = InboundKind.LOCATION
        content.location = Location(
            latitude=float(place["latitude"]),
            longitude=float(place["longitude"]),
            name=str(place.get("name") or ""),
            address=str(place.get("address") or ""),
        )
    elif type_name == "reaction":
        reaction = m["reaction"]
        if not reaction.get("emoji"):
            return None  # a reaction taken back
        content.kind, content.text = InboundKind.REACTION, str(reaction["emoji"])
        content.reply_to = str(reaction["message_id"]) if reaction.get("message_id") else None
    else:
        # Stickers, video, contacts, system notices, "unsupported" and types not known yet.
        content.platform_type = type_name or "unknown"
        if type_name == "system":
            content.text = str((m.get("system") or {}).get("body") or "")
        elif type_name not in _QUIET_OTHER:
            log.info("whatsapp: message %s of type %r stored as other", external_id, type_name)
    return content


def _media(kind: MediaKind, media: Mapping[str, Any]) -> Media:
    """An image, audio or document object of a webhook as Media (Meta tells no size)."""
    return Media(
        kind=kind,
        file_id=str(media["id"]),
        mime_type=str(media.get("mime_type") or ""),
        file_name=str(media.get("filename") or ""),
        caption=str(media.get("caption") or ""),
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
