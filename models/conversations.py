"""Inbound side: raw events stored before processing, and per-address conversation state."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


# A webhook or update as received; stored before it is processed so a crash loses nothing.
class InboundEvent(Model):
    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=20)
    external_id = fields.CharField(max_length=128)  # provider id used to drop replays
    payload = fields.JSONField()
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)

    class Meta:
        table = "inbound_event"
        unique_together = (("channel", "external_id"),)
        indexes = (("processed_at",),)


# The dialog an address is in (a complaint being filed, a claim waiting for staff), so a
# multi-step exchange survives a restart. No flow: the address is in no dialog.
class Conversation(Model):
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    flow = fields.CharField(max_length=32, null=True)  # the dialog's name, as registered
    step = fields.CharField(max_length=32, null=True)  # where in the flow it stands
    data = fields.JSONField(default=dict)  # what the flow collected so far
    expires_at = fields.DatetimeField(null=True)  # None: waits however long it takes
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation"
        unique_together = (("channel", "address"),)
