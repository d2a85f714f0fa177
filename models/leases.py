"""Leases: which process holds a deployment-wide role (running the scheduler) until when."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Lease(Model):
    name = fields.CharField(max_length=40, primary_key=True)  # the role, e.g. "scheduler"
    holder = fields.CharField(max_length=100)  # host:pid:random of the process holding it
    expires_at = fields.DatetimeField()  # the holder renews before this; after it, anyone may take

    class Meta:
        table = "lease"
