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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from channels import (
    AddressesByPhone,
    Button,
    Channel,
    ChannelEvent,
    ClosesPolls,
    Event,
    FetchedMedia,
    FetchesMedia,
    InboundKind,
    InboundMessage,
    InvitesByLink,
    Media,
    MediaKind,
    MediaTooLarge,
    Outgoing,
    OutgoingFile,
    OutgoingPoll,
    PollAnswer,
    SendError,
    SendErrorReason,
    SendResult,
    StatusUpdate,
    WebhookRejected,
    address_for_phone,
    event_from_json,
    event_to_json,
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
from tests.fake_graph import FakeGraphAPI, notification, sign
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
    # The payloads of the buttons on each message the platform received for an address.
    buttons: Callable[[Platforms, Channel, str], list[tuple[str, ...]]]
    # The person at `address` answers a poll: (channel, address, key, option) -> the events the
    # channel makes of it; `key` is the poll's id where polls are native, else the option's payload.
    answer: Callable[[Channel, str, str, int], Awaitable[list[Event]]]
    # A file someone sent, as the platform keeps it for the bot to fetch (bytes, MIME type); None:
    # the platform keeps none (the channel must then not claim FetchesMedia).
    received_file: Callable[[Platforms, bytes, str], Media] | None = None


def _sandbox_received(_: Platforms, channel: Channel, address: str) -> list[str]:
    assert isinstance(channel, SandboxChannel)
    return [m.text for m in channel.messages(address)]


def _telegram_received(platforms: Platforms, _: Channel, address: str) -> list[str]:
    calls = platforms.bot_api.calls_to("sendMessage")
    return [str(c.get("text")) for c in calls if str(c.get("chat_id")) == address]


def _whatsapp_received(platforms: Platforms, _: Channel, address: str) -> list[str]:
    sent = platforms.graph.messages(address)
    return [m["text"]["body"] for m in sent if m.get("type") == "text"]


def _sandbox_buttons(_: Platforms, channel: Channel, address: str) -> list[tuple[str, ...]]:
    assert isinstance(channel, SandboxChannel)
    return [tuple(b.payload for b in m.buttons) for m in channel.messages(address)]


def _telegram_buttons(platforms: Platforms, _: Channel, address: str) -> list[tuple[str, ...]]:
    calls = platforms.bot_api.calls_to("sendMessage")
    return [
        tuple(
            row[0]["callback_data"] for row in c.get("reply_markup", {}).get("inline_keyboard", [])
        )
        for c in calls
        if str(c.get("chat_id")) == address
    ]


def _whatsapp_buttons(platforms: Platforms, _: Channel, address: str) -> list[tuple[str, ...]]:
    found = []
    for sent in platforms.graph.messages(address):
        action = sent.get("interactive", {}).get("action", {})
        rows = [row for section in action.get("sections", []) for row in section["rows"]]
        found.append(tuple(b["reply"]["id"] for b in action.get("buttons", ()) or rows))
    return found


async def _sandbox_answer(channel: Channel, address: str, payload: str, _: int) -> list[Event]:
    assert isinstance(channel, SandboxChannel)
    return [await channel.act(address, button=payload)]


async def _telegram_answer(
    channel: Channel, address: str, poll_id: str, option: int
) -> list[Event]:
    user = {"id": int(address), "is_bot": False, "first_name": "Siti"}
    vote = {"poll_id": poll_id, "user": user, "option_ids": [option]}
    update = {"update_id": 700001, "poll_answer": vote}
    return channel.parse_webhook(json.dumps(update).encode())


async def _whatsapp_answer(channel: Channel, address: str, payload: str, _: int) -> list[Event]:
    number = address.removeprefix("+")
    tap = {
        "from": number,
        "id": "wamid.HBgNNjI4MTIzNDU2NzAwMRUCABIYFjNFQjBQT0xMMDEA",
        "timestamp": str(int(utcnow().timestamp())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": payload, "title": "x"}},
    }
    contacts = [{"profile": {"name": "Siti"}, "wa_id": number}]
    body = json.dumps(notification({"contacts": contacts, "messages": [tap]})).encode()
    return channel.parse_webhook(body)


def _telegram_file(platforms: Platforms, data: bytes, mime_type: str) -> Media:
    file_id = platforms.bot_api.add_file(data, mime_type, "laporan.bin")
    return Media(MediaKind.DOCUMENT, file_id, mime_type, len(data), "laporan.bin")


def _whatsapp_file(platforms: Platforms, data: bytes, mime_type: str) -> Media:
    media_id = platforms.graph.add_media(data, mime_type, "laporan.bin")
    return Media(MediaKind.DOCUMENT, media_id, mime_type, None, "laporan.bin")


HARNESSES: dict[type[Channel], Harness] = {
    SandboxChannel: Harness(
        "sandbox-1", None, _sandbox_received, _sandbox_buttons, _sandbox_answer
    ),
    TelegramChannel: Harness(
        "5011223344",
        lambda body: {SECRET_HEADER: TELEGRAM_WEBHOOK_SECRET},
        _telegram_received,
        _telegram_buttons,
        _telegram_answer,
        _telegram_file,
    ),
    WhatsAppChannel: Harness(
        "+6281234567001",
        lambda body: {SIGNATURE_HEADER: sign(body)},
        _whatsapp_received,
        _whatsapp_buttons,
        _whatsapp_answer,
        _whatsapp_file,
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
    for flag in (cls.can_edit, cls.can_toast, cls.buttons_with_files, cls.native_polls):
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


# Polls ---------------------------------------------------------------------------------------

POLL = OutgoingPoll(
    "Kapan kerja bakti bulan ini?",
    ("Sabtu pagi", "Minggu pagi", "Minggu sore, selepas pengajian di masjid"),
    ("poll:12:0", "poll:12:1", "poll:12:2"),
)


def _poll_message(address: str, poll: OutgoingPoll = POLL, **fields: Any) -> Outgoing:
    text = f"*{poll.question}*\n\nPilih satu; jawaban bisa diubah sampai Jumat."
    values: dict[str, Any] = {"last_inbound_at": utcnow(), **fields}
    return Outgoing(key="poll-1", address=address, text=text, poll=poll, **values)


async def test_a_poll_goes_out_and_its_options_can_be_answered(
    cls: type[Channel], channel: Channel, harness: Harness, platforms: Platforms
) -> None:
    """A native poll names its id (the answers name only that); elsewhere the options are
    buttons carrying the hub's payloads. Either way an answer comes back as the hub reads it."""
    result = await send(channel, _poll_message(harness.address))
    assert isinstance(result, SendResult), f"the send failed: {result!r}"
    assert result.external_id and not result.used_template
    if cls.native_polls:
        assert isinstance(result.poll_id, str) and result.poll_id
        key = result.poll_id
    else:
        assert result.poll_id is None
        assert harness.buttons(platforms, channel, harness.address)[-1] == POLL.payloads
        key = POLL.payloads[2]
    [event] = await harness.answer(channel, harness.address, key, 2)
    assert isinstance(event, InboundMessage)
    assert event.sender_address == harness.address
    if cls.native_polls:
        assert event.kind == InboundKind.POLL_ANSWER
        assert event.poll_answer == PollAnswer(key, (2,))
        assert event.reply_to == f"poll:{key}"
    else:
        assert event.kind == InboundKind.BUTTON
        assert event.button_payload == POLL.payloads[2]


def _poll(count: int = 3, **fields: Any) -> OutgoingPoll:
    values: dict[str, Any] = {
        "question": "Setuju?",
        "options": tuple(f"Pilihan {i}" for i in range(count)),
        "payloads": tuple(f"poll:12:{i}" for i in range(count)),
        **fields,
    }
    return OutgoingPoll(**values)


BAD_POLLS: list[tuple[str, OutgoingPoll, dict[str, Any]]] = [
    ("one option", _poll(1), {}),
    ("eleven options", _poll(11), {}),
    ("fewer payloads", _poll(3, payloads=("poll:12:0", "poll:12:1")), {}),
    ("no question", _poll(question="  "), {}),
    ("an empty option", _poll(options=("Ya", " ", "Tidak")), {}),
    ("an empty payload", _poll(payloads=("poll:12:0", "", "poll:12:2")), {}),
    ("the same option twice", _poll(options=("Ya", "Tidak", "Ya ")), {}),
    ("the same payload twice", _poll(payloads=("p:1", "p:2", "p:1")), {}),
    ("buttons besides", _poll(), {"buttons": (Button("Sudah dibaca", "ack:1"),)}),
]


@pytest.mark.parametrize(
    ("poll", "fields"), [c[1:] for c in BAD_POLLS], ids=[c[0] for c in BAD_POLLS]
)
async def test_a_poll_no_platform_takes_is_rejected_for_good(
    channel: Channel, harness: Harness, poll: OutgoingPoll, fields: dict[str, Any]
) -> None:
    result = await send(channel, _poll_message(harness.address, poll, **fields))
    assert isinstance(result, SendError)
    assert (result.reason, result.retryable) == (SendErrorReason.REJECTED, False)


async def test_a_poll_closes_once_and_closing_it_again_is_fine(
    cls: type[Channel], channel: Channel, harness: Harness
) -> None:
    if not isinstance(channel, ClosesPolls):
        return
    assert cls.native_polls, "only a native poll can be closed"
    result = await send(channel, _poll_message(harness.address))
    assert isinstance(result, SendResult)
    async with asyncio.timeout(SEND_TIMEOUT):
        await channel.close_poll(harness.address, result.external_id)
        await channel.close_poll(harness.address, result.external_id)  # closed already: done


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


# Typed inbound events over the recorded payloads ---------------------------------------------

_MEDIA_KINDS = {InboundKind(kind) for kind in MediaKind}


def _recorded_events(cls: type[Channel], channel: Channel) -> list[tuple[str, Event]]:
    """The events in the channel's own recorded payloads (tests/fixtures/<name>/)."""
    events = []
    for name, payload in _recorded():
        if name.split("/")[0] == cls.name:
            for event in channel.parse_webhook(json.dumps(payload).encode()):
                events.append((name, event))
    return events


def test_recorded_messages_carry_their_typed_content(cls: type[Channel], channel: Channel) -> None:
    """Media, places and poll answers as typed fields, matching the message's kind; every
    event stored and read back is the same event."""
    events = _recorded_events(cls, channel)
    if not takes_webhooks(cls):
        assert events == []
        return
    kinds = set()
    for name, event in events:
        assert event_from_json(json.loads(json.dumps(event_to_json(event)))) == event, name
        if not isinstance(event, InboundMessage):
            continue
        kinds.add(event.kind)
        if event.kind in _MEDIA_KINDS:
            assert event.media is not None and event.media.kind == event.kind, name
            assert event.media.file_id and event.media.caption == event.text, name
        else:
            assert event.media is None, name
        assert (event.location is not None) is (event.kind == InboundKind.LOCATION), name
        assert (event.poll_answer is not None) is (event.kind == InboundKind.POLL_ANSWER), name
        if event.poll_answer is not None:
            assert event.reply_to == f"poll:{event.poll_answer.poll_id}", name
        assert not event.chat_title or event.in_group, name
        assert event.platform_type == "" or event.kind == InboundKind.OTHER, name
    # Each platform's recordings hold a photo, a voice note, a document and a location.
    assert _MEDIA_KINDS | {InboundKind.LOCATION} <= kinds


# Optional capabilities -------------------------------------------------------------------------

CAPABILITIES = (FetchesMedia, InvitesByLink, AddressesByPhone, ClosesPolls)


def test_capabilities_are_declared_on_the_class(cls: type[Channel], channel: Channel) -> None:
    """What a channel can do is known from its class, the same as from a running channel."""
    for capability in CAPABILITIES:
        assert issubclass(cls, capability) is isinstance(channel, capability), capability
    assert isinstance(cls, AddressesByPhone) is isinstance(channel, AddressesByPhone)


async def test_fetch_media_gets_the_file_someone_sent(
    channel: Channel, harness: Harness, platforms: Platforms
) -> None:
    if not isinstance(channel, FetchesMedia):
        return
    assert harness.received_file is not None, "a channel that fetches media needs received_file"
    data = b"%PDF-1.4 laporan warga " + bytes(range(256)) * 40
    media = harness.received_file(platforms, data, "application/pdf")
    fetched = await channel.fetch_media(media)
    assert isinstance(fetched, FetchedMedia)
    assert fetched.data == data
    assert fetched.mime_type == "application/pdf"


async def test_fetch_media_refuses_what_is_too_large_or_gone(
    channel: Channel, harness: Harness, platforms: Platforms
) -> None:
    if not isinstance(channel, FetchesMedia):
        return
    assert harness.received_file is not None
    media = harness.received_file(platforms, b"kecil", "image/jpeg")
    huge = Media(media.kind, media.file_id, media.mime_type, size=10**12)
    with pytest.raises(MediaTooLarge) as too_large:
        await channel.fetch_media(huge)
    assert (too_large.value.reason, too_large.value.retryable) == (SendErrorReason.REJECTED, False)
    gone = Media(MediaKind.PHOTO, "no-such-file-0001")
    with pytest.raises(SendError) as caught:
        await channel.fetch_media(gone)
    assert isinstance(caught.value.reason, SendErrorReason)
    assert isinstance(caught.value.retryable, bool)


def test_invite_links_carry_the_code(channel: Channel) -> None:
    if not isinstance(channel, InvitesByLink):
        return
    link = channel.invite_link("K7QF2M")
    assert link is not None, "the harness config names the bot and the business number"
    assert link.startswith("https://") and "K7QF2M" in link
    assert " " not in link


async def test_an_address_for_a_phone_reaches_that_phone(
    channel: Channel, harness: Harness, platforms: Platforms
) -> None:
    address = address_for_phone(channel, harness.address)
    if not isinstance(channel, AddressesByPhone):
        assert address is None
        return
    assert address_for_phone(channel, "not a phone") is None
    if address is None:
        return  # the harness's address is not a number on this platform
    text = "Rapat RT malam ini."
    outgoing = Outgoing(key="p1", address=address, text=text, last_inbound_at=utcnow())
    assert isinstance(await send(channel, outgoing), SendResult)
    assert text in harness.received(platforms, channel, harness.address)
