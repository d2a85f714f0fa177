"""The channels this version can run, by the name the config and the database know them under.

An explicit list rather than registration as a side effect of importing a module: the CLI, a job
and the running hub all see the same classes whether or not a Hub was built, and a name this
version does not know (a row written by an older one, a typo) is refused with the names it does
know, never answered with the defaults of the base class. (Courier's `RegisterHandler`, RapidPro's
channel type registry, without the import-order dependence.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from channels.base import Channel
from channels.sandbox import SandboxChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel

BUILT_IN: tuple[type[Channel], ...] = (SandboxChannel, TelegramChannel, WhatsAppChannel)

# Channel classes by name: the channels a hub runs (or, with no hub, that the config enables), for
# domain code to ask what each can do. Iterating one gives the names.
ChannelClasses = Mapping[str, type[Channel]]


class UnknownChannel(ValueError):
    """A channel name this version does not know."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(
            f"unknown channel {name!r}: this version knows {', '.join(self.known) or 'none'}"
        )


def index_by_name(classes: Iterable[type[Channel]]) -> dict[str, type[Channel]]:
    """The classes by their `name`, in the order given; refuses a missing or repeated name."""
    by_name: dict[str, type[Channel]] = {}
    for cls in classes:
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise ValueError(f"channel class {cls.__qualname__} has no name")
        if name in by_name:
            raise ValueError(
                f"channel {name!r} is listed twice: {by_name[name].__qualname__} "
                f"and {cls.__qualname__}"
            )
        by_name[name] = cls
    return by_name


_CHANNELS: Mapping[str, type[Channel]] = MappingProxyType(index_by_name(BUILT_IN))


def registered_channels() -> Mapping[str, type[Channel]]:
    """Every channel class by name (read-only), in the order of BUILT_IN."""
    return _CHANNELS


def channel_class(name: str) -> type[Channel]:
    """The class that runs the channel called `name`; raises UnknownChannel."""
    try:
        return _CHANNELS[name]
    except KeyError:
        raise UnknownChannel(name, _CHANNELS) from None


def channel_traits(name: str) -> type[Channel]:
    """What the channel called `name` can do (can_edit, text_limit, window_open, ...), asked of
    its class, so it is known without a running channel; raises UnknownChannel."""
    return channel_class(name)
