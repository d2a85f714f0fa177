"""Polls channel by channel, where the contract suite cannot say the value: Telegram's native poll
(its parameters, what is cut, closing it), WhatsApp's buttons and lists, the sandbox's buttons."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from channels import (
    Event,
    InboundKind,
    Outgoing,
    OutgoingFile,
    OutgoingPoll,
    SendError,
    SendErrorReason,
)
from channels.sandbox import SandboxChannel
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from tests.conftest import PUBLIC_URL, make_config, telegram_settings, whatsapp_settings
from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import BLOCKED, FakeBotAPI, migrated

SITI = "5011223344"
GROUP = "-1002233445566"
PHONE = "+6281234567001"


async def _sink(events: list[Event]) -> None:
    return None


def poll(*options: str, question: str = "Kapan kerja bakti bulan ini?") -> OutgoingPoll:
    options = options or ("Sabtu pagi", "Minggu pagi")
    return OutgoingPoll(question, options, tuple(f"poll:12:{i}" for i in range(len(options))))


def out(address: str, the_poll: OutgoingPoll, text: str = "", **fields: Any) -> Outgoing:
    """The hub's poll message: the question as its text unless told otherwise."""
    fields.setdefault("last_inbound_at", dt.datetime.now(dt.UTC))
    return Outgoing(
        key="poll-1", address=address, text=text or the_poll.question, poll=the_poll, **fields
    )


# Telegram: a native poll -----------------------------------------------------------------------


@pytest_asyncio.fixture
async def telegram(bot_api: FakeBotAPI) -> AsyncIterator[TelegramChannel]:
    """A started channel on the fake; chats paced a hundredth of a second apart."""
    config = make_config(telegram=telegram_settings(bot_api))
    channel = TelegramChannel(
        config.telegram,
        _sink,
        public_url=PUBLIC_URL,
        private_chat_window=0.01,
        group_chat_window=0.01,
    )
    await channel.start()
    yield channel
    await channel.stop()


@pytest.mark.parametrize("address", [SITI, GROUP], ids=["private chat", "group"])
async def test_telegram_sends_a_named_single_answer_poll(
    bot_api: FakeBotAPI, telegram: TelegramChannel, address: str
) -> None:
    text = "*Kapan kerja bakti bulan ini?*\n\nPilih satu ya, Bapak/Ibu."
    the_poll = poll("Sabtu pagi", "Minggu pagi", "Minggu sore", question="*Kapan* kerja bakti?")
    result = await telegram.send(out(address, the_poll, text))
    [sent] = bot_api.calls_to("sendPoll")
    assert sent == {
        "chat_id": int(address),
        "question": "Kapan kerja bakti?",  # a question shows no formatting: the markup goes
        "options": [{"text": "Sabtu pagi"}, {"text": "Minggu pagi"}, {"text": "Minggu sore"}],
        "is_anonymous": False,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    assert bot_api.calls_to("sendMessage") == []  # the poll is the message
    [(chat, message_id)] = bot_api.polls
    assert result.external_id == f"{chat}:{message_id}" and str(chat) == address
    assert result.poll_id == bot_api.polls[(chat, message_id)]["id"]
    assert result.poll_id.isdigit()
    assert (result.used_template, result.left_out_files) == (False, False)


async def test_telegram_cuts_what_telegram_would_refuse(
    bot_api: FakeBotAPI, telegram: TelegramChannel
) -> None:
    question = "Apakah warga setuju " + "iuran kebersihan naik " * 20 + "?"
    long_option = "Setuju, asalkan " + "😀" * 60  # 136 UTF-16 code units: emoji count twice
    the_poll = poll(long_option, "Tidak setuju", question=question)
    result = await telegram.send(out(SITI, the_poll))
    [sent] = bot_api.calls_to("sendPoll")
    assert len(sent["question"]) <= 300 and sent["question"].endswith("…")
    assert question.startswith(sent["question"][:-1])
    cut = sent["options"][0]["text"]
    assert len(cut.encode("utf-16-le")) // 2 <= 100 and cut.endswith("😀…")
    assert sent["options"][1] == {"text": "Tidak setuju"}
    assert result.poll_id


async def test_telegram_numbers_options_that_cut_to_the_same_words(
    bot_api: FakeBotAPI, telegram: TelegramChannel
) -> None:
    same_start = "Perbaikan jalan di gang mawar dan gang melati lebih dulu, " * 2
    the_poll = poll(same_start + "lalu drainase", same_start + "lalu lampu jalan")
    await telegram.send(out(SITI, the_poll))
    first, second = (o["text"] for o in bot_api.calls_to("sendPoll")[0]["options"])
    assert first.startswith("1. Perbaikan jalan") and second.startswith("2. Perbaikan jalan")
    assert len(first) <= 100 and len(second) <= 100


async def test_telegram_poll_with_a_file_leaves_the_file_out(
    bot_api: FakeBotAPI, telegram: TelegramChannel
) -> None:
    file = OutgoingFile("/nonexistent/denah.pdf", "denah.pdf", "application/pdf", 10, "0" * 64)
    result = await telegram.send(out(SITI, poll(), attachments=(file,)))
    assert result.left_out_files is True and result.poll_id
    assert bot_api.calls_to("sendDocument") == []


async def test_telegram_cannot_change_a_poll(
    bot_api: FakeBotAPI, telegram: TelegramChannel
) -> None:
    sent = await telegram.send(out(SITI, poll()))
    with pytest.raises(SendError) as caught:
        await telegram.send(out(SITI, poll(), edit_of=sent.external_id))
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.REJECTED, False)
    assert [c for c in bot_api.calls if c.method.startswith("edit")] == []


async def test_telegram_poll_errors_map_as_sends_do(
    bot_api: FakeBotAPI, telegram: TelegramChannel
) -> None:
    bot_api.fail(*BLOCKED, method="sendPoll")
    with pytest.raises(SendError) as caught:
        await telegram.send(out(SITI, poll()))
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.BLOCKED, False)


async def test_telegram_poll_follows_a_group_that_migrated(
    bot_api: FakeBotAPI, telegram: TelegramChannel
) -> None:
    bot_api.fail(*migrated(-1009999999999), method="sendPoll", chat_id=-4001)
    result = await telegram.send(out("-4001", poll()))
    assert result.external_id == "-1009999999999:1" and result.poll_id
    assert [c["chat_id"] for c in bot_api.calls_to("sendPoll")] == [-4001, -1009999999999]


async def test_telegram_poll_answer_without_a_poll_still_counts_as_sent(
    bot_api: FakeBotAPI, telegram: TelegramChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that answers without the poll (another version): the poll went out, so the send
    must not fail (the hub would send it twice); its votes cannot be matched, which is logged."""
    answer = bot_api._api_sendMessage

    async def without_poll(params: dict[str, Any]) -> Any:
        return await answer({**params, "text": "x"})

    monkeypatch.setattr(bot_api, "_api_sendPoll", without_poll)
    result = await telegram.send(out(SITI, poll()))
    assert result.external_id == f"{SITI}:1" and result.poll_id is None


async def test_telegram_closes_a_poll(bot_api: FakeBotAPI, telegram: TelegramChannel) -> None:
    sent = await telegram.send(out(GROUP, poll()))
    await telegram.close_poll(GROUP, sent.external_id)
    assert bot_api.calls_to("stopPoll") == [{"chat_id": int(GROUP), "message_id": 1}]
    [stopped] = bot_api.polls.values()
    assert stopped["is_closed"] is True
    await telegram.close_poll(GROUP, sent.external_id)  # closed already: done, not an error
    await telegram.close_poll(GROUP, f"{GROUP}:999")  # the message is gone: done as well
    assert len(bot_api.calls_to("stopPoll")) == 3


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ((400, "Bad Request: message is not a poll", None), SendErrorReason.REJECTED),
        (
            (403, "Forbidden: bot was kicked from the supergroup chat", None),
            SendErrorReason.BLOCKED,
        ),
        ((500, "Internal Server Error", None), SendErrorReason.CONNECTION),
    ],
)
async def test_telegram_close_poll_errors_are_send_errors(
    bot_api: FakeBotAPI,
    telegram: TelegramChannel,
    failure: tuple[int, str, None],
    reason: SendErrorReason,
) -> None:
    sent = await telegram.send(out(GROUP, poll()))
    bot_api.fail(*failure, method="stopPoll")
    with pytest.raises(SendError) as caught:
        await telegram.close_poll(GROUP, sent.external_id)
    assert caught.value.reason == reason


async def test_telegram_close_poll_refuses_what_is_not_a_message_id(
    telegram: TelegramChannel,
) -> None:
    with pytest.raises(SendError) as caught:
        await telegram.close_poll(SITI, "not-an-id")
    assert caught.value.reason == SendErrorReason.REJECTED


async def test_telegram_close_poll_before_start_is_a_connection_error(
    bot_api: FakeBotAPI,
) -> None:
    channel = TelegramChannel(make_config(telegram=telegram_settings(bot_api)).telegram, _sink)
    with pytest.raises(SendError) as caught:
        await channel.close_poll(SITI, f"{SITI}:1")
    assert (caught.value.reason, caught.value.retryable) == (SendErrorReason.CONNECTION, True)


# WhatsApp: buttons or a list -------------------------------------------------------------------


@pytest_asyncio.fixture
async def whatsapp(graph: FakeGraphAPI) -> AsyncIterator[WhatsAppChannel]:
    channel = WhatsAppChannel(make_config(whatsapp=whatsapp_settings(graph)).whatsapp, _sink)
    await channel.start()
    yield channel
    await channel.stop()


async def test_whatsapp_three_short_options_are_reply_buttons(
    graph: FakeGraphAPI, whatsapp: WhatsAppChannel
) -> None:
    result = await whatsapp.send(out(PHONE, poll("Sabtu pagi", "Minggu pagi", "Tidak bisa")))
    [sent] = graph.messages()
    assert sent["interactive"] == {
        "type": "button",
        "body": {"text": "Kapan kerja bakti bulan ini?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "poll:12:0", "title": "Sabtu pagi"}},
                {"type": "reply", "reply": {"id": "poll:12:1", "title": "Minggu pagi"}},
                {"type": "reply", "reply": {"id": "poll:12:2", "title": "Tidak bisa"}},
            ]
        },
    }
    assert result.external_id == graph.accepted[0][0] and result.poll_id is None


async def test_whatsapp_long_options_are_numbered_and_listed_in_full(
    graph: FakeGraphAPI, whatsapp: WhatsAppChannel
) -> None:
    """Cut to 20 characters, two of these would read the same (Meta refuses that too)."""
    options = (
        "Setuju dengan usulan pengurus",
        "Setuju dengan catatan",
        "Tidak setuju",
    )
    await whatsapp.send(out(PHONE, poll(*options), text="Iuran sampah naik Rp5.000?"))
    [sent] = graph.messages()
    assert sent["interactive"]["body"]["text"] == (
        "Iuran sampah naik Rp5.000?\n\n"
        "1. Setuju dengan usulan pengurus\n"
        "2. Setuju dengan catatan\n"
        "3. Tidak setuju"
    )
    titles = [b["reply"]["title"] for b in sent["interactive"]["action"]["buttons"]]
    assert titles == ["1. Setuju dengan us…", "2. Setuju dengan ca…", "3. Tidak setuju"]


async def test_whatsapp_seven_options_are_a_list(
    graph: FakeGraphAPI, whatsapp: WhatsAppChannel
) -> None:
    options = (
        "Senin",
        "Selasa",
        "Rabu",
        "Kamis malam setelah isya di balai RT",
        "Jumat",
        "Sabtu pagi, sekalian kerja bakti",
        "Minggu",
    )
    await whatsapp.send(out(PHONE, poll(*options), text="Rapat RT hari apa?"))
    [sent] = graph.messages()
    interactive = sent["interactive"]
    assert interactive["type"] == "list"
    body = interactive["body"]["text"]
    assert body.startswith("Rapat RT hari apa?\n\n1. Senin\n2. Selasa\n")
    assert "\n4. Kamis malam setelah isya di balai RT\n" in body
    rows = interactive["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [f"poll:12:{i}" for i in range(7)]
    assert rows[0] == {"id": "poll:12:0", "title": "1. Senin"}
    assert rows[3]["title"] == "4. Kamis malam setelah…"
    assert rows[3]["description"] == "4. Kamis malam setelah isya di balai RT"


async def test_whatsapp_long_text_goes_first_then_the_listed_options(
    graph: FakeGraphAPI, whatsapp: WhatsAppChannel
) -> None:
    text = "Usulan perbaikan jalan.\n\n" + "Rincian anggaran dan pekerjaan. " * 40
    options = ("Setuju dengan usulan pengurus", "Tidak setuju dengan usulan pengurus")
    result = await whatsapp.send(out(PHONE, poll(*options), text=text))
    first, second = graph.messages()
    assert first["text"]["body"] == text
    assert second["interactive"]["body"]["text"] == (
        "1. Setuju dengan usulan pengurus\n2. Tidak setuju dengan usulan pengurus"
    )
    assert result.external_id == graph.accepted[0][0]


async def test_whatsapp_poll_outside_the_window_is_its_template_without_options(
    graph: FakeGraphAPI, whatsapp: WhatsAppChannel
) -> None:
    message = out(
        PHONE,
        poll(),
        last_inbound_at=None,
        template="broadcast",
        template_params=("Kerja bakti", "Kapan kerja bakti bulan ini?"),
    )
    result = await whatsapp.send(message)
    [sent] = graph.messages()
    assert sent["type"] == "template" and result.used_template
    assert "poll:12" not in str(sent)  # a template's button is the approved one, not an option


# The sandbox: buttons on the simulated phone ---------------------------------------------------


async def test_sandbox_shows_the_options_as_buttons_and_a_tap_answers() -> None:
    sandbox = SandboxChannel(make_config().sandbox, _sink)
    result = await sandbox.send(out("sandbox-1", poll("Sabtu pagi", "Minggu pagi")))
    [shown] = sandbox.messages("sandbox-1")
    assert shown.text == "Kapan kerja bakti bulan ini?"
    assert [(b.label, b.payload) for b in shown.buttons] == [
        ("Sabtu pagi", "poll:12:0"),
        ("Minggu pagi", "poll:12:1"),
    ]
    assert result.poll_id is None
    tap = await sandbox.act("sandbox-1", button="poll:12:1")
    assert (tap.kind, tap.button_payload, tap.reply_to) == (
        InboundKind.BUTTON,
        "poll:12:1",
        result.external_id,
    )
