"""Broadcasts and their deliveries: one delivery per recipient, climbing the read ladder."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.roster import Area, Member, Seat
from models.users import User


class BroadcastStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for send_at (a recurring series waits for its next run)
    PAUSED = "paused"  # held by staff before sending; nothing goes out until resumed
    SENDING = "sending"  # deliveries written, messages going out
    SENT = "sent"  # every delivery has left or failed for good
    CANCELLED = "cancelled"  # staff stopped it; unsent deliveries were cancelled
    MISSED = "missed"  # overdue beyond the grace after the hub was down; never sent


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # written, not yet accepted by the platform
    SENT = "sent"  # the platform accepted it
    DELIVERED = "delivered"  # it reached the phone (WhatsApp reports this)
    READ = "read"  # evidence that the RT head saw it
    ACKNOWLEDGED = "acknowledged"  # the RT head confirmed it
    FAILED = "failed"  # cannot be delivered; failure_reason says why
    SKIPPED = "skipped"  # not sent by the member's own choice (opted out); failure_reason says so
    CANCELLED = "cancelled"  # the broadcast was cancelled before this one left


# The ladder a delivery climbs; it never moves down (statuses may arrive out of order).
DELIVERY_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.ACKNOWLEDGED: 4,
}


class Broadcast(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    text = fields.TextField()
    status = fields.CharEnumField(BroadcastStatus, max_length=16, description="BroadcastStatus")
    ack_required = fields.BooleanField(default=True)
    # A "Laporkan masalah" button under each member's copy starts a complaint about it.
    report_button = fields.BooleanField(default=False)
    # Staff chose to publish it in the public archive (hub/archive). A published broadcast that
    # is sent (not a series: each run has its own) carries a verification code, printed under
    # every copy: six characters of CODE_ALPHABET (hub/broadcast/publication.py), without the
    # dash shown to people. published_at: when it went out, and so became public.
    published = fields.BooleanField(default=False)
    verification_code = fields.CharField(max_length=6, null=True, unique=True)
    published_at = fields.DatetimeField(null=True)
    # As requested: {"areas": [path...], "members": [id...], "groups": [name...],
    # "group_ids": [id...]}; groups are resolved by id when it goes out, the names are for show.
    audience = fields.JSONField()
    send_at = fields.DatetimeField(null=True)
    recurrence_cron = fields.CharField(max_length=120, null=True)
    # A run of a recurring broadcast points at its series (the row holding the cron expression).
    series: fields.ForeignKeyNullableRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    attachment_ids = fields.JSONField(null=True)  # [Attachment.id, ...] in the order staff chose
    recipients = fields.IntField(default=0)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="broadcasts", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    paused_at = fields.DatetimeField(null=True)
    escalated_at = fields.DatetimeField(null=True)  # the call list of the silent went out
    corrected_at = fields.DatetimeField(null=True)
    # Earlier versions, oldest first: [{"title", "text", "replaced_at", "by"}]
    revisions = fields.JSONField(null=True)

    deliveries: fields.ReverseRelation[Delivery]
    reach: fields.ReverseRelation[BroadcastArea]
    published_texts: fields.ReverseRelation[PublishedText]

    class Meta:
        table = "broadcast"
        ordering = ["-id"]
        # The archive lists by publication, newest first; participation counts the broadcasts
        # that started in a period.
        indexes = (("published_at",), ("started_at",))


# The areas a broadcast reaches, fixed when it is created or edited: who may see and act on it is
# decided from these rows alone, never from names (groups, areas) that can change afterwards.
class BroadcastArea(Model):
    id = fields.BigIntField(primary_key=True)
    broadcast: fields.ForeignKeyRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="reach", on_delete=fields.CASCADE
    )
    # An Area.path_key; "" for a recipient with no seat, whom only unscoped users may see.
    area_key = fields.CharField(max_length=500)

    class Meta:
        table = "broadcast_area"
        unique_together = (("broadcast_id", "area_key"),)
        indexes = (("area_key",),)


# The fingerprints of a published broadcast's texts as they went out: the current one and each
# one a correction replaced. A text pasted on the public check page is found by these digests
# (SHA-256 of the normalized text, hub/broadcast/publication.py), never by scanning texts.
class PublishedText(Model):
    id = fields.BigIntField(primary_key=True)
    broadcast: fields.ForeignKeyRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="published_texts", on_delete=fields.CASCADE
    )
    text_digest = fields.CharField(max_length=64)  # the text alone
    full_digest = fields.CharField(max_length=64)  # the title and the text, as the message shows
    replaced_at = fields.DatetimeField(null=True)  # None: the current text

    class Meta:
        table = "published_text"
        indexes = (("text_digest",), ("full_digest",))


# One broadcast to one member on one channel; the outbox message carries the send itself.
class Delivery(Model):
    id = fields.BigIntField(primary_key=True)
    broadcast: fields.ForeignKeyRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="deliveries", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="deliveries", on_delete=fields.CASCADE
    )
    # The seat the member was sent this for, and its area, as they were at the fan-out: when an
    # RT head hands the seat on, participation follows the seat, not the person (None: a member
    # named in the audience who held no seat then).
    seat: fields.ForeignKeyNullableRelation[Seat] = fields.ForeignKeyField(
        "models.Seat", related_name="deliveries", null=True, on_delete=fields.SET_NULL
    )
    area: fields.ForeignKeyNullableRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="deliveries", null=True, on_delete=fields.RESTRICT
    )
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    status = fields.CharEnumField(
        DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING, description="DeliveryStatus"
    )
    external_id = fields.CharField(max_length=128, null=True)  # the platform's message id
    sent_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    read_at = fields.DatetimeField(null=True)
    acknowledged_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    failure_reason = fields.CharField(max_length=255, null=True)
    read_evidence = fields.CharField(max_length=32, null=True)  # receipt, reply, reaction, ...
    ack_evidence = fields.CharField(max_length=32, null=True)  # button, poll, ...
    attempts = fields.IntField(default=0)
    reminders = fields.IntField(default=0)
    reminder_queued_at = fields.DatetimeField(null=True)  # taken by the reminder job
    # The platform's id of the native poll this delivery carried (a Telegram poll answer names
    # only the poll), None for broadcasts that are no poll or went as buttons.
    poll_ref = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "delivery"
        unique_together = (("broadcast_id", "member_id"),)
        indexes = (
            ("broadcast_id", "status"),
            ("channel", "external_id"),
            ("area_id", "broadcast_id"),
            ("seat_id",),
            ("channel", "poll_ref"),
            ("member_id", "broadcast_id"),  # one RT head's participation
        )


# A file attached to broadcasts (a regulation's PDF, an image), stored under the media folder.
class Attachment(Model):
    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=32, unique=True)  # unguessable, names it in public links
    filename = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=100)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    stored_name = fields.CharField(max_length=100)  # file name inside the media folder
    uploaded_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="attachments", null=True, on_delete=fields.SET_NULL
    )
    # The uploader's areas (Area.path_key) when uploaded; null: an unscoped user's, admins only.
    area_keys = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attachment"
