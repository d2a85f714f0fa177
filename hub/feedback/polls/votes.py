"""Votes: one per member and poll, whatever the channel, changeable until the poll closes.

A vote arrives as a tap on one of the poll's buttons (`poll:<id>:<option>`, WhatsApp and the
sandbox) or as a native poll answer (Telegram: POLL_ANSWER naming the platform's poll id, kept
on the delivery as `poll_ref`). In a linked group chat the poll is the group post's (its
`poll_ref` is on the outbox row; a tap on its buttons comes through hub/inbound's group
handling) and the vote counts on the voter's own delivery of the broadcast. Either way it is
written by `record_vote` (an UPDATE of the member's row, else an INSERT; the unique (poll,
member) keeps it one), counts as the delivery's acknowledgement (evidence "poll"), and is
answered briefly where the platform shows no vote of its own (a toast in a group). A replayed
webhook is dropped by ingest before it gets here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from channels import InboundKind, InboundMessage
from hub.broadcast.deliveries import apply_status
from hub.core.config import Config
from hub.core.texts import text as say
from hub.feedback.polls.service import (
    POLL_PREFIX,
    closing_words,
    eligible_deliveries,
    is_closed,
    parse_payload,
)
from hub.feedback.replies import queue_reply
from hub.messaging.router import Router, Turn
from models import (
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    Poll,
    PollStatus,
    PollVote,
)

log = logging.getLogger(__name__)

POLL_EVIDENCE = "poll"  # a vote acknowledges the delivery that carried the poll


@dataclass(frozen=True)
class VoteOutcome:
    # "recorded", "changed", "unchanged", "withdrawn", "closed" or "unknown_option"
    result: str

    @property
    def counted(self) -> bool:
        return self.result in ("recorded", "changed", "unchanged", "withdrawn")


async def record_vote(
    poll: Poll,
    member: Member,
    option: int | None,
    channel: str,
    now: dt.datetime,
    delivery: Delivery | None,
) -> VoteOutcome:
    """Record the member's vote (None takes it back); refused, nothing written, when the poll is
    closed or the option does not exist."""
    if option is not None and not 0 <= option < len(poll.options):
        return VoteOutcome("unknown_option")

    async def write() -> VoteOutcome:
        async with in_transaction():
            # Looked at inside the transaction: staff may have closed it since `poll` was read.
            still_open = await Poll.filter(id=poll.id, status=PollStatus.OPEN).exists()
            if not still_open or is_closed(poll, now):
                return VoteOutcome("closed")
            mine = PollVote.filter(poll_id=poll.id, member_id=member.id)
            if option is None:
                return VoteOutcome("withdrawn" if await mine.delete() else "unchanged")
            changed = await mine.exclude(option=option).update(
                option=option,
                channel=channel,
                delivery_id=delivery.id if delivery else None,
                changed_at=now,
            )
            if changed:
                return VoteOutcome("changed")
            if await mine.exists():
                return VoteOutcome("unchanged")
            await PollVote.create(
                poll_id=poll.id,
                member_id=member.id,
                option=option,
                channel=channel,
                delivery_id=delivery.id if delivery else None,
                voted_at=now,
                changed_at=now,
            )
        return VoteOutcome("recorded")

    try:
        return await write()
    except IntegrityError:
        # Two answers of one member at the same moment both tried the INSERT: the second finds
        # the row the first wrote and updates it.
        return await write()


async def _answered_poll(
    channel: str, poll_ref: str, voter: Member
) -> tuple[Poll | None, Delivery | None] | None:
    """The hub's poll a native poll answer names and the voter's own delivery of it (None for
    either when the voter may not vote on it); None when the poll is none of the hub's."""
    carried = await Delivery.get_or_none(channel=channel, poll_ref=poll_ref).only(
        "id", "broadcast_id", "member_id"
    )
    if carried is not None:
        poll = await Poll.get_or_none(broadcast_id=carried.broadcast_id)
        if poll is None:
            return None, None
        # A poll forwarded to someone else names the original poll: the vote counts as the
        # voter's own, on their own delivery of it, or not at all.
        if carried.member_id == voter.id:
            return poll, carried
        return poll, await Delivery.get_or_none(broadcast_id=poll.broadcast_id, member_id=voter.id)
    # A poll in a linked group chat: its answers name the group post's poll, and count on the
    # voter's own delivery if the broadcast reached them (a group member it did not reach: no).
    post = (
        await OutboundMessage.filter(
            channel=channel, poll_ref=poll_ref, kind=MessageKind.GROUP_POST
        )
        .only("id", "broadcast_id")
        .first()
    )
    if post is None or post.broadcast_id is None:
        return None
    poll = await Poll.get_or_none(broadcast_id=post.broadcast_id)
    if poll is None:
        return None, None
    return poll, await eligible_deliveries(poll).get_or_none(member_id=voter.id)


class PollVotes:
    """The router's handlers for votes: button taps and native poll answers."""

    def __init__(self, config: Config, wake_sender: Callable[[], None]) -> None:
        self.config = config
        self.wake_sender = wake_sender

    def say(self, key: str, **values: object) -> str:
        return say(self.config.hub.language, key, **values)

    async def reply(self, turn: Turn, text: str) -> None:
        """Queue a short answer in the chat the vote came from."""
        await queue_reply(turn, text, due=turn.now)
        self.wake_sender()

    async def on_button(self, turn: Turn) -> None:
        """A tap on a poll's option (channels without native polls)."""
        parsed = parse_payload(turn.event.button_payload)
        poll = await Poll.get_or_none(id=parsed[0]) if parsed else None
        delivery = None
        if poll is not None:
            delivery = await Delivery.get_or_none(
                broadcast_id=poll.broadcast_id, member_id=turn.member.id
            )
        if parsed is None or poll is None or delivery is None:
            await self.reply(turn, self.say("poll_not_yours"))
            return
        outcome = await self._vote(
            turn.member, turn.event.channel, turn.now, poll, parsed[1], delivery
        )
        if outcome.counted:
            await self.reply(turn, self._thanks(poll, parsed[1]))
        else:
            await self.reply(turn, self._refusal(outcome))

    async def on_answer(self, turn: Turn) -> bool:
        """A native poll answer: the platform's poll shows the vote itself, so nothing is sent
        unless the vote is refused. An answer to no poll of the hub's is not taken (False): it
        goes on to the read evidence of the message it names."""
        answer = turn.event.poll_answer
        if answer is None:
            return False
        found = await _answered_poll(turn.event.channel, answer.poll_id, turn.member)
        if found is None:
            return False
        poll, delivery = found
        if poll is None or delivery is None:
            # Answered privately (the voter's own chat), never in the group the poll may be in.
            log.info("poll answer from member %s on a poll not sent to them", turn.member.id)
            await self.reply(turn, self.say("poll_not_yours"))
            return True
        option = answer.option_ids[0] if answer.option_ids else None
        outcome = await self._vote(
            turn.member, turn.event.channel, turn.now, poll, option, delivery
        )
        if not outcome.counted:
            await self.reply(turn, self._refusal(outcome))
        return True

    async def on_group_button(self, event: InboundMessage, member: Member, now: dt.datetime) -> str:
        """A tap on a poll's option under a group post (channels without native polls): counted
        on the member's own delivery; the answer is a toast, never a message in the group."""
        parsed = parse_payload(event.button_payload)
        poll = await Poll.get_or_none(id=parsed[0]) if parsed else None
        delivery = None
        if parsed is not None and poll is not None:
            delivery = await eligible_deliveries(poll).get_or_none(member_id=member.id)
        if parsed is None or poll is None or delivery is None:
            return self.say("poll_not_yours")
        outcome = await self._vote(member, event.channel, now, poll, parsed[1], delivery)
        return self._thanks(poll, parsed[1]) if outcome.counted else self._refusal(outcome)

    async def _vote(
        self,
        member: Member,
        channel: str,
        now: dt.datetime,
        poll: Poll,
        option: int | None,
        delivery: Delivery,
    ) -> VoteOutcome:
        outcome = await record_vote(poll, member, option, channel, now, delivery)
        if outcome.counted and option is not None:
            await apply_status(delivery.id, DeliveryStatus.ACKNOWLEDGED, now, POLL_EVIDENCE)
        return outcome

    def _thanks(self, poll: Poll, option: int) -> str:
        change = (
            self.say("poll_change_until", when=closing_words(self.config, poll.closes_at))
            if poll.closes_at is not None
            else self.say("poll_change_open")
        )
        return self.say("poll_vote_thanks", option=poll.options[option], change=change)

    def _refusal(self, outcome: VoteOutcome) -> str:
        key = "poll_closed" if outcome.result == "closed" else "poll_unknown_option"
        return self.say(key)


def register(router: Router, config: Config, wake_sender: Callable[[], None]) -> PollVotes:
    """Put the poll's handlers on the router: its buttons and native poll answers. A poll answer
    is taken here, before the read-evidence stage: it is a vote and the acknowledgement both."""
    votes = PollVotes(config, wake_sender)
    router.add_button(POLL_PREFIX, votes.on_button)
    router.add_kind(InboundKind.POLL_ANSWER, votes.on_answer)
    return votes
