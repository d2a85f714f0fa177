"""What the platforms tell the hub: inbound messages, status updates and channel events.

Frozen dataclasses, the same for every channel: what a person sent is typed (media, a location, a
poll answer) rather than kept under per-channel keys, so the hub reads `event.media.size` and
never a platform's field name. Events are stored as JSON (`event_to_json`) before they are
applied and read back after a restart (`event_from_json`); a payload stored by an older version,
with its free-form `extra` mapping, still reads back, as the typed fields it meant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class StatusKind(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"


class InboundKind(StrEnum):
    TEXT = "text"
    BUTTON = "button"  # a tap on one of the hub's buttons; see button_payload
    CONTACT = "contact"  # the person shared their own phone number (see phone)
    FOREIGN_CONTACT = "foreign_contact"  # they shared someone else's contact: not proof
    REACTION = "reaction"  # an emoji reaction on the message in reply_to
    POLL_ANSWER = "poll_answer"  # an answer to the poll in reply_to; see poll_answer
    PHOTO = "photo"  # see media
    VOICE = "voice"  # a voice note or audio file; see media
    DOCUMENT = "document"  # see media
    LOCATION = "location"  # see location
    OTHER = "other"  # stickers, system messages and the like: stored, otherwise ignored


class MediaKind(StrEnum):
    """The kinds of file a person can send; each is also the InboundKind of its message."""

    PHOTO = "photo"
    VOICE = "voice"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Media:
    """A file someone sent, still on the platform: `FetchesMedia.fetch_media` gets its bytes."""

    kind: MediaKind
    file_id: str  # the platform's id for the file (Telegram file_id, WhatsApp media id)
    mime_type: str = ""  # as the platform tells it; "" when it does not
    size: int | None = None  # bytes, as the platform tells it; None when it does not
    file_name: str = ""  # a document's name as the sender saw it
    caption: str = ""  # the text sent with it (also the message's `text`)
    duration: int | None = None  # seconds, for voice


@dataclass(frozen=True)
class Location:
    """A place someone shared."""

    latitude: float
    longitude: float
    name: str = ""  # a named place (WhatsApp), "" for a dropped pin
    address: str = ""


@dataclass(frozen=True)
class PollAnswer:
    """A vote on one of the hub's native polls; no options chosen is a vote taken back."""

    poll_id: str  # the platform's id of the poll (the message's reply_to is "poll:<poll_id>")
    option_ids: tuple[int, ...] = ()  # the chosen options' positions, from 0
    option_persistent_ids: tuple[str, ...] = ()  # ids that survive options being reordered


@dataclass(frozen=True)
class InboundMessage:
    """Something a person sent: text, a button tap, a reaction, a contact, media...

    `address` is the chat to answer in; `sender` is the person's own address on the channel (the
    same as `address` in a private chat, different in a group).
    """

    channel: str
    address: str
    external_id: str
    received_at: dt.datetime
    text: str = ""
    kind: InboundKind = InboundKind.TEXT
    button_payload: str | None = None
    reply_to: str | None = None  # external id of the hub's message being answered or reacted to
    sender: str | None = None  # None: the same as address
    in_group: bool = False
    sender_name: str = ""
    phone: str | None = None  # E.164; a phone number the platform vouches for as the sender's
    chat_title: str = ""  # a group's name, for group messages (names the group when it is linked)
    media: Media | None = None  # for PHOTO, VOICE and DOCUMENT
    location: Location | None = None  # for LOCATION
    poll_answer: PollAnswer | None = None  # for POLL_ANSWER
    # Another address of the sender on this channel, where the platform names them twice
    # (WhatsApp: "bsuid:<business-scoped user id>" next to the number).
    alias: str | None = None
    platform_type: str = ""  # for OTHER: the platform's own name for it ("sticker", "system")

    @property
    def sender_address(self) -> str:
        return self.sender or self.address


@dataclass(frozen=True)
class StatusUpdate:
    """The platform (or the person) moved one of our messages along: sent, delivered, read..."""

    channel: str
    external_id: str  # of the hub's message
    status: StatusKind
    at: dt.datetime
    evidence: str = "receipt"  # receipt, reply, reaction, button, poll
    reason: str = ""  # for failed
    # For failed: free text was refused because the person's free-text window had closed, so
    # the message should go again as its template (WhatsApp reports 131047 this way too).
    window_closed: bool = False
    # For failed: nobody can be reached at this address (no such WhatsApp account, say), so the
    # announcement should go to the member's next channel.
    recipient_unreachable: bool = False


class ChannelEventKind(StrEnum):
    NEW_CONVERSATION = "new_conversation"  # someone opened a chat with the hub
    OPT_OUT = "opt_out"  # asked the platform to stop
    OPT_IN = "opt_in"
    BLOCKED = "blocked"  # blocked the bot / number
    UNBLOCKED = "unblocked"  # allowed the bot again
    GROUP_MIGRATED = "group_migrated"  # a group got a new address; payload["new_address"]
    REMOVED_FROM_GROUP = "removed_from_group"  # the hub can no longer post in this group


@dataclass(frozen=True)
class ChannelEvent:
    channel: str
    address: str
    kind: ChannelEventKind
    at: dt.datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


Event = InboundMessage | StatusUpdate | ChannelEvent
EventSink = Callable[[list[Event]], Awaitable[None]]


# Stored form ----------------------------------------------------------------------------------

_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (InboundMessage, StatusUpdate, ChannelEvent)
}
_FIELDS = {cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _EVENT_TYPES.values()}


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)  # payload: a mapping of JSON values
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not a stored event value")


def event_to_json(event: Event) -> dict[str, Any]:
    """The stored payload of an event: what dataclasses.asdict gives, with ISO datetimes, at a
    fraction of its cost."""
    data = {name: _to_json(getattr(event, name)) for name in _FIELDS[type(event)]}
    return {"type": type(event).__name__, "event": data}


def event_from_json(stored: Mapping[str, Any]) -> Event:
    """The event a stored payload holds, whichever version stored it (fields it does not know
    are left out; a message's `extra` of old becomes its typed fields)."""
    cls = _EVENT_TYPES[stored["type"]]
    given = dict(stored["event"])
    extra = given.pop("extra", None)
    data = {k: v for k, v in given.items() if k in _FIELDS[cls]}
    if cls is InboundMessage:
        data["received_at"] = dt.datetime.fromisoformat(data["received_at"])
        data["kind"] = InboundKind(data.get("kind", InboundKind.TEXT))
        if isinstance(extra, Mapping) and extra:
            typed = _from_extra(data, extra)
            data = {**data, **{k: v for k, v in typed.items() if not data.get(k)}}
        return InboundMessage(**_typed(data))
    data["at"] = dt.datetime.fromisoformat(data["at"])
    if cls is StatusUpdate:
        data["status"] = StatusKind(data["status"])
        return StatusUpdate(**data)
    data["kind"] = ChannelEventKind(data["kind"])
    return ChannelEvent(**data)


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    """A message's nested values (stored as JSON objects) as their dataclasses."""
    if isinstance(media := data.get("media"), Mapping):
        data["media"] = Media(**{**media, "kind": MediaKind(media["kind"])})
    if isinstance(location := data.get("location"), Mapping):
        data["location"] = Location(**location)
    if isinstance(answer := data.get("poll_answer"), Mapping):
        data["poll_answer"] = PollAnswer(
            poll_id=str(answer["poll_id"]),
            option_ids=tuple(answer.get("option_ids") or ()),
            option_persistent_ids=tuple(answer.get("option_persistent_ids") or ()),
        )
    return data


def _from_extra(data: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The typed fields a message stored before they existed kept in `extra` (by either channel:
    Telegram's file_id, WhatsApp's media_id...); keys that meant nothing to the hub are dropped."""
    typed: dict[str, Any] = {}
    kind = data["kind"]
    file_id = extra.get("file_id") or extra.get("media_id")
    if file_id and kind in set(MediaKind):
        typed["media"] = {
            "kind": kind,
            "file_id": str(file_id),
            "mime_type": str(extra.get("mime_type") or ""),
            "size": extra.get("file_size"),
            "file_name": str(extra.get("file_name") or extra.get("filename") or ""),
            "caption": str(data.get("text") or ""),
            "duration": extra.get("duration"),
        }
    if kind == InboundKind.LOCATION and "latitude" in extra and "longitude" in extra:
        typed["location"] = {
            "latitude": extra["latitude"],
            "longitude": extra["longitude"],
            "name": str(extra.get("name") or ""),
            "address": str(extra.get("address") or ""),
        }
    reply_to = str(data.get("reply_to") or "")
    if kind == InboundKind.POLL_ANSWER and reply_to.startswith("poll:"):
        typed["poll_answer"] = {
            "poll_id": reply_to.removeprefix("poll:"),
            "option_ids": extra.get("option_ids") or (),
            "option_persistent_ids": extra.get("option_persistent_ids") or (),
        }
    if extra.get("chat_title"):
        typed["chat_title"] = str(extra["chat_title"])
    if extra.get("user_id") and not str(data.get("address", "")).startswith("bsuid:"):
        typed["alias"] = f"bsuid:{extra['user_id']}"
    if extra.get("type"):
        typed["platform_type"] = str(extra["type"])
    return typed
