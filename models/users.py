"""Staff accounts, their API tokens and web sessions, and the audit log of what they did."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.roster import Area


class UserRole(StrEnum):
    ADMIN = "admin"  # everything, including users and configuration
    STAFF = "staff"  # broadcasts, roster and complaints within their areas
    OFFICIAL = "official"  # read-only dashboards within their areas


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(UserRole, max_length=16, description="UserRole")
    # Areas this user may see and act on; none means the whole installation.
    areas: fields.ManyToManyRelation[Area] = fields.ManyToManyField(
        "models.Area", related_name="users", through="user_area"
    )
    is_active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "hub_user"

    def __str__(self) -> str:
        return self.username


# A bearer token; only its SHA-256 is stored, the token itself is shown once.
class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=12)  # first characters, to tell tokens apart
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


# A dashboard login; the cookie holds a random token, the database its SHA-256.
class WebSession(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "web_session"


# Who did what: every staff action that changes something.
class AuditLog(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    actor = fields.CharField(max_length=64)  # username, or "cli" / "system"
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=120, default="")
    detail = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_log"
