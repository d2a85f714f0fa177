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


# Where a dialogue with one address stands, so a multi-step exchange survives a restart.
class Conversation(Model):
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    state = fields.CharField(max_length=32, default="idle")
    data = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation"
        unique_together = (("channel", "address"),)
