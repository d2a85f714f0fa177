"""Bot API updates (Telegram's JSON) as the hub's events."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from channels.events import (
    ChannelEvent,
    ChannelEventKind,
    Event,
    InboundKind,
    InboundMessage,
    Location,
    Media,
    MediaKind,
    PollAnswer,
)

log = logging.getLogger(__name__)

NAME = "telegram"
# Update kinds the hub asks for; others never arrive (and would be ignored if they did).
ALLOWED_UPDATES = (
    "message",
    "callback_query",
    "message_reaction",
    "my_chat_member",
    "chat_member",
    "poll_answer",
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Updates ------------------------------------------------------------------------------------


def parse_update(data: Mapping[str, Any]) -> list[Event]:
    """The events in one Bot API Update (a dict as Telegram sends it); [] for kinds not used."""
    try:
        if (message := data.get("message")) is not None:
            return _from_message(message)
        if (query := data.get("callback_query")) is not None:
            return _from_callback_query(query)
        if (reaction := data.get("message_reaction")) is not None:
            return _from_reaction(reaction)
        if (member := data.get("my_chat_member")) is not None:
            return _from_my_chat_member(member)
        if (answer := data.get("poll_answer")) is not None:
            return _from_poll_answer(answer, data.get("update_id"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Telegram's own updates always parse; a malformed one is logged and dropped, not fatal.
        log.warning("telegram update %s not understood: %r", data.get("update_id"), exc)
    return []


def _at(timestamp: Any) -> dt.datetime:
    """A Bot API date (Unix seconds); one no datetime holds is taken as the time of receipt.

    Telegram never sends such a date, but an update is a person's message: it is kept (and the
    webhook answered 200, so Telegram does not send it again and again), as WhatsApp's are.
    """
    try:
        return dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return _now()


def _name(user: Mapping[str, Any]) -> str:
    return " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)


def _in_group(chat: Mapping[str, Any]) -> bool:
    return chat.get("type") != "private"


def _from_message(m: Mapping[str, Any]) -> list[Event]:
    chat = m["chat"]
    chat_id = chat["id"]
    if "migrate_to_chat_id" in m:
        new = {"new_address": str(m["migrate_to_chat_id"])}
        return [
            ChannelEvent(NAME, str(chat_id), ChannelEventKind.GROUP_MIGRATED, _at(m["date"]), new)
        ]
    if "migrate_from_chat_id" in m:
        return []  # the same migration, seen from the new supergroup
    user = m.get("from") or m.get("sender_chat") or {}
    text = m.get("text") or m.get("caption") or ""
    kind, media, location = _content(m, str(text))
    phone: str | None = None
    if "contact" in m:
        contact = m["contact"]
        own = contact.get("user_id") is not None and contact.get("user_id") == user.get("id")
        kind = InboundKind.CONTACT if own else InboundKind.FOREIGN_CONTACT
        if own:
            phone = "+" + "".join(ch for ch in str(contact.get("phone_number", "")) if ch.isdigit())
    reply = m.get("reply_to_message")
    in_group = _in_group(chat)
    return [
        InboundMessage(
            channel=NAME,
            address=str(chat_id),
            external_id=f"{chat_id}:{m['message_id']}",
            received_at=_at(m["date"]),
            text=text,
            kind=kind,
            reply_to=f"{chat_id}:{reply['message_id']}" if reply else None,
            sender=str(user["id"]) if "id" in user else None,
            in_group=in_group,
            sender_name=_name(user) or user.get("title", ""),
            phone=phone,
            chat_title=str(chat.get("title") or "") if in_group else "",
            media=media,
            location=location,
        )
    ]


def _content(
    m: Mapping[str, Any], caption: str
) -> tuple[InboundKind, Media | None, Location | None]:
    """The message's kind, and the file or place it carries (contacts are read by the caller)."""
    if "contact" in m:
        return InboundKind.CONTACT, None, None
    if photos := m.get("photo"):
        largest = max(
            photos, key=lambda p: (p.get("width", 0) * p.get("height", 0), p.get("file_size", 0))
        )
        return InboundKind.PHOTO, _media(MediaKind.PHOTO, largest, caption, "image/jpeg"), None
    for key, media_kind in (("voice", MediaKind.VOICE), ("document", MediaKind.DOCUMENT)):
        if key in m:
            return InboundKind(media_kind), _media(media_kind, m[key], caption), None
    if "location" in m:
        place = m["location"]
        if "venue" in m:  # a named place: the venue carries the location and its name
            venue = m["venue"]
            name, address = str(venue.get("title") or ""), str(venue.get("address") or "")
        else:
            name = address = ""
        located = Location(float(place["latitude"]), float(place["longitude"]), name, address)
        return InboundKind.LOCATION, None, located
    if "text" not in m:
        return InboundKind.OTHER, None, None  # stickers, video, polls, service messages...
    return InboundKind.TEXT, None, None


def _media(kind: MediaKind, file: Mapping[str, Any], caption: str, mime_type: str = "") -> Media:
    """A Bot API PhotoSize, Voice or Document as Media (a photo's type is always JPEG)."""
    size = file.get("file_size")
    duration = file.get("duration")
    return Media(
        kind=kind,
        file_id=str(file["file_id"]),
        mime_type=str(file.get("mime_type") or mime_type),
        size=int(size) if isinstance(size, int | float) else None,
        file_name=str(file.get("file_name") or ""),
        caption=caption,
        duration=int(duration) if isinstance(duration, int | float) else None,
    )


def _from_callback_query(query: Mapping[str, Any]) -> list[Event]:
    message = query.get("message")
    if message is None or "data" not in query:
        return []  # inline-mode messages and games: the hub sends neither
    chat = message["chat"]
    user = query["from"]
    return [
        InboundMessage(
            channel=NAME,
            address=str(chat["id"]),
            external_id=f"cb:{query['id']}",
            received_at=_now(),  # a callback query carries no time of its own
            kind=InboundKind.BUTTON,
            button_payload=query["data"],
            reply_to=f"{chat['id']}:{message['message_id']}",
            sender=str(user["id"]),
            in_group=_in_group(chat),
            sender_name=_name(user),
        )
    ]


def _reaction_text(reaction: Mapping[str, Any]) -> str:
    return str(reaction.get("emoji") or reaction.get("custom_emoji_id") or reaction.get("type", ""))


def _from_reaction(update: Mapping[str, Any]) -> list[Event]:
    new = update.get("new_reaction") or []
    user = update.get("user")
    if not new or user is None:
        return []  # a reaction taken back, or an anonymous one from a chat: no one to credit
    old = update.get("old_reaction") or []
    added = [r for r in new if r not in old] or new
    chat = update["chat"]
    chat_id = chat["id"]
    return [
        InboundMessage(
            channel=NAME,
            address=str(chat_id),
            external_id=f"reaction:{chat_id}:{update['message_id']}:{user['id']}:{update['date']}",
            received_at=_at(update["date"]),
            text=_reaction_text(added[0]),
            kind=InboundKind.REACTION,
            reply_to=f"{chat_id}:{update['message_id']}",
            sender=str(user["id"]),
            in_group=_in_group(chat),
            sender_name=_name(user),
        )
    ]


def _from_my_chat_member(update: Mapping[str, Any]) -> list[Event]:
    chat = update["chat"]
    old = update.get("old_chat_member", {}).get("status")
    new = update.get("new_chat_member", {}).get("status")
    kind: ChannelEventKind | None = None
    if not _in_group(chat):
        if new == "kicked":
            kind = ChannelEventKind.BLOCKED
        elif old == "kicked" and new == "member":
            kind = ChannelEventKind.UNBLOCKED
    elif new in ("left", "kicked"):
        kind = ChannelEventKind.REMOVED_FROM_GROUP
    if kind is None:
        return []
    return [ChannelEvent(NAME, str(chat["id"]), kind, _at(update["date"]))]


def _from_poll_answer(answer: Mapping[str, Any], update_id: Any) -> list[Event]:
    """A vote, a changed vote or a vote taken back (no options), each an event of its own.

    Telegram sends a poll answer each time a person's choice changes, with no time of its own: the
    external id names the voter, the options chosen ("-" for none) and the update's id, so a
    change of vote (even back to an earlier choice) is a new event, while the same update sent
    again (a webhook retried, polling read again after a restart) keeps its id and is dropped as
    a replay by the hub.
    """
    user = answer.get("user")
    if user is None or "voter_chat" in answer:
        return []  # voted as a chat (anonymously; `user` is then a placeholder): no one to credit
    poll_id = str(answer["poll_id"])
    vote = PollAnswer(
        poll_id=poll_id,
        option_ids=tuple(int(i) for i in answer.get("option_ids") or ()),
        option_persistent_ids=tuple(str(i) for i in answer.get("option_persistent_ids") or ()),
    )
    chosen = ",".join(str(i) for i in vote.option_ids) or "-"
    external_id = f"poll:{poll_id}:{user['id']}:{chosen}"
    if update_id is not None:
        external_id += f":{update_id}"
    # A poll answer names the voter, never the chat the poll is in: a vote on a poll in a group
    # reads the same as one in a private chat. The address is the voter's user id, which is also
    # their private chat with the bot (if they ever opened it), and in_group stays False; the
    # hub finds the poll, and so the group, by the poll id.
    return [
        InboundMessage(
            channel=NAME,
            address=str(user["id"]),
            external_id=external_id,
            received_at=_now(),  # poll answers carry no time of their own
            kind=InboundKind.POLL_ANSWER,
            reply_to=f"poll:{poll_id}",
            sender=str(user["id"]),
            sender_name=_name(user),
            poll_answer=vote,
        )
    ]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; aiohttp's headers are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
