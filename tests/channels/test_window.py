"""The one free-text window rule, `Channel.window_open`, at its edges."""

from __future__ import annotations

import datetime as dt

import pytest

from channels import Channel, registered_channels
from channels.sandbox import SandboxChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel

NOW = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)
WITA = dt.timezone(dt.timedelta(hours=8))
EDGE = dt.timedelta(hours=23, minutes=55)  # WhatsApp's 24 hours less its 5-minute margin
TICK = dt.timedelta(microseconds=1)


def test_whatsapp_has_24_hours_less_5_minutes() -> None:
    assert WhatsAppChannel.free_text_window == dt.timedelta(hours=24)
    assert WhatsAppChannel.window_margin == dt.timedelta(minutes=5)


@pytest.mark.parametrize(
    ("ago", "open_"),
    [
        (dt.timedelta(0), True),  # just wrote
        (dt.timedelta(hours=1), True),
        (EDGE - TICK, True),  # just inside
        (EDGE, False),  # exactly the window less the margin: closed
        (EDGE + TICK, False),
        (dt.timedelta(hours=23, minutes=58), False),  # inside 24 hours, inside the margin
        (dt.timedelta(hours=24), False),
        (dt.timedelta(days=3), False),
        (-dt.timedelta(minutes=1), True),  # a clock a little ahead: wrote "in the future"
    ],
)
def test_whatsapp_window_edges(ago: dt.timedelta, open_: bool) -> None:
    assert WhatsAppChannel.window_open(NOW - ago, NOW) is open_


def test_never_wrote_is_closed_where_there_is_a_window() -> None:
    assert WhatsAppChannel.window_open(None, NOW) is False


@pytest.mark.parametrize("ago", [EDGE - TICK, EDGE, dt.timedelta(hours=2)])
def test_naive_datetimes_are_utc(ago: dt.timedelta) -> None:
    aware = WhatsAppChannel.window_open(NOW - ago, NOW)
    naive_now = NOW.replace(tzinfo=None)
    naive_last = (NOW - ago).replace(tzinfo=None)
    assert WhatsAppChannel.window_open(naive_last, NOW) is aware
    assert WhatsAppChannel.window_open(NOW - ago, naive_now) is aware
    assert WhatsAppChannel.window_open(naive_last, naive_now) is aware


def test_other_time_zones_count_the_same_instant() -> None:
    inside = (NOW - EDGE + TICK).astimezone(WITA)
    assert WhatsAppChannel.window_open(inside, NOW) is True
    assert WhatsAppChannel.window_open(inside + TICK, NOW.astimezone(WITA)) is True
    assert WhatsAppChannel.window_open((NOW - EDGE).astimezone(WITA), NOW) is False
    # 2030-03-03 02:05 in Makassar is 2030-03-02 18:05 UTC, long closed; read as UTC it would
    # look open.
    local_wall_time = dt.datetime(2030, 3, 3, 2, 5, tzinfo=WITA)
    assert WhatsAppChannel.window_open(local_wall_time, NOW) is False


@pytest.mark.parametrize("cls", [SandboxChannel, TelegramChannel, Channel])
@pytest.mark.parametrize(
    "last", [None, NOW, NOW - dt.timedelta(days=400), NOW.replace(tzinfo=None)]
)
def test_without_a_window_free_text_always_goes(cls: type[Channel], last: dt.datetime) -> None:
    assert cls.free_text_window is None
    assert cls.window_open(last, NOW) is True


def test_a_subclass_with_a_window_and_no_margin_closes_at_the_window() -> None:
    class Hourly(SandboxChannel):
        free_text_window = dt.timedelta(hours=1)

    assert Hourly.window_open(NOW - dt.timedelta(hours=1) + TICK, NOW) is True
    assert Hourly.window_open(NOW - dt.timedelta(hours=1), NOW) is False


def test_no_channel_keeps_a_window_rule_of_its_own() -> None:
    for cls in registered_channels().values():
        assert cls.__dict__.get("window_open") is None  # no channel keeps a rule of its own
