"""The explicit channel registry: every built-in present once, unknown names refused clearly."""

from __future__ import annotations

import pytest

import channels
from channels import Channel, UnknownChannel, channel_class, channel_traits, registered_channels
from channels.registry import BUILT_IN, index_by_name
from channels.sandbox import SandboxChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from hub.runtime import AVAILABLE_CHANNELS


def test_every_built_in_channel_is_registered_under_its_name() -> None:
    assert dict(registered_channels()) == {
        "sandbox": SandboxChannel,
        "telegram": TelegramChannel,
        "whatsapp": WhatsAppChannel,
    }
    for name, cls in registered_channels().items():
        assert cls.name == name
        assert channel_class(name) is cls
        assert channel_traits(name) is cls


def test_no_channel_is_listed_twice() -> None:
    assert len(set(BUILT_IN)) == len(BUILT_IN)
    assert len({cls.name for cls in BUILT_IN}) == len(BUILT_IN)


def test_the_hub_runs_exactly_the_registered_channels() -> None:
    assert AVAILABLE_CHANNELS == tuple(registered_channels())


@pytest.mark.parametrize("lookup", [channel_class, channel_traits])
def test_an_unknown_name_is_refused_with_the_known_ones(lookup: object) -> None:
    assert callable(lookup)
    with pytest.raises(UnknownChannel) as caught:
        lookup("sms")
    assert isinstance(caught.value, ValueError)
    assert caught.value.name == "sms"
    assert caught.value.known == ("sandbox", "telegram", "whatsapp")
    known = "sandbox, telegram, whatsapp"
    assert str(caught.value) == f"unknown channel 'sms': this version knows {known}"


def test_no_default_for_an_unknown_name() -> None:
    # The base class answered for any unknown name before; nothing does now, not even "".
    for name in ("", "Telegram", "whatsapp ", "base"):
        with pytest.raises(UnknownChannel):
            channel_traits(name)


def test_the_registry_cannot_be_changed_from_outside() -> None:
    registry = registered_channels()
    with pytest.raises(TypeError):
        registry["sms"] = SandboxChannel  # type: ignore[index]
    assert "sms" not in registered_channels()


class _Impostor(SandboxChannel):
    name = "telegram"


class _Nameless(SandboxChannel):
    name = ""


def test_a_name_taken_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'telegram' is listed twice"):
        index_by_name([TelegramChannel, _Impostor])
    with pytest.raises(ValueError, match="listed twice"):
        index_by_name([WhatsAppChannel, WhatsAppChannel])


def test_a_class_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="has no name"):
        index_by_name([_Nameless])
    with pytest.raises(ValueError, match="has no name"):
        index_by_name([Channel])  # the abstract base names no channel


def test_the_package_exports_the_registry() -> None:
    assert channels.registered_channels is registered_channels
    assert channels.UnknownChannel is UnknownChannel
    assert not hasattr(channels, "register_channel")  # no registration by import side effect
