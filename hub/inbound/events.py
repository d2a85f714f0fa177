"""Inbound events as they are stored: their keys, the widths they must fit, and their cleaning.

An event's key (`event_key`) makes it unique within its channel, so that a replay is recognised
and dropped; an event with an id, address or phone wider than its column is not genuine and is
never stored (`too_long`); characters no column takes are cleaned from its payload (`storable`).
`StoredRow` is what processing needs of a stored row, and `Deferred` leaves one for later.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, NamedTuple

from tortoise.models import Model

from channels import Event, InboundMessage, StatusUpdate, event_from_json, event_to_json
from models import ChannelAddress, InboundEvent, Member, OutboundMessage


def _width(model: type[Model], name: str) -> int:
    return int(model._meta.fields_map[name].max_length)  # type: ignore[attr-defined]


# The columns that keep what a platform sends: a platform id (ours, or one a message answers), a
# chat or sender address, a phone number, and the stored event's key.
ID_WIDTH = _width(OutboundMessage, "external_id")
ADDRESS_WIDTH = _width(ChannelAddress, "address")
PHONE_WIDTH = _width(Member, "phone")
KEY_WIDTH = _width(InboundEvent, "external_id")


def event_key(event: Event) -> str:
    """The id that makes an event unique within its channel (a digest where it is too long)."""
    if isinstance(event, StatusUpdate):
        key = f"status:{event.external_id}:{event.status.value}"
    elif isinstance(event, InboundMessage):
        key = f"msg:{event.external_id}"
    else:
        key = f"event:{event.address}:{event.kind.value}:{event.at.isoformat()}"
    if len(key) <= KEY_WIDTH:
        return key
    # Ids up to ID_WIDTH with the key's prefix: still unique, and its start still says its kind.
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_WIDTH - len(digest) - 1]}#{digest}"


def too_long(event: Event) -> str | None:
    """The event's first id, address or phone wider than the column keeping it; None if all fit.

    Genuine ones are far shorter (a WhatsApp wamid is about 60 characters, Telegram's ids are
    numbers). A longer id cannot name a message the hub sent, and where it would be stored
    PostgreSQL refuses it and SQLite keeps it whole, so such an event is dropped, never stored.
    """
    values: list[tuple[str, str | None, int]]
    if isinstance(event, StatusUpdate):
        values = [("external_id", event.external_id, ID_WIDTH)]
    elif isinstance(event, InboundMessage):
        values = [
            ("external_id", event.external_id, ID_WIDTH),
            ("reply_to", event.reply_to, ID_WIDTH),
            ("address", event.address, ADDRESS_WIDTH),
            ("sender", event.sender, ADDRESS_WIDTH),
            ("phone", event.phone, PHONE_WIDTH),
        ]
    else:
        new_address = event.payload.get("new_address")
        values = [
            ("address", event.address, ADDRESS_WIDTH),
            ("new_address", None if new_address is None else str(new_address), ADDRESS_WIDTH),
        ]
    return next((name for name, value, width in values if value and len(value) > width), None)


# What no database column takes: NUL (PostgreSQL refuses it in text and jsonb) and lone UTF-16
# surrogates (not Unicode; JSON's "\\ud800" escape makes one).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """A JSON value with NUL dropped and lone surrogates replaced by U+FFFD (the same object
    when there is nothing to clean)."""
    if isinstance(value, str):
        if not _UNSTORABLE.search(value):
            return value
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        pairs = [(_storable(k), _storable(v)) for k, v in value.items()]
        originals = value.items()
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, originals, strict=True))
        return value if same else dict(pairs)
    if isinstance(value, list):
        items = [_storable(v) for v in value]
        return value if all(a is b for a, b in zip(value, items, strict=True)) else items
    return value


def storable(event: Event) -> tuple[Event, dict[str, Any]]:
    """The event as it can be stored, and its stored payload: what a platform (or a forger with
    its signature) sends may hold characters no column takes; they are cleaned here."""
    data = event_to_json(event)
    clean = _storable(data)
    return (event, data) if clean is data else (event_from_json(clean), clean)


class Deferred(Exception):
    """This event cannot be applied yet; leave it stored and try again later."""


class StoredRow(NamedTuple):
    """An event's row as stored: what processing needs of it."""

    id: int
    external_id: str


Stored = tuple[StoredRow, Event]
