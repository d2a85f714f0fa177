"""The contract every registered channel keeps, run over `registered_channels()`.

Each channel is built the way the hub builds it (its class, the config section of its name, the
event sink, the public URL), against the fake platforms on loopback. What a channel cannot do is
read from its capabilities (a free-text window, whether it takes webhooks), never from its name.
The only per-platform knowledge is the harness below: an address the fake platform takes, how the
platform signs a webhook, and where a sent text can be seen; a channel added to the registry
without one fails here until it has one.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from channels import (
    Button,
    Channel,
    ChannelEvent,
    Event,
    InboundMessage,
    Outgoing,
    OutgoingFile,
    SendError,
    SendErrorReason,
    SendResult,
    StatusUpdate,
    WebhookRejected,
    registered_channels,
)
from channels.sandbox import SandboxChannel
from channels.telegram import SECRET_HEADER, TelegramChannel
from channels.whatsapp import SIGNATURE_HEADER, WhatsAppChannel
from tests.conftest import (
    PUBLIC_URL,
    TELEGRAM_WEBHOOK_SECRET,
    make_config,
    telegram_settings,
    whatsapp_settings,
)
from tests.fake_graph import FakeGraphAPI, sign
from tests.fake_telegram import FakeBotAPI

FIXTURES = Path(__file__).parent.parent / "fixtures"
CHANNELS = list(registered_channels().values())
SEND_TIMEOUT = 10.0  # seconds: a send that hangs fails the contract instead of the run


# The harness: what the suite must know of each platform --------------------------------------


@dataclass
class Platforms:
    bot_api: FakeBotAPI
    graph: FakeGraphAPI


@dataclass(frozen=True)
class Harness:
    address: str  # someone the fake platform takes messages for
    # The headers the platform sends with a webhook body; None: the platform sends none.
    signed: Callable[[bytes], dict[str, str]] | None
    # The texts the platform (or the simulated phone) received for an address.
    received: Callable[[Platforms, Channel, str], list[str]]


def _sandbox_received(_: Platforms, channel: Channel, address: str) -> list[str]:
    assert isinstance(channel, SandboxChannel)
    return [m.text for m in channel.messages(address)]


def _telegram_received(platforms: Platforms, _: Channel, address: str) -> list[str]:
    calls = platforms.bot_api.calls_to("sendMessage")
    return [str(c.get("text")) for c in calls if str(c.get("chat_id")) == address]


def _whatsapp_received(platforms: Platforms, _: Channel, address: str) -> list[str]:
    sent = platforms.graph.messages(address)
    return [m["text"]["body"] for m in sent if m.get("type") == "text"]


HARNESSES: dict[type[Channel], Harness] = {
    SandboxChannel: Harness("sandbox-1", None, _sandbox_received),
    TelegramChannel: Harness(
        "5011223344",
        lambda body: {SECRET_HEADER: TELEGRAM_WEBHOOK_SECRET},
        _telegram_received,
    ),
    WhatsAppChannel: Harness(
        "+6281234567001", lambda body: {SIGNATURE_HEADER: sign(body)}, _whatsapp_received
    ),
}


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, events: list[Event]) -> None:
        self.events.extend(events)


def takes_webhooks(cls: type[Channel]) -> bool:
    """Whether the platform pushes to us: the channel has its own webhook parser."""
    return cls.parse_webhook is not Channel.parse_webhook


@pytest.fixture(params=CHANNELS, ids=[cls.name for cls in CHANNELS])
def cls(request: pytest.FixtureRequest) -> type[Channel]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def harness(cls: type[Channel]) -> Harness:
    if cls not in HARNESSES:
        pytest.fail(f"channel {cls.name!r} has no harness in {__name__}: add one")
    return HARNESSES[cls]


@pytest.fixture
def platforms(bot_api: FakeBotAPI, graph: FakeGraphAPI) -> Platforms:
    return Platforms(bot_api, graph)


@pytest_asyncio.fixture
async def channel(cls: type[Channel], platforms: Platforms) -> AsyncIterator[Channel]:
    """The channel as the hub builds it, from the config section of its name, started."""
    config = make_config(
        telegram=telegram_settings(platforms.bot_api),
        whatsapp=whatsapp_settings(platforms.graph),
        hub={"public_url": PUBLIC_URL},
    )
    instance = cls(getattr(config, cls.name), Sink(), public_url=PUBLIC_URL)
    await instance.start()
    assert await instance.ready() is None, "the channel should be ready on its fake platform"
    yield instance
    await instance.stop()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def send(channel: Channel, outgoing: Outgoing) -> SendResult | SendError:
    """The send's outcome: a SendResult or a SendError; anything else fails the test."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            result = await channel.send(outgoing)
    except SendError as exc:
        assert isinstance(exc.reason, SendErrorReason)
        assert isinstance(exc.retryable, bool)
        return exc
    assert isinstance(result, SendResult), f"send() answered {result!r}"
    return result


# The registry and the class traits -----------------------------------------------------------


def test_every_registered_channel_has_a_harness() -> None:
    assert set(HARNESSES) == set(CHANNELS)


def test_names_are_unique_and_are_the_registry_keys() -> None:
    names = [cls.name for cls in CHANNELS]
    assert len(set(names)) == len(names)
    assert list(registered_channels()) == names


def test_class_traits_are_sane(cls: type[Channel]) -> None:
    assert isinstance(cls.name, str) and cls.name == cls.name.strip().lower() and cls.name
    assert not getattr(cls, "__abstractmethods__", None), "every abstract method is implemented"
    assert isinstance(cls.text_limit, int) and cls.text_limit > 0
    assert cls.caption_limit is None or (
        isinstance(cls.caption_limit, int) and 0 < cls.caption_limit <= cls.text_limit
    )
    for flag in (cls.can_edit, cls.can_toast, cls.buttons_with_files):
        assert isinstance(flag, bool)
    assert isinstance(cls.window_margin, dt.timedelta)
    assert cls.window_margin >= dt.timedelta(0)
    if cls.free_text_window is None:
        assert cls.window_margin == dt.timedelta(0), "a margin without a window means nothing"
    else:
        assert isinstance(cls.free_text_window, dt.timedelta)
        assert dt.timedelta(0) <= cls.window_margin < cls.free_text_window


def test_window_open_takes_none_naive_and_aware_times(cls: type[Channel]) -> None:
    now = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)
    has_window = cls.free_text_window is not None
    assert cls.window_open(None, now) is not has_window
    assert cls.window_open(now, now) is True  # they just wrote
    assert cls.window_open(now - dt.timedelta(days=30), now) is not has_window
    for ago in (dt.timedelta(0), dt.timedelta(hours=12), dt.timedelta(hours=23, minutes=58)):
        aware = cls.window_open(now - ago, now)
        assert isinstance(aware, bool)
        naive_last, naive_now = (now - ago).replace(tzinfo=None), now.replace(tzinfo=None)
        assert cls.window_open(naive_last, now) is aware
        assert cls.window_open(now - ago, naive_now) is aware
        assert cls.window_open(naive_last, naive_now) is aware
    if cls.free_text_window is not None:
        edge = cls.free_text_window - cls.window_margin
        assert cls.window_open(now - edge + dt.timedelta(microseconds=1), now) is True
        assert cls.window_open(now - edge, now) is False


# Sending -------------------------------------------------------------------------------------


async def test_a_text_to_a_reachable_address_is_sent(
    channel: Channel, harness: Harness, platforms: Platforms
) -> None:
    text = "Kerja bakti hari Minggu pukul 07.00 WITA."
    result = await send(
        channel, Outgoing(key="c1", address=harness.address, text=text, last_inbound_at=utcnow())
    )
    assert isinstance(result, SendResult), f"the send failed: {result!r}"
    assert isinstance(result.external_id, str) and result.external_id
    assert isinstance(result.sent_at, dt.datetime) and result.sent_at.tzinfo is not None
    assert (result.used_template, result.left_out_files) == (False, False)
    assert [t for t in harness.received(platforms, channel, harness.address) if text in t]


async def test_the_window_at_send_time_is_the_class_rule(
    cls: type[Channel], channel: Channel, harness: Harness
) -> None:
    """Free text where the rule says open, the template where it says closed."""
    has_window = cls.free_text_window is not None
    window = cls.free_text_window or dt.timedelta(hours=24)
    edge = window - cls.window_margin
    cases = [
        # A minute's slack on the open side: the channel reads its clock after this test does.
        (edge - dt.timedelta(minutes=1), False),
        (edge, has_window),
        (window, has_window),
        (None, has_window),
    ]
    for n, (ago, closed) in enumerate(cases):
        last = None if ago is None else utcnow() - ago
        assert cls.window_open(last, utcnow()) is not closed, ago
        outgoing = Outgoing(
            key=f"w{n}",
            address=harness.address,
            text="Kerja bakti hari Minggu.",
            last_inbound_at=last,
            template="broadcast",
            template_params=("Kerja bakti", "Hari Minggu pukul 07.00."),
        )
        result = await send(channel, outgoing)
        assert isinstance(result, SendResult), f"{ago}: {result!r}"
        assert result.used_template is closed, ago


async def test_outside_the_window_without_a_template_is_window_closed(
    cls: type[Channel], channel: Channel, harness: Harness
) -> None:
    outgoing = Outgoing(key="c2", address=harness.address, text="Halo", last_inbound_at=None)
    result = await send(channel, outgoing)
    if cls.free_text_window is None:
        assert isinstance(result, SendResult)
    else:
        assert isinstance(result, SendError)
        assert (result.reason, result.retryable) == (SendErrorReason.WINDOW_CLOSED, False)


def _missing_file() -> OutgoingFile:
    return OutgoingFile(
        path="/nonexistent/balai-warga/surat.pdf",
        filename="surat.pdf",
        content_type="application/pdf",
        size=1234,
        sha256="0" * 64,
    )


AWKWARD: list[tuple[str, dict[str, Any]]] = [
    ("empty text", {"text": ""}),
    ("only spaces", {"text": " \n\t "}),
    ("no such address", {"address": "not an address ☃"}),
    ("empty address", {"address": ""}),
    ("text over any limit", {"text": "x" * 70_000}),
    ("NUL and a lone surrogate", {"text": "a\x00b\ud800c"}),
    ("empty button payload", {"buttons": (Button("Sudah dibaca", ""),)}),
    ("huge button payload", {"buttons": (Button("Sudah dibaca", "p" * 5000),)}),
    ("too many buttons", {"buttons": tuple(Button(f"B{i}", f"b:{i}") for i in range(40))}),
    ("edit of a message never sent", {"edit_of": "no-such-message"}),
    ("reply to garbage", {"reply_to": "garbage::reply"}),
    ("unknown template outside the window", {"last_inbound_at": None, "template": "nope"}),
    ("a file that is not on disk", {"attachments": (_missing_file(),)}),
    ("two files", {"attachments": (_missing_file(), _missing_file())}),
    ("a file alone outside the window", {"text": "", "attachments": (_missing_file(),)}),
]


@pytest.mark.parametrize("fields", [f for _, f in AWKWARD], ids=[label for label, _ in AWKWARD])
async def test_send_answers_a_result_or_a_send_error(
    channel: Channel, harness: Harness, fields: dict[str, Any]
) -> None:
    values: dict[str, Any] = {
        "key": "c3",
        "address": harness.address,
        "text": "Halo",
        "last_inbound_at": utcnow(),
        **fields,
    }
    result = await send(channel, Outgoing(**values))
    assert isinstance(result, SendResult | SendError)


# Webhooks ------------------------------------------------------------------------------------

GARBAGE = [
    b"",
    b"not json",
    b"{",
    b'{"update_id": 1,',
    b"\xff\xfe\x00garbage",
    b"[]",
    b"[1, 2, 3]",
    b"42",
    b"-1e999",
    b'"a string"',
    b"null",
    b"true",
    b"[" * 100_000 + b"]" * 100_000,  # deeper than any parser goes
    b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
]


@pytest.mark.parametrize("body", GARBAGE, ids=[repr(b[:16]) for b in GARBAGE])
def test_garbage_is_rejected_as_unparseable(
    cls: type[Channel], channel: Channel, body: bytes
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        channel.parse_webhook(body)
    assert caught.value.status == (400 if takes_webhooks(cls) else 404)


def _mutations(payload: Any, rng: random.Random, count: int) -> Iterator[Any]:
    """Copies of a recorded payload with one node swapped for a value of another shape."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))

    walk(payload, ())
    swaps: list[Any] = [None, 0, -1, 10**30, 1.5, "", "x", [], {}, True, [None], {"x": None}]
    for _ in range(count):
        path = rng.choice(paths[1:] or paths)
        mutated = copy.deepcopy(payload)
        if not path:
            yield rng.choice(swaps)
            continue
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = copy.deepcopy(rng.choice(swaps))
        yield mutated


def _recorded() -> list[tuple[str, Any]]:
    return [
        (f"{path.parent.name}/{path.stem}", json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(FIXTURES.glob("*/*.json"))
    ]


def test_the_recorded_payloads_are_there() -> None:
    platforms = {name.split("/")[0] for name, _ in _recorded()}
    assert {"telegram", "whatsapp"} <= platforms


def test_payloads_of_the_wrong_shape_are_events_or_rejected(
    cls: type[Channel], channel: Channel
) -> None:
    """Recorded payloads of every platform, each node swapped for a value of the wrong shape:
    the channel answers events or WebhookRejected(400), never another exception."""
    rng = random.Random(f"contract-{cls.name}")
    tried = 0
    for name, payload in _recorded():
        for mutated in _mutations(payload, rng, 40):
            body = json.dumps(mutated).encode()
            tried += 1
            try:
                events = channel.parse_webhook(body)
            except WebhookRejected as exc:
                assert exc.status == (400 if takes_webhooks(cls) else 404), (name, mutated)
                continue
            except Exception as exc:
                pytest.fail(f"{name}: {type(exc).__name__}: {exc} on {body[:500]!r}")
            assert isinstance(events, list), (name, mutated)
            for event in events:
                assert isinstance(event, InboundMessage | StatusUpdate | ChannelEvent)
                assert event.channel == cls.name
    assert tried > 1000


WRONG_HEADERS: list[dict[str, str]] = [
    {},
    {SECRET_HEADER: "wrong-secret", SIGNATURE_HEADER: "sha256=" + "0" * 64},
    {SECRET_HEADER: "", SIGNATURE_HEADER: ""},
    {SIGNATURE_HEADER: "md5=abc", SECRET_HEADER: TELEGRAM_WEBHOOK_SECRET[:-1]},
    {SIGNATURE_HEADER: sign(b"{}", "not-the-app-secret")},
    {SIGNATURE_HEADER: sign(b"another body")},  # signed, but not this body
]


@pytest.mark.parametrize("headers", WRONG_HEADERS)
def test_a_wrong_signature_is_rejected(
    cls: type[Channel], channel: Channel, headers: dict[str, str]
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        channel.verify(headers, b"{}")
    assert caught.value.status in ((401, 403) if takes_webhooks(cls) else (404,))


def test_the_right_signature_is_accepted(
    cls: type[Channel], channel: Channel, harness: Harness
) -> None:
    assert (harness.signed is not None) is takes_webhooks(cls)
    body = b'{"update_id": 1}'
    if harness.signed is None:
        with pytest.raises(WebhookRejected) as caught:
            channel.verify({}, body)
        assert caught.value.status == 404
        return
    channel.verify(harness.signed(body), body)  # no exception


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1"},
    ],
)
def test_a_wrong_subscription_handshake_is_rejected(
    channel: Channel, params: dict[str, str]
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        channel.verify_subscription(params)
    assert caught.value.status in (400, 403, 404)
