"""The outbox: the one constructor of outbound rows, and the per-kind hooks the sender calls.

Every outbound row is built here (`outbound()`, `queue()`, `queue_all()`, `queue_rows()`), so
its invariants hold in one place: a known kind, the subject its kind names (a delivery, a
broadcast), something to send (text or files). What a kind adds to sending (a reminder is
dropped once its delivery is acknowledged, an announcement moves its delivery up the ladder) is
a `KindHooks` its domain module provides; hub/runtime.py composes them into `OutboxHooks` and
hands that to the sender. This module and the sender import no domain module (an import-linter
contract in pyproject.toml keeps it so), as PTB's Application knows handlers only through
`add_handler`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tortoise.models import Model

from channels import SendResult
from models import ChannelAddress, MessageKind, OutboundMessage, sql

# The subject each kind's rows must name: the hooks of the kind look it up when it is sent.
SUBJECT: dict[MessageKind, str | None] = {
    MessageKind.BROADCAST: "delivery_id",  # the delivery it carries
    MessageKind.REMINDER: "delivery_id",  # the delivery still unacknowledged
    MessageKind.CORRECTION: "delivery_id",  # the delivery whose announcement it corrects
    MessageKind.GROUP_POST: "broadcast_id",  # the broadcast posted in the group
    MessageKind.REPLY: None,
    MessageKind.NOTICE: None,
}


class OutboxError(ValueError):
    """An outbound row that breaks the outbox's invariants (a bug in the caller)."""


def _check(kind: Any, values: Mapping[str, Any]) -> MessageKind:
    """The row's kind, once its subject and content are there; OutboxError if not."""
    try:
        kind = MessageKind(kind)
    except ValueError:
        raise OutboxError(f"unknown message kind {kind!r}") from None
    subject = SUBJECT[kind]
    if subject is not None and values.get(subject) is None:
        raise OutboxError(f"a {kind.value} message names its {subject[:-3]} ({subject} missing)")
    if not values.get("text") and not values.get("attachment_ids"):
        raise OutboxError(f"a {kind.value} message has neither text nor files")
    return kind


def outbound(
    kind: MessageKind,
    *,
    channel: str,
    address: str,
    text: str,
    due: dt.datetime,
    member_id: int | None = None,
    delivery_id: int | None = None,
    broadcast_id: int | None = None,
    buttons: Iterable[Mapping[str, str]] = (),
    template: str | None = None,
    template_params: Sequence[str] | None = None,
    attachment_ids: Sequence[int] | None = None,
    edit_of: str | None = None,
    phone_button: str | None = None,
    poll: Mapping[str, Any] | None = None,
) -> OutboundMessage:
    """An outbound row, not yet saved: queued for `due`, naming its subject."""
    values: dict[str, Any] = dict(
        delivery_id=delivery_id,
        member_id=member_id,
        broadcast_id=broadcast_id,
        channel=channel,
        address=address,
        text=text,
        buttons=[dict(b) for b in buttons],
        template=template,
        template_params=None if template_params is None else list(template_params),
        attachment_ids=list(attachment_ids) if attachment_ids else None,
        edit_of=edit_of,
        phone_button=phone_button,
        # Plain data ({"question", "options", "payloads"}): the sender makes it an OutgoingPoll.
        poll=dict(poll) if poll is not None else None,
        next_attempt_at=due,
    )
    return OutboundMessage(kind=_check(kind, values), **values)


async def queue(kind: MessageKind, **values: Any) -> OutboundMessage:
    """Build (as `outbound()`) and save one row, in the caller's transaction if any."""
    row = outbound(kind, **values)
    await row.save()
    return row


async def queue_all(rows: Sequence[OutboundMessage]) -> None:
    """Save rows built by `outbound()` together (one INSERT)."""
    if rows:
        await OutboundMessage.bulk_create(list(rows))


async def queue_rows(
    kind: MessageKind,
    common: Mapping[str, Any],
    rows: list[dict[str, Any]],
    *,
    due: dt.datetime,
    now: dt.datetime,
) -> None:
    """Many rows of one kind as one executemany (the fan-out): `common` columns shared by all,
    each row the same keys; no model object per row (see models.sql.insert_rows)."""
    if not rows:
        return
    # The columns as Tortoise knows them once initialised (foreign keys' `_id` fields included).
    unknown = (set(common) | set(rows[0])) - OutboundMessage._meta.fields_db_projection.keys()
    if unknown:
        raise OutboxError(f"not outbox columns: {', '.join(sorted(unknown))}")
    kind = _check(kind, {**rows[0], **common})
    subject = SUBJECT[kind]
    if subject is not None and subject not in common and any(r[subject] is None for r in rows):
        raise OutboxError(f"a {kind.value} message names its {subject[:-3]} ({subject} missing)")
    shared = {**common, "kind": kind, "next_attempt_at": due}
    await sql.insert_rows(OutboundMessage, shared, rows, now)


class RowUpdate(NamedTuple):
    """`UPDATE model SET columns WHERE id = row_id [AND status IN status_in]`, written with a
    sent row's own outcome in the sender's group commit (one statement on PostgreSQL: never the
    outbound row itself, which that statement already updates)."""

    model: type[Model]
    row_id: int
    columns: dict[str, Any]
    status_in: tuple[str, ...] = ()


async def apply_updates(updates: Iterable[RowUpdate]) -> None:
    """The updates one statement each, outside a group commit (a send not in a round)."""
    for update in updates:
        rows = update.model.filter(id=update.row_id)
        if update.status_in:
            rows = rows.filter(status__in=list(update.status_in))
        await rows.update(**update.columns)


@dataclass(frozen=True)
class KindHooks:
    """What one message kind adds to sending. Every default does nothing: a plain message.

    The sender calls them around the transport's own work: `before_send` before the pacing,
    `sent_updates` inside the group commit, `on_sent` once that is committed (batched per
    round), `on_retry` and `on_failed` after the row's own outcome is written, and
    `fallback_address`/`queue_elsewhere` when the address cannot take the message.
    """

    # A reply answers what the person just wrote, from an address the hub may have no row for:
    # their free-text window counts from when the reply was queued.
    answers_inbound: bool = False

    async def before_send(self, message: OutboundMessage, now: dt.datetime) -> bool:
        """Whether to send; False when the hook settled the claimed row (cancelled, re-queued)."""
        return True

    def sent_updates(
        self, message: OutboundMessage, result: SendResult, attempts: int
    ) -> Sequence[RowUpdate]:
        """Updates to write in the same transaction as the row's SENT outcome."""
        return ()

    async def on_sent(self, messages: Sequence[OutboundMessage], now: dt.datetime) -> None:
        """After the outcomes of these sent messages are committed."""

    async def on_retry(self, message: OutboundMessage, attempts: int) -> None:
        """After the row went back to the queue for another attempt."""

    async def on_failed(
        self, message: OutboundMessage, reason: str, attempts: int, now: dt.datetime
    ) -> None:
        """After the row failed for good."""

    async def fallback_address(
        self, message: OutboundMessage, channels: Collection[str]
    ) -> ChannelAddress | None:
        """Where the message goes when its address cannot take it; None: nowhere (it fails)."""
        return None

    async def queue_elsewhere(
        self, message: OutboundMessage, address: ChannelAddress, now: dt.datetime
    ) -> None:
        """Queue the message again at `address`, inside the sender's transaction."""
        raise NotImplementedError(f"{type(self).__name__} names no fallback address")

    async def on_idle(self, now: dt.datetime) -> None:
        """Now and then while the sender finds nothing to send (sweeps after a stopped sender)."""


class OutboxHooks:
    """The hooks of every message kind; a kind without hooks is refused when composing."""

    def __init__(self, hooks: Mapping[MessageKind, KindHooks]) -> None:
        unknown = [str(k) for k in hooks if k not in SUBJECT]
        if unknown:
            raise OutboxError(f"hooks for unknown message kind(s): {', '.join(unknown)}")
        missing = [k.value for k in MessageKind if k not in hooks]
        if missing:
            raise OutboxError(f"no outbox hooks for message kind(s): {', '.join(missing)}")
        self._by_kind = {MessageKind(k): h for k, h in hooks.items()}

    def __getitem__(self, kind: MessageKind) -> KindHooks:
        return self._by_kind[kind]

    async def on_idle(self, now: dt.datetime) -> None:
        """Each distinct hooks object's idle work, once."""
        for hooks in {id(h): h for h in self._by_kind.values()}.values():
            await hooks.on_idle(now)
