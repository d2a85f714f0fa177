"""What the hub reported to officials on its own, so that a report goes out once."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.roster import Area


# One kelurahan's weekly participation summary: the row is written in the transaction that
# queues the messages, and its uniqueness is what keeps a second run of the job from sending
# the week again.
class WeeklyReport(Model):
    id = fields.IntField(primary_key=True)
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="weekly_reports", on_delete=fields.CASCADE
    )
    week_start = fields.DateField()  # the Monday of the week reported on
    recipients = fields.IntField(default=0)  # messages queued
    created_at = fields.DatetimeField()

    class Meta:
        table = "weekly_report"
        unique_together = (("area_id", "week_start"),)
