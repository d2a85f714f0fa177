"""What officials and staff write when they review the figures (one note per area and month),
and what the hub reported to them on its own, so that a report goes out once."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.roster import Area
from models.users import User


# The month's review of an area's scorecard (Manajemen perubahan: is there a review, what was
# decided). One per area and month; staff of the area edit it, officials read it.
class ScorecardNote(Model):
    id = fields.IntField(primary_key=True)
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="scorecard_notes", on_delete=fields.CASCADE
    )
    month = fields.DateField()  # the month's first day, in the hub's timezone
    text = fields.TextField()
    author: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="scorecard_notes", null=True, on_delete=fields.SET_NULL
    )  # who wrote it last; None: the command line, or a user since removed
    created_at = fields.DatetimeField()  # from the hub's clock
    updated_at = fields.DatetimeField()

    class Meta:
        table = "scorecard_note"
        unique_together = (("area", "month"),)
        indexes = (("month",),)  # a month's notes across the areas of a view


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
