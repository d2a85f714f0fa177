"""The outbox: every message the hub sends is written here first, then claimed and sent."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.broadcasts import Broadcast, Delivery
from models.roster import Member


class MessageKind(StrEnum):
    BROADCAST = "broadcast"  # the announcement itself, for one delivery
    REMINDER = "reminder"  # a nudge about an unacknowledged delivery
    REPLY = "reply"  # an answer in a conversation
    NOTICE = "notice"  # anything else the hub tells a member (status changes, confirmations)
    GROUP_POST = "group_post"  # the announcement posted in a linked group chat
    CORRECTION = "correction"  # a corrected announcement: an edit in place, or a marked resend


class OutboxState(StrEnum):
    QUEUED = "queued"  # waiting for next_attempt_at
    SENDING = "sending"  # claimed by a sender until claimed_until
    SENT = "sent"  # the platform accepted it
    FAILED = "failed"  # failed for good, or out of attempts
    CANCELLED = "cancelled"  # withdrawn before it was sent


class OutboundMessage(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(MessageKind, max_length=16, description="MessageKind")
    delivery: fields.ForeignKeyNullableRelation[Delivery] = fields.ForeignKeyField(
        "models.Delivery", related_name="messages", null=True, on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="outbound_messages", null=True, on_delete=fields.SET_NULL
    )
    # Set for group posts, which serve every recipient of the broadcast in that group.
    broadcast: fields.ForeignKeyNullableRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="group_posts", null=True, on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    text = fields.TextField()
    buttons = fields.JSONField(default=list)  # [{"label": ..., "payload": ...}]
    phone_button = fields.CharField(max_length=64, null=True)  # "share my number" label
    edit_of = fields.CharField(max_length=128, null=True)  # change this sent message in place
    # The approved template that may carry this message outside a free-text window (WhatsApp),
    # its variables, and whether it went out as that template.
    template = fields.CharField(max_length=32, null=True)
    template_params = fields.JSONField(null=True)
    used_template = fields.BooleanField(null=True)
    attachment_ids = fields.JSONField(null=True)  # files sent with the text, [Attachment.id]
    # A poll to send with the text: {"question", "options": [...], "payloads": [...]}; native
    # where the channel has polls, else the options as buttons carrying the payloads.
    poll = fields.JSONField(null=True)
    state = fields.CharEnumField(
        OutboxState, max_length=16, default=OutboxState.QUEUED, description="OutboxState"
    )
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claim_token = fields.CharField(max_length=32, null=True)
    claimed_until = fields.DatetimeField(null=True)
    external_id = fields.CharField(max_length=128, null=True)
    # The platform's id of the native poll this message carried (a group post's): a poll answer
    # in a group names only this id and the voter.
    poll_ref = fields.CharField(max_length=128, null=True)
    sent_at = fields.DatetimeField(null=True)
    failure_reason = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbound_message"
        indexes = (
            # The claim's order, id included: PostgreSQL would otherwise sort every queued row
            # of a broadcast (they share one next_attempt_at) for each claim.
            ("state", "next_attempt_at", "id"),
            ("channel", "external_id"),
            ("channel", "poll_ref"),  # a native poll answer to a group post
            ("broadcast_id",),  # a broadcast's group posts: its page, cancelling it
            ("claim_token",),
            ("delivery_id",),  # fallbacks, reminders and corrections look messages up by delivery
        )
