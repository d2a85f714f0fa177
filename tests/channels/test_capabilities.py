"""The optional capabilities, channel by channel, where the contract suite cannot say the value.

Invite links are compared with what the hub builds today from the config (hub/roster/members.py), so
the hub can ask the channels instead without an RT head seeing another link. Nothing here starts a
channel: links and addresses need the settings only.
"""

from __future__ import annotations

import pytest

from channels import (
    AddressesByPhone,
    ClosesPolls,
    Event,
    FetchesMedia,
    InvitesByLink,
    SendError,
    SendErrorReason,
    address_for_phone,
    registered_channels,
)
from channels.sandbox import SandboxChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from channels.whatsapp.templates import TEMPLATE_SETTINGS, template_name
from hub.core.config import Config
from hub.roster.members import invite_links
from tests.conftest import make_config

CODE = "K7QF2M"


async def _sink(events: list[Event]) -> None:
    return None


def test_what_each_channel_declares() -> None:
    declared = {
        name: {
            cap.__name__
            for cap in (FetchesMedia, InvitesByLink, AddressesByPhone, ClosesPolls)
            if issubclass(cls, cap)
        }
        for name, cls in registered_channels().items()
    }
    assert declared == {
        "sandbox": set(),
        "telegram": {"FetchesMedia", "InvitesByLink", "ClosesPolls"},
        "whatsapp": {"FetchesMedia", "InvitesByLink", "AddressesByPhone"},
    }


@pytest.mark.parametrize("username", ["balaiwarga_bot", ""])
def test_the_telegram_deep_link_is_the_hubs(username: str) -> None:
    config = make_config(telegram={"bot_username": username})
    channel = TelegramChannel(config.telegram, _sink)
    assert channel.invite_link(CODE) == invite_links(config, CODE)["telegram_link"]
    if username:
        assert channel.invite_link(CODE) == f"https://t.me/balaiwarga_bot?start={CODE}"


@pytest.mark.parametrize(
    "business_phone", ["+62 811-0001-1100", "0811 0001 1100", "6281100011100", "811-0001-1100", ""]
)
def test_the_whatsapp_click_to_chat_link_is_the_hubs(business_phone: str) -> None:
    config: Config = make_config(whatsapp={"business_phone": business_phone})
    channel = WhatsAppChannel(config.whatsapp, _sink)
    assert channel.invite_link(CODE) == invite_links(config, CODE)["whatsapp_link"]
    if business_phone:
        assert channel.invite_link(CODE) == f"https://wa.me/6281100011100?text=DAFTAR%20{CODE}"


def test_a_whatsapp_number_is_its_address_and_telegram_has_none() -> None:
    assert address_for_phone(WhatsAppChannel, "+6281234567001") == "+6281234567001"
    assert address_for_phone(WhatsAppChannel, "+447946095812") == "+447946095812"
    for not_e164 in ("081234567001", "+62 812", "bsuid:ID.1", "", "+0812345678"):
        assert address_for_phone(WhatsAppChannel, not_e164) is None, not_e164
    assert address_for_phone(TelegramChannel, "+6281234567001") is None
    assert address_for_phone(SandboxChannel, "+6281234567001") is None


def test_every_purpose_the_hub_names_has_a_template_setting() -> None:
    """The hub's purposes (Outgoing.template) against the one table and the config's keys."""
    config = make_config()
    assert set(TEMPLATE_SETTINGS) == {
        "broadcast",
        "reminder",
        "call_list",
        "ticket",
        "poll",
        "reply",
        "report",
    }
    for setting in TEMPLATE_SETTINGS.values():
        assert getattr(config.whatsapp, setting), setting


@pytest.mark.parametrize(
    ("purpose", "settings", "reason", "retryable"),
    [
        ("pengumuman", {}, SendErrorReason.REJECTED, False),  # not a purpose the hub has
        ("", {}, SendErrorReason.REJECTED, False),
        ("reminder", {"reminder_template": ""}, SendErrorReason.BAD_CONFIG, True),  # staff set it
    ],
)
def test_a_purpose_without_a_template_is_refused_clearly(
    purpose: str, settings: dict[str, str], reason: SendErrorReason, retryable: bool
) -> None:
    config = make_config(whatsapp=settings)
    with pytest.raises(SendError) as caught:
        template_name(config.whatsapp, purpose)
    assert (caught.value.reason, caught.value.retryable) == (reason, retryable)
    assert template_name(config.whatsapp, "call_list") == config.whatsapp.call_list_template
