"""Feedback from RT heads: tickets (complaints and service requests), polls and the inbox."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.broadcasts import Broadcast, Delivery
from models.outbox import OutboundMessage
from models.roster import Area, Member
from models.users import User


class TicketKind(StrEnum):
    COMPLAINT = "aduan"  # something wrong in the neighbourhood: a blocked drain, a dark street
    SERVICE = "layanan"  # a request for a letter or a document from the service catalogue


class TicketStatus(StrEnum):
    NEW = "baru"  # filed, nobody has looked at it yet
    VERIFIED = "diverifikasi"  # staff checked it is real and theirs to handle
    IN_PROGRESS = "diproses"  # someone is working on it
    DONE = "selesai"  # solved (the RT head is asked a few days later whether it held)
    REJECTED = "ditolak"  # not taken up; `reason` says why
    FORWARDED = "diteruskan"  # handed to another office; `reference` is theirs (a LAPOR! number)


# A counter per prefix (one per kecamatan) and year: the ticket numbers SKJ-2026-000123.
class TicketCounter(Model):
    id = fields.IntField(primary_key=True)
    prefix = fields.CharField(max_length=16)
    year = fields.IntField()
    issued = fields.IntField(default=0)  # numbers given out so far this year

    class Meta:
        table = "ticket_counter"
        unique_together = (("prefix", "year"),)


class Ticket(Model):
    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=32, unique=True)  # SKJ-2026-000123
    kind = fields.CharEnumField(TicketKind, max_length=16, description="TicketKind")
    category = fields.CharField(max_length=100)  # a complaint category, or a service's key
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    # The RT (or other area) it is about: who may see it is decided by this, in the query.
    area: fields.ForeignKeyNullableRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    # Where the RT head filed it: every change is told there.
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    description = fields.TextField()
    location = fields.JSONField(null=True)  # {"latitude", "longitude", "name", "address"}
    details = fields.JSONField(default=dict)  # a service request's documents checked online
    status = fields.CharEnumField(
        TicketStatus, max_length=16, default=TicketStatus.NEW, description="TicketStatus"
    )
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="assigned_tickets", null=True, on_delete=fields.SET_NULL
    )
    reason = fields.TextField(null=True)  # why it was rejected
    reference = fields.CharField(max_length=100, null=True)  # the other office's reference
    forwarded_to = fields.CharField(max_length=200, null=True)  # the other office
    due_at = fields.DatetimeField(null=True)  # the deadline of the step it waits for (its SLA)
    verified_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)  # selesai, ditolak or diteruskan
    followup_due_at = fields.DatetimeField(null=True)  # when to ask whether it held
    followup_sent_at = fields.DatetimeField(null=True)
    reopened = fields.IntField(default=0)  # times the RT head said it is not solved
    created_at = fields.DatetimeField()  # the filing time, from the hub's clock
    updated_at = fields.DatetimeField(auto_now=True)

    events: fields.ReverseRelation[TicketEvent]
    files: fields.ReverseRelation[FeedbackFile]

    class Meta:
        table = "ticket"
        indexes = (
            ("status", "due_at"),  # the overdue ones
            ("area_id", "status"),  # an area's board
            ("member_id", "created_at"),  # a member's tickets, and how many this hour
            ("followup_due_at",),
        )


class TicketEventKind(StrEnum):
    CREATED = "created"
    STATUS = "status"  # from_status -> to_status, with the note told to the RT head
    NOTE = "note"  # an internal note, never shown to the RT head
    MESSAGE = "message"  # staff wrote to the RT head about it
    ASSIGNED = "assigned"
    FOLLOWUP = "followup"  # the RT head answered "is it solved?" (text: ya / belum)


# The ticket's history: every transition, note and message, in order.
class TicketEvent(Model):
    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(TicketEventKind, max_length=16, description="TicketEventKind")
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    text = fields.TextField(default="")
    internal = fields.BooleanField(default=False)  # staff only
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ticket_events", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "ticket_event"
        indexes = (("ticket_id", "id"),)


class InboxDirection(StrEnum):
    IN = "in"  # the member wrote
    OUT = "out"  # staff answered


# The staff inbox: what members wrote that no dialog took, and staff's answers, per member.
class InboxMessage(Model):
    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="inbox", on_delete=fields.CASCADE
    )
    # The member's seat area when written: who may read it is decided by this, in the query.
    area: fields.ForeignKeyNullableRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="inbox", null=True, on_delete=fields.SET_NULL
    )
    direction = fields.CharEnumField(InboxDirection, max_length=8, description="InboxDirection")
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    text = fields.TextField(default="")
    kind = fields.CharField(max_length=20, default="text")  # the InboundKind it came as
    external_id = fields.CharField(max_length=128, null=True)  # the member's message's platform id
    outbound: fields.ForeignKeyNullableRelation[OutboundMessage] = fields.ForeignKeyField(
        "models.OutboundMessage", related_name="inbox", null=True, on_delete=fields.SET_NULL
    )
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="inbox_replies", null=True, on_delete=fields.SET_NULL
    )
    read_at = fields.DatetimeField(null=True)  # staff opened it (incoming only)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="inbox", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()

    files: fields.ReverseRelation[FeedbackFile]

    class Meta:
        table = "inbox_message"
        indexes = (
            ("member_id", "id"),  # a member's thread
            ("area_id", "direction", "read_at"),  # unread counts
        )


# A photo, voice note or document a member sent with a ticket or an inbox message. Never public:
# served only to staff and officials of the ticket's (or message's) area.
class FeedbackFile(Model):
    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="files", null=True, on_delete=fields.CASCADE
    )
    inbox_message: fields.ForeignKeyNullableRelation[InboxMessage] = fields.ForeignKeyField(
        "models.InboxMessage", related_name="files", null=True, on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="files", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharField(max_length=16)  # photo, voice, document
    filename = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=100)  # detected from the bytes
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    stored_name = fields.CharField(max_length=100)  # file name inside the media folder
    created_at = fields.DatetimeField()

    class Meta:
        table = "feedback_file"
        indexes = (("ticket_id",), ("inbox_message_id",), ("created_at",))


class PollStatus(StrEnum):
    OPEN = "open"  # votes are taken (and may be changed)
    CLOSED = "closed"  # past closes_at, or closed by staff; votes are refused


# A poll is a broadcast with options: the broadcast carries it to the audience (fan-out,
# pacing, outbox, the read ladder); this row holds what makes it a poll.
class Poll(Model):
    id = fields.IntField(primary_key=True)
    broadcast: fields.OneToOneRelation[Broadcast] = fields.OneToOneField(
        "models.Broadcast", related_name="poll", on_delete=fields.CASCADE
    )
    question = fields.CharField(max_length=300)
    options = fields.JSONField()  # ["Setuju", "Tidak setuju", ...], 2 to 10, in order
    status = fields.CharEnumField(
        PollStatus, max_length=16, default=PollStatus.OPEN, description="PollStatus"
    )
    closes_at = fields.DatetimeField(null=True)  # None: open until staff close it
    closed_at = fields.DatetimeField(null=True)
    send_result = fields.BooleanField(default=False)  # tell the voters the result on closing
    created_at = fields.DatetimeField()

    votes: fields.ReverseRelation[PollVote]

    class Meta:
        table = "poll"
        indexes = (("status", "closes_at"),)


# One vote per member and poll, whatever the channel; changing it updates the row.
class PollVote(Model):
    id = fields.BigIntField(primary_key=True)
    poll: fields.ForeignKeyRelation[Poll] = fields.ForeignKeyField(
        "models.Poll", related_name="votes", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="poll_votes", on_delete=fields.CASCADE
    )
    # The delivery that carried the poll to the member: its seat area counts the turnout.
    delivery: fields.ForeignKeyNullableRelation[Delivery] = fields.ForeignKeyField(
        "models.Delivery", related_name="votes", null=True, on_delete=fields.SET_NULL
    )
    option = fields.IntField()  # position in Poll.options, from 0
    channel = fields.CharField(max_length=20)
    voted_at = fields.DatetimeField()  # the first vote
    changed_at = fields.DatetimeField()  # the latest change

    class Meta:
        table = "poll_vote"
        unique_together = (("poll", "member"),)
        indexes = (("member_id",),)  # one RT head's votes (participation)
