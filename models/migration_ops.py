"""Migration operations of our own, for what Tortoise's built-in ones do at too high a cost."""

from __future__ import annotations

import json
from typing import Any

from tortoise.migrations import operations as ops

from models.sql import placeholders


class AlterFieldDescription(ops.AlterField):
    """An AlterField that changes only a field's description, so the database is left alone.

    Tortoise writes AlterField when an enum gains a value (its generated description changes); on
    SQLite that rebuilds the table and drops its indexes. Our enum fields now carry a fixed
    description; use this for description-only changes the autodetector still emits.
    """

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        return None


class DropColumn(ops.RemoveField):
    """A RemoveField that drops the column in place, on SQLite too.

    Tortoise's SQLite editor removes a field by rebuilding the table, which loses its indexes
    (the unique (channel, address) of `conversation`, say); SQLite 3.35 and newer, and
    PostgreSQL, drop a plain column with ALTER TABLE.
    """

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        if not state_editor:
            return
        model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
        column = model._meta.fields_map[self.name].source_field or self.name
        await state_editor.client.execute_script(
            f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{column}"'
        )


# 0006_area_scopes: who may see a broadcast, a saved group or an attachment is stored with it ------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _path_key(path: str) -> str:
    """As hub.areas.path_key (models import nothing above them)."""
    parts = (" ".join(part.split()).lower() for part in path.split("/"))
    return "/".join(part for part in parts if part)


def _common_area(keys: list[str]) -> str | None:
    """The deepest area every key lies at or below; None when they share none."""
    if not keys:
        return None
    split = [key.split("/") for key in keys]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common) or None


async def backfill_area_scopes(apps: Any, schema_editor: Any) -> None:
    """Fix the areas of what existed before 0006: broadcasts, saved groups and attachments."""
    client = schema_editor.client
    _, rows = await client.execute_query(
        "SELECT s.member_id, a.path_key FROM seat s JOIN area a ON a.id = s.area_id "
        "WHERE s.ended_at IS NULL ORDER BY s.id"
    )
    seats: dict[int, list[str]] = {}
    for row in rows:
        seats.setdefault(row["member_id"], []).append(row["path_key"])

    _, rows = await client.execute_query("SELECT group_id, member_id FROM member_group_entry")
    group_members: dict[int, list[int]] = {}
    for row in rows:
        group_members.setdefault(row["group_id"], []).append(row["member_id"])
    _, rows = await client.execute_query("SELECT id, name FROM member_group")
    groups_by_name = {row["name"].casefold(): row["id"] for row in rows}
    for group_id in groups_by_name.values():
        keys = [k for m in group_members.get(group_id, []) for k in seats.get(m, [""])]
        area_key = _common_area(keys) if "" not in keys else None
        await client.execute_query(
            "UPDATE member_group SET area_key = {} WHERE id = {}".format(*placeholders(2, client)),
            [area_key, group_id],
        )

    _, rows = await client.execute_query("SELECT id, audience FROM broadcast")
    for row in rows:
        audience = _json(row["audience"]) or {}
        group_ids = [
            groups_by_name[name.casefold()]
            for name in audience.get("groups", [])
            if name.casefold() in groups_by_name
        ]
        audience["group_ids"] = group_ids
        members = set(audience.get("members", []))
        for group_id in group_ids:
            members.update(group_members.get(group_id, []))
        keys = {_path_key(path) for path in audience.get("areas", [])}
        for member_id in members:
            keys.update(seats.get(member_id) or [""])
        await client.execute_query(
            "UPDATE broadcast SET audience = {} WHERE id = {}".format(*placeholders(2, client)),
            [json.dumps(audience), row["id"]],
        )
        for key in sorted(keys):
            await client.execute_query(
                "INSERT INTO broadcast_area (broadcast_id, area_key) VALUES ({}, {})".format(
                    *placeholders(2, client)
                ),
                [row["id"], key],
            )

    _, rows = await client.execute_query(
        "SELECT t.id, u.role, a.path_key FROM attachment t "
        "JOIN hub_user u ON u.id = t.uploaded_by_id "
        "LEFT JOIN user_area ua ON ua.hub_user_id = u.id LEFT JOIN area a ON a.id = ua.area_id"
    )
    uploads: dict[int, list[str]] = {}
    for row in rows:
        keys = uploads.setdefault(row["id"], [])
        if row["role"] != "admin" and row["path_key"]:
            keys.append(row["path_key"])
    for attachment_id, keys in uploads.items():
        if keys:
            await client.execute_query(
                "UPDATE attachment SET area_keys = {} WHERE id = {}".format(
                    *placeholders(2, client)
                ),
                [json.dumps(sorted(keys)), attachment_id],
            )


# 0007_delivery_seat: each delivery names the seat and area it was sent for ---------------------

# The seat a delivery was for: the member's seat in effect when the broadcast went out (RT heads
# first, then RW heads, then staff seats; the oldest seat of equals). Correlated subqueries that
# SQLite and PostgreSQL read alike.
_SEAT_RANK = "CASE s.role WHEN 'ketua_rt' THEN 0 WHEN 'ketua_rw' THEN 1 ELSE 2 END, s.id"
_SENT_AT = (
    "(SELECT COALESCE(b.started_at, b.created_at) FROM broadcast b WHERE b.id = d.broadcast_id)"
)
_SEAT_THEN = (
    "UPDATE delivery AS d SET seat_id = (SELECT s.id FROM seat s WHERE s.member_id = d.member_id "
    f"AND s.started_at <= {_SENT_AT} AND (s.ended_at IS NULL OR s.ended_at > {_SENT_AT}) "
    f"ORDER BY {_SEAT_RANK} LIMIT 1) WHERE d.seat_id IS NULL"
)
# Rosters imported after a broadcast went out give seats that start later: the member's first.
_FIRST_SEAT = (
    "UPDATE delivery AS d SET seat_id = (SELECT s.id FROM seat s WHERE s.member_id = d.member_id "
    "ORDER BY s.started_at, s.id LIMIT 1) WHERE d.seat_id IS NULL"
)
_SEAT_AREA = (
    "UPDATE delivery AS d SET area_id = (SELECT s.area_id FROM seat s WHERE s.id = d.seat_id) "
    "WHERE d.area_id IS NULL AND d.seat_id IS NOT NULL"
)


async def backfill_delivery_seats(apps: Any, schema_editor: Any) -> None:
    """Give deliveries from before 0007 the seat (and its area) they were sent for."""
    client = schema_editor.client
    for statement in (_SEAT_THEN, _FIRST_SEAT, _SEAT_AREA):
        await client.execute_script(statement)


# 0008_dialogs: a conversation's untyped `state` becomes a dialog's flow and step ---------------


async def claims_as_dialogs(apps: Any, schema_editor: Any) -> None:
    """Keep the claims waiting for staff (the only state anything read) as the "claim" flow."""
    client = schema_editor.client
    for state, step in (("claim", "pending"), ("claim_refused", "refused")):
        await client.execute_query(
            "UPDATE conversation SET flow = 'claim', step = {} WHERE state = {}".format(
                *placeholders(2, client)
            ),
            [step, state],
        )
    # "menu" and "idle" were written and never read: no dialog.
    await client.execute_query(
        "UPDATE conversation SET data = {} WHERE flow IS NULL".format(*placeholders(1, client)),
        ["{}"],
    )
