"""Messenger groups of RT heads (e.g. a kelurahan's Telegram group) linked to an area."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.roster import Area, Member
from models.users import User


# A group chat on one channel where the hub posts its area's broadcasts.
class GroupChat(Model):
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)  # the platform's chat id
    title = fields.CharField(max_length=255, default="")
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="groups", on_delete=fields.CASCADE
    )
    linked_at = fields.DatetimeField()
    removed_at = fields.DatetimeField(null=True)  # the hub was removed from the group

    class Meta:
        table = "group_chat"
        unique_together = (("channel", "address"),)


# A one-time code staff give to a group so the hub links it to an area.
class GroupLinkCode(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="group_codes", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="group_codes", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "group_link_code"


# Someone who wrote to the hub but is not on the roster: staff see it and can attach them.
class JoinRequest(Model):
    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    name = fields.CharField(max_length=200, default="")
    phone = fields.CharField(max_length=20, null=True)
    first_text = fields.CharField(max_length=500, default="")
    # The RT head whose invite code they sent, when that member has an account there already:
    # staff approve or refuse the claim (hub/roster/join_requests.py). Null: a stranger.
    claimed_member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="claims", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "join_request"
        unique_together = (("channel", "address"),)
