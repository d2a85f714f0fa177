"""The area tree, the people who hold seats in it, and how to reach them."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class AreaKind(StrEnum):
    KECAMATAN = "kecamatan"  # district
    KELURAHAN = "kelurahan"  # urban village
    RW = "rw"  # optional level between kelurahan and RT
    RT = "rt"  # neighbourhood of 30-60 households


class SeatRole(StrEnum):
    KETUA_RT = "ketua_rt"  # RT head: the main recipient of broadcasts
    KETUA_RW = "ketua_rw"  # RW head: told about silent RT heads
    STAFF = "staff"  # kelurahan staff reachable by messenger
    LURAH = "lurah"  # the head of the kelurahan: gets its weekly participation summary


# One node of kecamatan → kelurahan → (RW) → RT.
class Area(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(AreaKind, max_length=16, description="AreaKind")
    name = fields.CharField(max_length=120)
    parent: fields.ForeignKeyNullableRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    # "Sungai Kunjang/Loa Bakung/RT 012" as written, and its lookup key (lower case, single spaces).
    path = fields.CharField(max_length=500)
    path_key = fields.CharField(max_length=500, unique=True)
    # Roughly where it is (its office, its centre), for telling a complaint's location far off.
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "area"
        ordering = ["path_key"]

    def __str__(self) -> str:
        return self.path


# A person the hub reaches: usually an RT head; seats say what they hold.
class Member(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=20, null=True, unique=True)  # E.164
    preferred_channel = fields.CharField(max_length=20, null=True)
    invite_code = fields.CharField(max_length=16, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    seats: fields.ReverseRelation[Seat]
    addresses: fields.ReverseRelation[ChannelAddress]

    class Meta:
        table = "member"

    def __str__(self) -> str:
        return self.name


# A member holding a role in an area for a period; metrics follow the seat, history is kept.
class Seat(Model):
    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="seats", on_delete=fields.CASCADE
    )
    area: fields.ForeignKeyRelation[Area] = fields.ForeignKeyField(
        "models.Area", related_name="seats", on_delete=fields.RESTRICT
    )
    role = fields.CharEnumField(
        SeatRole, max_length=16, default=SeatRole.KETUA_RT, description="SeatRole"
    )
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)  # null while the seat is held

    class Meta:
        table = "seat"
        # A member's current seats: scopes, imports, audiences.
        indexes = (("area_id", "role", "ended_at"), ("member_id", "ended_at"))


# One way to reach a member: a (channel, address) pair such as ("whatsapp", "+62812...").
class ChannelAddress(Model):
    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="addresses", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=20)
    address = fields.CharField(max_length=100)
    opted_out_at = fields.DatetimeField(null=True)  # the member asked to stop
    blocked_at = fields.DatetimeField(null=True)  # the platform says we cannot reach them
    last_inbound_at = fields.DatetimeField(null=True)  # opens WhatsApp's 24-hour window
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel_address"
        unique_together = (("channel", "address"),)
        indexes = (("member_id",),)  # a member's addresses: the fan-out, batch after batch

    @property
    def reachable(self) -> bool:
        return self.opted_out_at is None and self.blocked_at is None


# A saved group of members staff address together ("Ketua RW", "Panitia 17 Agustus").
class MemberGroup(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)  # unique within its area (case ignored)
    # The Area.path_key the group belongs to; its members sit there. Null: installation-wide,
    # seen by unscoped users only.
    area_key = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    entries: fields.ReverseRelation[MemberGroupEntry]

    class Meta:
        table = "member_group"
        unique_together = (("area_key", "name"),)


class MemberGroupEntry(Model):
    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[MemberGroup] = fields.ForeignKeyField(
        "models.MemberGroup", related_name="entries", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="group_entries", on_delete=fields.CASCADE
    )

    class Meta:
        table = "member_group_entry"
        unique_together = (("group_id", "member_id"),)
