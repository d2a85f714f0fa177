"""The outbox seam: rows built in one place with their invariants; the sender knows kinds only by
their hooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from channels import SendResult
from hub.core.outbox import (
    KindHooks,
    OutboxError,
    OutboxHooks,
    RowUpdate,
    outbound,
    queue,
    queue_rows,
)
from hub.messaging.sender import Sender
from hub.runtime import outbox_hooks
from models import Member, MessageKind, OutboundMessage, OutboxState
from tests.factories import make_member
from tests.test_sender import START, FakeChannel, FakeClock

ROW = dict(channel="fake", address="42", text="Halo", due=START)


@pytest.fixture(autouse=True)
def _database(db: str) -> Iterator[None]:
    yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


# Rows ------------------------------------------------------------------------------------------


def test_a_row_names_the_subject_its_kind_needs() -> None:
    with pytest.raises(OutboxError, match="names its delivery"):
        outbound(MessageKind.BROADCAST, **ROW)
    with pytest.raises(OutboxError, match="names its delivery"):
        outbound(MessageKind.REMINDER, **ROW)
    with pytest.raises(OutboxError, match="names its broadcast"):
        outbound(MessageKind.GROUP_POST, **ROW)
    row = outbound(MessageKind.CORRECTION, delivery_id=7, **ROW)
    assert (row.kind, row.delivery_id, row.state) == (MessageKind.CORRECTION, 7, OutboxState.QUEUED)


def test_a_row_has_something_to_send_and_a_known_kind() -> None:
    with pytest.raises(OutboxError, match="neither text nor files"):
        outbound(MessageKind.NOTICE, channel="fake", address="42", text="", due=START)
    assert outbound(
        MessageKind.NOTICE, channel="fake", address="42", text="", attachment_ids=[3], due=START
    ).attachment_ids == [3]
    with pytest.raises(OutboxError, match="unknown message kind 'poll'"):
        outbound("poll", **ROW)  # type: ignore[arg-type]


async def test_the_bulk_path_checks_columns_and_subjects() -> None:
    member = await make_member(channels=("fake",))
    with pytest.raises(OutboxError, match="not outbox columns: colour"):
        await queue_rows(
            MessageKind.NOTICE, {"text": "x"}, [{"colour": "red"}], due=START, now=START
        )
    with pytest.raises(OutboxError, match="names its delivery"):
        await queue_rows(
            MessageKind.BROADCAST,
            {"text": "x"},
            [{"channel": "fake", "address": "1", "member_id": member.id, "delivery_id": None}],
            due=START,
            now=START,
        )
    rows = [{"channel": "fake", "address": str(n), "member_id": member.id} for n in range(3)]
    await queue_rows(MessageKind.NOTICE, {"text": "x"}, rows, due=START, now=START)
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE, text="x").count() == 3


def test_every_kind_needs_its_hooks() -> None:
    hooks = {kind: KindHooks() for kind in MessageKind if kind != MessageKind.REPLY}
    with pytest.raises(OutboxError, match=r"no outbox hooks for message kind.*reply"):
        OutboxHooks(hooks)
    assert isinstance(outbox_hooks()[MessageKind.REPLY], KindHooks)


# Hooks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording(KindHooks):
    """Hooks that say what the sender called; `send` False settles the row instead."""

    calls: list[tuple[str, object]] = field(default_factory=list)
    send: bool = True

    async def before_send(self, message: OutboundMessage, now: dt.datetime) -> bool:
        self.calls.append(("before_send", message.id))
        if not self.send:
            await OutboundMessage.filter(id=message.id).update(state=OutboxState.CANCELLED)
        return self.send

    def sent_updates(
        self, message: OutboundMessage, result: SendResult, attempts: int
    ) -> Sequence[RowUpdate]:
        self.calls.append(("sent_updates", attempts))
        # Written in the same group commit as the row's own outcome.
        return (RowUpdate(Member, message.member_id, {"name": f"noted {message.id}"}),)

    async def on_sent(self, messages: Sequence[OutboundMessage], now: dt.datetime) -> None:
        self.calls.append(("on_sent", sorted(m.id for m in messages)))


def hooks_with(kind: MessageKind, hooks: KindHooks) -> OutboxHooks:
    standard = outbox_hooks()
    return OutboxHooks({k: hooks if k == kind else standard[k] for k in MessageKind})


async def test_a_kinds_hooks_are_called_around_the_send(clock: FakeClock) -> None:
    member = await make_member(channels=("fake",))
    rows = [
        await queue(MessageKind.NOTICE, member_id=member.id, **ROW | {"due": clock()})
        for _ in range(2)
    ]
    recording = Recording()
    channel = FakeChannel()
    sender = Sender({"fake": channel}, hooks=hooks_with(MessageKind.NOTICE, recording), clock=clock)
    assert await sender.run_once() == 2

    assert len(channel.sent) == 2
    ids = sorted(r.id for r in rows)
    assert recording.calls[-1] == ("on_sent", ids)  # once for the round, after the commit
    assert sorted(c for c in recording.calls if c[0] != "on_sent") == [
        ("before_send", ids[0]),
        ("before_send", ids[1]),
        ("sent_updates", 1),
        ("sent_updates", 1),
    ]
    assert set(await OutboundMessage.filter(id__in=ids).values_list("state", flat=True)) == {
        OutboxState.SENT
    }
    assert (await Member.get(id=member.id)).name.startswith("noted ")


async def test_a_hook_that_settles_the_row_keeps_it_from_the_channel(clock: FakeClock) -> None:
    member = await make_member(channels=("fake",))
    row = await queue(MessageKind.NOTICE, member_id=member.id, **ROW | {"due": clock()})
    recording = Recording(send=False)
    channel = FakeChannel()
    sender = Sender({"fake": channel}, hooks=hooks_with(MessageKind.NOTICE, recording), clock=clock)
    await sender.run_once()

    assert channel.sent == []
    assert recording.calls == [("before_send", row.id)]
    assert (await OutboundMessage.get(id=row.id)).state == OutboxState.CANCELLED
