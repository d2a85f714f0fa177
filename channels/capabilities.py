"""Optional capabilities: small interfaces a channel may implement, asked about by `isinstance`.

What every channel has is a class variable on `Channel` (can_edit, free_text_window...); what only
some can do is one of these protocols (as Courier's AttachmentRequestBuilder). The hub asks
`isinstance(channel, FetchesMedia)`, never a channel's name. They declare methods only, so
`issubclass(cls, FetchesMedia)` also answers for a channel class without a running channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from channels.base import SendError, SendErrorReason
from channels.events import Media

# Bytes a fetched file may have unless the channel is told otherwise: what the platforms
# themselves let a bot download (Telegram's getFile: 20 MB; WhatsApp media: 16 MB for audio and
# images, the most the hub keeps).
MAX_FETCH_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class FetchedMedia:
    """A received file's content, downloaded from the platform."""

    data: bytes
    mime_type: str  # as the platform served it; "application/octet-stream" when it said none


class MediaTooLarge(SendError):
    """A media file over the size the channel takes (permanent: REJECTED, not retried)."""

    def __init__(self, size: int | None, limit: int) -> None:
        shown = f"{size / 1024 / 1024:.1f} MB" if size is not None else "more than that"
        super().__init__(
            SendErrorReason.REJECTED,
            f"the media file is {shown}; at most {limit / 1024 / 1024:.0f} MB are taken",
        )
        self.size = size
        self.limit = limit


@runtime_checkable
class FetchesMedia(Protocol):
    """The channel can download a file someone sent (an InboundMessage's `media`)."""

    async def fetch_media(self, media: Media) -> FetchedMedia:
        """The file's bytes; raises MediaTooLarge over the channel's limit, SendError otherwise
        (CONNECTION: try later; REJECTED or UNKNOWN_RECIPIENT: the platform no longer has it)."""
        ...


@runtime_checkable
class ClosesPolls(Protocol):
    """The channel can close a native poll it sent (Channel.native_polls): no more votes."""

    async def close_poll(self, address: str, external_id: str) -> None:
        """Close the poll in the message `external_id` (its SendResult's) sent to `address`. A
        poll already closed, or a message no longer there, is done; SendError otherwise."""
        ...


@runtime_checkable
class InvitesByLink(Protocol):
    """The channel has a link that opens a chat with the hub carrying an invite code."""

    def invite_link(self, code: str) -> str | None:
        """The link for `code`; None when the settings lack what it needs (a bot's username)."""
        ...


@runtime_checkable
class AddressesByPhone(Protocol):
    """The channel reaches people by their phone number: the number is (or gives) the address."""

    def address_for_phone(self, phone: str) -> str | None:
        """The address for an E.164 number; None when it cannot be one."""
        ...


def address_for_phone(channel: object, phone: str) -> str | None:
    """The channel's address for a phone number; None for channels whose addresses are not
    numbers (Telegram's chat ids are learnt only when the person writes)."""
    return channel.address_for_phone(phone) if isinstance(channel, AddressesByPhone) else None
